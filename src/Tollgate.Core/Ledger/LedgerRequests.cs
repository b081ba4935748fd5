namespace Tollgate.Core.Ledger;

/// <summary>Units of a feature beyond its own balance are charged to <paramref name="Feature"/> at <paramref name="UnitCost"/> each
/// (a metered feature spilling into credits).</summary>
public sealed record Spill(string Feature, long UnitCost);

/// <summary>Grants a lot. Repays the feature's debt before anything else.</summary>
public sealed record GrantRequest(string CustomerId, string Feature, long Amount, LotSource Source, string IdempotencyKey)
{
    /// <summary>The payment, subscription period or other origin; what a clawback names.</summary>
    public string? SourceRef { get; init; }

    /// <summary>When the lot's units expire; null: never.</summary>
    public DateTimeOffset? ExpiresAt { get; init; }

    /// <summary>Lower burns first among lots expiring at the same instant; defaults from <see cref="Source"/>.</summary>
    public int? Priority { get; init; }

    /// <summary>Free text kept on the entry (an operator's reason, a payment id).</summary>
    public string? Reference { get; init; }

    /// <summary>A fixed id for the lot (a new one when null). An allowance's is derived from its key, so a read that
    /// shows the allowance before it is written names the lot it will be. Not part of the request's fingerprint.</summary>
    public string? LotId { get; init; }
}

/// <summary>
/// Carries a paid plan's unused credits into the window starting at <see cref="WindowStart"/>: what the lots of
/// <see cref="Feature"/> under <see cref="SourcePrefix"/> (one subscription's periods) that ended at that instant left
/// unused when they expired — the period's plan grant and its own carry, never a pack — up to <see cref="Max"/>, as one
/// lot of source <see cref="LotSource.Rollover"/> expiring at <see cref="ExpiresAt"/>. Computed inside the write that
/// holds the customer's lock, from the lots as stored; once per key (a carry of nothing is remembered too).
/// </summary>
public sealed record CarryRequest(string CustomerId, string Feature, long Max, DateTimeOffset WindowStart, DateTimeOffset? ExpiresAt,
    string SourcePrefix, string IdempotencyKey)
{
    /// <summary>Free text kept on the carry's entry (the ended period it came from).</summary>
    public string? Reference { get; init; }

    /// <summary>The carry lot's id (see <see cref="GrantRequest.LotId"/>).</summary>
    public string? LotId { get; init; }
}

/// <summary>Consumes all of <see cref="Amount"/> or nothing.</summary>
public sealed record ConsumeRequest(string CustomerId, string Feature, long Amount, string IdempotencyKey)
{
    /// <summary>Where to charge what the feature lacks (a metered feature's overage to credits); null: nothing spills.</summary>
    public Spill? Spill { get; init; }

    /// <summary>The caller's reference, kept on the entry (shown in the ledger).</summary>
    public string? Reference { get; init; }

    /// <summary>The entry type to write: <see cref="EntryType.Consume"/>, or <see cref="EntryType.Adjust"/> for an operator's correction.</summary>
    public EntryType EntryType { get; init; } = EntryType.Consume;

    /// <summary>The member customer this is for, charged on its billing customer (<see cref="CustomerId"/>); kept on the entry.</summary>
    public string? MemberId { get; init; }
}

/// <summary>Reserves units until settled, released or <see cref="Ttl"/> passes.</summary>
public sealed record HoldRequest(string CustomerId, string Feature, long Amount, TimeSpan Ttl, string IdempotencyKey)
{
    /// <summary>Where to reserve what the feature lacks; null: nothing spills.</summary>
    public Spill? Spill { get; init; }

    /// <summary>For a concurrency feature: the most units its active holds may add up to. Such a hold reserves slots,
    /// not lots.</summary>
    public long? ConcurrencyLimit { get; init; }

    /// <summary>The caller's reference, kept on the entry.</summary>
    public string? Reference { get; init; }

    /// <summary>The member customer this is for, charged on its billing customer (<see cref="CustomerId"/>); kept on the entry.</summary>
    public string? MemberId { get; init; }
}

/// <summary>Consumes <see cref="Amount"/> of a hold (all of it when null) and returns the rest to the lots it came from.</summary>
public sealed record SettleRequest(string HoldId)
{
    /// <summary>Units to consume; null: all the hold reserved.</summary>
    public long? Amount { get; init; }
}

/// <summary>Changes a count feature's level by <see cref="Delta"/> (+n or −n), never past <see cref="Limit"/> upwards
/// nor below zero.</summary>
public sealed record CountRequest(string CustomerId, string Feature, long Delta, string IdempotencyKey)
{
    /// <summary>The plan's limit on the level; null: unlimited.</summary>
    public long? Limit { get; init; }

    /// <summary>The caller's reference, kept on the entry.</summary>
    public string? Reference { get; init; }

    /// <summary>The member customer this is for, charged on its billing customer (<see cref="CustomerId"/>); kept on the entry.</summary>
    public string? MemberId { get; init; }
}

/// <summary>Returns all of a hold to the lots it came from.</summary>
public sealed record ReleaseRequest(string HoldId);

/// <summary>Ends the lots granted by <see cref="SourceRef"/> now, as if they expired at this instant (a plan's allowance
/// that a better plan replaces). Unlike a clawback nothing becomes debt: what was used stays used. Credits held by
/// active holds stay held and expire when they come back.</summary>
public sealed record RetireRequest(string CustomerId, string SourceRef, string IdempotencyKey);

/// <summary>Takes back the credits granted by <see cref="SourceRef"/>, newest lots first. What was already spent
/// becomes debt. <see cref="Amount"/> limits it (a partial refund); null takes everything still recoverable.</summary>
public sealed record ClawbackRequest(string CustomerId, string SourceRef, string IdempotencyKey)
{
    /// <summary>Credits to take back; null: everything the source granted that is still recoverable.</summary>
    public long? Amount { get; init; }

    /// <summary>Restricts the clawback to one feature's lots; required with <see cref="Amount"/> when the source granted several.</summary>
    public string? Feature { get; init; }

    /// <summary>The caller's reference, kept on the entry.</summary>
    public string? Reference { get; init; }
}

/// <summary>Puts back what one usage took, lot by lot: <see cref="Entries"/> are the usage's consume entries (one, or
/// two when a metered feature spilled into credits), read before (entries never change). A lot that has expired since
/// gets nothing back (its part is reported as expired), nor a lot refunded since (reported as clawed). Once per usage:
/// the operation's key is fixed by the usage's entry, so a second reversal finds it and is refused.</summary>
public sealed record ReverseRequest(string CustomerId, string EntryId, IReadOnlyList<EntryRecord> Entries)
{
    /// <summary>The idempotency key of the reversal: one per usage entry, so it can happen once.</summary>
    public string OperationKey => "reverse:" + EntryId;
}
