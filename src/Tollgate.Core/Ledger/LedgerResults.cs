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
    public LedgerRefusal? Refusal { get; init; }

    /// <summary>True when this is the stored result of an earlier call with the same key.</summary>
    public bool Replayed { get; init; }

    /// <summary>With an API call (<see cref="LedgerWrite.Call"/>): the response stored under its Idempotency-Key in the
    /// write's transaction, or the one stored by an earlier call with the same key and request (then nothing else of
    /// this result is set). Null when the key was used with another request: the refusal is then
    /// <see cref="LedgerRefusal.KeyReused"/> and nothing was written.</summary>
    [JsonIgnore]
    public StoredResponse? Response { get; init; }

    public bool Succeeded => Refusal is null;
}

/// <summary>A lot's share of an operation, with the lot's feature (a spill draws from two features).</summary>
public sealed record Draw(string LotId, string Feature, long Amount);

public sealed record GrantResult : LedgerResult
{
    public string LotId { get; init; } = "";
    public string EntryId { get; init; } = "";
    public string Feature { get; init; } = "";
    public long Amount { get; init; }
    public long DebtRepaid { get; init; }
    public DateTimeOffset? ExpiresAt { get; init; }
    public long Balance { get; init; }
}

public sealed record ConsumeResult : LedgerResult
{
    public string Feature { get; init; } = "";
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

    public IReadOnlyList<Draw> Draws { get; init; } = [];
}

public sealed record HoldResult : LedgerResult
{
    public string HoldId { get; init; } = "";
    public string Feature { get; init; } = "";
    public long Amount { get; init; }
    public DateTimeOffset ExpiresAt { get; init; }
    public long Remaining { get; init; }
    public string? ShortFeature { get; init; }
    public IReadOnlyList<Draw> Draws { get; init; } = [];
}

public sealed record SettleResult : LedgerResult
{
    public string HoldId { get; init; } = "";
    public string CustomerId { get; init; } = "";
    public string Feature { get; init; } = "";

    /// <summary>Units consumed.</summary>
    public long Settled { get; init; }

    /// <summary>Units returned.</summary>
    public long Released { get; init; }

    public HoldStatus Status { get; init; }
}

public sealed record CountResult : LedgerResult
{
    public string Feature { get; init; } = "";
    public string EntryId { get; init; } = "";

    /// <summary>The level after the change (or at the refusal).</summary>
    public long Level { get; init; }

    public long? Limit { get; init; }
}

public sealed record RetireResult : LedgerResult
{
    /// <summary>Units that were still available and ended.</summary>
    public long Retired { get; init; }
}

public sealed record ClawbackResult : LedgerResult
{
    /// <summary>Credits removed from what was still available.</summary>
    public long Clawed { get; init; }

    /// <summary>Credits taken from active holds: they are consumed as debt if settled, or vanish if released.</summary>
    public long RevokedFromHolds { get; init; }

    /// <summary>Credits already spent, now owed.</summary>
    public long DebtCreated { get; init; }
}

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
