using Tollgate.Core.Common;
using Tollgate.Core.Ledger;

namespace Tollgate.Core.Catalog;

/// <summary>What kind of feature a catalog entry is; it decides which operations apply and what a plan sets for it.</summary>
public enum FeatureType
{
    /// <summary>On or off, by plan.</summary>
    Boolean,

    /// <summary>An allowance per period; past it, optionally charged to credits.</summary>
    Metered,

    /// <summary>A balance of points from packs and plan grants.</summary>
    Credits,

    /// <summary>A level in use (projects, seats): +n / −n, bounded by the plan's limit.</summary>
    Count,

    /// <summary>Simultaneous holds (jobs in flight), bounded by the plan's limit.</summary>
    Concurrency,
}

/// <summary>How often an allowance starts afresh.</summary>
public enum ResetInterval
{
    /// <summary>Every UTC day.</summary>
    Day,
    /// <summary>Every week.</summary>
    Week,
    /// <summary>Every month.</summary>
    Month,
    /// <summary>Every year.</summary>
    Year,
    /// <summary>Granted once; never starts afresh.</summary>
    Never,
}

/// <summary>How a plan is billed: every month, every year, or once (lifetime). Null for the free default plan.</summary>
public enum BillingInterval
{
    /// <summary>Billed every month.</summary>
    Month,
    /// <summary>Billed every year.</summary>
    Year,
    /// <summary>Paid once (a lifetime plan).</summary>
    Once,
}

/// <summary>The provider mappings of a plan or pack: provider id → that provider's reference (Stripe price id, Creem
/// product id, App Store product id; the product's own id for a provider that sells catalog ids). Which providers and
/// keys a catalog may carry is registered by each provider (<see cref="CatalogMapping"/>).</summary>
public sealed class ProviderMappings
{
    /// <summary>No provider sells the product.</summary>
    public static readonly ProviderMappings None = new(new Dictionary<string, string>());

    private readonly IReadOnlyDictionary<string, string> _references;

    /// <summary>Copies <paramref name="references"/> (provider id → reference); later changes to it are not seen.</summary>
    public ProviderMappings(IReadOnlyDictionary<string, string> references) =>
        _references = new Dictionary<string, string>(references, StringComparer.Ordinal);

    /// <summary>The providers this product is sold through.</summary>
    public IEnumerable<string> Providers => _references.Keys;

    /// <summary>The mapping for one provider id, or null when the product is not sold there.</summary>
    public string? For(string provider) => _references.GetValueOrDefault(provider);
}

/// <param name="CreditCost">Metered only: credits charged per unit once the allowance is used up.</param>
public sealed record Feature(string Id, string Name, FeatureType Type, long? CreditCost, BurnOrder BurnOrder)
{
    /// <summary>Balance alert thresholds, highest first (catalog <c>alerts: [100, 20]</c>): <c>credits.low</c> fires once
    /// when the available balance falls below each, <c>credits.depleted</c> at 0, <c>credits.recovered</c> when it rises to
    /// the highest again. Empty: no alerts.</summary>
    public IReadOnlyList<long> Alerts { get; init; } = [];

    /// <summary>A count feature whose level is the customer's members (catalog <c>seats: true</c>): attaching a member
    /// takes a seat, detaching one frees it. Under a subscription its limit is the subscription's quantity; on the
    /// default plan, the plan's <c>limit</c>. At most one per catalog.</summary>
    public bool Seats { get; init; }
}

/// <summary>A plan's setting for one feature. <paramref name="Enabled"/> for booleans; <paramref name="Limit"/> for
/// metered (per <paramref name="Reset"/>), count and concurrency; <paramref name="Grant"/> for credits (per <paramref name="Reset"/>).</summary>
public sealed record PlanFeature(string FeatureId, bool Enabled, long? Limit, long? Grant, ResetInterval Reset)
{
    /// <summary>Credits of a monthly or yearly plan only (catalog <c>rollover: { max: N }</c>): how many unused credits of
    /// the window that just ended carry into the next paid window, at most (a carry of a carry included). Null: none
    /// carry.</summary>
    public long? RolloverMax { get; init; }
}

/// <param name="Includes">Another plan whose features this one copies and whose <c>plan:</c> capability it also
/// grants (a yearly or lifetime variant of a monthly plan).</param>
/// <param name="Rank">Position in the catalog: when a customer holds several plans, the highest-ranked one sets
/// limits and allowances.</param>
public sealed record Plan(
    string Id,
    string Name,
    bool IsDefault,
    BillingInterval? Interval,
    Money? Price,
    ProviderMappings Providers,
    string? Includes,
    IReadOnlyDictionary<string, PlanFeature> Features,
    int Rank)
{
    /// <summary>The plan's setting for a feature, or null when the plan does not mention it (then the feature is off / unlimited as its type says).</summary>
    public PlanFeature? Feature(string featureId) => Features.GetValueOrDefault(featureId);

    /// <summary>Catalog <c>trial_days</c>, monthly and yearly plans only: the days of the free trial a customer may have of
    /// this plan, once (started card-less through the API or the pricing page, or given by a provider's checkout).
    /// Null: the plan offers no trial.</summary>
    public int? TrialDays { get; init; }
}

