using Tollgate.Server.Tests.Support;
using Tollgate.Storage;

namespace Tollgate.Server.Tests.Api;

public abstract class GateApiTests : AppTestBase
{
    [Fact]
    public async Task Check_AnswersEachFeatureTypeWithAReason()
    {
        var c = TollgateApp.NewCustomer();

        var boolean = await App.CheckAsync(c, "hd_export");
        var credits = await App.CheckAsync(c, "credits", 5);
        var metered = await App.CheckAsync(c, "ai_messages", 50);
        var meteredOver = await App.CheckAsync(c, "ai_messages", 51);
        var count = await App.CheckAsync(c, "projects", 2);
        var concurrency = await App.CheckAsync(c, "video_jobs", 2);
        var allowedCount = await App.CheckAsync(c, "projects", 1);

        Assert.Equal((false, "not_entitled"), ((bool)boolean["allowed"]!, (string?)boolean["reason"]));
        Assert.Equal((false, "insufficient_balance", 0L), ((bool)credits["allowed"]!, (string?)credits["reason"], (long)credits["balance"]!["available"]!));
        Assert.Equal((true, 50L, 50L), ((bool)metered["allowed"]!, (long)metered["balance"]!["available"]!, (long)metered["balance"]!["limit"]!));
        Assert.Equal((false, "quota_exceeded"), ((bool)meteredOver["allowed"]!, (string?)meteredOver["reason"]));
        Assert.Equal((false, "limit_reached", 1L), ((bool)count["allowed"]!, (string?)count["reason"], (long)count["balance"]!["limit"]!));
        Assert.Equal((false, "concurrency_limit"), ((bool)concurrency["allowed"]!, (string?)concurrency["reason"]));
        Assert.True((bool)allowedCount["allowed"]!);
        Assert.Null(allowedCount["reason"]);
    }

    [Fact]
    public async Task Check_OfAMeteredFeature_CountsCreditsBeyondTheAllowance()
    {
        var c = TollgateApp.NewCustomer();
        await App.GrantAsync(c, "credits", 10);

        Assert.True((bool)(await App.CheckAsync(c, "ai_messages", 60))["allowed"]!);
        Assert.False((bool)(await App.CheckAsync(c, "ai_messages", 61))["allowed"]!);
    }

    [Theory]
    [InlineData("""{"feature":"credits"}""")]
    [InlineData("""{"customer_id":"a"}""")]
    [InlineData("""{"customer_id":"a","feature":"credits","amount":0}""")]
    [InlineData("""{"customer_id":"a","feature":"credits","amount":-2}""")]
    [InlineData("""{"customer_id":"a","feature":"credits","amount":1.5}""")]
    [InlineData("""{"customer_id":"a","feature":"credits","amount":"3"}""")]
    [InlineData("""{"customer_id":7,"feature":"credits"}""")]
    [InlineData("""{"customer_id":"a","feature":"credits",""")]
    [InlineData("""not json""")]
    [InlineData("")]
    public async Task Check_WithBadInput_Is400(string body)
    {
        await Json.ProblemAsync(await App.SendAsync(HttpMethod.Post, "/v1/check", body), 400, "invalid_request");
    }

    [Fact]
    public async Task Check_OfAnUnknownFeature_Is404()
    {
        await Json.ProblemAsync(await App.PostAsync("/v1/check", new { customer_id = "a", feature = "teleport" }), 404, "unknown_feature");
        await Json.ProblemAsync(await App.UseAsync("a", "teleport", 1), 404, "unknown_feature");
    }

