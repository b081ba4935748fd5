namespace Tollgate;

/// <summary>Grants a customer credits (or extra allowance of a metered feature) by hand: a new lot, with the reason kept
/// on its ledger entry.</summary>
/// <param name="CustomerId">The app's own customer id.</param>
/// <param name="Feature">A credits or metered feature of the catalog.</param>
/// <param name="Amount">How much (positive).</param>
/// <param name="Reason">Why, shown in the customer's history (1–500 characters).</param>
public sealed record CreateGrantRequest(string CustomerId, string Feature, long Amount, string Reason)
{
    /// <summary>When the lot expires (in the future); never when null.</summary>
    public DateTimeOffset? ExpiresAt { get; init; }

    /// <summary>Makes the grant happen once however often it is sent; generated per call when null (see
    /// <see cref="UsageRequest.IdempotencyKey"/>).</summary>
    public string? IdempotencyKey { get; init; }
}

/// <summary>A granted lot.</summary>
/// <param name="LotId">The new lot.</param>
/// <param name="Feature">Which feature.</param>
/// <param name="Amount">How much it holds.</param>
/// <param name="ExpiresAt">When it expires; never when null.</param>
public sealed record Grant(string LotId, string Feature, long Amount, DateTimeOffset? ExpiresAt = null);
