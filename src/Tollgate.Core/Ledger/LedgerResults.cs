using System.Text.Json.Serialization;
using Tollgate.Core.Idempotency;

namespace Tollgate.Core.Ledger;

/// <summary>Why the ledger refused an operation. Refusals change nothing.</summary>
public enum LedgerRefusal
{
    /// <summary>Not enough available balance; nothing was taken.</summary>
    InsufficientBalance,

    /// <summary>The idempotency key was used before with a different request.</summary>
    KeyReused,

    /// <summary>No hold has this id.</summary>
    HoldNotFound,

    /// <summary>The hold is settled, released or past its expiry.</summary>
    HoldNotActive,

    /// <summary>Settling more than the hold reserved.</summary>
    AmountExceedsHold,

    /// <summary>The balance would not fit in a 64-bit integer.</summary>
    Overflow,

    /// <summary>A clawback names a source that granted nothing to this customer, or an amount without one feature.</summary>
    SourceNotFound,

    /// <summary>A count would pass its limit.</summary>
    LimitReached,

    /// <summary>A count would fall below zero.</summary>
    BelowZero,

    /// <summary>A concurrency hold would pass its limit of simultaneous holds.</summary>
    ConcurrencyLimit,

    /// <summary>The usage was reversed before.</summary>
    AlreadyReversed,
}

/// <summary>Common shape of every ledger outcome: a success, a replay of the first success, or a refusal.</summary>
public abstract record LedgerResult
{
    /// <summary>Why the operation was refused; null when it succeeded.</summary>
    public LedgerRefusal? Refusal { get; init; }

    /// <summary>True when this is the stored result of an earlier call with the same key.</summary>
    public bool Replayed { get; init; }

    /// <summary>With an API call (<see cref="LedgerWrite.Call"/>): the response stored under its Idempotency-Key in the
    /// write's transaction, or the one stored by an earlier call with the same key and request (then nothing else of
    /// this result is set). Null when the key was used with another request: the refusal is then
    /// <see cref="LedgerRefusal.KeyReused"/> and nothing was written.</summary>
    [JsonIgnore]
    public StoredResponse? Response { get; init; }

    /// <summary>True when there is no refusal.</summary>
    public bool Succeeded => Refusal is null;
}

/// <summary>A lot's share of an operation, with the lot's feature (a spill draws from two features).</summary>
public sealed record Draw(string LotId, string Feature, long Amount);

/// <summary>The outcome of a grant.</summary>
public sealed record GrantResult : LedgerResult
{
    /// <summary>The new lot.</summary>
    public string LotId { get; init; } = "";
    /// <summary>The grant's entry.</summary>
    public string EntryId { get; init; } = "";
    /// <summary>The feature granted.</summary>
    public string Feature { get; init; } = "";
    /// <summary>Units granted.</summary>
    public long Amount { get; init; }
    /// <summary>Units of the grant that repaid debt (they are not available).</summary>
    public long DebtRepaid { get; init; }
    /// <summary>When the lot expires; null: never.</summary>
    public DateTimeOffset? ExpiresAt { get; init; }
    /// <summary>The feature's available balance after the grant.</summary>
    public long Balance { get; init; }
}

/// <summary>The outcome of a consume.</summary>
public sealed record ConsumeResult : LedgerResult
{
    /// <summary>The feature consumed.</summary>
    public string Feature { get; init; } = "";
    /// <summary>Units asked for.</summary>
    public long Amount { get; init; }

    /// <summary>The first entry written (of the feature itself, or of the spill feature when the feature had nothing).</summary>
    public string EntryId { get; init; } = "";

    /// <summary>Available balance of the feature after the operation (or at the refusal).</summary>
    public long Remaining { get; init; }

    /// <summary>Units charged to the spill feature (already multiplied by its unit cost).</summary>
    public long SpillCharged { get; init; }

    /// <summary>Available balance of the spill feature after, when a spill was configured.</summary>
    public long? SpillRemaining { get; init; }

    /// <summary>With a refusal: the feature that was short.</summary>
    public string? ShortFeature { get; init; }

    /// <summary>The lots units were taken from.</summary>
    public IReadOnlyList<Draw> Draws { get; init; } = [];
}

/// <summary>The outcome of a hold.</summary>
public sealed record HoldResult : LedgerResult
{
    /// <summary>The new hold.</summary>
    public string HoldId { get; init; } = "";
    /// <summary>The feature held.</summary>
    public string Feature { get; init; } = "";
    /// <summary>Units reserved.</summary>
    public long Amount { get; init; }
    /// <summary>When the hold lapses if not settled or released.</summary>
    public DateTimeOffset ExpiresAt { get; init; }
    /// <summary>Available balance of the feature after the hold (or at the refusal).</summary>
    public long Remaining { get; init; }
    /// <summary>With a refusal: the feature that was short.</summary>
    public string? ShortFeature { get; init; }
    /// <summary>The lots units were reserved from.</summary>
    public IReadOnlyList<Draw> Draws { get; init; } = [];
}

/// <summary>The outcome of a settle or a release.</summary>
public sealed record SettleResult : LedgerResult
{
    /// <summary>The hold.</summary>
    public string HoldId { get; init; } = "";
    /// <summary>The hold's customer.</summary>
    public string CustomerId { get; init; } = "";
    /// <summary>The hold's feature.</summary>
    public string Feature { get; init; } = "";

    /// <summary>Units consumed.</summary>
    public long Settled { get; init; }

    /// <summary>Units returned.</summary>
    public long Released { get; init; }

    /// <summary>The hold's status after the operation.</summary>
    public HoldStatus Status { get; init; }
}

/// <summary>The outcome of a count.</summary>
public sealed record CountResult : LedgerResult
{
    /// <summary>The count feature.</summary>
    public string Feature { get; init; } = "";
    /// <summary>The count's entry.</summary>
    public string EntryId { get; init; } = "";

    /// <summary>The level after the change (or at the refusal).</summary>
    public long Level { get; init; }

    /// <summary>The limit the level was held to; null: unlimited.</summary>
    public long? Limit { get; init; }
}

/// <summary>The outcome of retiring a source's lots.</summary>
public sealed record RetireResult : LedgerResult
{
    /// <summary>Units that were still available and ended.</summary>
    public long Retired { get; init; }
}

/// <summary>The outcome of a clawback: what was taken back, and from where.</summary>
public sealed record ClawbackResult : LedgerResult
{
    /// <summary>Credits removed from what was still available.</summary>
    public long Clawed { get; init; }

    /// <summary>Credits taken from active holds: they are consumed as debt if settled, or vanish if released.</summary>
    public long RevokedFromHolds { get; init; }

    /// <summary>Credits already spent, now owed.</summary>
    public long DebtCreated { get; init; }
}

/// <summary>The outcome of reversing a usage.</summary>
public sealed record ReverseResult : LedgerResult
{
    /// <summary>The usage's entry.</summary>
    public string EntryId { get; init; } = "";

    /// <summary>The reversal's first entry.</summary>
    public string ReverseEntryId { get; init; } = "";

    /// <summary>Units put back into lots still live.</summary>
    public long Restored { get; init; }

    /// <summary>Units not put back because their lot has expired (or its period ended) since.</summary>
    public long Expired { get; init; }

    /// <summary>Units not put back because their lot was refunded (clawed back) since.</summary>
    public long Clawed { get; init; }

    /// <summary>The lots that got units back.</summary>
    public IReadOnlyList<Draw> Draws { get; init; } = [];
}
