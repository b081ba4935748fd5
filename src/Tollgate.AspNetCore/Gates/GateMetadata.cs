namespace Tollgate.AspNetCore;

/// <summary>
/// The endpoint needs a feature: the caller's plan must include it (a boolean feature) or have some of it left (1 unit of a
/// metered or credits feature), or the request is refused with problem+json before the handler runs — <c>403
/// not_entitled</c> naming the products that include it, <c>402</c> when used up. On an MVC controller or action as an
/// attribute; on a minimal API with <see cref="TollgateGateExtensions.RequireFeature{TBuilder}"/>.
/// </summary>
/// <param name="feature">The catalog's id of the feature.</param>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Method, AllowMultiple = true)]
public sealed class RequireFeatureAttribute(string feature) : Attribute
{
    /// <summary>The catalog's id of the feature.</summary>
    public string Feature { get; } = feature ?? throw new ArgumentNullException(nameof(feature));
}

/// <summary>
/// The endpoint costs an amount of a metered or credits feature, charged only when the handler succeeds: the amount is
/// held before the handler runs (refused with <c>402 quota_exceeded|insufficient_balance</c> or <c>429
/// concurrency_limit</c> when it cannot be), settled when the response's status is below 400, and released when the
/// handler throws or answers 400 or more. On an MVC controller or action as an attribute; on a minimal API with
/// <see cref="TollgateGateExtensions.ChargeUsage{TBuilder}"/>.
/// </summary>
/// <param name="feature">The catalog's id of a metered, credits or concurrency feature.</param>
/// <param name="amount">How much one request costs; a positive whole number.</param>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Method, AllowMultiple = true)]
public sealed class ChargeUsageAttribute(string feature, long amount = 1) : Attribute
{
    /// <summary>The catalog's id of the feature.</summary>
    public string Feature { get; } = feature ?? throw new ArgumentNullException(nameof(feature));

    /// <summary>How much one request costs.</summary>
    public long Amount { get; } = amount > 0 ? amount : throw new ArgumentOutOfRangeException(nameof(amount), amount, "must be positive");
}
