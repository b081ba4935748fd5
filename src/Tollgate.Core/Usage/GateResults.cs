using Tollgate.Core.Idempotency;

namespace Tollgate.Core.Usage;

/// <summary>A feature's numbers as a check or a balance shows them.</summary>
public sealed record BalanceSummary(long Available, long Held, long? Limit, long? Used, DateTimeOffset? ResetsAt);

/// <summary>The answer to a check: may the customer use the feature now? Nothing changes.
/// <param name="CustomerId">The customer.</param>
/// <param name="Feature">The feature.</param>
/// <param name="Allowed">Whether the customer may use it.</param>
/// <param name="Reason">Why not; null when allowed.</param>
/// <param name="Balance">The feature's numbers; null for a boolean feature.</param></summary>
public sealed record CheckResult(string CustomerId, string Feature, bool Allowed, TollgateRefusal? Reason, BalanceSummary? Balance);

/// <param name="Remaining">After the change: credits available, allowance left (for a metered feature), or room below the limit (count).</param>
public sealed record UsageResult(string Feature, bool Allowed, long Remaining, string? EntryId, TollgateRefusal? Refusal, string? Message, bool Replayed = false)
{
    /// <summary>With an API call: the response stored under its Idempotency-Key (see <see cref="Ledger.LedgerResult.Response"/>).
    /// When set, it is the answer; a replayed one comes without the rest of the result.</summary>
    public StoredResponse? Response { get; init; }
}

/// <summary>The outcome of a hold.
/// <param name="HoldId">The new hold; null when refused.</param>
/// <param name="Feature">The feature.</param>
/// <param name="Amount">Units asked for.</param>
/// <param name="ExpiresAt">When the hold lapses; null when refused.</param>
/// <param name="Refusal">Why it was refused; null when held.</param>
/// <param name="Message">The refusal explained.</param></summary>
public sealed record HoldOutcome(string? HoldId, string Feature, long Amount, DateTimeOffset? ExpiresAt, TollgateRefusal? Refusal, string? Message)
{
    /// <summary>With an API call: the response stored under its Idempotency-Key (see <see cref="UsageResult.Response"/>).</summary>
    public StoredResponse? Response { get; init; }
}

/// <summary>The outcome of settling or releasing a hold.
/// <param name="HoldId">The hold.</param>
/// <param name="Status">The hold's status after: <c>settled</c> or <c>released</c>.</param>
/// <param name="Settled">Units consumed.</param>
/// <param name="Released">Units returned.</param>
/// <param name="Refusal">Why it was refused; null when done.</param>
/// <param name="Message">The refusal explained.</param></summary>
public sealed record SettleOutcome(string HoldId, string Status, long Settled, long Released, TollgateRefusal? Refusal, string? Message);

/// <summary>The outcome of a grant.
/// <param name="LotId">The new lot; null when refused.</param>
/// <param name="Feature">The feature.</param>
/// <param name="Amount">Units granted.</param>
/// <param name="ExpiresAt">When the lot expires; null: never.</param>
/// <param name="Refusal">Why it was refused; null when granted.</param>
/// <param name="Message">The refusal explained.</param></summary>
public sealed record GrantOutcome(string? LotId, string Feature, long Amount, DateTimeOffset? ExpiresAt, TollgateRefusal? Refusal, string? Message)
{
    /// <summary>With an API call: the response stored under its Idempotency-Key (see <see cref="UsageResult.Response"/>).</summary>
    public StoredResponse? Response { get; init; }

    /// <summary>The grant was made by an earlier call with the same key; this one changed nothing.</summary>
    public bool Replayed { get; init; }
}

/// <summary>One feature of <c>GET /v1/customers/{id}/balances</c>.</summary>
public sealed record FeatureBalanceView(
    string Feature,
    string Type,
    long Available,
    long Held,
    long Debt,
    long? Limit,
    long? Used,
    DateTimeOffset? ResetsAt,
    IReadOnlyList<Ledger.LotBalance> Lots);

/// <summary>Usage of a feature per day or month, with the limit of the period it is counted against.</summary>
public sealed record UsageStats(string Feature, string Bucket, DateTimeOffset From, DateTimeOffset To, long? Limit, IReadOnlyList<UsageBucket> Buckets);

/// <summary>One day or month of <see cref="UsageStats"/>.
/// <param name="Start">Start of the bucket (UTC, inclusive).</param>
/// <param name="End">End of the bucket (UTC, exclusive).</param>
/// <param name="Used">Units used in it.</param></summary>
public sealed record UsageBucket(DateTimeOffset Start, DateTimeOffset End, long Used);

/// <summary>What <c>POST /v1/usage/{entry_id}/reverse</c> did: units put back, and those that could not go back because
/// their lot expired or was refunded since.</summary>
public sealed record ReverseOutcome(string EntryId, string? CustomerId, long Restored, long Expired, long Clawed,
    IReadOnlyList<Ledger.Draw> Draws, TollgateRefusal? Refusal, string? Message)
{
    /// <summary>With an API call: the response stored under its Idempotency-Key (see <see cref="UsageResult.Response"/>).</summary>
    public StoredResponse? Response { get; init; }
}
