using Tollgate.Server.Tests.Support;
using Tollgate.Storage;

namespace Tollgate.Server.Tests.Api;

public abstract class CustomersApiTests : AppTestBase
{
    [Fact]
    public async Task PutThenGet_ReturnsTheCustomerOnTheDefaultPlan()
    {
        var id = TollgateApp.NewCustomer();

        var put = await Json.ReadAsync(await App.SendAsync(HttpMethod.Put, $"/v1/customers/{id}",
            """{"email":"ada@example.com","name":"Ada","metadata":{"team":"core"}}"""), 200);
        var get = await Json.ReadAsync(await Client.GetAsync($"/v1/customers/{id}"), 200);

        Assert.Equal(id, (string?)put["id"]);
        Assert.Equal(("ada@example.com", "Ada", "core", "free"),
            ((string?)get["email"], (string?)get["name"], (string?)get["metadata"]!["team"], (string?)get["plan"]));
        Assert.Empty(get["subscriptions"]!.AsArray());
        Assert.NotNull(get["created_at"]);
    }

    [Fact]
    public async Task Put_WithAPartialBody_KeepsTheOtherFields()
    {
        var id = TollgateApp.NewCustomer();
        await App.SendAsync(HttpMethod.Put, $"/v1/customers/{id}", """{"email":"a@example.com","name":"A"}""");

        var updated = await Json.ReadAsync(await App.SendAsync(HttpMethod.Put, $"/v1/customers/{id}", """{"name":"B"}"""), 200);

        Assert.Equal(("a@example.com", "B"), ((string?)updated["email"], (string?)updated["name"]));
    }

    [Fact]
    public async Task Get_OfAnUnknownCustomer_Is404()
    {
        await Json.ProblemAsync(await Client.GetAsync($"/v1/customers/{TollgateApp.NewCustomer()}"), 404, "customer_not_found");
    }

    [Theory]
    [InlineData("""{"email":"not-an-email"}""")]
    [InlineData("""{"email":42}""")]
    [InlineData("""{"metadata":{"a":1}}""")]
    [InlineData("""{"metadata":"x"}""")]
    [InlineData("""{"name":""}""")]
    [InlineData("""{"email":""")]
    [InlineData("[1,2]")]
    public async Task Put_WithBadInput_Is400AndChangesNothing(string body)
    {
        var id = TollgateApp.NewCustomer();

        await Json.ProblemAsync(await App.SendAsync(HttpMethod.Put, $"/v1/customers/{id}", body), 400, "invalid_request");
        await Json.ProblemAsync(await Client.GetAsync($"/v1/customers/{id}"), 404, "customer_not_found");
    }

    [Theory]
    [InlineData("has space")]
    [InlineData("semi;colon")]
    [InlineData("ünicode")]
    public async Task CustomerIds_OutsideTheAllowedCharacters_Are400(string id)
    {
        await Json.ProblemAsync(await Client.GetAsync($"/v1/customers/{Uri.EscapeDataString(id)}/balances"), 400, "invalid_request");
        await Json.ProblemAsync(await App.PostAsync("/v1/check", new { customer_id = id, feature = "credits" }), 400, "invalid_request");
    }

    [Fact]
    public async Task CustomerIds_OfMoreThan128Characters_Are400()
    {
        await Json.ProblemAsync(await App.PostAsync("/v1/check", new { customer_id = new string('a', 129), feature = "credits" }), 400, "invalid_request");
        await Json.ReadAsync(await App.PostAsync("/v1/check", new { customer_id = new string('a', 128), feature = "credits" }), 200);
    }

    [Fact]
    public async Task Capabilities_OfAnUnknownCustomer_AreTheDefaultPlans()
    {
        var body = await Json.ReadAsync(await Client.GetAsync($"/v1/customers/{TollgateApp.NewCustomer()}/capabilities"), 200);

        Assert.Equal(["feature:ai_messages", "feature:projects", "feature:seats", "feature:video_jobs", "plan:free"],
            body["capabilities"]!.AsArray().Select(c => (string)c!));
    }

