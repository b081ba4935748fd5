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

/// <summary>Ledger entries for the shared table (portal history, admin customer page), each told by <paramref name="Story"/>
/// as a sentence, with the grants behind a debit ("From your Pro allowance (30), from the Popular pack (20)").
/// <paramref name="ShowIds"/> (the admin page) adds the stored note and the entry's id for the operator.</summary>
internal sealed record LedgerTable(IReadOnlyList<Core.Ledger.EntryRecord> Entries, ProductCatalog Catalog, bool ShowIds, LedgerStory Story)
{
    /// <summary>"From your Pro allowance (30), from the Popular pack (20)" for an entry that took units from lots; null otherwise.</summary>
    public string? DrawLine(Core.Ledger.EntryRecord entry)
    {
        if (entry.Lots.Count == 0 || entry.Type is not (Core.Ledger.EntryType.Consume or Core.Ledger.EntryType.Hold or Core.Ledger.EntryType.Adjust))
        {
            return null;
        }

        var origins = Story.Origins;
        var parts = entry.Lots.Select((d, i) =>
        {
            var origin = origins.GetValueOrDefault(d.LotId) ?? "";
            // Only the first "From" is capitalised: "From your Pro allowance (30), from the Popular pack (20)".
            origin = i == 0 || origin.Length == 0 ? origin : char.ToLowerInvariant(origin[0]) + origin[1..];
            return entry.Lots.Count == 1 ? origin : $"{origin} ({d.Amount.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)})";
        });
        return string.Join(", ", parts);
    }
}

/// <summary>Payment records for the shared table; with <paramref name="CustomerId"/> on one customer's page (actions shown).</summary>
internal sealed record PaymentsTable(IReadOnlyList<Core.Payments.Payment> Payments, ProductCatalog Catalog, string? CustomerId);
