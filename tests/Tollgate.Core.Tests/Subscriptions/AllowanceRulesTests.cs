using Tollgate.Core.Catalog;
using Tollgate.Core.Common;
using Tollgate.Core.Entitlements;
using Tollgate.Core.Ledger;
using Tollgate.Core.Subscriptions;

namespace Tollgate.Core.Tests.Subscriptions;

/// <summary>
/// The rules of <see cref="Allowances.Due"/>: which allowance lots a plan owes at an instant, for how much, for which
/// window, under which key and source. Every lot Tollgate grants from a plan comes from here, so each rule is money:
/// a wrong amount, window or key grants too much, too little, or the same period twice. Found by mutation testing
/// (<c>stryker/run subscriptions-rules</c>, docs/testing.md): each test names the rule it pins.
/// </summary>
public sealed class AllowanceRulesTests
{
    private static readonly CatalogMapping[] Providers =
        [new("sandbox", null), new("creem", "product"), new("stripe", "price"), new("apple", "product")];

    private static readonly ProductCatalog Catalog = CatalogLoader.Parse("""
        features:
          credits: { type: credits }
          ai: { type: metered, credit_cost: 2 }
          hd: { type: boolean }
          projects: { type: count }
          jobs: { type: concurrency }
        plans:
          free:
            default: true
            features:
              ai: { limit: 5, reset: month }
              hd: true
              projects: { limit: 3 }
              jobs: { limit: 2 }
          pro:
            interval: month
            price: { amount: 1900, currency: USD }
            features:
              ai: { limit: 100, reset: month }
              credits: { grant: 10, reset: month, rollover: { max: 30 } }
          zero:
            interval: month
            price: { amount: 100, currency: USD }
            features:
              ai: { limit: 0, reset: month }
          daily:
            interval: month
            price: { amount: 500, currency: USD }
            features:
              ai: { limit: 4, reset: day }
          yearly:
            interval: year
            price: { amount: 19000, currency: USD }
            features:
              ai: { limit: 50, reset: month }
              credits: { grant: 200, reset: year }
          lifetime:
            interval: once
            price: { amount: 9900, currency: USD }
            features:
              ai: { limit: 20, reset: month }
        """, "catalog.yaml", Providers);

