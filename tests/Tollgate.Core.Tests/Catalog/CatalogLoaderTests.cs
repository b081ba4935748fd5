using Tollgate.Core.Catalog;

namespace Tollgate.Core.Tests.Catalog;

public sealed class CatalogLoaderTests
{
    /// <summary>The built-in providers' mappings, as Tollgate.Providers registers them.</summary>
    private static readonly CatalogMapping[] Providers =
        [new("sandbox", null), new("creem", "product"), new("stripe", "price"), new("apple", "product")];

    private const string Valid = """
        features:
          credits: { type: credits, name: Credits }
          ai_messages: { type: metered, credit_cost: 2 }
          hd_export: { type: boolean }
          projects: { type: count }
          jobs: { type: concurrency }
        plans:
          free:
            default: true
            features:
              ai_messages: { limit: 5, reset: month }
              projects: { limit: 1 }
          pro:
            interval: month
            price: { amount: 1900, currency: USD }
            providers: { stripe: { price: price_pro }, creem: { product: prod_pro } }
            features:
              hd_export: true
              ai_messages: { limit: 100, reset: day }
              credits: { grant: 10, reset: month }
              jobs: { limit: 3 }
          pro_yearly:
            interval: year
            includes: pro
            features:
              credits: { grant: 200, reset: month }
        packs:
          small: { credits: 60, once_per_customer: true, expires_after_days: 30, price: { amount: 100, currency: USD } }
        """;

    [Fact]
    public void Parse_ReadsEveryKindOfEntry()
    {
        var catalog = CatalogLoader.Parse(Valid, "catalog.yaml", Providers);

        Assert.Equal(["credits", "ai_messages", "hd_export", "projects", "jobs"], catalog.Features.Select(f => f.Id));
        Assert.Equal(2, catalog.Feature("ai_messages")!.CreditCost);
        Assert.Equal("free", catalog.DefaultPlan!.Id);
        var pro = catalog.PlansById["pro"];
        Assert.Equal((BillingInterval.Month, 1900L, "USD"), (pro.Interval!.Value, pro.Price!.Value.Amount, pro.Price.Value.Currency));
        Assert.Equal(("price_pro", "prod_pro"), (pro.Providers.For("stripe"), pro.Providers.For("creem")));
        Assert.Equal((100L, ResetInterval.Day), (pro.Feature("ai_messages")!.Limit!.Value, pro.Feature("ai_messages")!.Reset));
        Assert.True(pro.Feature("hd_export")!.Enabled);
        var pack = catalog.PacksById["small"];
        Assert.Equal((60L, true, 30), (pack.Credits, pack.OncePerCustomer, pack.ExpiresAfterDays!.Value));
        Assert.Equal(catalog.PlansById["pro"], catalog.FindByProviderRef("stripe", "price_pro").Plan);
    }

    [Fact]
    public void AppleProductMappings_AreReadOnPlansAndPacks()
    {
        var catalog = CatalogLoader.Parse("""
            features:
              credits: { type: credits }
            plans:
              pro: { interval: month, providers: { apple: { product: com.example.pro.monthly }, creem: { product: prod_pro } } }
            packs:
              credits60: { credits: 60, providers: { apple: { product: com.example.credits60 } } }
            """, "catalog.yaml", Providers);

        Assert.Equal(("com.example.pro.monthly", "prod_pro"), (catalog.PlansById["pro"].Providers.For("apple"), catalog.PlansById["pro"].Providers.For("creem")));
        Assert.Equal(catalog.PacksById["credits60"], catalog.FindByProviderRef("apple", "com.example.credits60").Pack);
        Assert.Null(catalog.FindByProviderRef("creem", "com.example.credits60").Pack);
    }