    [Fact]
    public async Task Usage_OfCredits_ConsumesAndRefusesPastTheBalance()
    {
        var c = TollgateApp.NewCustomer();
        await App.GrantAsync(c, "credits", 10);

        var used = await Json.ReadAsync(await App.UseAsync(c, "credits", 7), 200);
        var refused = await Json.ProblemAsync(await App.UseAsync(c, "credits", 4), 402, "insufficient_balance");

        Assert.Equal((true, "credits", 3L), ((bool)used["allowed"]!, (string)used["feature"]!, (long)used["remaining"]!));
        Assert.StartsWith("ent_", (string?)used["entry_id"]);
        Assert.Contains("3 credits available", (string?)refused["detail"]);
        Assert.Equal(3, (long)(await App.BalanceAsync(c, "credits"))["available"]!);
    }

    [Fact]
    public async Task Usage_OfAMeteredFeature_TakesTheAllowanceThenSpillsIntoCredits_AllOrNothing()
    {
        var c = TollgateApp.NewCustomer();
        await App.GrantAsync(c, "credits", 5);

        var within = await Json.ReadAsync(await App.UseAsync(c, "ai_messages", 48), 200);
        var spilling = await Json.ReadAsync(await App.UseAsync(c, "ai_messages", 4), 200);
        await Json.ProblemAsync(await App.UseAsync(c, "ai_messages", 4), 402, "quota_exceeded");

        Assert.Equal(2, (long)within["remaining"]!);
        Assert.Equal(0, (long)spilling["remaining"]!);
        Assert.Equal(3, (long)(await App.BalanceAsync(c, "credits"))["available"]!);
        Assert.Equal(0, (long)(await App.BalanceAsync(c, "ai_messages"))["available"]!);
    }

    [Fact]
    public async Task Usage_OfACountFeature_MovesWithinTheLimitAndNeverBelowZero()
    {
        var c = TollgateApp.NewCustomer();

        var added = await Json.ReadAsync(await App.UseAsync(c, "projects", 1), 200);
        await Json.ProblemAsync(await App.UseAsync(c, "projects", 1), 402, "limit_reached");
        var removed = await Json.ReadAsync(await App.UseAsync(c, "projects", -1), 200);
        await Json.ProblemAsync(await App.UseAsync(c, "projects", -1), 400, "invalid_request");
        await Json.ProblemAsync(await App.UseAsync(c, "projects", 0), 400, "invalid_request");

        Assert.Equal((0L, 1L), ((long)added["remaining"]!, (long)removed["remaining"]!));
    }

    [Fact]
    public async Task Usage_OfACountAndAConcurrencyHold_ThatWouldPassSixtyFourBits_AreRefusedAtTheLimit_NotAServerError()
    {
        // Both threw an OverflowException in the ledger's rules: a 500 for an amount the API accepts.
        var c = TollgateApp.NewCustomer();
        await Json.ReadAsync(await App.UseAsync(c, "projects", 1), 200);
        await Json.ReadAsync(await App.PostAsync("/v1/holds", new { customer_id = c, feature = "video_jobs", amount = 1 }, App.Key()), 201);

        await Json.ProblemAsync(await App.UseAsync(c, "projects", long.MaxValue), 402, "limit_reached");
        await Json.ProblemAsync(await App.PostAsync("/v1/holds", new { customer_id = c, feature = "video_jobs", amount = long.MaxValue }, App.Key()),
            429, "concurrency_limit");
        Assert.False((bool)(await App.CheckAsync(c, "projects", long.MaxValue))["allowed"]!);
        Assert.False((bool)(await App.CheckAsync(c, "video_jobs", long.MaxValue))["allowed"]!);
        Assert.Equal(1L, (long)(await Json.ReadAsync(await App.UseAsync(c, "projects", -1), 200))["remaining"]!); // the one taken, given back
    }

    [Fact]
    public async Task Usage_OfBooleanOrConcurrencyFeatures_Is400()
    {
        await Json.ProblemAsync(await App.UseAsync("a", "hd_export", 1), 400, "invalid_request");
        await Json.ProblemAsync(await App.UseAsync("a", "video_jobs", 1), 400, "invalid_request");
        await Json.ProblemAsync(await App.UseAsync("a", "credits", 0), 400, "invalid_request");
        await Json.ProblemAsync(await App.UseAsync("a", "credits", -5), 400, "invalid_request");
    }

