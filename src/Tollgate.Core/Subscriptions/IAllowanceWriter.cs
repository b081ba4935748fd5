namespace Tollgate.Core.Subscriptions;

/// <summary>
/// Where a subscription change reaches the ledger: what a plan owes is decided here (<see cref="Allowances"/>), and
/// written by the usage side (<c>Usage.Gate</c>), which writes owed allowances in the same transaction as the usage that
/// needs them and caches what it has written. Subscriptions depend on this port, not on the gate, so the dependency
/// runs one way: Usage → Subscriptions.
/// </summary>
public interface IAllowanceWriter
{
    /// <summary>Writes what the customer's current plan owes now (after a subscription changed); once per window.</summary>
    Task WriteDueAsync(string customerId, CancellationToken cancellationToken);

    /// <summary>Forgets what is cached of the customer (their subscriptions changed).</summary>
    void Forget(string customerId);
}
