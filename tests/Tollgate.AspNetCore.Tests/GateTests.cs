using System.Net;
using System.Text.Json.Nodes;
using Tollgate.AspNetCore.Tests.Support;
using Tollgate.Storage;

namespace Tollgate.AspNetCore.Tests;

public sealed class SqliteGateTests : GateTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresGateTests : GateTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}

/// <summary>
/// The endpoint gates of API.md §6.1 on an app's own routes (minimal APIs and an MVC controller), with the engine
/// embedded on a real database: who may pass, what is charged, and that a failed request costs nothing.
/// </summary>
public abstract class GateTests : IAsyncLifetime
{
    protected abstract DatabaseProvider Provider { get; }

    private EmbeddedApp _app = null!;

    public async ValueTask InitializeAsync()
    {
        if (Provider == DatabaseProvider.Postgres)
        {
            _ = Tollgate.Testing.Postgres.ConnectionString;
        }

        _app = await EmbeddedApp.StartAsync(Provider, services => services.AddTollgateGates(o => o.OrganizationClaim = "org"));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        GC.SuppressFinalize(this);
    }

    private static async Task<JsonObject> ProblemAsync(HttpResponseMessage response, int status, string code)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"expected {status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var body = JsonNode.Parse(text)!.AsObject();
        Assert.Equal((code, status), ((string?)body["code"], (int)body["status"]!));
        return body;
    }

    private async Task<Balance> AiMessagesAsync(string customer) =>
        (await _app.Tollgate.GetBalancesAsync(customer)).EnsureSuccess().For("ai_messages")!;

    [Fact]
    public async Task RequireFeature_WithoutThePlan_Is403NotEntitled_NamingThePlansThatIncludeIt()
    {
        var customer = EmbeddedApp.NewCustomer();

        using var minimal = await _app.SendAsUserAsync(HttpMethod.Get, "/export", customer);
        using var mvc = await _app.SendAsUserAsync(HttpMethod.Get, "/mvc/export", customer);

        var body = await ProblemAsync(minimal, 403, "not_entitled");
        var products = body["products"]!.AsArray().Select(p => (string)p!).ToList();
        Assert.Contains("pro", products);
        Assert.Contains("team", products);
        Assert.DoesNotContain("free", products);
        await ProblemAsync(mvc, 403, "not_entitled");
    }

    [Fact]
    public async Task RequireFeature_WithThePlan_RunsTheHandler()
    {
        var customer = EmbeddedApp.NewCustomer();
        await _app.BuyInSandboxAsync(customer, "pro");

        using var minimal = await _app.SendAsUserAsync(HttpMethod.Get, "/export", customer);
        using var mvc = await _app.SendAsUserAsync(HttpMethod.Get, "/mvc/export", customer);

        Assert.Equal(HttpStatusCode.OK, minimal.StatusCode);
        Assert.Equal("hd", (string?)JsonNode.Parse(await minimal.Content.ReadAsStringAsync())!["export"]);
        Assert.Equal(HttpStatusCode.OK, mvc.StatusCode);
    }

    [Fact]
    public async Task AGatedEndpoint_WithoutACustomer_Is401_AndTheHandlerDoesNotRun()
    {
        using var response = await _app.SendAsUserAsync(HttpMethod.Post, "/ai/messages", user: null);

        await ProblemAsync(response, 401, "unauthorized");
    }

    [Fact]
    public async Task ChargeUsage_OnSuccess_ChargesTheAmountOnce_AndHoldsNothingAfterwards()
    {
        var customer = EmbeddedApp.NewCustomer();

        using var minimal = await _app.SendAsUserAsync(HttpMethod.Post, "/ai/messages", customer);
        using var mvc = await _app.SendAsUserAsync(HttpMethod.Post, "/mvc/messages", customer);

        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK), (minimal.StatusCode, mvc.StatusCode));
        var balance = await AiMessagesAsync(customer);
        Assert.Equal((48L, 0L, 2L), (balance.Available, balance.Held, balance.Used!.Value));
    }

    [Fact]
    public async Task ChargeUsage_WhenTheQuotaIsUsedUp_Is402QuotaExceeded_AndTheHandlerDoesNotRun()
    {
        var customer = EmbeddedApp.NewCustomer();
        (await _app.Tollgate.UseAsync(new UsageRequest(customer, "ai_messages", 50))).EnsureSuccess();

        using var response = await _app.SendAsUserAsync(HttpMethod.Post, "/ai/messages", customer);

        await ProblemAsync(response, 402, "quota_exceeded");
        var balance = await AiMessagesAsync(customer);
        Assert.Equal((0L, 0L, 50L), (balance.Available, balance.Held, balance.Used!.Value));
    }

    [Fact]
    public async Task ChargeUsage_OfAStreamedReply_TheCallerHangsUpOn_IsCharged_ButOneWhoseHandlerFailsIsNot()
    {
        await using var app = await EmbeddedApp.StartAsync(Provider, services => services.AddTollgateGates(), kestrel: true);
        var hungUp = EmbeddedApp.NewCustomer();
        var failed = EmbeddedApp.NewCustomer();

        using (var request = new HttpRequestMessage(HttpMethod.Post, "/ai/stream"))
        {
            request.Headers.Add("X-Test-User", hungUp);
            using var response = await app.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await using var body = await response.Content.ReadAsStreamAsync();
            var first = new byte[5];
            await body.ReadExactlyAsync(first);
        }

        // The caller has gone; the gate settles when the handler gives up, which the test can only wait for.
        Balance? charged = null;
        for (var i = 0; i < 200 && charged is not { Held: 0, Used: 1 }; i++)
        {
            await Task.Delay(50);
            charged = (await app.Tollgate.GetBalancesAsync(hungUp)).EnsureSuccess().For("ai_messages");
        }

        // The handler throws after the answer started: the server can only cut the response short.
        var cut = await Assert.ThrowsAsync<HttpRequestException>(() => app.SendAsUserAsync(HttpMethod.Post, "/ai/stream-fails", failed));
        Balance? restored = null;
        for (var i = 0; i < 200 && restored is not { Held: 0 }; i++)
        {
            await Task.Delay(50);
            restored = (await app.Tollgate.GetBalancesAsync(failed)).EnsureSuccess().For("ai_messages");
        }

        Assert.Equal((49L, 0L, 1L), (charged!.Available, charged.Held, charged.Used!.Value));
        Assert.Equal((50L, 0L, 0L), (restored!.Available, restored.Held, restored.Used ?? 0));
        Assert.IsType<HttpIOException>(cut.InnerException);
    }

    /// <summary>A catalog whose free plan lacks the metered feature the app charges (and which does not spill into credits).</summary>
    private const string PaidOnlyMessages = """
        features:
          credits:     { type: credits }
          ai_messages: { type: metered }
          hd_export:   { type: boolean }
        plans:
          free: { default: true, features: { hd_export: false } }
          pro:
            interval: month
            price: { amount: 1900, currency: USD }
            features: { ai_messages: { limit: 100, reset: month }, hd_export: true }
        """;

    [Fact]
    public async Task ChargeUsage_OnAFeatureThePlanLacks_Is403NotEntitled_NamingThePlansThatIncludeIt_AndChargesNothing()
    {
        await using var app = await EmbeddedApp.StartAsync(Provider, services => services.AddTollgateGates(), catalogYaml: PaidOnlyMessages);
        var customer = EmbeddedApp.NewCustomer();

        using var response = await app.SendAsUserAsync(HttpMethod.Post, "/ai/messages", customer);
        var check = await app.Tollgate.CheckAsync(new CheckRequest(customer, "ai_messages"));

        var body = await ProblemAsync(response, 403, "not_entitled");
        Assert.Equal(["pro"], body["products"]!.AsArray().Select(p => (string)p!));
        Assert.Equal(TollgateRefusal.NotEntitled, check.Refusal);
        var balance = (await app.Tollgate.GetBalancesAsync(customer)).EnsureSuccess().For("ai_messages");
        Assert.True(balance is null || (balance.Held, balance.Used ?? 0) == (0L, 0L), $"held {balance?.Held}, used {balance?.Used}");
    }

    [Fact]
    public async Task ChargeUsage_OfCreditsWithoutEnough_Is402InsufficientBalance()
    {
        var customer = EmbeddedApp.NewCustomer();
        (await _app.Tollgate.GrantAsync(new CreateGrantRequest(customer, "credits", 9, "test"))).EnsureSuccess();

        using var response = await _app.SendAsUserAsync(HttpMethod.Post, "/ai/credits", customer);

        await ProblemAsync(response, 402, "insufficient_balance");
        Assert.Equal(9, (await _app.Tollgate.GetBalancesAsync(customer)).EnsureSuccess().For("credits")!.Available);
    }

    [Fact]
    public async Task ChargeUsage_WhenTheHandlerThrows_OrAnswers400_ChargesNothing()
    {
        var customer = EmbeddedApp.NewCustomer();

        using var thrown = await _app.SendAsUserAsync(HttpMethod.Post, "/ai/throws", customer);
        using var bad = await _app.SendAsUserAsync(HttpMethod.Post, "/ai/bad", customer);

        Assert.Equal((HttpStatusCode.InternalServerError, HttpStatusCode.BadRequest), (thrown.StatusCode, bad.StatusCode));
        var balance = await AiMessagesAsync(customer);
        Assert.Equal((50L, 0L, 0L), (balance.Available, balance.Held, balance.Used!.Value));
    }

    [Fact]
    public async Task ChargeUsage_ConcurrentRequestsOnTheLastUnit_ExactlyOnePasses_AndTheBooksAreExact()
    {
        var customer = EmbeddedApp.NewCustomer();
        (await _app.Tollgate.UseAsync(new UsageRequest(customer, "ai_messages", 49))).EnsureSuccess();

        var responses = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => _app.SendAsUserAsync(HttpMethod.Post, "/ai/messages", customer)));

        Assert.Equal(1, responses.Count(r => r.StatusCode == HttpStatusCode.OK));
        Assert.Equal(15, responses.Count(r => (int)r.StatusCode == 402));
        foreach (var refused in responses.Where(r => r.StatusCode != HttpStatusCode.OK))
        {
            await ProblemAsync(refused, 402, "quota_exceeded");
        }

        var balance = await AiMessagesAsync(customer);
        Assert.Equal((0L, 0L, 50L), (balance.Available, balance.Held, balance.Used!.Value));
        foreach (var response in responses)
        {
            response.Dispose();
        }
    }

    [Fact]
    public async Task TheOrganizationClaim_WhenConfigured_IsTheCustomer_SoTheTeamSharesOneBalance()
    {
        var org = EmbeddedApp.NewCustomer();
        var alice = EmbeddedApp.NewCustomer();
        var bob = EmbeddedApp.NewCustomer();

        using var first = await _app.SendAsUserAsync(HttpMethod.Post, "/ai/messages", alice, org);
        using var second = await _app.SendAsUserAsync(HttpMethod.Post, "/ai/messages", bob, org);

        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK), (first.StatusCode, second.StatusCode));
        Assert.Equal(2, (await AiMessagesAsync(org)).Used);
        Assert.Equal((0L, 0L), ((await AiMessagesAsync(alice)).Used!.Value, (await AiMessagesAsync(bob)).Used!.Value));
    }
}
