using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Tollgate.Core.Common;

namespace Tollgate.Core.Catalog;

/// <summary>One stored version of a plan's terms: what a subscription sold under it is entitled to.</summary>
/// <param name="Terms">The canonical JSON of the plan's price and feature settings (<see cref="PlanVersions.TermsOf"/>).</param>
public sealed record PlanVersion(string PlanId, int Version, string TermsHash, string Terms, DateTimeOffset CreatedAt);

/// <summary>
/// The versions of each plan's terms (price, limits, allowances, feature access), so that editing a plan in the catalog
/// does not change what existing subscribers bought (grandfathering). At start-up each plan's terms are canonicalised
/// and hashed; a hash unlike the newest stored version's is stored as the next version (<see cref="IPlanVersionStore"/>).
/// A subscription records the version it was sold under and is entitled to that version's terms until an operator
/// migrates it; the catalog itself always describes the current version. Until versions are loaded (a catalog built
/// in code, a test without a database), every subscription follows the current catalog. Thread-safe.
/// </summary>
public sealed class PlanVersions
{
    // Plans holds each stored version of a catalog plan built once, at load: EffectivePlan resolves on every check.
    private sealed record State(IReadOnlyDictionary<string, int> Current, IReadOnlyDictionary<(string, int), PlanVersion> All,
        IReadOnlyDictionary<(string, int), Plan> Plans);

    private volatile State _state = new(new Dictionary<string, int>(), new Dictionary<(string, int), PlanVersion>(), new Dictionary<(string, int), Plan>());

    /// <summary>The version the catalog's plan is (what a new subscription records), or null before versions are loaded.</summary>
    public int? Current(string planId) => _state.Current.TryGetValue(planId, out var version) ? version : null;

    /// <summary>Every stored version of a plan, oldest first.</summary>
    public IReadOnlyList<PlanVersion> Of(string planId) =>
        [.. _state.All.Values.Where(v => v.PlanId == planId).OrderBy(v => v.Version)];

    /// <summary>Whether the plan has this stored version.</summary>
    public bool Has(string planId, int version) => _state.All.ContainsKey((planId, version));

    /// <summary>Replaces what is known: every stored version, and the version each plan of <paramref name="catalog"/>
    /// is now. Each stored version of a plan the catalog still has is built into a plan here, once.</summary>
    /// <exception cref="FormatException">A stored version's terms cannot be read (they were not written by <see cref="TermsOf"/>).</exception>
    public void Load(ProductCatalog catalog, IEnumerable<PlanVersion> versions, IReadOnlyDictionary<string, int> current)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(versions);
        ArgumentNullException.ThrowIfNull(current);
        var all = versions.ToDictionary(v => (v.PlanId, v.Version));
        var plans = new Dictionary<(string, int), Plan>();
        foreach (var (key, stored) in all)
        {
            if (catalog.PlansById.TryGetValue(stored.PlanId, out var plan))
            {
                plans[key] = WithTerms(plan, stored);
            }
        }

