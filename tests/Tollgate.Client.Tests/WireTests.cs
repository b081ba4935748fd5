using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Tollgate.Client.Tests.Support;

namespace Tollgate.Client.Tests;

/// <summary>Each call as it goes over the wire: method, path, body and headers as API.md spells them.</summary>
public sealed class WireTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Answers each path with a minimal valid answer of its call.</summary>
    private static Task Answers(HttpContext context)
    {
        var path = context.Request.Path.Value!;
        var json = path switch
        {
            "/v1/check" => """{"customer_id":"alice","feature":"ai_messages","allowed":true,"balance":{"available":50,"held":0}}""",
            "/v1/usage" => Answer.Usage,
            "/v1/holds" => """{"id":"hold_1","status":"active","amount":5,"feature":"credits"}""",
            _ when path.EndsWith("/settle", StringComparison.Ordinal) => """{"id":"hold_1","status":"settled","settled":3,"released":2}""",
            _ when path.EndsWith("/release", StringComparison.Ordinal) => """{"id":"hold_1","status":"released"}""",
            _ when path.EndsWith("/grants", StringComparison.Ordinal) => """{"lot_id":"lot_1","feature":"credits","amount":30,"expires_at":"2031-01-01T00:00:00+00:00"}""",
            _ when path.EndsWith("/capabilities", StringComparison.Ordinal) => """{"customer_id":"a@b.c","capabilities":["plan:free","feature:x"]}""",
            _ when path.EndsWith("/balances", StringComparison.Ordinal) =>
                """{"customer_id":"a@b.c","balances":[{"feature":"credits","type":"credits","available":5,"held":1,"debt":0,"lots":[{"id":"lot_1","source":"admin","amount":6,"remaining":6,"held":1}]}]}""",
            _ when path.EndsWith("/trials", StringComparison.Ordinal) =>
                """{"id":"sub_1","plan":"pro","provider":"tollgate","status":"trialing","cancel_at_period_end":false,"current_period_start":"2030-01-01T00:00:00+00:00","current_period_end":"2030-01-15T00:00:00+00:00"}""",
            _ when path.EndsWith("/members", StringComparison.Ordinal) =>
                """{"customer_id":"org@1","members":[{"id":"m1","metadata":{},"created_at":"2030-01-01T00:00:00+00:00"}],"next":"m1"}""",
            _ when path.EndsWith("/portal", StringComparison.Ordinal) => """{"url":"http://127.0.0.1/portal?token=t","expires_at":"2030-01-01T01:00:00+00:00"}""",
            "/v1/checkouts" or "/v1/checkouts/chk_1" =>
                """{"id":"chk_1","provider":"sandbox","provider_checkout_id":"sbx_1","url":"http://127.0.0.1/sandbox/checkout/sbx_1","status":"open","customer_id":"alice","product":"starter_pack","created_at":"2030-01-01T00:00:00+00:00"}""",
            "/v1/access/ensure" => """{"already_has_access":false,"checkout_id":"chk_1","checkout_url":"http://127.0.0.1/sandbox/checkout/sbx_1"}""",
            "/v1/products" => """{"provider":"sandbox","plans":[{"id":"free","name":"Free","default":true,"features":{"ai_messages":{"enabled":true,"limit":50,"reset":"month"},"credits":{"enabled":true,"grant":500,"reset":"month","rollover":{"max":1000}}}}],"packs":[{"id":"starter_pack","name":"Starter pack","credits":100,"once_per_customer":false,"price":{"amount":500,"currency":"USD"}}]}""",
            _ => """{"id":"alice","metadata":{"team":"a"},"subscriptions":[],"created_at":"2030-01-01T00:00:00+00:00","email":"alice@example.com","plan":"free"}""",
        };
        return Answer.Json(path == "/v1/holds" || path.EndsWith("/grants", StringComparison.Ordinal) || path.EndsWith("/trials", StringComparison.Ordinal)
            || path == "/v1/checkouts" ? 201 : 200, json)(context);
    }

    public static TheoryData<string, string, string, string?> Calls => new()
    {
        { "check", "POST", "/v1/check", """{"customer_id":"alice","feature":"ai_messages","amount":2}""" },
        { "usage", "POST", "/v1/usage", """{"customer_id":"alice","feature":"credits","amount":3}""" },
        { "hold", "POST", "/v1/holds", """{"customer_id":"alice","feature":"credits","amount":5,"ttl_seconds":91}""" },
        { "settle", "POST", "/v1/holds/hold_1/settle", """{"amount":3}""" },
        { "settle-all", "POST", "/v1/holds/hold_1/settle", "{}" },
        { "release", "POST", "/v1/holds/hold_1/release", null },
        { "grant", "POST", "/v1/customers/alice/grants", """{"feature":"credits","amount":30,"reason":"welcome","expires_at":"2031-01-01T00:00:00+00:00"}""" },
        { "capabilities", "GET", "/v1/customers/a%40b.c/capabilities", null },
        { "balances", "GET", "/v1/customers/a%40b.c/balances", null },
        { "checkout", "POST", "/v1/checkouts", """{"customer_id":"alice","product":"starter_pack","success_url":"https://app.example/done","metadata":{"campaign":"spring"}}""" },
        { "get-checkout", "GET", "/v1/checkouts/chk_1", null },
        { "ensure", "POST", "/v1/access/ensure", """{"customer_id":"alice","capability":"feature:hd_export","product":"pro"}""" },
        { "portal", "POST", "/v1/customers/alice/portal", null },
        { "upsert", "PUT", "/v1/customers/alice", """{"email":"alice@example.com","metadata":{"team":"a"}}""" },
        { "join", "PUT", "/v1/customers/alice", """{"billing_customer_id":"org@1"}""" },
        { "leave", "PUT", "/v1/customers/alice", """{"name":"Alice","billing_customer_id":null}""" },
        { "trial", "POST", "/v1/customers/alice/trials", """{"plan":"pro"}""" },
        { "members", "GET", "/v1/customers/org%401/members?limit=2&after=m1", null },
        { "all-members", "GET", "/v1/customers/org%401/members", null },
        { "products", "GET", "/v1/products?customer_id=a%40b.c&provider=sandbox", null },
        { "all-products", "GET", "/v1/products", null },
    };

    [Theory]
    [MemberData(nameof(Calls))]
    public async Task EachCall_IsSentAsApiMdSpellsIt(string call, string method, string pathAndQuery, string? body)
    {
        await using var stub = await StubServer.StartAsync(Answers);
        var client = new TollgateClient(new HttpClient(), new TollgateClientOptions { BaseAddress = stub.BaseAddress, SecretKey = "tg_wire_key" });

        object result = call switch
        {
            "check" => await client.CheckAsync(new CheckRequest("alice", "ai_messages") { Amount = 2 }, Ct),
            "usage" => await client.UseAsync(new UsageRequest("alice", "credits", 3), Ct),
            "hold" => await client.CreateHoldAsync(new CreateHoldRequest("alice", "credits", 5) { TimeToLive = TimeSpan.FromSeconds(90.2) }, Ct),
            "settle" => await client.SettleHoldAsync(new SettleHoldRequest("hold_1") { Amount = 3 }, Ct),
            "settle-all" => await client.SettleHoldAsync(new SettleHoldRequest("hold_1"), Ct),
            "release" => await client.ReleaseHoldAsync("hold_1", Ct),
            "grant" => await client.GrantAsync(new CreateGrantRequest("alice", "credits", 30, "welcome")
            {
                ExpiresAt = new DateTimeOffset(2031, 1, 1, 0, 0, 0, TimeSpan.Zero),
            }, Ct),
            "capabilities" => await client.GetCapabilitiesAsync("a@b.c", Ct),
            "balances" => await client.GetBalancesAsync("a@b.c", Ct),
            "checkout" => await client.CreateCheckoutAsync(new CreateCheckoutRequest("alice", "starter_pack")
            {
                SuccessUrl = new Uri("https://app.example/done"),
                Metadata = new Dictionary<string, string> { ["campaign"] = "spring" },
            }, Ct),
            "get-checkout" => await client.GetCheckoutAsync("chk_1", Ct),
            "ensure" => await client.EnsureAccessAsync(new EnsureAccessRequest("alice", "feature:hd_export", "pro"), Ct),
            "portal" => await client.CreatePortalLinkAsync("alice", Ct),
            "upsert" => await client.UpsertCustomerAsync(new UpsertCustomerRequest("alice")
            {
                Email = "alice@example.com",
                Metadata = new Dictionary<string, string> { ["team"] = "a" },
            }, Ct),
            "join" => await client.UpsertCustomerAsync(new UpsertCustomerRequest("alice") { BillingCustomerId = "org@1" }, Ct),
            "leave" => await client.UpsertCustomerAsync(new UpsertCustomerRequest("alice") { Name = "Alice", LeaveBillingCustomer = true }, Ct),
            "trial" => await client.StartTrialAsync(new StartTrialRequest("alice", "pro"), Ct),
            "members" => await client.GetMembersAsync(new MembersRequest("org@1") { Limit = 2, After = "m1" }, Ct),
            "all-members" => await client.GetMembersAsync(new MembersRequest("org@1"), Ct),
            "products" => await client.GetProductsAsync("a@b.c", "sandbox", Ct),
            _ => await client.GetProductsAsync(cancellationToken: Ct),
        };

        Assert.Equal("ok", result.ToString());
        var seen = Assert.Single(stub.Requests);
        Assert.Equal(method, seen.Method);
        Assert.Equal(pathAndQuery, seen.RawTarget);
        Assert.Equal("Bearer tg_wire_key", seen.Authorization);
        if (body is null)
        {
            Assert.Equal("", seen.Body);
            Assert.Null(seen.ContentType);
        }
        else
        {
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse(body), JsonNode.Parse(seen.Body)), $"sent {seen.Body}");
            Assert.Equal("application/json", seen.ContentType);
        }

        var keyed = call is "usage" or "hold" or "grant" or "trial";
        Assert.Equal(keyed, seen.IdempotencyKey is not null);
    }

    [Fact]
    public async Task Answers_ReadIntoTheTypedResults()
    {
        await using var stub = await StubServer.StartAsync(Answers);
        var client = new TollgateClient(new HttpClient(), new TollgateClientOptions { BaseAddress = stub.BaseAddress, SecretKey = "tg_wire_key" });

        var balances = (await client.GetBalancesAsync("a@b.c", Ct)).EnsureSuccess();
        var capabilities = (await client.GetCapabilitiesAsync("a@b.c", Ct)).EnsureSuccess();
        var products = (await client.GetProductsAsync(cancellationToken: Ct)).EnsureSuccess();
        var settled = (await client.SettleHoldAsync(new SettleHoldRequest("hold_1"), Ct)).EnsureSuccess();
        var access = (await client.EnsureAccessAsync(new EnsureAccessRequest("alice", "feature:hd_export", "pro"), Ct)).EnsureSuccess();
        var members = (await client.GetMembersAsync(new MembersRequest("org@1"), Ct)).EnsureSuccess();
        var trial = (await client.StartTrialAsync(new StartTrialRequest("alice", "pro"), Ct)).EnsureSuccess();

        var credits = balances.For("credits")!;
        Assert.Equal(FeatureKind.Credits, credits.Type);
        Assert.Equal((5, 1, 0), (credits.Available, credits.Held, credits.Debt));
        Assert.Equal(new Lot("lot_1", "admin", 6, 6, 1), Assert.Single(credits.Lots));
        Assert.Null(balances.For("nope"));
        Assert.True(capabilities.Has("feature:x"));
        Assert.False(capabilities.Has("feature:y"));
        Assert.Equal(new FeatureTerms(true, 50, null, "month"), products.Plans.Single().Features["ai_messages"]);
        Assert.Equal(new FeatureTerms(true, null, 500, "month", new RolloverTerms(1000)), products.Plans.Single().Features["credits"]);
        Assert.Equal(new Price(500, "USD"), products.Packs.Single().Price);
        Assert.Equal(new HoldSettlement("hold_1", HoldState.Settled, 3, 2), settled);
        Assert.Equal(new AccessResult(false, "chk_1", new Uri("http://127.0.0.1/sandbox/checkout/sbx_1")), access);
        Assert.Equal(("org@1", "m1"), (members.CustomerId, members.Next));
        Assert.Equal(new PlanSubscription("sub_1", "pro", "tollgate", "trialing", false, new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero),
            new DateTimeOffset(2030, 1, 15, 0, 0, 0, TimeSpan.Zero)), trial);
        var member = Assert.Single(members.Items);
        Assert.Equal(("m1", new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero), 0, (string?)null), (member.Id, member.CreatedAt, member.Metadata.Count, member.Email));
    }

    [Theory]
    [InlineData(".", "/v1/customers/%2E/balances")]
    [InlineData("..", "/v1/customers/%2E%2E/balances")]
    [InlineData("a..b", "/v1/customers/a..b/balances")]
    [InlineData("x/y", "/v1/customers/x%2Fy/balances")]
    public async Task AnIdIsAlwaysOnePathSegment(string customerId, string rawTarget)
    {
        await using var stub = await StubServer.StartAsync(Answers);
        var client = new TollgateClient(new HttpClient(), new TollgateClientOptions { BaseAddress = stub.BaseAddress, SecretKey = "k" });

        _ = await client.GetBalancesAsync(customerId, Ct);

        Assert.Equal(rawTarget, Assert.Single(stub.Requests).RawTarget);
    }
}