    [Fact]
    public async Task Usage_ReplayedWithTheSameKey_ReturnsTheSameResponse_AndChargesOnce()
    {
        var c = TollgateApp.NewCustomer();
        await App.GrantAsync(c, "credits", 10);
        var key = App.Key();
        var body = new { customer_id = c, feature = "credits", amount = 4 };

        var first = await App.PostAsync("/v1/usage", body, key);
        var replay = await App.PostAsync("/v1/usage", body, key);
        var changed = await App.PostAsync("/v1/usage", body with { amount = 5 }, key);

        Assert.Equal(200, (int)first.StatusCode);
        Assert.Equal((200, await first.Content.ReadAsStringAsync()), ((int)replay.StatusCode, await replay.Content.ReadAsStringAsync()));
        await Json.ProblemAsync(changed, 422, "idempotency_key_reused");
        Assert.Equal(6, (long)(await App.BalanceAsync(c, "credits"))["available"]!);
    }

    [Fact]
    public async Task Usage_RefusalReplayedWithTheSameKey_ReturnsTheSameRefusal_EvenAfterATopUp()
    {
        var c = TollgateApp.NewCustomer();
        var key = App.Key();
        var body = new { customer_id = c, feature = "credits", amount = 4 };

        var first = await App.PostAsync("/v1/usage", body, key);
        await App.GrantAsync(c, "credits", 10);
        var replay = await App.PostAsync("/v1/usage", body, key);

        Assert.Equal((402, await first.Content.ReadAsStringAsync()), ((int)replay.StatusCode, await replay.Content.ReadAsStringAsync()));
        Assert.Equal(10, (long)(await App.BalanceAsync(c, "credits"))["available"]!);
    }

    [Fact]
    public async Task Usage_WithoutAnIdempotencyKey_Is400()
    {
        await Json.ProblemAsync(await App.PostAsync("/v1/usage", new { customer_id = "a", feature = "credits", amount = 1 }), 400, "invalid_request");
        await Json.ProblemAsync(await App.PostAsync("/v1/usage", new { customer_id = "a", feature = "credits", amount = 1 }, new string('k', 256)),
            400, "invalid_request");
    }

    [Fact]
    public async Task Holds_ReserveSettleAndRelease()
    {
        var c = TollgateApp.NewCustomer();
        await App.GrantAsync(c, "credits", 50);

        var hold = await Json.ReadAsync(await App.PostAsync("/v1/holds", new { customer_id = c, feature = "credits", amount = 30, ttl_seconds = 600 }, App.Key()), 201);
        var id = (string)hold["id"]!;
        var during = await App.BalanceAsync(c, "credits");
        var settled = await Json.ReadAsync(await App.PostAsync($"/v1/holds/{id}/settle", new { amount = 12 }), 200);
        await Json.ProblemAsync(await App.PostAsync($"/v1/holds/{id}/settle", new { amount = 1 }), 409, "hold_not_active");
        await Json.ProblemAsync(await App.PostAsync($"/v1/holds/{id}/release", null), 409, "hold_not_active");

        Assert.Equal(("active", 30L), ((string)hold["status"]!, (long)hold["amount"]!));
        Assert.Equal("2026-01-15T09:10:00+00:00", (string)hold["expires_at"]!);
        Assert.Equal((20L, 30L), ((long)during["available"]!, (long)during["held"]!));
        Assert.Equal(("settled", 12L, 18L), ((string)settled["status"]!, (long)settled["settled"]!, (long)settled["released"]!));
        Assert.Equal(38, (long)(await App.BalanceAsync(c, "credits"))["available"]!);

        var second = await Json.ReadAsync(await App.PostAsync("/v1/holds", new { customer_id = c, feature = "credits", amount = 5 }, App.Key()), 201);
        var released = await Json.ReadAsync(await App.PostAsync($"/v1/holds/{second["id"]}/release", null), 200);
        Assert.Equal("released", (string)released["status"]!);
        Assert.Equal(38, (long)(await App.BalanceAsync(c, "credits"))["available"]!);
    }

