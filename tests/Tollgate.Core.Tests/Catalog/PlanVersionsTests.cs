using Tollgate.Core.Catalog;
using Tollgate.Core.Entitlements;
using Tollgate.Core.Subscriptions;

namespace Tollgate.Core.Tests.Catalog;

/// <summary>What a plan version is made of: the canonical terms (only price and feature settings, in a fixed order, so a
/// reformatted catalog is not a new version), and a subscription resolved at its version (grandfathered terms with the
/// catalog's name and rank; the catalog's plan when the version is current, null or unknown).</summary>
public sealed class PlanVersionsTests
{
    private static ProductCatalog Catalog(string pro, string order = "a") => CatalogLoader.Parse($$"""
        features:
          {{(order == "a" ? "messages: { type: metered }\n  credits: { type: credits }" : "credits: { type: credits }\n  messages: { type: metered }")}}
          hd_export: { type: boolean }
        plans:
          free:
            default: true
          pro:
            name: Pro
            interval: month
        {{pro}}
        """, "catalog.yaml", []);

    private const string V1 = """
            price: { amount: 1900, currency: USD }
            features:
              messages: { limit: 300, reset: month }
              credits: { grant: 100, reset: month, rollover: { max: 50 } }
              hd_export: false
        """;

    private const string V2 = """
            price: { amount: 2900, currency: USD }
            features:
              messages: { limit: 500, reset: month }
              credits: { grant: 100, reset: month, rollover: { max: 50 } }
              hd_export: true
        """;

    private static Subscription On(int? version) => new("sub_1", "c1", "pro", "sandbox", null, null, SubscriptionStatus.Active,
        DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch.AddMonths(1), false, null, null, null, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch)
    {
        PlanVersion = version,
    };

    [Fact]
    public void Terms_AreTheSame_WhateverTheOrderOfFeaturesInTheCatalog_AndDifferWhenALimitOrThePriceChanges()
    {
        var reordered = V1.Replace("      messages: { limit: 300, reset: month }\n", "", StringComparison.Ordinal) + "\n      messages: { limit: 300, reset: month }";
        var v1 = PlanVersions.TermsOf(Catalog(V1).PlansById["pro"]);

        Assert.Equal(v1, PlanVersions.TermsOf(Catalog(reordered, order: "b").PlansById["pro"]));
        Assert.NotEqual(v1, PlanVersions.TermsOf(Catalog(V2).PlansById["pro"]));
        Assert.NotEqual(v1, PlanVersions.TermsOf(Catalog(V1.Replace("1900", "1901", StringComparison.Ordinal)).PlansById["pro"]));
        Assert.NotEqual(v1, PlanVersions.TermsOf(Catalog(V1.Replace("max: 50", "max: 51", StringComparison.Ordinal)).PlansById["pro"]));
        Assert.Equal(PlanVersions.Hash(v1), PlanVersions.Hash(PlanVersions.TermsOf(Catalog(reordered).PlansById["pro"])));
        Assert.Equal(64, PlanVersions.Hash(v1).Length);
    }

    [Fact]
    public void ASubscription_OnAnOlderVersion_HasThatVersionsTerms_WithTheCatalogsNameAndRank()
    {
        var v1Terms = PlanVersions.TermsOf(Catalog(V1).PlansById["pro"]);
        var catalog = Catalog(V2);
        var v2Terms = PlanVersions.TermsOf(catalog.PlansById["pro"]);
        catalog.Versions.Load(catalog, [new PlanVersion("pro", 1, PlanVersions.Hash(v1Terms), v1Terms, DateTimeOffset.UnixEpoch),
            new PlanVersion("pro", 2, PlanVersions.Hash(v2Terms), v2Terms, DateTimeOffset.UnixEpoch)], new Dictionary<string, int> { ["pro"] = 2 });

        var old = catalog.PlanOf(On(1))!;
        var plan = EffectivePlan.Resolve(catalog, [On(1)], DateTimeOffset.UnixEpoch.AddDays(1), false)!;

        Assert.Equal((1900L, 300L, false), (old.Price!.Value.Amount, old.Feature("messages")!.Limit!.Value, old.Feature("hd_export")!.Enabled));
        Assert.Equal(50, old.Feature("credits")!.RolloverMax);
        Assert.Equal(("Pro", catalog.PlansById["pro"].Rank), (old.Name, old.Rank));
        Assert.Same(old, plan.Primary);
        Assert.DoesNotContain("feature:hd_export", plan.Capabilities(catalog));
        Assert.Same(catalog.PlansById["pro"], catalog.PlanOf(On(2))); // the current version is the catalog's plan
        Assert.Same(catalog.PlansById["pro"], catalog.PlanOf(On(null))); // sold before versions: follows the catalog
        Assert.Same(catalog.PlansById["pro"], catalog.PlanOf(On(9))); // a version another server stored since
        Assert.Equal(2, catalog.Versions.Current("pro"));
        Assert.Equal([1, 2], catalog.Versions.Of("pro").Select(v => v.Version));
    }

    [Fact]
    public void UnreadableStoredTerms_StopTheLoad_RatherThanGrantingTheWrongTerms()
    {
        var catalog = Catalog(V2);

        var error = Assert.Throws<FormatException>(() => catalog.Versions.Load(catalog,
            [new PlanVersion("pro", 1, "x", "{\"price\":null}", DateTimeOffset.UnixEpoch)], new Dictionary<string, int> { ["pro"] = 2 }));

        Assert.Contains("pro version 1", error.Message, StringComparison.Ordinal);
        Assert.Null(catalog.Versions.Current("pro")); // nothing half-loaded
    }
}
