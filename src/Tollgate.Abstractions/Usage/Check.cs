namespace Tollgate;

/// <summary>May the customer use <see cref="Amount"/> of a feature now? Nothing is recorded.</summary>
/// <param name="CustomerId">The app's own customer id (1–128 characters of <c>A-Za-z0-9_.:@-</c>); an unknown customer is on
/// the default plan.</param>
/// <param name="Feature">A feature of the catalog, e.g. <c>ai_messages</c>.</param>
public sealed record CheckRequest(string CustomerId, string Feature)
{
    /// <summary>How much would be used; 1 unless said otherwise.</summary>
    public long Amount { get; init; } = 1;
}

/// <summary>The answer to a check. When it is no, the result's <see cref="TollgateResult{T}.Refusal"/> is
/// <see cref="Reason"/> and this answer stays on the result's value.</summary>
/// <param name="CustomerId">Whom the check was for.</param>
/// <param name="Feature">Which feature.</param>
/// <param name="Allowed">Whether the amount may be used now.</param>
/// <param name="Reason">Why not, when not allowed: <c>not_entitled</c>, <c>insufficient_balance</c>,
/// <c>quota_exceeded</c>, <c>limit_reached</c>, <c>concurrency_limit</c> or <c>unavailable</c>.</param>
/// <param name="Balance">The feature's numbers, for features that have them.</param>
public sealed record FeatureCheck(string CustomerId, string Feature, bool Allowed, TollgateRefusal? Reason = null, BalanceSnapshot? Balance = null);

/// <summary>A feature's numbers as a check shows them.</summary>
/// <param name="Available">What may still be used: credits, allowance left, or room below a limit.</param>
/// <param name="Held">What active holds reserve.</param>
/// <param name="Limit">The plan's limit (metered, count and concurrency features).</param>
/// <param name="Used">What was used of the limit in the current window.</param>
/// <param name="ResetsAt">When a metered feature's allowance starts again.</param>
public sealed record BalanceSnapshot(long Available, long Held, long? Limit = null, long? Used = null, DateTimeOffset? ResetsAt = null);