    [Fact]
    public async Task Holds_Refusals()
    {
        var c = TollgateApp.NewCustomer();
        await App.GrantAsync(c, "credits", 5);

        await Json.ProblemAsync(await App.PostAsync("/v1/holds", new { customer_id = c, feature = "credits", amount = 6 }, App.Key()), 402, "insufficient_balance");
        await Json.ProblemAsync(await App.PostAsync("/v1/holds", new { customer_id = c, feature = "ai_messages", amount = 56 }, App.Key()), 402, "quota_exceeded");
        await Json.ProblemAsync(await App.PostAsync("/v1/holds", new { customer_id = c, feature = "projects", amount = 1 }, App.Key()), 400, "invalid_request");
        await Json.ProblemAsync(await App.PostAsync("/v1/holds", new { customer_id = c, feature = "credits", amount = 1, ttl_seconds = 0 }, App.Key()), 400, "invalid_request");
        await Json.ProblemAsync(await App.PostAsync("/v1/holds/hold_unknown/settle", new { amount = 1 }), 404, "hold_not_found");
        await Json.ProblemAsync(await App.PostAsync("/v1/holds/hold_unknown/release", null), 404, "hold_not_found");
        var hold = await Json.ReadAsync(await App.PostAsync("/v1/holds", new { customer_id = c, feature = "credits", amount = 2 }, App.Key()), 201);
        await Json.ProblemAsync(await App.PostAsync($"/v1/holds/{hold["id"]}/settle", new { amount = 3 }), 400, "invalid_request");
        await Json.ProblemAsync(await App.PostAsync($"/v1/holds/{hold["id"]}/settle", new { amount = -1 }), 400, "invalid_request");
        Assert.Equal((3L, 2L), ((long)(await App.BalanceAsync(c, "credits"))["available"]!, (long)(await App.BalanceAsync(c, "credits"))["held"]!));
    }

    [Fact]
    public async Task Holds_OfAConcurrencyFeature_AreLimitedByThePlan()
    {
        var c = TollgateApp.NewCustomer();

        var first = await Json.ReadAsync(await App.PostAsync("/v1/holds", new { customer_id = c, feature = "video_jobs", amount = 1 }, App.Key()), 201);
        await Json.ProblemAsync(await App.PostAsync("/v1/holds", new { customer_id = c, feature = "video_jobs", amount = 1 }, App.Key()), 429, "concurrency_limit");
        await Json.ReadAsync(await App.PostAsync($"/v1/holds/{first["id"]}/settle", null), 200);
        await Json.ReadAsync(await App.PostAsync("/v1/holds", new { customer_id = c, feature = "video_jobs", amount = 1 }, App.Key()), 201);
    }

    [Fact]
    public async Task Products_ListTheCatalogsPlansAndPacks()
    {
        var products = await Json.ReadAsync(await Client.GetAsync("/v1/products"), 200);

        var pro = products["plans"]!.AsArray().Single(p => (string)p!["id"]! == "pro")!;
        Assert.Equal(("month", 1900L, "USD"), ((string)pro["interval"]!, (long)pro["price"]!["amount"]!, (string)pro["price"]!["currency"]!));
        Assert.Equal(1000, (long)pro["features"]!["ai_messages"]!["limit"]!);
        var pack = products["packs"]!.AsArray().Single(p => (string)p!["id"]! == "new_user_pack")!;
        Assert.Equal((60L, true, 100L), ((long)pack["credits"]!, (bool)pack["once_per_customer"]!, (long)pack["price"]!["amount"]!));
    }
}

public sealed class SqliteGateApiTests : GateApiTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresGateApiTests : GateApiTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
