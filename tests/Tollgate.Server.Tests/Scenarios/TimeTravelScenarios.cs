using Microsoft.Extensions.DependencyInjection;
using Tollgate.Core.Subscriptions;
using Tollgate.Server.Tests.Support;
using Tollgate.Storage;

namespace Tollgate.Server.Tests.Scenarios;

/// <summary>Plans over time, on a manual clock: resets at calendar boundaries, allowances per paid period, plan changes
/// mid-period, packs expiring, holds outliving their TTL.</summary>
public abstract class TimeTravelScenarios : AppTestBase
{
    private static DateTimeOffset Utc(int y, int m, int d, int h = 0, int min = 0) => new(y, m, d, h, min, 0, TimeSpan.Zero);

    private SubscriptionService Subscriptions => App.Services.GetRequiredService<SubscriptionService>();

    [Theory]
    [InlineData(2025)] // February has 28 days
    [InlineData(2024)] // leap year: 29
    public async Task FreePlan_ResetsOnTheMonthBoundary_From31JanuaryToFebruary(int year)
    {
        var c = TollgateApp.NewCustomer();
        App.Clock.Set(Utc(year, 1, 31, 23, 50));
        await Json.ReadAsync(await App.UseAsync(c, "ai_messages", 45), 200);
        var january = await App.BalanceAsync(c, "ai_messages");

        App.Clock.Set(Utc(year, 2, 1));
        var february = await App.BalanceAsync(c, "ai_messages");
        await Json.ReadAsync(await App.UseAsync(c, "ai_messages", 50), 200);
        await Json.ProblemAsync(await App.UseAsync(c, "ai_messages", 1), 402, "quota_exceeded");

        App.Clock.Set(Utc(year, 2, DateTime.DaysInMonth(year, 2), 23, 59));
        await Json.ProblemAsync(await App.UseAsync(c, "ai_messages", 1), 402, "quota_exceeded");
        App.Clock.Set(Utc(year, 3, 1));
        var march = await App.BalanceAsync(c, "ai_messages");

        Assert.Equal((5L, $"{year}-02-01T00:00:00+00:00"), ((long)january["available"]!, (string)january["resets_at"]!));
        Assert.Equal((50L, 0L, $"{year}-03-01T00:00:00+00:00"), ((long)february["available"]!, (long)february["used"]!, (string)february["resets_at"]!));
        Assert.Equal(50, (long)march["available"]!);
    }

    [Fact]
    public async Task Pro_GrantsItsAllowancesPerPaidPeriod_AnchoredOn31January()
    {
        var c = TollgateApp.NewCustomer();
        App.Clock.Set(Utc(2025, 1, 31, 10));
        var sub = await Subscriptions.StartAsync(c, "pro", "sandbox", null, null, SubscriptionStatus.Active, Utc(2025, 1, 31, 10), Utc(2025, 2, 28, 10));
        await Json.ReadAsync(await App.UseAsync(c, "ai_messages", 400), 200);
        await Json.ReadAsync(await App.UseAsync(c, "credits", 100), 200);

        var first = (await App.BalanceAsync(c, "ai_messages"), await App.BalanceAsync(c, "credits"));

        App.Clock.Set(Utc(2025, 2, 28, 10)); // the period ended; the renewal payment has not arrived yet
        var lapsed = await App.BalanceAsync(c, "ai_messages");
        await Subscriptions.RenewAsync(sub.Id, Utc(2025, 2, 28, 10), Utc(2025, 3, 31, 10));
        var second = (await App.BalanceAsync(c, "ai_messages"), await App.BalanceAsync(c, "credits"));
        var capabilities = await Json.ReadAsync(await Client.GetAsync($"/v1/customers/{c}/capabilities"), 200);

        Assert.Equal((600L, 1000L, 400L, "2025-02-28T10:00:00+00:00"),
            ((long)first.Item1["available"]!, (long)first.Item1["limit"]!, (long)first.Item1["used"]!, (string)first.Item1["resets_at"]!));
        Assert.Equal(400, (long)first.Item2["available"]!);
        Assert.Equal(0, (long)lapsed["available"]!);
        Assert.Equal((1000L, "2025-03-31T10:00:00+00:00"), ((long)second.Item1["available"]!, (string)second.Item1["resets_at"]!));
        Assert.Equal(500, (long)second.Item2["available"]!); // last period's credits expired with it
        Assert.Contains("plan:pro", capabilities["capabilities"]!.AsArray().Select(x => (string)x!));
        Assert.Contains("feature:hd_export", capabilities["capabilities"]!.AsArray().Select(x => (string)x!));
    }

