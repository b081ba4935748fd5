using Tollgate.Core.Catalog;
using Tollgate.Core.Ledger;

namespace Tollgate.Server.Web;

/// <summary>The catalog as the pages describe it.</summary>
public static class Catalogs
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

/// <summary>Ledger entries for the shared table (portal history, admin customer page).</summary>
public sealed record LedgerTable(IReadOnlyList<Core.Ledger.EntryRecord> Entries, ProductCatalog Catalog, bool ShowIds);

/// <summary>Payment records for the shared table; with <paramref name="CustomerId"/> on one customer's page (actions shown).</summary>
public sealed record PaymentsTable(IReadOnlyList<Core.Payments.Payment> Payments, ProductCatalog Catalog, string? CustomerId);