    [Fact]
    public void ProviderMappings_AreTheRegisteredOnes_AndACatalogIdProviderSellsEveryProductById()
    {
        const string yaml = """
            features:
              credits: { type: credits }
            plans:
              pro: { interval: month, providers: { paddle: { price: pri_1 } } }
            packs:
              small: { credits: 10 }
            """;
        CatalogMapping[] withPaddle = [new("sandbox", null), new("paddle", "price")];

        var catalog = CatalogLoader.Parse(yaml, "c.yaml", withPaddle);
        var unknown = Assert.Throws<CatalogException>(() => CatalogLoader.Parse(yaml, "c.yaml", Providers));

        Assert.Equal(catalog.PlansById["pro"], catalog.FindByProviderRef("paddle", "pri_1").Plan);
        Assert.Equal(("pro", "small"), (catalog.PlansById["pro"].Providers.For("sandbox"), catalog.PacksById["small"].Providers.For("sandbox")));
        Assert.Equal(catalog.PacksById["small"], catalog.FindByProviderRef("sandbox", "small").Pack);
        Assert.Contains("plans.pro.providers.paddle", unknown.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Includes_CopiesTheIncludedPlansFeatures_OwnEntriesWin()
    {
        var yearly = CatalogLoader.Parse(Valid, "catalog.yaml", Providers).PlansById["pro_yearly"];

        Assert.True(yearly.Feature("hd_export")!.Enabled);
        Assert.Equal(100, yearly.Feature("ai_messages")!.Limit);
        Assert.Equal(200, yearly.Feature("credits")!.Grant);
        Assert.Equal("pro", yearly.Includes);
    }

    [Fact]
    public void Seats_AreACountFeature_WhoseDefaultPlanNamesItsLimit_AndSoldPlansTakeTheQuantity()
    {
        var catalog = CatalogLoader.Parse("""
            features:
              seats: { type: count, seats: true }
              projects: { type: count }
            plans:
              free: { default: true, features: { seats: { limit: 1 } } }
              team: { interval: month, features: { seats: {} } }
            """, "catalog.yaml", Providers);

        Assert.Equal("seats", catalog.SeatsFeature!.Id);
        Assert.False(catalog.Feature("projects")!.Seats);
        Assert.Equal(1, catalog.DefaultPlan!.Feature("seats")!.Limit);
        Assert.Null(catalog.PlansById["team"].Feature("seats")!.Limit);
    }

    [Fact]
    public void TrialDays_AreReadOnMonthlyAndYearlyPlans_AndAreTheirOwn_NotIncluded()
    {
        var catalog = CatalogLoader.Parse("""
            features:
              hd: { type: boolean }
            plans:
              pro: { interval: month, trial_days: 14, features: { hd: true } }
              pro_yearly: { interval: year, includes: pro, trial_days: 730 }
              team: { interval: month, includes: pro }
            """, "catalog.yaml", Providers);

        Assert.Equal((14, 730, (int?)null), (catalog.PlansById["pro"].TrialDays, catalog.PlansById["pro_yearly"].TrialDays, catalog.PlansById["team"].TrialDays));
    }

    [Fact]
    public void DemoCatalog_HasTheSeedsPlansAndPacks()
    {
        var catalog = CatalogLoader.LoadDemo(Providers);

        Assert.Equal(["free", "pro", "pro_yearly", "team", "lifetime"], catalog.Plans.Select(p => p.Id));
        Assert.Equal([("new_user_pack", 60L), ("starter_pack", 100L), ("popular_pack", 210L), ("premium_pack", 415L)],
            catalog.Packs.Select(p => (p.Id, p.Credits)));
        Assert.Equal(100, catalog.PacksById["new_user_pack"].Price!.Value.Amount);
        Assert.True(catalog.PacksById["new_user_pack"].OncePerCustomer);
        Assert.Equal(50, catalog.DefaultPlan!.Feature("ai_messages")!.Limit);
        Assert.Equal((1900L, 19000L, 4900L, 19900L),
            (catalog.PlansById["pro"].Price!.Value.Amount, catalog.PlansById["pro_yearly"].Price!.Value.Amount,
             catalog.PlansById["team"].Price!.Value.Amount, catalog.PlansById["lifetime"].Price!.Value.Amount));
        Assert.Equal(500, catalog.PlansById["lifetime"].Feature("credits")!.Grant);
        Assert.Equal(BillingInterval.Once, catalog.PlansById["lifetime"].Interval);
        Assert.Equal(1, catalog.Feature("ai_messages")!.CreditCost);
    }

    [Theory]
    [InlineData("plans:\n  free:\n    default: true\n    features:\n      jobs: { limt: 3 }", "plans.free.features.jobs.limt", "unknown key", 5)]
    [InlineData("plans:\n  pro:\n    interval: weekly", "plans.pro.interval", "'weekly' is not an interval", 3)]
    [InlineData("plans:\n  pro:\n    interval: month\n    features:\n      jobs: { limit: -1 }", "plans.pro.features.jobs.limit", "whole number ≥ 0", 5)]
    [InlineData("plans:\n  pro:\n    interval: month\n    features:\n      jobs: { limit: lots }", "plans.pro.features.jobs.limit", "whole number", 5)]
    [InlineData("plans:\n  pro:\n    interval: month\n    features:\n      video: { limit: 1 }", "plans.pro.features.video", "'video' is not a feature", 5)]
    [InlineData("plans:\n  pro:\n    interval: month\n    features:\n      hd: yes-please", "plans.pro.features.hd", "true or false", 5)]
    [InlineData("plans:\n  a: { default: true }\n  b: { default: true }", "plans", "only one plan may be the default", null)]
    [InlineData("plans:\n  a: { default: true, interval: month }", "plans.a", "the default plan is free", 2)]
    [InlineData("plans:\n  a: { name: A }", "plans.a.interval", "is required", 2)]
    [InlineData("plans:\n  a: { interval: month, price: { amount: 5, currency: usd } }", "plans.a.price.currency", "ISO 4217", 2)]
    [InlineData("plans:\n  a: { interval: month, includes: b }\n  b: { interval: month, includes: a }", "plans.a.includes", "cycle", null)]
    [InlineData("packs:\n  p: { credits: 0 }", "packs.p.credits", "whole number ≥ 1", 2)]
    [InlineData("packs:\n  p: { credits: 5, expires_after_days: 0 }", "packs.p.expires_after_days", "from 1 to", 2)]
    [InlineData("plans:\n  Pro!: { interval: month }", "plans.Pro!", "ids are", 2)]
    [InlineData("packs:\n  p: { credits: 5, providers: { apple: { price: x } } }", "packs.p.providers.apple.price", "unknown key", 2)]
    [InlineData("packs:\n  p: { credits: 5, providers: { apple: {} } }", "packs.p.providers.apple.product", "is required", 2)]
    [InlineData("packs:\n  p: { credits: 5, providers: { itunes: { product: x } } }", "packs.p.providers.itunes", "unknown key", 2)]
    [InlineData("packs:\n  p: { credits: 5, providers: { apple: { product: c60 } } }\n  q: { credits: 9, providers: { apple: { product: c60 } } }",
        "packs.q.providers.apple", "already the apple mapping of 'p'", null)]
    [InlineData("plans:\n  pro:\n    interval: once\n    features:\n      credits: { grant: 5, reset: month, rollover: { max: 5 } }",
        "plans.pro.features.credits.rollover", "only a monthly or yearly plan", 5)]
    [InlineData("plans:\n  free:\n    default: true\n    features:\n      credits: { grant: 5, reset: month, rollover: { max: 5 } }",
        "plans.free.features.credits.rollover", "only a monthly or yearly plan", 5)]
    [InlineData("plans:\n  pro:\n    interval: month\n    features:\n      credits: { grant: 5, reset: never, rollover: { max: 5 } }",
        "plans.pro.features.credits.rollover", "never resets", 5)]
    [InlineData("plans:\n  pro:\n    interval: month\n    features:\n      credits: { grant: 5, reset: month, rollover: { max: -1 } }",
        "plans.pro.features.credits.rollover.max", "whole number ≥ 0", 5)]
    [InlineData("plans:\n  pro:\n    interval: month\n    features:\n      credits: { grant: 5, reset: month, rollover: { max: 2.5 } }",
        "plans.pro.features.credits.rollover.max", "whole number ≥ 0", 5)]
    [InlineData("plans:\n  pro:\n    interval: month\n    features:\n      credits: { grant: 5, reset: month, rollover: 5 }",
        "plans.pro.features.credits.rollover", "must be a mapping", 5)]
    [InlineData("plans:\n  pro:\n    interval: month\n    features:\n      credits: { grant: 5, reset: month, rollover: {} }",
        "plans.pro.features.credits.rollover.max", "is required", 5)]
    [InlineData("plans:\n  pro:\n    interval: month\n    features:\n      jobs: { limit: 5, rollover: { max: 5 } }",
        "plans.pro.features.jobs.rollover", "unknown key", 5)]
    [InlineData("packs:\n  p: { credits: 5, rollover: { max: 5 } }", "packs.p.rollover", "unknown key", 2)]
    [InlineData("plans:\n  pro:\n    interval: month\n    trial_days: 0", "plans.pro.trial_days", "from 1 to 730", 4)]
    [InlineData("plans:\n  pro:\n    interval: month\n    trial_days: -3", "plans.pro.trial_days", "from 1 to 730", 4)]
    [InlineData("plans:\n  pro:\n    interval: month\n    trial_days: 7.5", "plans.pro.trial_days", "from 1 to 730", 4)]
    [InlineData("plans:\n  pro:\n    interval: month\n    trial_days: '14'", "plans.pro.trial_days", "from 1 to 730", 4)]
    [InlineData("plans:\n  pro:\n    interval: month\n    trial_days: 731", "plans.pro.trial_days", "from 1 to 730", 4)]
    [InlineData("plans:\n  life:\n    interval: once\n    trial_days: 14", "plans.life.trial_days", "only a paid monthly or yearly plan", 4)]
    [InlineData("plans:\n  free:\n    default: true\n    trial_days: 14", "plans.free.trial_days", "only a paid monthly or yearly plan", 4)]
    [InlineData("packs:\n  p: { credits: 5, trial_days: 14 }", "packs.p.trial_days", "unknown key", 2)]
    public void Parse_ReportsTheFilePathAndProblem(string plansOrPacks, string path, string problem, int? lineInFragment)
    {
        const string features = "features:\n  credits: { type: credits }\n  jobs: { type: concurrency }\n  hd: { type: boolean }\n";

        var error = Assert.Throws<CatalogException>(() => CatalogLoader.Parse(features + plansOrPacks, "shop.yaml", Providers));

        Assert.Equal("shop.yaml", error.File);
        Assert.Equal(path, error.Path);
        Assert.Contains(problem, error.Problem, StringComparison.Ordinal);
        Assert.StartsWith($"shop.yaml: {path}: ", error.Message, StringComparison.Ordinal);
        if (lineInFragment is { } line)
        {
            Assert.EndsWith($"(line {line + 4})", error.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("features:\n  x: { type: gauge }", "features.x.type", "'gauge' is not a feature type")]
    [InlineData("features:\n  x: { type: boolean, credit_cost: 1 }", "features.x.credit_cost", "only metered features spill")]
    [InlineData("features:\n  x: { type: metered, credit_cost: 1 }", "features.x.credit_cost", "needs a feature of type credits")]
    [InlineData("features:\n  a: { type: credits }\n  b: { type: credits }", "features", "only one feature may have type credits")]
    [InlineData("features:\n  x: { type: boolean }\npacks:\n  p: { credits: 5 }", "packs.p", "no feature has type credits")]
    [InlineData("features:\n  x: { type: boolean }\nextras: 1", "extras", "unknown key")]
    [InlineData("plans: {}", "features", "is required")]
    [InlineData("features: [1, 2]", "features", "must be a mapping")]
    [InlineData("features:\n  x: { type: boolean\n", "", "is not valid YAML")]
    [InlineData("features:\n  x: { type: boolean, alerts: [10] }", "features.x.alerts", "only credits and metered features")]
    [InlineData("features:\n  x: { type: credits, alerts: [] }", "features.x.alerts", "must be a list of thresholds")]
    [InlineData("features:\n  x: { type: credits, alerts: 10 }", "features.x.alerts", "must be a list of thresholds")]
    [InlineData("features:\n  x: { type: credits, alerts: [10, 0] }", "features.x.alerts", "whole numbers ≥ 1")]
    [InlineData("features:\n  x: { type: credits, alerts: [10, ten] }", "features.x.alerts", "whole numbers ≥ 1")]
    [InlineData("features:\n  x: { type: credits, alerts: [10, 10] }", "features.x.alerts", "listed twice")]
    [InlineData("features:\n  x: { type: metered, seats: true }", "features.x.seats", "only a count feature counts seats")]
    [InlineData("features:\n  x: { type: count, seats: yes }", "features.x.seats", "true or false")]
    [InlineData("features:\n  a: { type: count, seats: true }\n  b: { type: count, seats: true }", "features", "only one feature may count seats")]
    [InlineData("features:\n  s: { type: count, seats: true }\nplans:\n  free: { default: true, features: { s: {} } }", "plans.free.features.s.limit",
        "is required on the default plan")]
    [InlineData("features:\n  s: { type: count, seats: true }\nplans:\n  team: { interval: month, features: { s: { limit: 5 } } }",
        "plans.team.features.s.limit", "subscription's quantity")]
    [InlineData("features:\n  s: { type: count, seats: true }\nplans:\n  team: { interval: month, features: { s: true } }",
        "plans.team.features.s", "a seats feature takes a mapping")]
    public void Parse_RejectsBadFeaturesAndStructure(string yaml, string path, string problem)
    {
        var error = Assert.Throws<CatalogException>(() => CatalogLoader.Parse(yaml, "c.yaml", Providers));

        Assert.Equal(path, error.Path);
        Assert.Contains(problem, error.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Rollover_IsReadOnAMonthlyOrYearlyPlansCredits_AndInheritedByIncludes()
    {
        var catalog = CatalogLoader.Parse("""
            features:
              credits: { type: credits }
            plans:
              pro:
                interval: month
                features:
                  credits: { grant: 500, reset: month, rollover: { max: 1000 } }
              pro_yearly: { interval: year, includes: pro }
              plain:
                interval: month
                features:
                  credits: { grant: 500, reset: month }
              zero:
                interval: year
                features:
                  credits: { grant: 500, reset: month, rollover: { max: 0 } }
            """, "c.yaml", Providers);

        Assert.Equal(1000L, catalog.PlansById["pro"].Feature("credits")!.RolloverMax);
        Assert.Equal(1000L, catalog.PlansById["pro_yearly"].Feature("credits")!.RolloverMax);
        Assert.Null(catalog.PlansById["plain"].Feature("credits")!.RolloverMax);
        Assert.Equal(0L, catalog.PlansById["zero"].Feature("credits")!.RolloverMax);
    }

    [Fact]
    public void Alerts_AreReadHighestFirst_AndDefaultToNone()
    {
        var catalog = CatalogLoader.Parse("features:\n  credits: { type: credits, alerts: [20, 100, 5] }\n  msgs: { type: metered }", "c.yaml", Providers);

        Assert.Equal([100L, 20, 5], catalog.Feature("credits")!.Alerts);
        Assert.Empty(catalog.Feature("msgs")!.Alerts);
    }

    [Fact]
    public void LoadFile_WhenTheFileIsMissing_NamesIt()
    {
        var error = Assert.Throws<CatalogException>(() => CatalogLoader.LoadFile("/nonexistent/catalog.yaml", Providers));

        Assert.Equal("/nonexistent/catalog.yaml", error.File);
        Assert.Contains("cannot be read", error.Problem, StringComparison.Ordinal);
    }
}