    [Fact]
    public async Task SubscribingMidMonth_EndsTheFreeAllowance_SoOnlyThePaidPlansCounts()
    {
        var c = TollgateApp.NewCustomer();
        App.Clock.Set(Utc(2025, 1, 10));
        await Json.ReadAsync(await App.UseAsync(c, "ai_messages", 20), 200);

        await Subscriptions.StartAsync(c, "pro", "sandbox", null, null, SubscriptionStatus.Active, Utc(2025, 1, 10), Utc(2025, 2, 10));
        var messages = await App.BalanceAsync(c, "ai_messages");

        Assert.Equal((1000L, 1000L, 0L), ((long)messages["available"]!, (long)messages["limit"]!, (long)messages["used"]!));
        Assert.Single(messages["lots"]!.AsArray());
    }

    [Fact]
    public async Task YearlyPro_GrantsTheMonthlyAllowanceEveryMonthOfTheYear()
    {
        var c = TollgateApp.NewCustomer();
        App.Clock.Set(Utc(2025, 1, 31));
        await Subscriptions.StartAsync(c, "pro_yearly", "sandbox", null, null, SubscriptionStatus.Active, Utc(2025, 1, 31), Utc(2026, 1, 31));
        await Json.ReadAsync(await App.UseAsync(c, "ai_messages", 1000), 200);

        App.Clock.Set(Utc(2025, 2, 28, 1));
        var february = await App.BalanceAsync(c, "ai_messages");
        var capabilities = await Json.ReadAsync(await Client.GetAsync($"/v1/customers/{c}/capabilities"), 200);

        Assert.Equal((1000L, "2025-03-31T00:00:00+00:00"), ((long)february["available"]!, (string)february["resets_at"]!));
        Assert.Contains("plan:pro", capabilities["capabilities"]!.AsArray().Select(x => (string)x!));
        Assert.Contains("plan:pro_yearly", capabilities["capabilities"]!.AsArray().Select(x => (string)x!));
    }

    [Fact]
    public async Task UpgradeMidPeriod_Immediately_GrantsTheDifferenceNow_UsageSoFarCounts()
    {
        var c = TollgateApp.NewCustomer();
        App.Clock.Set(Utc(2025, 3, 1));
        var sub = await Subscriptions.StartAsync(c, "pro", "sandbox", null, null, SubscriptionStatus.Active, Utc(2025, 3, 1), Utc(2025, 4, 1));
        await Json.ReadAsync(await App.UseAsync(c, "ai_messages", 600), 200);

        App.Clock.Set(Utc(2025, 3, 17));
        await Subscriptions.ChangePlanAsync(sub.Id, "team", PlanChangePolicy.Immediate);
        var messages = await App.BalanceAsync(c, "ai_messages");
        var credits = await App.BalanceAsync(c, "credits");
        var customer = await Json.ReadAsync(await Client.GetAsync($"/v1/customers/{c}/subscriptions"), 200);
        await Json.ReadAsync(await App.UseAsync(c, "projects", 11), 200);

        Assert.Equal((4400L, 5000L, 600L), ((long)messages["available"]!, (long)messages["limit"]!, (long)messages["used"]!));
        Assert.Equal(2000, (long)credits["available"]!);
        Assert.Equal("team", (string)customer["subscriptions"]![0]!["plan"]!);
    }

    [Fact]
    public async Task PlanChangeAtNextCycle_WaitsForTheRenewal()
    {
        var c = TollgateApp.NewCustomer();
        App.Clock.Set(Utc(2025, 3, 1));
        var sub = await Subscriptions.StartAsync(c, "pro", "sandbox", null, null, SubscriptionStatus.Active, Utc(2025, 3, 1), Utc(2025, 4, 1));

        App.Clock.Set(Utc(2025, 3, 17));
        await Subscriptions.ChangePlanAsync(sub.Id, "team", PlanChangePolicy.NextCycle);
        var during = await App.BalanceAsync(c, "ai_messages");
        var pending = await Json.ReadAsync(await Client.GetAsync($"/v1/customers/{c}/subscriptions"), 200);
        App.Clock.Set(Utc(2025, 4, 1));
        await Subscriptions.RenewAsync(sub.Id, Utc(2025, 4, 1), Utc(2025, 5, 1));
        var after = await App.BalanceAsync(c, "ai_messages");

        Assert.Equal(1000, (long)during["limit"]!);
        Assert.Equal(("pro", "team"), ((string)pending["subscriptions"]![0]!["plan"]!, (string)pending["subscriptions"]![0]!["pending_plan"]!));
        Assert.Equal((5000L, 5000L), ((long)after["available"]!, (long)after["limit"]!));
    }

