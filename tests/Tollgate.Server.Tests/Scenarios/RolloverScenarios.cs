using Microsoft.Extensions.DependencyInjection;
using Tollgate.Core.Common;
using Tollgate.Core.Ledger;
using Tollgate.Core.Subscriptions;
using Tollgate.Server.Tests.Support;
using Tollgate.Storage;

namespace Tollgate.Server.Tests.Scenarios;

/// <summary>
/// Rollover over time, on a manual clock: a monthly plan grants 100 credits a period and carries up to 150 unused ones
/// into the next paid period. What carries, the cap, a carry carried again, month ends and leap days, pack credits at
/// the cycle (polar #10513), renewals applied twice or at once, a refund of the ended period, plan changes; the books
/// balance after each.
/// </summary>
public abstract class RolloverScenarios : IAsyncLifetime
{
    protected abstract DatabaseProvider Provider { get; }

    private TollgateApp App { get; set; } = null!;

    private string _catalog = null!;

    private SubscriptionService Subscriptions => App.Services.GetRequiredService<SubscriptionService>();

    private LedgerEngine Ledger => App.Services.GetRequiredService<LedgerEngine>();

    private static DateTimeOffset Utc(int y, int m, int d, int h = 0) => new(y, m, d, h, 0, 0, TimeSpan.Zero);