        _state = new State(new Dictionary<string, int>(current, StringComparer.Ordinal), all, plans);
    }

    /// <summary>
    /// The plan a subscription to <paramref name="catalogPlan"/> recorded as <paramref name="version"/> is entitled to:
    /// the catalog's plan (its name, interval, rank and provider mappings always) with that version's price and
    /// features. The catalog's plan itself when the version is the current one, null, or not known to this server (a
    /// newer server stored it; this one follows its own catalog until it restarts).
    /// </summary>
    public Plan For(Plan catalogPlan, int? version)
    {
        ArgumentNullException.ThrowIfNull(catalogPlan);
        var state = _state;
        return version is not { } v || (state.Current.TryGetValue(catalogPlan.Id, out var current) && current == v)
            || !state.Plans.TryGetValue((catalogPlan.Id, v), out var stored)
            ? catalogPlan
            : stored;
    }

    /// <summary>
    /// Stores each plan's current terms as a version when they differ from its newest stored version (the first start
    /// stores version 1 of every plan), then loads every stored version into <paramref name="catalog"/>'s
    /// <see cref="ProductCatalog.Versions"/>. Run at start-up, after the database is migrated.
    /// </summary>
    public static async Task RegisterAsync(ProductCatalog catalog, IPlanVersionStore store, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(store);
        var current = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var plan in catalog.Plans)
        {
            var terms = TermsOf(plan);
            current[plan.Id] = await store.RegisterAsync(plan.Id, Hash(terms), terms, now, cancellationToken).ConfigureAwait(false);
        }

        catalog.Versions.Load(catalog, await store.ListAsync(cancellationToken).ConfigureAwait(false), current);
    }

    /// <summary>The canonical JSON of what a plan sells: its price and every feature setting, features ordered by id,
    /// fixed property order, no whitespace. Two catalogs that sell the same terms give the same text (and hash)
    /// whatever their order or formatting.</summary>
    public static string TermsOf(Plan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var features = new JsonObject();
        foreach (var setting in plan.Features.Values.OrderBy(f => f.FeatureId, StringComparer.Ordinal))
        {
            features[setting.FeatureId] = new JsonObject
            {
                ["enabled"] = setting.Enabled,
                ["limit"] = setting.Limit,
                ["grant"] = setting.Grant,
                ["reset"] = SnakeCase<ResetInterval>.Name(setting.Reset),
                ["rollover_max"] = setting.RolloverMax,
            };
        }

        var terms = new JsonObject
        {
            ["price"] = plan.Price is { } price ? new JsonObject { ["amount"] = price.Amount, ["currency"] = price.Currency } : null,
            ["features"] = features,
        };
        return terms.ToJsonString();
    }

    /// <summary>The SHA-256 of <paramref name="terms"/>, lower-case hex.</summary>
    public static string Hash(string terms) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(terms)));

    /// <summary>The catalog's plan with the price and features of a stored version.</summary>
    private static Plan WithTerms(Plan catalogPlan, PlanVersion stored)
    {
        try
        {
            var root = JsonNode.Parse(stored.Terms)!.AsObject();
            Money? price = root["price"] is JsonObject p ? new Money((long)p["amount"]!, (string)p["currency"]!) : null;
            var features = new Dictionary<string, PlanFeature>(StringComparer.Ordinal);
            foreach (var (id, node) in root["features"]!.AsObject())
            {
                var f = node!.AsObject();
                features[id] = new PlanFeature(id, (bool)f["enabled"]!, (long?)f["limit"], (long?)f["grant"], SnakeCase<ResetInterval>.Parse((string)f["reset"]!))
                {
                    RolloverMax = (long?)f["rollover_max"],
                };
            }

            return catalogPlan with { Price = price, Features = features };
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or InvalidOperationException or ArgumentException or KeyNotFoundException
                                       or NullReferenceException)
        {
            throw new FormatException($"Plan {stored.PlanId} version {stored.Version.ToString(CultureInfo.InvariantCulture)}: its stored terms cannot be read.", ex);
        }
    }
}

/// <summary>A subscription an operator's migration moved to another version of its plan.</summary>
public sealed record MigratedSubscription(string CustomerId, string SubscriptionId);

/// <summary>Storage port for plan versions.</summary>
public interface IPlanVersionStore
{
    /// <summary>
    /// The version a plan's <paramref name="terms"/> are: the newest stored version when its hash is
    /// <paramref name="termsHash"/>, otherwise a new version (newest + 1, or 1 for a plan never seen) stored now. Safe
    /// when several servers register at once: one row per version, and each server ends on the version of its terms.
    /// </summary>
    Task<int> RegisterAsync(string planId, string termsHash, string terms, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Every stored version of every plan.</summary>
    Task<IReadOnlyList<PlanVersion>> ListAsync(CancellationToken cancellationToken);

    /// <summary>Moves the plan's subscriptions recorded as <paramref name="fromVersion"/> (those not canceled or expired)
    /// to <paramref name="toVersion"/>, in one statement; returns the subscriptions moved.</summary>
    Task<IReadOnlyList<MigratedSubscription>> MigrateAsync(string planId, int fromVersion, int toVersion, DateTimeOffset now, CancellationToken cancellationToken);
}