    [Fact]
    public async Task CancelAtPeriodEnd_KeepsAccessUntilThen_ThenTheDefaultPlanApplies()
    {
        var c = TollgateApp.NewCustomer();
        App.Clock.Set(Utc(2025, 3, 1));
        var sub = await Subscriptions.StartAsync(c, "pro", "sandbox", null, null, SubscriptionStatus.Active, Utc(2025, 3, 1), Utc(2025, 4, 1));
        await Subscriptions.CancelAsync(sub.Id, atPeriodEnd: true);

        App.Clock.Set(Utc(2025, 3, 31, 23));
        var before = await App.CheckAsync(c, "hd_export");
        App.Clock.Set(Utc(2025, 4, 1));
        var after = await App.CheckAsync(c, "hd_export");
        var messages = await App.BalanceAsync(c, "ai_messages");

        Assert.True((bool)before["allowed"]!);
        Assert.Equal((false, "not_entitled"), ((bool)after["allowed"]!, (string?)after["reason"]));
        Assert.Equal((50L, 50L), ((long)messages["available"]!, (long)messages["limit"]!));
    }

    [Fact]
    public async Task Lifetime_GrantsProFeaturesPerCalendarMonth_ForEver()
    {
        var c = TollgateApp.NewCustomer();
        App.Clock.Set(Utc(2025, 5, 20));
        await Subscriptions.StartAsync(c, "lifetime", "sandbox", null, null, SubscriptionStatus.Active, null, null);
        await Json.ReadAsync(await App.UseAsync(c, "credits", 500), 200);

        App.Clock.Set(Utc(2030, 7, 2));
        var credits = await App.BalanceAsync(c, "credits");
        var capabilities = (await Json.ReadAsync(await Client.GetAsync($"/v1/customers/{c}/capabilities"), 200))["capabilities"]!.AsArray()
            .Select(x => (string)x!).ToList();

        Assert.Equal(500, (long)credits["available"]!);
        Assert.Contains("plan:lifetime", capabilities);
        Assert.Contains("plan:pro", capabilities);
    }

    [Fact]
    public async Task APack_ExpiresAtItsInstant()
    {
        var c = TollgateApp.NewCustomer();
        var expires = App.Clock.GetUtcNow().AddDays(365);
        await App.GrantAsync(c, "credits", 60, expires);
        await Json.ReadAsync(await App.UseAsync(c, "credits", 10), 200);

        App.Clock.Set(expires.AddSeconds(-1));
        var before = await App.BalanceAsync(c, "credits");
        App.Clock.Set(expires);
        var at = await App.BalanceAsync(c, "credits");
        await Json.ProblemAsync(await App.UseAsync(c, "credits", 1), 402, "insufficient_balance");

        Assert.Equal((50L, 0L), ((long)before["available"]!, (long)at["available"]!));
    }

    [Fact]
    public async Task AHold_OutlivingItsTtl_ReturnsItsCredits_AndCannotBeSettled()
    {
        var c = TollgateApp.NewCustomer();
        await App.GrantAsync(c, "credits", 20);
        var hold = await Json.ReadAsync(await App.PostAsync("/v1/holds", new { customer_id = c, feature = "credits", amount = 15, ttl_seconds = 60 }, App.Key()), 201);

        App.Clock.Advance(TimeSpan.FromSeconds(59));
        var during = await App.BalanceAsync(c, "credits");
        App.Clock.Advance(TimeSpan.FromSeconds(1));
        var after = await App.BalanceAsync(c, "credits");
        var settle = await App.PostAsync($"/v1/holds/{hold["id"]}/settle", null);
        var view = await Json.ReadAsync(await Client.GetAsync($"/v1/holds/{hold["id"]}"), 200);

        Assert.Equal((5L, 15L), ((long)during["available"]!, (long)during["held"]!));
        Assert.Equal((20L, 0L), ((long)after["available"]!, (long)after["held"]!));
        await Json.ProblemAsync(settle, 409, "hold_not_active");
        Assert.Equal("expired", (string)view["status"]!);
    }
}

public sealed class SqliteTimeTravelScenarios : TimeTravelScenarios
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresTimeTravelScenarios : TimeTravelScenarios
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