    private static readonly DateTimeOffset PeriodStart = new(2025, 1, 31, 12, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset PeriodEnd = new(2025, 2, 28, 12, 0, 0, TimeSpan.Zero);

    private static Subscription On(string plan, DateTimeOffset? start, DateTimeOffset? end) =>
        new("sub_1", "cus_1", plan, "sandbox", "ps_1", null, SubscriptionStatus.Active, start, end, false, null, null, null, start ?? PeriodStart,
            start ?? PeriodStart);

    private static IReadOnlyList<AllowanceGrant> Due(string plan, Subscription? subscription, DateTimeOffset now) =>
        Allowances.Due(Catalog, new EffectivePlan(Catalog.PlansById[plan], subscription, [Catalog.PlansById[plan]]), now);

    private static string Micros(DateTimeOffset at) => Instants.ToUnixMicroseconds(at).ToString(System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public void Rule_APaidPlan_OwesItsMeteredLimitAndCreditGrant_ForThePaidPeriodItself_KeyedByScopeFeatureAndWindowStart()
    {
        var grants = Due("pro", On("pro", PeriodStart, PeriodEnd), PeriodStart.AddDays(3)).OrderBy(g => g.Feature, StringComparer.Ordinal).ToList();

        Assert.Equal(["ai", "credits"], grants.Select(g => g.Feature));
        var (ai, credits) = (grants[0], grants[1]);
        Assert.Equal((100L, PeriodStart, PeriodEnd), (ai.Amount, ai.WindowStart!.Value, ai.WindowEnd!.Value));
        Assert.Equal((10L, PeriodStart, PeriodEnd), (credits.Amount, credits.WindowStart!.Value, credits.WindowEnd!.Value));
        Assert.All(grants, g => Assert.Equal(LotSource.SubscriptionPeriod, g.Source));
        Assert.All(grants, g => Assert.Equal($"allowance:sub_1:{Micros(PeriodStart)}", g.SourceRef));
        Assert.Equal($"allowance:sub_1:ai:{Micros(PeriodStart)}", ai.Key);
        Assert.Equal($"allowance:sub_1:credits:{Micros(PeriodStart)}", credits.Key);
    }

    [Fact]
    public void Rule_APaidPeriodOwesFromItsFirstInstant_ToOneTickBeforeItsEnd_AndNothingOutsideIt()
    {
        var subscription = On("pro", PeriodStart, PeriodEnd);

        Assert.Empty(Due("pro", subscription, PeriodStart.AddTicks(-1)));
        Assert.Equal(2, Due("pro", subscription, PeriodStart).Count);
        Assert.Equal(2, Due("pro", subscription, PeriodEnd.AddTicks(-1)).Count);
        Assert.Empty(Due("pro", subscription, PeriodEnd));
    }

    [Fact]
    public void Rule_APaidPeriodWithoutAKnownEnd_OwesForOneIntervalFromItsStart()
    {
        var grants = Due("pro", On("pro", PeriodStart, null), PeriodStart.AddDays(40));

        // The window is the period as the provider counts it: one month from 31 January is 28 February.
        Assert.All(grants, g => Assert.Equal((PeriodStart, PeriodEnd), (g.WindowStart!.Value, g.WindowEnd!.Value)));
        Assert.Equal(2, grants.Count);
    }

    [Fact]
    public void Rule_APaidPlanWhosePeriodTheProviderHasNotNamed_OwesNothing_ButAPlanWithoutPaidPeriodsStillOwes()
    {
        var now = new DateTimeOffset(2025, 3, 10, 0, 0, 0, TimeSpan.Zero);

        Assert.Empty(Due("pro", On("pro", null, null), now));
        // A lifetime subscription has no periods and owes per calendar month, as the default plan does.
        var lifetime = Assert.Single(Due("lifetime", On("lifetime", null, null), now));
        Assert.Equal((20L, new DateTimeOffset(2025, 3, 1, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2025, 4, 1, 0, 0, 0, TimeSpan.Zero)),
            (lifetime.Amount, lifetime.WindowStart!.Value, lifetime.WindowEnd!.Value));
        Assert.Equal((LotSource.PlanAllowance, "allowance:sub_1", $"allowance:sub_1:ai:{Micros(lifetime.WindowStart.Value)}", (AllowanceCarry?)null),
            (lifetime.Source, lifetime.SourceRef, lifetime.Key, lifetime.Carry));
    }

    [Fact]
    public void Rule_TheDefaultPlan_OwesItsMeteredLimitsPerCalendarWindow_ScopedDefault_AndNothingForBooleanCountOrConcurrency()
    {
        var now = new DateTimeOffset(2025, 3, 10, 15, 0, 0, TimeSpan.Zero);

        var grant = Assert.Single(Due("free", null, now));

        Assert.Equal(("ai", 5L), (grant.Feature, grant.Amount));
        Assert.Equal((new DateTimeOffset(2025, 3, 1, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2025, 4, 1, 0, 0, 0, TimeSpan.Zero)),
            (grant.WindowStart!.Value, grant.WindowEnd!.Value));
        Assert.Equal((LotSource.PlanAllowance, "allowance:default"), (grant.Source, grant.SourceRef));
        Assert.Equal($"allowance:default:ai:{Micros(grant.WindowStart.Value)}", grant.Key);
        Assert.Null(grant.Carry);
    }

    [Fact]
    public void Rule_AMeteredLimitOfZero_OwesNoLot()
    {
        Assert.Empty(Due("zero", On("zero", PeriodStart, PeriodEnd), PeriodStart.AddDays(1)));
    }

    [Fact]
    public void Rule_ACreditsGrantThatNeverResets_OwesOneLotKeyedNever_WithoutAWindowOrACarry()
    {
        var catalog = CatalogLoader.Parse("""
            features:
              forever: { type: credits }
            plans:
              once:
                interval: month
                price: { amount: 100, currency: USD }
                features:
                  forever: { grant: 7, reset: never }
            """, "catalog.yaml", Providers);
        var plan = catalog.PlansById["once"];

        var grant = Assert.Single(Allowances.Due(catalog, new EffectivePlan(plan, On("once", PeriodStart, PeriodEnd), [plan]), PeriodStart.AddDays(1)));

        Assert.Equal(("forever", 7L, (DateTimeOffset?)null, (DateTimeOffset?)null), (grant.Feature, grant.Amount, grant.WindowStart, grant.WindowEnd));
        Assert.Equal("allowance:sub_1:forever:never", grant.Key);
        Assert.Null(grant.Carry);
    }

    [Fact]
    public void Rule_AYearlyPlansMonthlyAllowance_IsOwedPerMonthCountedFromThePeriodStart()
    {
        var start = new DateTimeOffset(2025, 1, 31, 12, 0, 0, TimeSpan.Zero);
        var end = new DateTimeOffset(2026, 1, 31, 12, 0, 0, TimeSpan.Zero);

        var grants = Due("yearly", On("yearly", start, end), new DateTimeOffset(2025, 3, 5, 0, 0, 0, TimeSpan.Zero))
            .ToDictionary(g => g.Feature, StringComparer.Ordinal);

        // The month of the year that contains 5 March: 28 February (the month after 31 January) to 31 March.
        Assert.Equal((50L, new DateTimeOffset(2025, 2, 28, 12, 0, 0, TimeSpan.Zero), new DateTimeOffset(2025, 3, 31, 12, 0, 0, TimeSpan.Zero)),
            (grants["ai"].Amount, grants["ai"].WindowStart!.Value, grants["ai"].WindowEnd!.Value));
        // A yearly reset on a yearly plan is the paid year itself.
        Assert.Equal((200L, start, end), (grants["credits"].Amount, grants["credits"].WindowStart!.Value, grants["credits"].WindowEnd!.Value));
        // Both belong to the paid period: one source ref, so a refunded year is clawed back whole.
        Assert.All(grants.Values, g => Assert.Equal(($"allowance:sub_1:{Micros(start)}", LotSource.SubscriptionPeriod), (g.SourceRef, g.Source)));
    }

    [Fact]
    public void Rule_AWindowThatWouldOutlastThePaidPeriod_EndsWithThePeriod()
    {
        // A yearly subscription the provider ended early (the paid period is shorter than the year): the monthly window
        // that contains its end stops there, so no allowance outlives what was paid for.
        var start = new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var end = new DateTimeOffset(2025, 3, 15, 0, 0, 0, TimeSpan.Zero);

        var ai = Due("yearly", On("yearly", start, end), new DateTimeOffset(2025, 3, 10, 0, 0, 0, TimeSpan.Zero)).Single(g => g.Feature == "ai");

        Assert.Equal((new DateTimeOffset(2025, 3, 1, 0, 0, 0, TimeSpan.Zero), end), (ai.WindowStart!.Value, ai.WindowEnd!.Value));
    }

    [Fact]
    public void Rule_ADailyAllowanceOfAMonthlyPlan_IsOwedPerDayOfThePeriod_CountedFromThePeriodStart()
    {
        var grant = Assert.Single(Due("daily", On("daily", PeriodStart, PeriodEnd), PeriodStart.AddDays(2).AddHours(3)));

        Assert.Equal((4L, PeriodStart.AddDays(2), PeriodStart.AddDays(3)), (grant.Amount, grant.WindowStart!.Value, grant.WindowEnd!.Value));
        Assert.Equal($"allowance:sub_1:ai:{Micros(PeriodStart.AddDays(2))}", grant.Key);
        Assert.Equal($"allowance:sub_1:{Micros(PeriodStart)}", grant.SourceRef);
    }

    [Fact]
    public void Rule_OnlyAPaidPlansCreditsRollOver_IntoTheNextWindow_KeyedBySubscriptionFeatureAndWindowStart()
    {
        var grants = Due("pro", On("pro", PeriodStart, PeriodEnd), PeriodStart.AddDays(1)).ToDictionary(g => g.Feature, StringComparer.Ordinal);

        Assert.Equal(new AllowanceCarry(30, PeriodStart, "allowance:sub_1:", $"rollover:sub_1:credits:{Micros(PeriodStart)}"), grants["credits"].Carry);
        // A metered allowance does not roll over, nor does a plan's credits without a rollover.
        Assert.Null(grants["ai"].Carry);
        Assert.All(Due("yearly", On("yearly", PeriodStart, PeriodStart.AddYears(1)), PeriodStart.AddDays(1)), g => Assert.Null(g.Carry));
    }
    [Fact]
    public void Rule_ThePeriodTheProviderNamed_IsTheWindow_EvenWhenItIsLongerThanOneInterval()
    {
        // A provider may name a longer first period (a billing anchor moved, days added by hand): its end is the
        // window's end, not the start plus one month.
        var end = PeriodStart.AddDays(40);
        var grants = Due("pro", On("pro", PeriodStart, end), PeriodStart.AddDays(35));

        Assert.Equal(2, grants.Count);
        Assert.All(grants, g => Assert.Equal((PeriodStart, end), (g.WindowStart!.Value, g.WindowEnd!.Value)));
    }

    [Fact]
    public void Rule_APaidPlansCredits_HeldWithoutASubscription_OweCalendarWindows_AndNeverCarry()
    {
        // Without a subscription there is no paid period to carry into: the plan owes per calendar month, like the
        // default plan, and its rollover does not apply.
        var now = new DateTimeOffset(2025, 3, 10, 0, 0, 0, TimeSpan.Zero);
        var grants = Allowances.Due(Catalog, new EffectivePlan(Catalog.PlansById["pro"], null, [Catalog.PlansById["pro"]]), now)
            .ToDictionary(g => g.Feature, StringComparer.Ordinal);

        Assert.Equal((10L, LotSource.PlanAllowance), (grants["credits"].Amount, grants["credits"].Source));
        Assert.Equal((new DateTimeOffset(2025, 3, 1, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2025, 4, 1, 0, 0, 0, TimeSpan.Zero)),
            (grants["credits"].WindowStart!.Value, grants["credits"].WindowEnd!.Value));
        Assert.Null(grants["credits"].Carry);
    }
}