    [Fact]
    public async Task Grants_AddCredits_ReplayedWithTheSameKey_AndRefuseBadInput()
    {
        var c = TollgateApp.NewCustomer();
        var key = App.Key();
        var body = new { feature = "credits", amount = 25, reason = "goodwill", expires_at = App.Clock.GetUtcNow().AddDays(10) };

        var first = await App.PostAsync($"/v1/customers/{c}/grants", body, key);
        var replay = await App.PostAsync($"/v1/customers/{c}/grants", body, key);
        var reused = await App.PostAsync($"/v1/customers/{c}/grants", body with { amount = 26 }, key);

        var granted = await Json.ReadAsync(first, 201);
        Assert.Equal(await first.Content.ReadAsStringAsync(), await replay.Content.ReadAsStringAsync());
        Assert.Equal(201, (int)replay.StatusCode);
        Assert.StartsWith("lot_", (string?)granted["lot_id"]);
        await Json.ProblemAsync(reused, 422, "idempotency_key_reused");
        Assert.Equal(25, (long)(await App.BalanceAsync(c, "credits"))["available"]!);

        await Json.ProblemAsync(await App.PostAsync($"/v1/customers/{c}/grants", new { feature = "credits", amount = 5 }, App.Key()), 400, "invalid_request");
        await Json.ProblemAsync(await App.PostAsync($"/v1/customers/{c}/grants", new { feature = "credits", amount = 0, reason = "x" }, App.Key()), 400, "invalid_request");
        await Json.ProblemAsync(await App.PostAsync($"/v1/customers/{c}/grants", new { feature = "hd_export", amount = 5, reason = "x" }, App.Key()), 400, "invalid_request");
        await Json.ProblemAsync(await App.PostAsync($"/v1/customers/{c}/grants",
            new { feature = "credits", amount = 5, reason = "x", expires_at = App.Clock.GetUtcNow().AddDays(-1) }, App.Key()), 400, "invalid_request");
        await Json.ProblemAsync(await App.PostAsync($"/v1/customers/{c}/grants", new { feature = "gold", amount = 5, reason = "x" }, App.Key()), 404, "unknown_feature");
        await Json.ProblemAsync(await App.PostAsync($"/v1/customers/{c}/grants", new { feature = "credits", amount = 5, reason = "x" }), 400, "invalid_request");
        Assert.Equal(25, (long)(await App.BalanceAsync(c, "credits"))["available"]!);
    }

    [Fact]
    public async Task Balances_ShowEveryFeatureWithLimitsUsageAndLots()
    {
        var c = TollgateApp.NewCustomer();
        await App.GrantAsync(c, "credits", 40, App.Clock.GetUtcNow().AddDays(30));
        Assert.Equal(200, (int)(await App.UseAsync(c, "ai_messages", 7)).StatusCode);
        Assert.Equal(200, (int)(await App.UseAsync(c, "projects", 1)).StatusCode);

        var credits = await App.BalanceAsync(c, "credits");
        var messages = await App.BalanceAsync(c, "ai_messages");
        var projects = await App.BalanceAsync(c, "projects");

        Assert.Equal((40L, "credits"), ((long)credits["available"]!, (string)credits["type"]!));
        var lot = credits["lots"]!.AsArray().Single()!;
        Assert.Equal(("admin", 40L, 40L), ((string)lot["source"]!, (long)lot["amount"]!, (long)lot["remaining"]!));
        Assert.Equal((43L, 50L, 7L), ((long)messages["available"]!, (long)messages["limit"]!, (long)messages["used"]!));
        Assert.Equal("2026-02-01T00:00:00+00:00", (string)messages["resets_at"]!);
        Assert.Equal((0L, 1L, 1L), ((long)projects["available"]!, (long)projects["limit"]!, (long)projects["used"]!));
    }

    [Fact]
    public async Task Ledger_IsPagedNewestFirst_FilteredByFeature()
    {
        var c = TollgateApp.NewCustomer();
        for (var i = 1; i <= 3; i++)
        {
            await App.GrantAsync(c, "credits", i);
        }

        var first = await Json.ReadAsync(await Client.GetAsync($"/v1/customers/{c}/ledger?feature=credits&limit=2"), 200);
        var second = await Json.ReadAsync(await Client.GetAsync($"/v1/customers/{c}/ledger?feature=credits&limit=2&after={first["next"]}"), 200);

        Assert.Equal([3L, 2L], first["entries"]!.AsArray().Select(e => (long)e!["amount"]!));
        Assert.Equal([1L], second["entries"]!.AsArray().Select(e => (long)e!["amount"]!));
        Assert.Null(second["next"]);
        var entry = first["entries"]![0]!;
        Assert.Equal(("grant", 6L, "test"), ((string)entry["type"]!, (long)entry["balance_after"]!, (string)entry["reference"]!));
        await Json.ProblemAsync(await Client.GetAsync($"/v1/customers/{c}/ledger?after=abc"), 400, "invalid_request");
        await Json.ProblemAsync(await Client.GetAsync($"/v1/customers/{c}/ledger?limit=0"), 400, "invalid_request");
    }

