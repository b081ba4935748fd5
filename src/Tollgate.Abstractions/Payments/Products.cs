namespace Tollgate;

/// <summary>The plans and packs for sale.</summary>
/// <param name="Provider">The payment provider whose prices these are.</param>
/// <param name="Plans">Every plan, the default (free) one included.</param>
/// <param name="Packs">Every credit pack.</param>
public sealed record Products(string Provider, IReadOnlyList<PlanListing> Plans, IReadOnlyList<PackListing> Packs);

/// <summary>A plan of the catalog.</summary>
/// <param name="Id">Its id, e.g. <c>pro</c>.</param>
/// <param name="Name">Its display name.</param>
/// <param name="Default">Whether every customer without a paid plan is on it.</param>
/// <param name="Features">What it includes, by feature id.</param>
/// <param name="Interval"><c>month</c>, <c>year</c> or <c>once</c> (lifetime); none for the default plan.</param>
/// <param name="Price">What it costs per interval; none for the default plan or when the provider gave no price.</param>
/// <param name="Eligible">With a customer id in the request: whether that customer may buy it now.</param>
public sealed record PlanListing(
    string Id,
    string Name,
    bool Default,
    IReadOnlyDictionary<string, FeatureTerms> Features,
    string? Interval = null,
    Price? Price = null,
    bool? Eligible = null);

/// <summary>What a plan gives of one feature.</summary>
/// <param name="Enabled">Whether the plan includes it.</param>
/// <param name="Limit">Allowance per window (metered) or the most at once (count, concurrency).</param>
/// <param name="Grant">Credits granted each paid period.</param>
/// <param name="Reset">When the allowance starts again: <c>day</c>, <c>week</c>, <c>month</c> or <c>year</c>.</param>
/// <param name="Rollover">Credits of a monthly or yearly plan: how many unused ones carry into the next paid window.</param>
public sealed record FeatureTerms(bool Enabled, long? Limit = null, long? Grant = null, string? Reset = null, RolloverTerms? Rollover = null);

/// <summary>Catalog <c>rollover: { max }</c> on a plan's credits.</summary>
/// <param name="Max">The most unused credits carried into the next paid window (a carry carried again included).</param>
public sealed record RolloverTerms(long Max);

/// <summary>A credit pack of the catalog.</summary>
/// <param name="Id">Its id, e.g. <c>starter_pack</c>.</param>
/// <param name="Name">Its display name.</param>
/// <param name="Credits">Credits it grants.</param>
/// <param name="OncePerCustomer">Whether a customer may buy it only once.</param>
/// <param name="ExpiresAfterDays">Days after purchase its credits expire; never when null.</param>
/// <param name="Eligible">With a customer id in the request: whether that customer may buy it now.</param>
/// <param name="Price">What it costs.</param>
public sealed record PackListing(string Id, string Name, long Credits, bool OncePerCustomer, int? ExpiresAfterDays = null, bool? Eligible = null,
    Price? Price = null);

/// <summary>A price in minor units of an ISO 4217 currency.</summary>
/// <param name="Amount">Minor units (cents for USD).</param>
/// <param name="Currency">ISO 4217 code, e.g. <c>USD</c>.</param>
/// <param name="Stale">True when the provider could not be asked and an earlier price is shown.</param>
public sealed record Price(long Amount, string Currency, bool? Stale = null);
