using Tollgate.Core.Catalog;
using Tollgate.Core.Ledger;

namespace Tollgate.Server.Pages.Shared;

/// <summary>The catalog as the pages describe it.</summary>
internal static class Catalogs
{
    public static string ProductName(ProductCatalog catalog, string product) =>
        catalog.PlansById.GetValueOrDefault(product)?.Name ?? catalog.PacksById.GetValueOrDefault(product)?.Name ?? product;

    public static string FeatureName(ProductCatalog catalog, string featureId, Texts t) =>
        t.Name(catalog.Feature(featureId)?.Name ?? featureId);

    /// <summary>One line per feature the plan gives: "AI messages: 1,000 per month", "HD export".</summary>
    public static IReadOnlyList<string> Allowances(Plan plan, ProductCatalog catalog, Texts t)
    {
        var lines = new List<string>();
        foreach (var feature in catalog.Features)
        {
            if (plan.Feature(feature.Id) is not { } setting)
            {
                continue;
            }

            var name = t.Name(feature.Name);
            var line = feature.Type switch
            {
                FeatureType.Boolean => setting.Enabled ? name : null,
                FeatureType.Metered or FeatureType.Credits when (setting.Limit ?? setting.Grant) is { } amount =>
                    setting.Reset == ResetInterval.Never
                        ? t.F("allow.total", t.Number(amount), name, "", t.Counter(feature.Name))
                        : t.F("allow.per", t.Number(amount), name, t.Per(setting.Reset), t.Counter(feature.Name)),
                FeatureType.Count when setting.Limit is { } limit => t.F("allow.count", t.Number(limit), name),
                FeatureType.Concurrency when setting.Limit is { } limit => t.F("allow.concurrency", t.Number(limit), name),
                _ => null,
            };
            if (line is not null)
            {
                lines.Add(line);
            }
        }

        return lines;
    }

    public static string Source(LotSource source, Texts t) => t["lot." + Core.Common.SnakeCase<LotSource>.Name(source)];

    public static string EntryType(EntryType type, Texts t) => t["entry." + Core.Common.SnakeCase<EntryType>.Name(type)];
}

/// <summary>Ledger entries for the shared table (portal history, admin customer page). <paramref name="Origins"/> names
/// the grant behind each lot ("your Pro allowance", "the Popular pack"), for the debits' "from …" lines.</summary>
internal sealed record LedgerTable(IReadOnlyList<Core.Ledger.EntryRecord> Entries, ProductCatalog Catalog, bool ShowIds,
    IReadOnlyDictionary<string, string>? Origins = null)
{
    /// <summary>"from your Pro allowance (30), from the Popular pack (20)" for an entry that took units from lots; null otherwise.</summary>
    public string? DrawLine(Core.Ledger.EntryRecord entry)
    {
        if (Origins is null || entry.Lots.Count == 0 || entry.Type is not (Core.Ledger.EntryType.Consume or Core.Ledger.EntryType.Hold or Core.Ledger.EntryType.Adjust))
        {
            return null;
        }

        var parts = entry.Lots.Select(d => entry.Lots.Count == 1
            ? Origins.GetValueOrDefault(d.LotId) ?? ""
            : $"{Origins.GetValueOrDefault(d.LotId)} ({d.Amount.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)})");
        return string.Join(", ", parts);
    }
}

/// <summary>What each lot of a customer came from, as the portal's history says it.</summary>
internal static class LotOrigins
{
    public static IReadOnlyDictionary<string, string> Of(IEnumerable<LotRecord> lots, ProductCatalog catalog,
        IEnumerable<Core.Subscriptions.Subscription> subscriptions, IEnumerable<Core.Payments.Payment> payments, Texts t)
    {
        var planOfScope = subscriptions.ToDictionary(s => s.Id, s => s.PlanId, StringComparer.Ordinal);
        var packOfRef = payments.Where(p => p.LedgerRef is not null)
            .GroupBy(p => p.LedgerRef!, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First().Product, StringComparer.Ordinal);
        var origins = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var lot in lots)
        {
            origins[lot.LotId] = lot.Source switch
            {
                LotSource.SubscriptionPeriod or LotSource.PlanAllowance => t.F("draw.allowance", PlanName(lot.SourceRef)),
                LotSource.Payment when lot.SourceRef is { } r && packOfRef.TryGetValue(r, out var pack) =>
                    t.F("draw.pack", Catalogs.ProductName(catalog, pack)),
                LotSource.Admin => t["draw.admin"],
                LotSource.Promo => t["draw.promo"],
                LotSource.Rollover => t["draw.rollover"],
                _ => t["draw.other"],
            };
        }

        return origins;

        // An allowance's source is "allowance:{scope}[:{period}]", its scope the subscription's id or "default".
        string PlanName(string? sourceRef)
        {
            var scope = sourceRef?.Split(':') is [_, var s, ..] ? s : "default";
            var plan = planOfScope.TryGetValue(scope, out var planId) ? catalog.PlansById.GetValueOrDefault(planId) : catalog.DefaultPlan;
            return plan?.Name ?? scope;
        }
    }
}

/// <summary>Payment records for the shared table; with <paramref name="CustomerId"/> on one customer's page (actions shown).</summary>
internal sealed record PaymentsTable(IReadOnlyList<Core.Payments.Payment> Payments, ProductCatalog Catalog, string? CustomerId);