/// <summary>A credit pack: a one-time purchase that grants <paramref name="Credits"/> to the catalog's credits feature.
/// <param name="Id">The pack's catalog id (what a checkout names).</param>
/// <param name="Name">The name shown to customers.</param>
/// <param name="Credits">Credits granted per pack bought.</param>
/// <param name="OncePerCustomer">A second purchase is refused at checkout (and flagged for the operator if it gets paid anyway).</param>
/// <param name="ExpiresAfterDays">Days after the purchase when unspent credits of the pack expire; null: never.</param>
/// <param name="Price">The catalog's price, shown when the provider cannot be asked; null when the catalog names none.</param>
/// <param name="Providers">Which provider product or price sells this pack.</param></summary>
public sealed record Pack(
    string Id,
    string Name,
    long Credits,
    bool OncePerCustomer,
    int? ExpiresAfterDays,
    Money? Price,
    ProviderMappings Providers);

/// <summary>Features, plans and packs: what Tollgate sells now and what each sale entitles. Immutable, but for
/// <see cref="Versions"/>: the stored versions of its plans, loaded once the database is reachable.</summary>
public sealed class ProductCatalog
{
    /// <summary>Builds the catalog and its lookups. Ids are expected unique (<see cref="CatalogLoader"/> checks them); features, plans and packs keep their order.</summary>
    public ProductCatalog(IReadOnlyList<Feature> features, IReadOnlyList<Plan> plans, IReadOnlyList<Pack> packs)
    {
        Features = features;
        Plans = plans;
        Packs = packs;
        FeaturesById = features.ToDictionary(f => f.Id, StringComparer.Ordinal);
        PlansById = plans.ToDictionary(p => p.Id, StringComparer.Ordinal);
        PacksById = packs.ToDictionary(p => p.Id, StringComparer.Ordinal);
        DefaultPlan = plans.FirstOrDefault(p => p.IsDefault);
        CreditsFeature = features.FirstOrDefault(f => f.Type == FeatureType.Credits);
        SeatsFeature = features.FirstOrDefault(f => f.Seats);
    }

    /// <summary>Every feature, in catalog order.</summary>
    public IReadOnlyList<Feature> Features { get; }
    /// <summary>Every plan, in catalog order (the order also ranks them: see <see cref="Plan.Rank"/>).</summary>
    public IReadOnlyList<Plan> Plans { get; }
    /// <summary>Every credit pack, in catalog order.</summary>
    public IReadOnlyList<Pack> Packs { get; }
    /// <summary>Features by id (ordinal).</summary>
    public IReadOnlyDictionary<string, Feature> FeaturesById { get; }
    /// <summary>Plans by id (ordinal).</summary>
    public IReadOnlyDictionary<string, Plan> PlansById { get; }
    /// <summary>Packs by id (ordinal).</summary>
    public IReadOnlyDictionary<string, Pack> PacksById { get; }

    /// <summary>Each plan's stored versions and which one the catalog is (grandfathering: a subscription keeps the
    /// terms it was sold under). Empty until loaded at start-up; while empty, every subscription follows the catalog.</summary>
    public PlanVersions Versions { get; } = new();

    /// <summary>The plan a subscription is entitled to: its plan's terms at the version it recorded (the catalog's
    /// plan when that version is the current one or not known); null when the catalog no longer has the plan.</summary>
    public Plan? PlanOf(Subscriptions.Subscription subscription)
    {
        ArgumentNullException.ThrowIfNull(subscription);
        return PlansById.GetValueOrDefault(subscription.PlanId) is { } plan ? Versions.For(plan, subscription.PlanVersion) : null;
    }

    /// <summary>The plan of every customer without a paid one; null when the catalog has none.</summary>
    public Plan? DefaultPlan { get; }

    /// <summary>The feature packs fill and metered features spill into; null when the catalog sells no credits.</summary>
    public Feature? CreditsFeature { get; }

    /// <summary>The count feature that counts members (<see cref="Feature.Seats"/>); null when members take no seat.</summary>
    public Feature? SeatsFeature { get; }

    /// <summary>The feature with this id, or null when the catalog has none.</summary>
    public Feature? Feature(string id) => FeaturesById.GetValueOrDefault(id);

    /// <summary>The plan or pack a provider product/price id maps to.</summary>
    public (Plan? Plan, Pack? Pack) FindByProviderRef(string provider, string providerRef)
    {
        var plan = Plans.FirstOrDefault(p => p.Providers.For(provider) == providerRef);
        var pack = plan is null ? Packs.FirstOrDefault(p => p.Providers.For(provider) == providerRef) : null;
        return (plan, pack);
    }

    /// <summary>Burn orders per feature, for the ledger.</summary>
    public IReadOnlyDictionary<string, BurnOrder> BurnOrders() =>
        Features.Where(f => f.BurnOrder != BurnOrder.ExpiringFirst).ToDictionary(f => f.Id, f => f.BurnOrder, StringComparer.Ordinal);
}
