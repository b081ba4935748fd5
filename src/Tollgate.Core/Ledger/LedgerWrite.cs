using Tollgate.Core.Idempotency;

namespace Tollgate.Core.Ledger;

/// <summary>What travels with a ledger write beside its request, into the same transaction.</summary>
public sealed record LedgerWrite
{
    /// <summary>Writes the customer's plan owes, applied just before the request in its transaction. When the request
    /// is refused they are not written either: a refusal writes nothing.</summary>
    public DueWrites? Due { get; init; }

    /// <summary>The API call whose response is stored in the write's transaction (see <see cref="IdempotentCall{TResult}"/>).</summary>
    public IdempotentCall<LedgerResult>? Call { get; init; }

    /// <summary>Rows of another feature that commit with the write, in its batch's transaction, only when the request
    /// applies anew (not refused, not a replay of its key): a webhook delivery's payment, inbox row and events. Not in a
    /// flow's transaction, which writes its own rows.</summary>
    public LedgerAttachment? Attachment { get; init; }
}

/// <summary>
/// Rows a ledger write carries for another feature (<see cref="LedgerWrite.Attachment"/>): the store writes each kind
/// once for the whole batch beside the ledger's rows. Their unique keys are the attachment's guard: a key taken
/// meanwhile fails the batch, whose requests then run one by one, so the attachment's write fails alone and its caller
/// takes its own path. The ledger knows nothing of what they are; the stores do.
/// </summary>
public abstract record LedgerAttachment
{
    /// <summary>Events of the attachment's change that come before the ledger's own events of the same write.</summary>
    public IReadOnlyList<Events.OutboundEvent> EventsBefore { get; init; } = [];

    /// <summary>Events of the attachment's change that come after the ledger's own events of the same write.</summary>
    public IReadOnlyList<Events.OutboundEvent> EventsAfter { get; init; } = [];
}

/// <summary>
/// Writes a customer's plan owes whatever else happens: the allowance lots of the current windows, and the end of the
/// default plan's allowances once a subscription replaces it. Each is keyed, so it is written at most once. A write
/// carries them into its own transaction (DESIGN.md, "Free plan": written on the customer's first write in the
/// period); a read applies them to what it shows without writing anything.
/// </summary>
public sealed record DueWrites(IReadOnlyList<GrantRequest> Grants, RetireRequest? Retire)
{
    /// <summary>Nothing owed.</summary>
    public static DueWrites None { get; } = new([], null);

    /// <summary>Rollovers into the current windows, applied after the grants (see <see cref="CarryRequest"/>).</summary>
    public IReadOnlyList<CarryRequest> Carries { get; init; } = [];

    /// <summary>True when nothing is owed.</summary>
    public bool IsEmpty => Grants.Count == 0 && Retire is null && Carries.Count == 0;

    /// <summary>The idempotency keys of these writes: a write is done when its key is stored.</summary>
    public IEnumerable<string> Keys
    {
        get
        {
            var keys = Grants.Select(g => g.IdempotencyKey).Concat(Carries.Select(c => c.IdempotencyKey));
            return Retire is null ? keys : keys.Append(Retire.IdempotencyKey);
        }
    }

    /// <summary>The same writes without those whose key <paramref name="done"/> says is written.</summary>
    public DueWrites Except(Func<string, bool> done)
    {
        var grants = Grants.Where(g => !done(g.IdempotencyKey)).ToList();
        var carries = Carries.Where(c => !done(c.IdempotencyKey)).ToList();
        var retire = Retire is not null && !done(Retire.IdempotencyKey) ? Retire : null;
        if (grants.Count == Grants.Count && carries.Count == Carries.Count && retire == Retire)
        {
            return this;
        }

        return grants.Count == 0 && carries.Count == 0 && retire is null ? None : new DueWrites(grants, retire) { Carries = carries };
    }
}

/// <summary>A customer's state as a write transaction committed it, for a cache of customer views.</summary>
/// <param name="CheckedKeys">Operation keys whose presence <see cref="CustomerLedgerData.Operations"/> answers: those
/// there are stored, the others are not.</param>
public sealed record LedgerSnapshot(CustomerLedgerData Data, IReadOnlySet<string> CheckedKeys);

/// <summary>Told about the ledger's write transactions, to keep a cache of customer views current without reloading.</summary>
public interface ILedgerObserver
{
    /// <summary>Called before a write transaction opens; the value comes back with <see cref="Committed"/>, so the
    /// observer can tell whether anything changed the customers since (another server's write, heard meanwhile).</summary>
    long BeforeWrite();

    /// <summary>Called after a write transaction committed, before any of its callers is answered.</summary>
    void Committed(long stamp, IReadOnlyList<LedgerSnapshot> customers);
}
