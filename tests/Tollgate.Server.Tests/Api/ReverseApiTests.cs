using System.Text.Json.Nodes;
using Tollgate.Server.Tests.Support;
using Tollgate.Storage;

namespace Tollgate.Server.Tests.Api;

/// <summary><c>POST /v1/usage/{entry_id}/reverse</c>: what a usage took goes back to the lots it came from, once; a lot
/// that expired since (a past period's allowance) gets nothing back; the books stay balanced.</summary>
public abstract class ReverseApiTests : AppTestBase
{
    private Task<HttpResponseMessage> ReverseAsync(string entryId, string? key = null) =>
        App.SendAsync(HttpMethod.Post, $"/v1/usage/{entryId}/reverse", null, key ?? App.Key());

    private async Task<string> UseAsync(string customer, string feature, long amount) =>
        (string)(await Json.ReadAsync(await App.UseAsync(customer, feature, amount), 200))["entry_id"]!;

    private static long Remaining(JsonObject balance, string lotId) =>
        balance["lots"]!.AsArray().Where(l => (string)l!["id"]! == lotId).Select(l => (long)l!["remaining"]!).SingleOrDefault();

    [Fact]
    public async Task Reverse_PutsBackExactlyWhatTheUsageTook_LotByLot()
    {
        var c = TollgateApp.NewCustomer();
        var early = (string)(await App.GrantAsync(c, "credits", 10, App.Clock.GetUtcNow().AddDays(5)))["lot_id"]!;
        var late = (string)(await App.GrantAsync(c, "credits", 20))["lot_id"]!;
        var entry = await UseAsync(c, "credits", 15);
        await UseAsync(c, "credits", 1);

        var reversed = await Json.ReadAsync(await ReverseAsync(entry), 200);

        Assert.Equal((entry, 15L, 0L, 0L), ((string)reversed["entry_id"]!, (long)reversed["restored"]!, (long)reversed["expired"]!, (long)reversed["clawed"]!));
        Assert.Equal([(early, 10L), (late, 5L)], reversed["draws"]!.AsArray().Select(d => ((string)d!["lot_id"]!, (long)d["amount"]!)));
        var credits = await App.BalanceAsync(c, "credits");
        // The later usage of 1 came from the late lot (the early one was empty): 14 there, plus the 5 given back.
        Assert.Equal((29L, 10L, 19L), ((long)credits["available"]!, Remaining(credits, early), Remaining(credits, late)));
        var ledger = (await Json.ReadAsync(await Client.GetAsync($"/v1/customers/{c}/ledger?feature=credits&limit=1"), 200))["entries"]![0]!;
        Assert.Equal(("reverse", 15L, entry), ((string)ledger["type"]!, (long)ledger["amount"]!, (string)ledger["reference"]!));
        await Books.AssertBalancedAsync(App, c);
    }

    [Fact]
    public async Task Reverse_IsOnce_ASecondKeyIsRefused_TheSameKeyReplays()
    {
        var c = TollgateApp.NewCustomer();
        await App.GrantAsync(c, "credits", 10);
        var entry = await UseAsync(c, "credits", 4);
        var key = App.Key();

        using var first = await ReverseAsync(entry, key);
        var body = await first.Content.ReadAsStringAsync();
        using var replay = await ReverseAsync(entry, key);

        Assert.Equal((200, body), ((int)replay.StatusCode, await replay.Content.ReadAsStringAsync()));
        await Json.ProblemAsync(await ReverseAsync(entry), 409, "already_reversed");
        Assert.Equal(10, (long)(await App.BalanceAsync(c, "credits"))["available"]!);
        await Books.AssertBalancedAsync(App, c);
    }

