namespace Tollgate;

/// <summary>Records <see cref="Amount"/> of a feature as used, all or nothing: credits are consumed; a metered feature takes
/// its allowance first and charges the rest to credits at its credit cost; a count feature moves its level by +n or −n
/// within its limit. Refused with <c>insufficient_balance</c>, <c>quota_exceeded</c>, <c>limit_reached</c> or
/// <c>not_entitled</c>, and then nothing is recorded.</summary>
/// <param name="CustomerId">The app's own customer id.</param>
/// <param name="Feature">A credits, metered or count feature of the catalog.</param>
/// <param name="Amount">How much: positive, or negative for a count feature going down.</param>
public sealed record UsageRequest(string CustomerId, string Feature, long Amount)
{
    /// <summary>Makes the usage happen once however often it is sent (e.g. the id of the message being charged): the same
    /// key with the same request answers the first result again; with another request it is refused with
    /// <c>idempotency_key_reused</c>. When null, one is generated for this call and reused on its retries.</summary>
    public string? IdempotencyKey { get; init; }
}

/// <summary>A usage that was recorded.</summary>
/// <param name="Feature">Which feature.</param>
/// <param name="Remaining">After it: credits available, allowance left (metered), or room below the limit (count).</param>
/// <param name="EntryId">The ledger entry that records it.</param>
public sealed record UsageRecord(string Feature, long Remaining, string? EntryId = null);
