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

/// <summary>Takes back a usage (of a credits or metered feature) recorded by mistake or for work that failed: its units
/// go back to the lots they came from, once. A metered usage that spilled into credits is reversed whole. Units whose
/// lot has expired or was refunded since do not come back (<see cref="UsageReversal.Expired"/>,
/// <see cref="UsageReversal.Clawed"/>). A count is given back with a usage of −n instead.</summary>
/// <param name="EntryId">The usage's ledger entry (<see cref="UsageRecord.EntryId"/>).</param>
public sealed record ReverseUsageRequest(string EntryId)
{
    /// <summary>Makes the reversal answer the same however often it is sent: the same key answers the first result again
    /// (where a new key would be refused with <c>already_reversed</c>); with another entry it is refused with
    /// <c>idempotency_key_reused</c>. When null, one is generated for this call and reused on its retries.</summary>
    public string? IdempotencyKey { get; init; }
}

/// <summary>What a reversal put back.</summary>
/// <param name="EntryId">The usage's first entry (the feature's, when it spilled into credits).</param>
/// <param name="Restored">Units put back into lots that are still live.</param>
/// <param name="Expired">Units that could not go back: their lot expired (or its period ended) since.</param>
/// <param name="Clawed">Units that could not go back: their lot was refunded since.</param>
/// <param name="Draws">Lot by lot, what the usage had taken.</param>
public sealed record UsageReversal(string EntryId, long Restored, long Expired, long Clawed, IReadOnlyList<ReversalDraw> Draws);

/// <summary>What a usage took from one lot.</summary>
/// <param name="LotId">The lot.</param>
/// <param name="Feature">The lot's feature (the credits feature for a metered usage's spill).</param>
/// <param name="Amount">How many units.</param>
public sealed record ReversalDraw(string LotId, string Feature, long Amount);