    [Fact]
    public async Task ConcurrentReversalsOfOneUsage_HaveOneEffect()
    {
        var c = TollgateApp.NewCustomer();
        await App.GrantAsync(c, "credits", 100);
        var entry = await UseAsync(c, "credits", 30);

        var responses = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(() => ReverseAsync(entry))));

        var statuses = responses.Select(r => (int)r.StatusCode).ToList();
        Assert.Equal(1, statuses.Count(s => s == 200));
        Assert.Equal(15, statuses.Count(s => s == 409));
        Assert.Equal(100, (long)(await App.BalanceAsync(c, "credits"))["available"]!);
        await Books.AssertBalancedAsync(App, c);
    }

    [Fact]
    public async Task Reverse_OfALotThatExpiredSince_ReportsItExpired_AndRevivesNothing()
    {
        var c = TollgateApp.NewCustomer();
        await App.GrantAsync(c, "credits", 10, App.Clock.GetUtcNow().AddDays(2));
        var kept = (string)(await App.GrantAsync(c, "credits", 10))["lot_id"]!;
        var entry = await UseAsync(c, "credits", 14);
        App.Clock.Advance(TimeSpan.FromDays(3));

        var reversed = await Json.ReadAsync(await ReverseAsync(entry), 200);

        Assert.Equal((4L, 10L), ((long)reversed["restored"]!, (long)reversed["expired"]!));
        var credits = await App.BalanceAsync(c, "credits");
        Assert.Equal((10L, 10L), ((long)credits["available"]!, Remaining(credits, kept)));
        await Books.AssertBalancedAsync(App, c);
    }

    [Fact]
    public async Task Reverse_OfAMeteredUsageThatSpilled_GivesBackTheAllowanceWithinItsPeriodAndTheCredits()
    {
        var c = TollgateApp.NewCustomer();
        await App.GrantAsync(c, "credits", 10);
        var entry = await UseAsync(c, "ai_messages", 53);

        var reversed = await Json.ReadAsync(await ReverseAsync(entry), 200);

        Assert.Equal((53L, 0L), ((long)reversed["restored"]!, (long)reversed["expired"]!));
        Assert.Equal(["ai_messages", "credits"], reversed["draws"]!.AsArray().Select(d => (string)d!["feature"]!));
        var messages = await App.BalanceAsync(c, "ai_messages");
        Assert.Equal((50L, 0L), ((long)messages["available"]!, (long)messages["used"]!));
        Assert.Equal(10, (long)(await App.BalanceAsync(c, "credits"))["available"]!);

        // Used again and reversed in the next month: January's allowance is gone for good; only credits come back.
        var again = await UseAsync(c, "ai_messages", 52);
        App.Clock.Advance(TimeSpan.FromDays(20));
        var late = await Json.ReadAsync(await ReverseAsync(again), 200);
        Assert.Equal((2L, 50L), ((long)late["restored"]!, (long)late["expired"]!));
        var february = await App.BalanceAsync(c, "ai_messages");
        Assert.Equal((50L, 0L), ((long)february["available"]!, (long)february["used"]!));
        Assert.Equal(10, (long)(await App.BalanceAsync(c, "credits"))["available"]!);
        await Books.AssertBalancedAsync(App, c);
    }

    [Fact]
    public async Task Reverse_ThatWouldPassTheBalanceBeyond64Bits_IsRefusedAsAGrantThatWouldOverflow_NothingWritten()
    {
        var c = TollgateApp.NewCustomer();
        await App.GrantAsync(c, "credits", long.MaxValue - 10);
        var entry = await UseAsync(c, "credits", 10);
        await App.GrantAsync(c, "credits", 20);
        var hold = (string)(await Json.ReadAsync(
            await App.PostAsync("/v1/holds", new { customer_id = c, feature = "credits", amount = 20 }, App.Key()), 201))["id"]!;

        // Available plus held is at the top: the answer a grant that would overflow gets, never a 500, nor a 200 after
        // which the hold's release (or TTL) would fail every later write of the customer.
        var grant = await Json.ProblemAsync(
            await App.PostAsync($"/v1/customers/{c}/grants", new { feature = "credits", amount = 1, reason = "test" }, App.Key()), 400, "invalid_request");
        var refused = await Json.ProblemAsync(await ReverseAsync(entry), 400, "invalid_request");

        Assert.Equal((string?)grant["detail"], (string?)refused["detail"]);
        var credits = await App.BalanceAsync(c, "credits");
        Assert.Equal((long.MaxValue - 20, 20L), ((long)credits["available"]!, (long)credits["held"]!));
        Assert.Equal(0, await App.CountRowsAsync("ledger_entries WHERE type = 'reverse'"));

        // The customer still works, and once there is room the usage is reversed.
        await Json.ReadAsync(await App.PostAsync($"/v1/holds/{hold}/release", null), 200);
        await UseAsync(c, "credits", 10);
        var reversed = await Json.ReadAsync(await ReverseAsync(entry), 200);
        Assert.Equal(10, (long)reversed["restored"]!);
        Assert.Equal(long.MaxValue, (long)(await App.BalanceAsync(c, "credits"))["available"]!);
        await Books.AssertBalancedAsync(App, c);
    }

    [Fact]
    public async Task Reverse_OfNoUsage_IsRefusedAndChangesNothing()
    {
        var c = TollgateApp.NewCustomer();
        await App.GrantAsync(c, "credits", 10);
        var grant = (string)(await Json.ReadAsync(await Client.GetAsync($"/v1/customers/{c}/ledger"), 200))["entries"]![0]!["id"]!;
        var count = await UseAsync(c, "projects", 1);

        await Json.ProblemAsync(await ReverseAsync("ent_nothing"), 404, "entry_not_found");
        await Json.ProblemAsync(await ReverseAsync(grant), 409, "not_reversible");
        await Json.ProblemAsync(await ReverseAsync(count), 409, "not_reversible");
        await Json.ProblemAsync(await App.SendAsync(HttpMethod.Post, $"/v1/usage/{grant}/reverse", null), 400, "invalid_request");
        Assert.Equal(10, (long)(await App.BalanceAsync(c, "credits"))["available"]!);
        Assert.Equal(0, await App.CountRowsAsync("ledger_entries WHERE type = 'reverse'"));
    }
}

public sealed class SqliteReverseApiTests : ReverseApiTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresReverseApiTests : ReverseApiTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