    public async ValueTask InitializeAsync()
    {
        _catalog = Path.Combine(Path.GetTempPath(), $"tollgate-rollover-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(_catalog, """
            features:
              credits: { type: credits }
              hd_export: { type: boolean }
            plans:
              free:
                default: true
                features:
                  hd_export: false
              pro:
                interval: month
                price: { amount: 1900, currency: USD }
                features:
                  credits: { grant: 100, reset: month, rollover: { max: 150 } }
              pro_yearly:
                interval: year
                price: { amount: 19000, currency: USD }
                features:
                  credits: { grant: 100, reset: month, rollover: { max: 150 } }
              plain:
                interval: month
                price: { amount: 1500, currency: USD }
                features:
                  credits: { grant: 100, reset: month }
            packs:
              pack:
                credits: 50
                expires_after_days: 365
                price: { amount: 500, currency: USD }
            """);
        App = await TollgateApp.StartAsync(Provider, settings: new Dictionary<string, string?> { ["Tollgate:Catalog"] = _catalog });
    }

    public async ValueTask DisposeAsync()
    {
        await App.DisposeAsync();
        File.Delete(_catalog);
        GC.SuppressFinalize(this);
    }

    private async Task<Subscription> StartProAsync(string customer, DateTimeOffset start, DateTimeOffset end, string plan = "pro")
    {
        App.Clock.Set(start);
        return await Subscriptions.StartAsync(customer, plan, "sandbox", null, null, SubscriptionStatus.Active, start, end);
    }

    private async Task RenewAsync(Subscription subscription, DateTimeOffset start, DateTimeOffset end)
    {
        App.Clock.Set(start);
        await Subscriptions.RenewAsync(subscription.Id, start, end);
    }

    private async Task<long> CreditsAsync(string customer) => (long)(await App.BalanceAsync(customer, "credits"))["available"]!;

    private async Task<List<LotRecord>> RolloverLotsAsync(string customer) =>
        [.. (await Ledger.GetAllLotsAsync(customer)).Where(l => l.Source == LotSource.Rollover).OrderBy(l => l.Seq)];

    private async Task UseAsync(string customer, long amount) => await Json.ReadAsync(await App.UseAsync(customer, "credits", amount), 200);

    [Fact]
    public async Task UnusedPlanCredits_CarryIntoTheNextPaidPeriod_AndExpireWithIt()
    {
        var c = TollgateApp.NewCustomer();
        var sub = await StartProAsync(c, Utc(2025, 3, 10), Utc(2025, 4, 10));
        await UseAsync(c, 30);

        App.Clock.Set(Utc(2025, 4, 10)); // the period ended; the renewal has not arrived: the carry waits for it
        var lapsed = await CreditsAsync(c);
        Assert.Equal(1, await Ledger.SweepAsync()); // the ended lot's expiry is written: it is no longer live
        await RenewAsync(sub, Utc(2025, 4, 10), Utc(2025, 5, 10));
        var renewed = await App.BalanceAsync(c, "credits");
        var carry = Assert.Single(await RolloverLotsAsync(c));
        App.Clock.Set(Utc(2025, 5, 10));
        var afterWindow = await CreditsAsync(c);

        Assert.Equal(0, lapsed);
        Assert.Equal(170, (long)renewed["available"]!);
        Assert.Contains(renewed["lots"]!.AsArray(), l => (string)l!["source"]! == "rollover" && (long)l["amount"]! == 70);
        Assert.Equal((70L, Utc(2025, 5, 10)), (carry.Amount, carry.ExpiresAt!.Value));
        Assert.Equal($"allowance:{sub.Id}:{Instants.ToUnixMicroseconds(Utc(2025, 3, 10))}", carry.SourceRef); // the ended period's
        Assert.Equal(0, afterWindow); // the carry expired with its window; no renewal, no new carry
        await Books.AssertBalancedAsync(App, c);
    }

    [Fact]
    public async Task ACarry_CarriesAgain_ButTheTotalCarriedIsCappedAtMax()
    {
        var c = TollgateApp.NewCustomer();
        var sub = await StartProAsync(c, Utc(2025, 1, 5), Utc(2025, 2, 5));

        await RenewAsync(sub, Utc(2025, 2, 5), Utc(2025, 3, 5)); // 100 unused → 100 carried
        var second = await CreditsAsync(c);
        await UseAsync(c, 20); // the period's own grant burns first (oldest of two lots ending together)
        await RenewAsync(sub, Utc(2025, 3, 5), Utc(2025, 4, 5)); // 80 + 100 unused → capped at 150
        var third = await CreditsAsync(c);
        await RenewAsync(sub, Utc(2025, 4, 5), Utc(2025, 5, 5)); // 250 unused → 150 again
        var fourth = await CreditsAsync(c);

        Assert.Equal(200, second);
        Assert.Equal(250, third);
        Assert.Equal(250, fourth);
        Assert.Equal([100L, 150L, 150L], (await RolloverLotsAsync(c)).Select(l => l.Amount));
        await Books.AssertBalancedAsync(App, c);
    }

    [Fact]
    public async Task NothingUnused_CarriesNothing_AndAFullyUsedPeriodLeavesNoRolloverLot()
    {
        var c = TollgateApp.NewCustomer();
        var sub = await StartProAsync(c, Utc(2025, 6, 1), Utc(2025, 7, 1));
        await UseAsync(c, 100);

        await RenewAsync(sub, Utc(2025, 7, 1), Utc(2025, 8, 1));

        Assert.Equal(100, await CreditsAsync(c));
        Assert.Empty(await RolloverLotsAsync(c));
        await Books.AssertBalancedAsync(App, c);
    }

    [Theory]
    [InlineData(2025)] // 31 Jan → 28 Feb → 31 Mar
    [InlineData(2024)] // 31 Jan → 29 Feb → 31 Mar
    public async Task MonthEnds_TheCarryFollowsTheProvidersPeriods_From31January(int year)
    {
        var c = TollgateApp.NewCustomer();
        var february = Utc(year, 2, DateTime.DaysInMonth(year, 2));
        var sub = await StartProAsync(c, Utc(year, 1, 31), february);
        await UseAsync(c, 10);

        await RenewAsync(sub, february, Utc(year, 3, 31));
        var inFebruary = await CreditsAsync(c);
        await UseAsync(c, 150);
        await RenewAsync(sub, Utc(year, 3, 31), Utc(year, 4, 30));
        var inMarch = await CreditsAsync(c);

        Assert.Equal(190, inFebruary);
        Assert.Equal(140, inMarch); // 40 left of 190 carried
        Assert.Equal([(90L, Utc(year, 3, 31)), (40L, Utc(year, 4, 30))], (await RolloverLotsAsync(c)).Select(l => (l.Amount, l.ExpiresAt!.Value)));
        await Books.AssertBalancedAsync(App, c);
    }

    [Fact]
    public async Task LeapDay_AYearlyPlansMonthlyWindowsFrom29February_CarryEachMonth_AndIntoTheNextYear()
    {
        var c = TollgateApp.NewCustomer();
        var sub = await StartProAsync(c, Utc(2024, 2, 29), Utc(2025, 2, 28), "pro_yearly");
        await UseAsync(c, 40);

        App.Clock.Set(Utc(2024, 3, 29)); // the second monthly window of the year: no renewal needed
        var shown = await CreditsAsync(c); // a read shows the carry before any write
        await UseAsync(c, 1); // the first write carries it
        var march = await RolloverLotsAsync(c);

        App.Clock.Set(Utc(2025, 1, 29, 12)); // the last window of the year, 29 Jan → 28 Feb (no write since April)
        await UseAsync(c, 1);
        var january = await CreditsAsync(c);
        await RenewAsync(sub, Utc(2025, 2, 28), Utc(2026, 2, 28));
        var nextYear = await RolloverLotsAsync(c);

        Assert.Equal(160, shown);
        Assert.Equal((60L, Utc(2024, 4, 29)), (march[0].Amount, march[0].ExpiresAt!.Value));
        // A window is granted on the customer's first write in it: December's never was, so January carried nothing.
        Assert.Equal(99, january);
        // January's 99 carry into the new year's first window, which ends 28 March.
        Assert.Equal((99L, Utc(2025, 3, 28)), (nextYear[^1].Amount, nextYear[^1].ExpiresAt!.Value));
        Assert.Equal(199, await CreditsAsync(c));
        await Books.AssertBalancedAsync(App, c);
    }

    [Fact]
    public async Task PackCredits_SurviveTheRenewalUntouched_AndAreNeverSwallowedIntoTheCarry_Polar10513()
    {
        var c = TollgateApp.NewCustomer();
        var sub = await StartProAsync(c, Utc(2025, 3, 10), Utc(2025, 4, 10));
        var (_, paid) = await App.BuyInSandboxAsync(c, "pack");
        await UseAsync(c, 30); // from the plan's credits: they expire first
        var pack = Assert.Single(await Ledger.GetAllLotsAsync(c), l => l.Source == LotSource.Payment);

        await RenewAsync(sub, Utc(2025, 4, 10), Utc(2025, 5, 10));
        var packAfter = (await Ledger.GetAllLotsAsync(c)).Single(l => l.LotId == pack.LotId);
        var carry = Assert.Single(await RolloverLotsAsync(c));
        await RenewAsync(sub, Utc(2025, 5, 10), Utc(2025, 6, 10));
        var packLater = (await Ledger.GetAllLotsAsync(c)).Single(l => l.LotId == pack.LotId);

        Assert.Equal(302, paid);
        Assert.Equal((50L, 50L), (pack.Amount, pack.Remaining));
        Assert.Equal(pack, packAfter); // not expired, not moved, not re-dated
        Assert.Equal(70, carry.Amount); // the plan's 70, not the pack's 50 (the cap of 150 would have taken 120)
        Assert.Equal((50L, pack.ExpiresAt), (packLater.Remaining, packLater.ExpiresAt));
        Assert.Equal(100 + 150 + 50, await CreditsAsync(c)); // 170 unused carried (capped at 150), pack still whole
        await Books.AssertBalancedAsync(App, c);
    }

    [Fact]
    public async Task PackCreditsSpentAfterThePlans_AreNotCarried_AndTheRestOfThePackStays()
    {
        var c = TollgateApp.NewCustomer();
        var sub = await StartProAsync(c, Utc(2025, 3, 10), Utc(2025, 4, 10));
        await App.BuyInSandboxAsync(c, "pack");
        await UseAsync(c, 120); // 100 of the plan, then 20 of the pack

        await RenewAsync(sub, Utc(2025, 4, 10), Utc(2025, 5, 10));

        Assert.Empty(await RolloverLotsAsync(c));
        Assert.Equal(130, await CreditsAsync(c));
        Assert.Equal(30, (await Ledger.GetAllLotsAsync(c)).Single(l => l.Source == LotSource.Payment).Remaining);
        await Books.AssertBalancedAsync(App, c);
    }

    [Fact]
    public async Task ARenewalAppliedTwice_OrConcurrently_CarriesOnce()
    {
        var c = TollgateApp.NewCustomer();
        var sub = await StartProAsync(c, Utc(2025, 3, 10), Utc(2025, 4, 10));
        await UseAsync(c, 30);

        App.Clock.Set(Utc(2025, 4, 10));
        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => Subscriptions.RenewAsync(sub.Id, Utc(2025, 4, 10), Utc(2025, 5, 10)))));
        await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(() => UseAsync(c, 1))));
        await Subscriptions.RenewAsync(sub.Id, Utc(2025, 4, 10), Utc(2025, 5, 10)); // delivered again later
        await App.Services.GetRequiredService<Tollgate.Core.Usage.Gate>().AsWriter().WriteDueAsync(c, default);

        Assert.Equal(70, Assert.Single(await RolloverLotsAsync(c)).Amount);
        Assert.Equal(170 - 6, await CreditsAsync(c));
        await Books.AssertBalancedAsync(App, c);
    }

    [Fact]
    public async Task TwoServers_RenewingAtOnce_CarryOnce()
    {
        // A second server on the same database: its own ledger lanes and caches, so the two writes meet only in the database.
        var c = TollgateApp.NewCustomer();
        var sub = await StartProAsync(c, Utc(2025, 3, 10), Utc(2025, 4, 10));
        await UseAsync(c, 30);
        await using var other = await TollgateApp.StartAsync(Provider, App.Clock,
            settings: new Dictionary<string, string?> { ["Tollgate:Catalog"] = _catalog }, database: App.Database.Borrow());

        App.Clock.Set(Utc(2025, 4, 10));
        await Subscriptions.RenewAsync(sub.Id, Utc(2025, 4, 10), Utc(2025, 5, 10));
        var writers = new[] { App, other }.SelectMany(app => Enumerable.Range(0, 3).Select(_ => Task.Run(() =>
            app.Services.GetRequiredService<Tollgate.Core.Usage.Gate>().AsWriter().WriteDueAsync(c, default))));
        await Task.WhenAll(writers);

        Assert.Equal(70, Assert.Single(await RolloverLotsAsync(c)).Amount);
        Assert.Equal(170, await CreditsAsync(c));
        await Books.AssertBalancedAsync(App, c);
    }

    [Fact]
    public async Task ARefundOfTheEndedPeriod_ClawsItsCarryBack_NotTheNewPeriodsGrant()
    {
        var c = TollgateApp.NewCustomer();
        var sub = await StartProAsync(c, Utc(2025, 3, 10), Utc(2025, 4, 10));
        await UseAsync(c, 30);
        await RenewAsync(sub, Utc(2025, 4, 10), Utc(2025, 5, 10));
        await UseAsync(c, 10); // the new period's grant burns first: the carry is untouched

        // What a refund of the March payment claws (PaymentApplier: the payment's ledger ref is its period's).
        var clawed = await Ledger.ClawbackAsync(new ClawbackRequest(c, $"allowance:{sub.Id}:{Instants.ToUnixMicroseconds(Utc(2025, 3, 10))}", "refund:test:1"));
        var carry = Assert.Single(await RolloverLotsAsync(c));
        var balance = await App.BalanceAsync(c, "credits");

        Assert.True(clawed.Succeeded);
        Assert.Equal((70L, 0L), (carry.Clawed, carry.Remaining));
        // The March grant: 70 of it expired into the carry (taken back above), the 30 spent become debt, as for any refund.
        Assert.Equal((90L, 30L), ((long)balance["available"]!, (long)balance["debt"]!));
        await Books.AssertBalancedAsync(App, c);
    }

    [Fact]
    public async Task PlanChange_TheCarryFollowsTheRuleOfTheNewWindowsPlan()
    {
        // pro (rollover) → plain (none) at the next cycle: nothing carries into plain.
        var down = TollgateApp.NewCustomer();
        var toPlain = await StartProAsync(down, Utc(2025, 3, 10), Utc(2025, 4, 10));
        await Subscriptions.ChangePlanAsync(toPlain.Id, "plain", PlanChangePolicy.NextCycle);
        await RenewAsync(toPlain, Utc(2025, 4, 10), Utc(2025, 5, 10));

        // plain → pro at the next cycle: plain's unused credits carry under pro's rule.
        var up = TollgateApp.NewCustomer();
        var toPro = await StartProAsync(up, Utc(2025, 3, 10), Utc(2025, 4, 10), "plain");
        await UseAsync(up, 25);
        await Subscriptions.ChangePlanAsync(toPro.Id, "pro", PlanChangePolicy.NextCycle);
        await RenewAsync(toPro, Utc(2025, 4, 10), Utc(2025, 5, 10));

        // pro → plain immediately mid-period, then renewed on plain: nothing carries.
        var now = TollgateApp.NewCustomer();
        var immediate = await StartProAsync(now, Utc(2025, 3, 10), Utc(2025, 4, 10));
        App.Clock.Set(Utc(2025, 3, 20));
        await Subscriptions.ChangePlanAsync(immediate.Id, "plain", PlanChangePolicy.Immediate);
        await RenewAsync(immediate, Utc(2025, 4, 10), Utc(2025, 5, 10));

        Assert.Empty(await RolloverLotsAsync(down));
        Assert.Equal(100, await CreditsAsync(down));
        Assert.Equal(75, Assert.Single(await RolloverLotsAsync(up)).Amount);
        Assert.Equal(175, await CreditsAsync(up));
        Assert.Empty(await RolloverLotsAsync(now));
        Assert.Equal(100, await CreditsAsync(now));
        foreach (var customer in new[] { down, up, now })
        {
            await Books.AssertBalancedAsync(App, customer);
        }
    }

    [Fact]
    public async Task Products_ShowTheRolloverOnThePlansCreditsGrant()
    {
        var products = await Json.ReadAsync(await App.Client.GetAsync("/v1/products"), 200);
        var plans = products["plans"]!.AsArray().ToDictionary(p => (string)p!["id"]!, p => p!["features"]!.AsObject());

        Assert.Equal(150, (long)plans["pro"]["credits"]!["rollover"]!["max"]!);
        Assert.Equal(150, (long)plans["pro_yearly"]["credits"]!["rollover"]!["max"]!);
        Assert.False(plans["plain"]["credits"]!.AsObject().ContainsKey("rollover"));
    }
}

public sealed class SqliteRolloverScenarios : RolloverScenarios
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresRolloverScenarios : RolloverScenarios
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}

internal static class GateWriter
{
    /// <summary>The gate as the port a subscription change writes through (what a renewal calls after it is saved).</summary>
    public static IAllowanceWriter AsWriter(this Tollgate.Core.Usage.Gate gate) => gate;
}
