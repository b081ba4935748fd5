using System.Globalization;
using System.Text.RegularExpressions;
using Tollgate.Core.Common;
using Tollgate.Core.Ledger;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Tollgate.Core.Catalog;

/// <summary>
/// Reads a catalog file (API.md §3) and validates everything before anything is used: unknown keys (a typo such as
/// <c>limt</c>), wrong types, references to undefined features or plans. The first problem is reported with the file,
/// the path and the line.
/// </summary>
public static partial class CatalogLoader
{
    /// <summary>The longest trial a plan may offer (<c>trial_days</c>), in days: Stripe's own limit is 730.</summary>
    public const int MaxTrialDays = 730;

    /// <summary>The name the built-in demo catalog goes by in errors and logs (it has no file).</summary>
    public const string DemoCatalogName = "demo catalog";

    /// <summary>Reads a catalog file. <paramref name="providers"/> are the payment providers the app has: each names the
    /// key its mapping takes under a product's <c>providers:</c> (any other provider there is an error).</summary>
    /// <exception cref="CatalogException">The file cannot be read or is not a valid catalog; the message names the place.</exception>
    public static ProductCatalog LoadFile(string path, IReadOnlyCollection<CatalogMapping> providers)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CatalogException(path, "", $"cannot be read: {ex.Message}");
        }

        return Parse(text, path, providers);
    }

    /// <summary>The built-in demo catalog drawn from the seed teams' plans.</summary>
    public static ProductCatalog LoadDemo(IReadOnlyCollection<CatalogMapping> providers) => Parse(DemoYaml(), DemoCatalogName, providers);

    /// <summary>The demo catalog's YAML text (a starting point for a catalog of one's own).</summary>
    public static string DemoYaml()
    {
        using var stream = typeof(CatalogLoader).Assembly.GetManifestResourceStream("Tollgate.Core.Catalog.demo-catalog.yaml")!;
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>Reads a catalog from its YAML text; <paramref name="file"/> names it in errors (see <see cref="LoadFile"/>).</summary>
    /// <exception cref="CatalogException">The text is not a valid catalog; the message names the place.</exception>
    public static ProductCatalog Parse(string yaml, string file, IReadOnlyCollection<CatalogMapping> providers)
    {
        ArgumentNullException.ThrowIfNull(providers);
        var root = ReadRoot(yaml, file);
        var reader = new NodeReader(file) { Providers = providers };
        reader.OnlyKeys(root, "", "features", "plans", "packs");

        var features = new List<Feature>();
        foreach (var (id, node, path) in reader.Entries(root, "features", required: true))
        {
            features.Add(ReadFeature(reader, id, node, path));
        }

        var featureIds = features.ToDictionary(f => f.Id, StringComparer.Ordinal);
        var seatFeatures = features.Where(f => f.Seats).ToList();
        if (seatFeatures.Count > 1)
        {
            throw new CatalogException(file, "features", $"only one feature may count seats; found {string.Join(", ", seatFeatures.Select(f => f.Id))}");
        }

        var credits = features.Where(f => f.Type == FeatureType.Credits).ToList();
        if (credits.Count > 1)
        {
            throw new CatalogException(file, "features", $"only one feature may have type credits; found {string.Join(", ", credits.Select(c => c.Id))}");
        }

        foreach (var metered in features.Where(f => f.CreditCost is not null && credits.Count == 0))
        {
            throw new CatalogException(file, $"features.{metered.Id}.credit_cost", "needs a feature of type credits to charge");
        }

        var rawPlans = reader.Entries(root, "plans", required: false).ToList();
        var planIds = rawPlans.Select(p => p.Id).ToHashSet(StringComparer.Ordinal);
        var plans = new List<Plan>();
        var rank = 0;
        foreach (var (id, node, path) in rawPlans)
        {
            plans.Add(ReadPlan(reader, id, node, path, featureIds, planIds, rank++));
        }

        plans = ResolveIncludes(file, plans);
        var defaults = plans.Where(p => p.IsDefault).ToList();
        if (defaults.Count > 1)
        {
            throw new CatalogException(file, "plans", $"only one plan may be the default; found {string.Join(", ", defaults.Select(p => p.Id))}");
        }

        var packs = new List<Pack>();
        foreach (var (id, node, path) in reader.Entries(root, "packs", required: false))
        {
            if (credits.Count == 0)
            {
                throw new CatalogException(file, path, "packs sell credits, but no feature has type credits");
            }

            packs.Add(ReadPack(reader, id, node, path));
        }

        foreach (var pack in packs.Where(p => planIds.Contains(p.Id)))
        {
            throw new CatalogException(file, $"packs.{pack.Id}", "a plan already has this id; product ids must be unique");
        }

        // A provider's product must name one catalog product: an App Store transaction carries nothing else to go by.
        var mapped = new Dictionary<(string Provider, string Reference), string>();
        foreach (var (product, path, mappings) in plans.Select(p => (p.Id, $"plans.{p.Id}", p.Providers))
                     .Concat(packs.Select(p => (p.Id, $"packs.{p.Id}", p.Providers))))
        {
            foreach (var provider in mappings.Providers)
            {
                if (!mapped.TryAdd((provider, mappings.For(provider)!), product))
                {
                    throw new CatalogException(file, $"{path}.providers.{provider}",
                        $"'{mappings.For(provider)}' is already the {provider} mapping of '{mapped[(provider, mappings.For(provider)!)]}'; each may map one product");
                }
            }
        }

        return new ProductCatalog(features, plans, packs);
    }

    private static YamlMappingNode ReadRoot(string yaml, string file)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException ex)
        {
            throw new CatalogException(file, "", $"is not valid YAML: {ex.InnerException?.Message ?? ex.Message}", (int)ex.Start.Line);
        }

        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            throw new CatalogException(file, "", "must be a mapping with features, plans and packs");
        }

        return root;
    }

    private static Feature ReadFeature(NodeReader r, string id, YamlNode node, string path)
    {
        var map = r.Mapping(node, path);
        r.OnlyKeys(map, path, "type", "name", "credit_cost", "burn_order", "alerts", "seats");
        var typeName = r.RequiredString(map, path, "type");
        if (!SnakeCase<FeatureType>.TryParse(typeName, out var type))
        {
            throw r.Error(path + ".type", $"'{typeName}' is not a feature type; use boolean, metered, credits, count or concurrency", map);
        }

        var creditCost = r.OptionalLong(map, path, "credit_cost", min: 1);
        if (creditCost is not null && type != FeatureType.Metered)
        {
            throw r.Error(path + ".credit_cost", "only metered features spill into credits", map);
        }

        var burn = BurnOrder.ExpiringFirst;
        if (r.OptionalString(map, path, "burn_order") is { } burnName)
        {
            if (type != FeatureType.Credits && type != FeatureType.Metered)
            {
                throw r.Error(path + ".burn_order", "only credits and metered features have lots to burn", map);
            }

            burn = burnName switch
            {
                "expiring_first" => BurnOrder.ExpiringFirst,
                "priority_first" => BurnOrder.PriorityFirst,
                _ => throw r.Error(path + ".burn_order", $"'{burnName}' is not a burn order; use expiring_first or priority_first", map),
            };
        }

        var seats = r.OptionalBool(map, path, "seats") ?? false;
        if (seats && type != FeatureType.Count)
        {
            throw r.Error(path + ".seats", "only a count feature counts seats", map);
        }

        return new Feature(id, r.OptionalString(map, path, "name") ?? id, type, creditCost, burn)
        {
            Alerts = ReadAlerts(r, map, path, type),
            Seats = seats,
        };
    }

    private static List<long> ReadAlerts(NodeReader r, YamlMappingNode map, string path, FeatureType type)
    {
        if (!map.Children.TryGetValue(new YamlScalarNode("alerts"), out var node))
        {
            return [];
        }

        if (type != FeatureType.Credits && type != FeatureType.Metered)
        {
            throw r.Error(path + ".alerts", "only credits and metered features have a balance to alert on", map);
        }

        if (node is not YamlSequenceNode list || list.Children.Count == 0)
        {
            throw r.Error(path + ".alerts", "must be a list of thresholds, e.g. [100, 20]", node);
        }

        var thresholds = new List<long>();
        foreach (var item in list.Children)
        {
            if (item is not YamlScalarNode { Style: ScalarStyle.Plain, Value: { } text }
                || !long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value < 1)
            {
                throw r.Error(path + ".alerts", "thresholds are whole numbers ≥ 1", item);
            }

            if (thresholds.Contains(value))
            {
                throw r.Error(path + ".alerts", $"threshold {value} is listed twice", item);
            }

            thresholds.Add(value);
        }

        return [.. thresholds.OrderDescending()];
    }

    private static Plan ReadPlan(NodeReader r, string id, YamlNode node, string path, IReadOnlyDictionary<string, Feature> features,
        HashSet<string> planIds, int rank)
    {
        var map = r.Mapping(node, path);
        r.OnlyKeys(map, path, "name", "default", "interval", "price", "providers", "includes", "features", "trial_days");
        var isDefault = r.OptionalBool(map, path, "default") ?? false;
        BillingInterval? interval = null;
        if (r.OptionalString(map, path, "interval") is { } intervalName)
        {
            interval = SnakeCase<BillingInterval>.TryParse(intervalName, out var parsed)
                ? parsed
                : throw r.Error(path + ".interval", $"'{intervalName}' is not an interval; use month, year or once", map);
        }

        var price = ReadPrice(r, map, path);
        if (isDefault && (interval is not null || price is not null))
        {
            throw r.Error(path, "the default plan is free: it has no interval and no price", map);
        }

        if (!isDefault && interval is null)
        {
            throw r.Error(path + ".interval", "is required for a plan that is not the default (month, year or once)", map);
        }

        var trialDays = r.OptionalLong(map, path, "trial_days", min: 1, max: MaxTrialDays);
        if (trialDays is not null && (isDefault || interval is not (BillingInterval.Month or BillingInterval.Year)))
        {
            // A trial is a free first stretch of a paid, recurring plan: the free plan and a lifetime purchase have none.
            r.TryGet(map, "trial_days", out var trialNode);
            throw r.Error(path + ".trial_days", "only a paid monthly or yearly plan offers a trial", trialNode);
        }

        var includes = r.OptionalString(map, path, "includes");
        if (includes is not null && (!planIds.Contains(includes) || includes == id))
        {
            throw r.Error(path + ".includes", $"'{includes}' is not another plan of this catalog", map);
        }

        var planFeatures = new Dictionary<string, PlanFeature>(StringComparer.Ordinal);
        foreach (var (featureId, value, featurePath) in r.Entries(map, path + ".features", "features", required: false))
        {
            if (!features.TryGetValue(featureId, out var feature))
            {
                throw r.Error(featurePath, $"'{featureId}' is not a feature of this catalog", value);
            }

            var planFeature = feature.Seats ? ReadSeats(r, feature, value, featurePath, isDefault) : ReadPlanFeature(r, feature, value, featurePath);
            if (planFeature.RolloverMax is not null && interval is not (BillingInterval.Month or BillingInterval.Year))
            {
                // Only what a paid period left unused carries into the next paid period: a plan without periods has none.
                throw r.Error(featurePath + ".rollover", "only a monthly or yearly plan's credits roll over into its next paid period", value);
            }

            planFeatures[featureId] = planFeature;
        }

        return new Plan(id, r.OptionalString(map, path, "name") ?? id, isDefault, interval, price, ReadProviders(r, map, path, id),
            includes, planFeatures, rank) { TrialDays = (int?)trialDays };
    }

    /// <summary>A plan's seats: the default plan names how many (<c>{ limit: N }</c>: it has no subscription to count
    /// them); a sold plan takes them from its subscription's quantity (<c>{}</c>), so a limit there is refused rather than
    /// silently ignored.</summary>
    private static PlanFeature ReadSeats(NodeReader r, Feature feature, YamlNode value, string path, bool isDefault)
    {
        var map = r.Mapping(value, path, "a seats feature takes a mapping: { limit: N } on the default plan, {} on a sold plan");
        r.OnlyKeys(map, path, "limit");
        var limit = r.OptionalLong(map, path, "limit", min: 0);
        return (isDefault, limit) switch
        {
            (true, null) => throw r.Error(path + ".limit", "is required on the default plan (it has no subscription quantity to count seats)", map),
            (false, not null) => throw r.Error(path + ".limit",
                "a sold plan's seats are its subscription's quantity (POST /v1/subscriptions/{id}/quantity); write {} instead", map),
            _ => new PlanFeature(feature.Id, true, limit, null, ResetInterval.Never),
        };
    }

    private static PlanFeature ReadPlanFeature(NodeReader r, Feature feature, YamlNode value, string path)
    {
        if (feature.Type == FeatureType.Boolean)
        {
            return new PlanFeature(feature.Id, r.Bool(value, path), null, null, ResetInterval.Never);
        }

        var map = r.Mapping(value, path, $"a {SnakeCase<FeatureType>.Name(feature.Type)} feature takes a mapping");
        switch (feature.Type)
        {
            case FeatureType.Metered:
                r.OnlyKeys(map, path, "limit", "reset");
                return new PlanFeature(feature.Id, true, r.RequiredLong(map, path, "limit", min: 0), null, ReadReset(r, map, path, required: true));
            case FeatureType.Credits:
                r.OnlyKeys(map, path, "grant", "reset", "rollover");
                var grant = r.RequiredLong(map, path, "grant", min: 1);
                var reset = ReadReset(r, map, path, required: true);
                return new PlanFeature(feature.Id, true, null, grant, reset) { RolloverMax = ReadRollover(r, map, path, reset) };
            default:
                r.OnlyKeys(map, path, "limit");
                return new PlanFeature(feature.Id, true, r.RequiredLong(map, path, "limit", min: 0), null, ResetInterval.Never);
        }
    }

    /// <summary><c>rollover: { max: N }</c> on a credits grant that resets: unused credits carry into the next window up to N.</summary>
    private static long? ReadRollover(NodeReader r, YamlMappingNode map, string path, ResetInterval reset)
    {
        if (!r.TryGet(map, "rollover", out var node))
        {
            return null;
        }

        var rolloverPath = path + ".rollover";
        if (reset == ResetInterval.Never)
        {
            throw r.Error(rolloverPath, "a grant that never resets has no next window to roll over into", node);
        }

        var rollover = r.Mapping(node, rolloverPath, "must be a mapping such as { max: 1000 }");
        r.OnlyKeys(rollover, rolloverPath, "max");
        return r.RequiredLong(rollover, rolloverPath, "max", min: 0);
    }

    private static ResetInterval ReadReset(NodeReader r, YamlMappingNode map, string path, bool required)
    {
        var name = required ? r.RequiredString(map, path, "reset") : r.OptionalString(map, path, "reset") ?? "never";
        return SnakeCase<ResetInterval>.TryParse(name, out var reset)
            ? reset
            : throw r.Error(path + ".reset", $"'{name}' is not a reset; use day, week, month, year or never", map);
    }

    private static Pack ReadPack(NodeReader r, string id, YamlNode node, string path)
    {
        var map = r.Mapping(node, path);
        r.OnlyKeys(map, path, "name", "credits", "once_per_customer", "expires_after_days", "price", "providers");
        var expires = r.OptionalLong(map, path, "expires_after_days", min: 1, max: 36_500);
        return new Pack(id, r.OptionalString(map, path, "name") ?? id, r.RequiredLong(map, path, "credits", min: 1),
            r.OptionalBool(map, path, "once_per_customer") ?? false, (int?)expires, ReadPrice(r, map, path), ReadProviders(r, map, path, id));
    }

    private static Money? ReadPrice(NodeReader r, YamlMappingNode map, string path)
    {
        if (!r.TryGet(map, "price", out var node))
        {
            return null;
        }

        var pricePath = path + ".price";
        var price = r.Mapping(node, pricePath);
        r.OnlyKeys(price, pricePath, "amount", "currency");
        var currency = r.RequiredString(price, pricePath, "currency");
        if (!CurrencyCode().IsMatch(currency))
        {
            throw r.Error(pricePath + ".currency", $"'{currency}' is not an ISO 4217 code such as USD or EUR", price);
        }

        return new Money(r.RequiredLong(price, pricePath, "amount", min: 0), currency);
    }

    /// <summary>Each provider's mapping is one key, the name of its own id for the product; a provider that sells the
    /// catalog's own ids (the Sandbox) has no entry and maps every product to its id.</summary>
    private static ProviderMappings ReadProviders(NodeReader r, YamlMappingNode map, string path, string id)
    {
        var references = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var own in r.Providers.Where(p => p.Key is null))
        {
            references[own.Provider] = id;
        }

        if (!r.TryGet(map, "providers", out var node))
        {
            return new ProviderMappings(references);
        }

        var providersPath = path + ".providers";
        var providers = r.Mapping(node, providersPath);
        var keyed = r.Providers.Where(p => p.Key is not null).ToList();
        r.OnlyKeys(providers, providersPath, [.. keyed.Select(p => p.Provider)]);
        foreach (var (provider, key) in keyed.Select(p => (p.Provider, p.Key!)))
        {
            if (r.TryGet(providers, provider, out var providerNode))
            {
                var mappingPath = providersPath + "." + provider;
                var mapping = r.Mapping(providerNode, mappingPath);
                r.OnlyKeys(mapping, mappingPath, key);
                references[provider] = r.RequiredString(mapping, mappingPath, key);
            }
        }

        return new ProviderMappings(references);
    }

    /// <summary>A plan that includes another starts from its features (own entries win) and may not form a cycle.</summary>
    private static List<Plan> ResolveIncludes(string file, List<Plan> plans)
    {
        var byId = plans.ToDictionary(p => p.Id, StringComparer.Ordinal);
        var resolved = new Dictionary<string, Plan>(StringComparer.Ordinal);

        Plan Resolve(Plan plan, HashSet<string> visiting)
        {
            if (resolved.TryGetValue(plan.Id, out var done))
            {
                return done;
            }

            if (plan.Includes is null)
            {
                return resolved[plan.Id] = plan;
            }

            if (!visiting.Add(plan.Id))
            {
                throw new CatalogException(file, $"plans.{plan.Id}.includes", "plans include each other in a cycle");
            }

            var baseline = Resolve(byId[plan.Includes], visiting);
            var features = new Dictionary<string, PlanFeature>(baseline.Features, StringComparer.Ordinal);
            foreach (var (id, feature) in plan.Features)
            {
                features[id] = feature;
            }

            return resolved[plan.Id] = plan with { Features = features };
        }

        return plans.Select(p => Resolve(p, new HashSet<string>(StringComparer.Ordinal))).ToList();
    }

    [GeneratedRegex("^[A-Z]{3}$")]
    private static partial Regex CurrencyCode();

    [GeneratedRegex("^[a-z0-9][a-z0-9_-]{0,63}$")]
    internal static partial Regex Identifier();

    /// <summary>Typed access to YAML nodes that reports problems with their path and line.</summary>
    private sealed class NodeReader(string file)
    {
        /// <summary>The payment providers whose mappings a product may carry.</summary>
        public required IReadOnlyCollection<CatalogMapping> Providers { get; init; }

        public CatalogException Error(string path, string problem, YamlNode? near) =>
            new(file, path, problem, near is null ? null : (int)near.Start.Line);

        public YamlMappingNode Mapping(YamlNode node, string path, string? problem = null) =>
            node as YamlMappingNode ?? throw Error(path, problem ?? "must be a mapping", node);

        public bool TryGet(YamlMappingNode map, string key, out YamlNode node)
        {
            if (map.Children.TryGetValue(new YamlScalarNode(key), out var found) && !IsNull(found))
            {
                node = found;
                return true;
            }

            node = null!;
            return false;
        }

        public void OnlyKeys(YamlMappingNode map, string path, params string[] allowed)
        {
            foreach (var key in map.Children.Keys)
            {
                var name = (key as YamlScalarNode)?.Value ?? "";
                if (!allowed.Contains(name, StringComparer.Ordinal))
                {
                    throw Error(path.Length == 0 ? name : $"{path}.{name}",
                        $"unknown key; expected one of {string.Join(", ", allowed)}", key);
                }
            }
        }

        public IEnumerable<(string Id, YamlNode Node, string Path)> Entries(YamlMappingNode parent, string key, bool required) =>
            Entries(parent, key, key, required);

        public IEnumerable<(string Id, YamlNode Node, string Path)> Entries(YamlMappingNode parent, string path, string key, bool required)
        {
            if (!TryGet(parent, key, out var node))
            {
                if (required)
                {
                    throw Error(path, "is required", parent);
                }

                yield break;
            }

            foreach (var (idNode, value) in Mapping(node, path).Children)
            {
                var id = (idNode as YamlScalarNode)?.Value ?? "";
                var entryPath = $"{path}.{id}";
                if (!Identifier().IsMatch(id))
                {
                    throw Error(entryPath, "ids are 1–64 characters of a-z, 0-9, _ and -, starting with a letter or digit", idNode);
                }

                yield return (id, value, entryPath);
            }
        }

        public string RequiredString(YamlMappingNode map, string path, string key) =>
            OptionalString(map, path, key) ?? throw Error($"{path}.{key}", "is required", map);

        public string? OptionalString(YamlMappingNode map, string path, string key)
        {
            if (!TryGet(map, key, out var node))
            {
                return null;
            }

            return node is YamlScalarNode { Value: { Length: > 0 } value } ? value : throw Error($"{path}.{key}", "must be a text value", node);
        }

        public long RequiredLong(YamlMappingNode map, string path, string key, long min, long max = long.MaxValue) =>
            OptionalLong(map, path, key, min, max) ?? throw Error($"{path}.{key}", "is required", map);

        public long? OptionalLong(YamlMappingNode map, string path, string key, long min, long max = long.MaxValue)
        {
            if (!TryGet(map, key, out var node))
            {
                return null;
            }

            if (node is YamlScalarNode { Style: ScalarStyle.Plain, Value: { } text }
                && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value)
                && value >= min && value <= max)
            {
                return value;
            }

            throw Error($"{path}.{key}", max == long.MaxValue ? $"must be a whole number ≥ {min}" : $"must be a whole number from {min} to {max}", node);
        }

        public bool? OptionalBool(YamlMappingNode map, string path, string key) =>
            TryGet(map, key, out var node) ? Bool(node, $"{path}.{key}") : null;

        public bool Bool(YamlNode node, string path) => node is YamlScalarNode { Style: ScalarStyle.Plain, Value: "true" or "false" } scalar
            ? scalar.Value == "true"
            : throw Error(path, "must be true or false", node);

        private static bool IsNull(YamlNode node) =>
            node is YamlScalarNode { Style: ScalarStyle.Plain, Value: "" or "~" or "null" or null };
    }
}