    [Fact]
    public async Task Ledger_EntriesCarryTheirDraws_AndAUsagesEntryIdIsItsEntry()
    {
        var c = TollgateApp.NewCustomer();
        var early = (string)(await App.GrantAsync(c, "credits", 5, App.Clock.GetUtcNow().AddDays(3)))["lot_id"]!;
        var late = (string)(await App.GrantAsync(c, "credits", 20))["lot_id"]!;

        // 53 messages: the free plan's 50, then 3 spilled into credits at 1 each; then 4 credits straight.
        var spilled = await Json.ReadAsync(await App.UseAsync(c, "ai_messages", 53), 200);
        var used = await Json.ReadAsync(await App.UseAsync(c, "credits", 4), 200);

        var entries = (await Json.ReadAsync(await Client.GetAsync($"/v1/customers/{c}/ledger"), 200))["entries"]!.AsArray();
        var byId = entries.ToDictionary(e => (string)e!["id"]!, e => e!);
        var messages = byId[(string)spilled["entry_id"]!];
        Assert.Equal(("consume", "ai_messages", -50L, 53L), ((string)messages["type"]!, (string)messages["feature"]!, (long)messages["amount"]!, (long)messages["units"]!));
        var allowance = Assert.Single(messages["draws"]!.AsArray())!;
        Assert.Equal(50, (long)allowance["amount"]!);
        var spill = entries.Single(e => (string)e!["type"]! == "consume" && (string)e["feature"]! == "credits" && (long)e["amount"]! == -3)!;
        Assert.Equal([(early, 3L)], spill["draws"]!.AsArray().Select(d => ((string)d!["lot_id"]!, (long)d["amount"]!)));
        // The earlier-expiring lot pays first, then the next one.
        var straight = byId[(string)used["entry_id"]!];
        Assert.Equal([(early, 2L), (late, 2L)], straight["draws"]!.AsArray().Select(d => ((string)d!["lot_id"]!, (long)d["amount"]!)));
        var grant = entries.Single(e => (string)e!["type"]! == "grant" && (long)e["amount"]! == 20)!;
        Assert.Equal([(late, 20L)], grant["draws"]!.AsArray().Select(d => ((string)d!["lot_id"]!, (long)d["amount"]!)));
    }

    [Fact]
    public async Task UsageStats_CountUsePerDayAgainstThePlansLimit()
    {
        var c = TollgateApp.NewCustomer();
        Assert.Equal(200, (int)(await App.UseAsync(c, "ai_messages", 3)).StatusCode);
        App.Clock.Advance(TimeSpan.FromDays(1));
        Assert.Equal(200, (int)(await App.UseAsync(c, "ai_messages", 4)).StatusCode);
        Assert.Equal(200, (int)(await App.UseAsync(c, "ai_messages", 1)).StatusCode);

        var stats = await Json.ReadAsync(await Client.GetAsync($"/v1/customers/{c}/usage?feature=ai_messages&bucket=day"), 200);

        Assert.Equal(50, (long)stats["limit"]!);
        var buckets = stats["buckets"]!.AsArray().ToDictionary(b => ((string)b!["start"]!)[..10], b => (long)b!["used"]!);
        Assert.Equal(3, buckets["2026-01-15"]);
        Assert.Equal(5, buckets["2026-01-16"]);
        Assert.Equal(0, buckets["2026-01-01"]);
        await Json.ProblemAsync(await Client.GetAsync($"/v1/customers/{c}/usage?feature=ai_messages&bucket=hour"), 400, "invalid_request");
        await Json.ProblemAsync(await Client.GetAsync($"/v1/customers/{c}/usage"), 400, "invalid_request");
    }
}

public sealed class SqliteCustomersApiTests : CustomersApiTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresCustomersApiTests : CustomersApiTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
