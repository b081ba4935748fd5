using System.Net.Http.Headers;
using System.Text;
using Tollgate.Server.Tests.Support;
using Tollgate.Storage;

namespace Tollgate.Server.Tests.Api;

/// <summary>What every /v1 endpoint shares: the secret key, body limits, content types, error shapes.</summary>
public abstract class ProtocolTests : AppTestBase
{
    public static TheoryData<string, string> Endpoints => new()
    {
        { "PUT", "/v1/customers/c1" },
        { "GET", "/v1/customers/c1" },
        { "GET", "/v1/customers/c1/capabilities" },
        { "GET", "/v1/customers/c1/balances" },
        { "GET", "/v1/customers/c1/ledger" },
        { "GET", "/v1/customers/c1/usage?feature=credits" },
        { "GET", "/v1/customers/c1/subscriptions" },
        { "POST", "/v1/customers/c1/grants" },
        { "POST", "/v1/check" },
        { "POST", "/v1/usage" },
        { "POST", "/v1/holds" },
        { "POST", "/v1/holds/h1/settle" },
        { "POST", "/v1/holds/h1/release" },
        { "GET", "/v1/products" },
    };

    [Theory]
    [MemberData(nameof(Endpoints))]
    public async Task EveryEndpoint_WithoutOrWithAWrongKey_Is401(string method, string path)
    {
        foreach (var auth in new AuthenticationHeaderValue?[] { null, new("Bearer", "tg_wrong_key_0000000000"), new("Basic", TollgateApp.ApiKey) })
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), path);
            request.Headers.Authorization = auth;
            if (method != "GET")
            {
                request.Content = new StringContent("{}", Encoding.UTF8, "application/json");
            }

            using var client = App.App.GetTestClientWithoutKey();
            await Json.ProblemAsync(await client.SendAsync(request), 401, "unauthorized");
        }
    }

    [Theory]
    [InlineData("/v1/check")]
    [InlineData("/v1/usage")]
    [InlineData("/v1/holds")]
    [InlineData("/v1/customers/c1/grants")]
    public async Task BodiesOver64KiB_Are413_AndChangeNothing(string path)
    {
        var padding = new string('x', 70 * 1024);
        var response = await App.SendAsync(HttpMethod.Post, path, $$"""{"customer_id":"c1","feature":"credits","amount":1,"pad":"{{padding}}"}""", App.Key());

        await Json.ProblemAsync(response, 413, "payload_too_large");
        Assert.Equal(0, (long)(await App.BalanceAsync("c1", "credits"))["available"]!);
    }

    [Fact]
    public async Task BodiesJustUnder64KiB_AreRead()
    {
        var padding = new string('x', 60 * 1024);
        var response = await App.SendAsync(HttpMethod.Post, "/v1/check", $$"""{"customer_id":"c1","feature":"credits","pad":"{{padding}}"}""");

        await Json.ReadAsync(response, 200);
    }

    [Fact]
    public async Task ANonJsonContentType_Is415WithAProblem()
    {
        var response = await Client.PostAsync("/v1/check", new StringContent("customer_id=a", Encoding.UTF8, "application/x-www-form-urlencoded"));

        await Json.ProblemAsync(response, 415, "unsupported_media_type");
    }

    [Fact]
    public async Task UnknownRoutesAndMethods_AnswerWithProblems()
    {
        await Json.ProblemAsync(await Client.GetAsync("/v1/nothing-here"), 404, "not_found");
        await Json.ProblemAsync(await Client.DeleteAsync("/v1/check"), 405, "method_not_allowed");
    }

    [Fact]
    public async Task Healthz_IsOk_WithoutAKey()
    {
        using var client = App.App.GetTestClientWithoutKey();
        var body = await Json.ReadAsync(await client.GetAsync("/healthz"), 200);

        Assert.Equal("ok", (string?)body["status"]);
    }

    [Fact]
    public async Task OpenApiDocument_DescribesTheV1Api()
    {
        using var client = App.App.GetTestClientWithoutKey();
        var document = await Json.ReadAsync(await client.GetAsync("/openapi/v1.json"), 200);

        var paths = document["paths"]!.AsObject().Select(p => p.Key).ToList();
        Assert.Contains("/v1/usage", paths);
        Assert.Contains("/v1/check", paths);
        Assert.Contains("/v1/customers/{id}/balances", paths);
        Assert.DoesNotContain("/healthz", paths);
    }

    [Fact]
    public async Task OpenApiDocument_IsExactEnoughToGenerateAClient()
    {
        using var client = App.App.GetTestClientWithoutKey();
        var document = await Json.ReadAsync(await client.GetAsync("/openapi/v1.json"), 200);

        var operations = document["paths"]!.AsObject().SelectMany(p => p.Value!.AsObject().Select(o => (Path: p.Key, Operation: o.Value!.AsObject()))).ToList();
        foreach (var (path, operation) in operations)
        {
            // Clients name their methods after these, and every /v1 call may be refused for a missing key.
            Assert.False(string.IsNullOrEmpty((string?)operation["operationId"]), $"{path} has no operationId");
            Assert.Contains("unauthorized", Codes(operation, "401"));
            // The edge (RequestGuard) answers these for any /v1 call, before an endpoint runs.
            Assert.Contains("invalid_request", Codes(operation, "400"));
            Assert.Contains("unsupported_media_type", Codes(operation, "415"));
        }

        // The one /v1 call whose 401 also means something else (API.md §6.4): a signed transaction that did not verify.
        Assert.Equal(["invalid_signature", "unauthorized"],
            Codes(document["paths"]!["/v1/apple/transactions"]!["post"]!.AsObject(), "401").Order(StringComparer.Ordinal));
        Assert.Equal(["unauthorized"], Codes(document["paths"]!["/v1/usage"]!["post"]!.AsObject(), "401"));

        var usage = document["paths"]!["/v1/usage"]!["post"]!.AsObject();
        var header = usage["parameters"]!.AsArray().Single(p => (string?)p!["name"] == "Idempotency-Key")!;
        Assert.Equal("header", (string?)header["in"]);
        Assert.True((bool)header["required"]!);
        Assert.Equal(["insufficient_balance", "limit_reached", "not_entitled", "quota_exceeded"], Codes(usage, "402"));
        Assert.Equal(["idempotency_key_reused"], Codes(usage, "422"));

        // Nulls are never written, so nullable fields are optional rather than required-and-null; bodies require what is validated.
        var schemas = document["components"]!["schemas"]!;
        Assert.Equal(["customer_id", "feature", "allowed"], schemas["CheckView"]!["required"]!.AsArray().Select(n => (string)n!));
        Assert.Equal("string", (string?)schemas["CheckView"]!["properties"]!["reason"]!["type"]);
        Assert.Equal(["customer_id", "feature", "amount"], schemas["UsageBody"]!["required"]!.AsArray().Select(n => (string)n!));
        Assert.Equal(["open", "completed", "expired", "failed"],
            schemas["CheckoutView"]!["properties"]!["status"]!["enum"]!.AsArray().Select(n => (string)n!));
    }

    /// <summary>A query value ASP.NET cannot bind (an int given "abc", or past 32 bits) is bad input with the code the
    /// document declares, not a problem with the generic code "error" that no client knows.</summary>
    [Theory]
    [InlineData("limit=abc")]
    [InlineData("limit=99999999999999999999")]
    public async Task AQueryValueOfTheWrongType_Is400InvalidRequest(string query)
    {
        var customer = TollgateApp.NewCustomer();

        await Json.ProblemAsync(await App.Client.GetAsync($"/v1/customers/{customer}/ledger?{query}"), 400, "invalid_request");
    }

    private static List<string> Codes(System.Text.Json.Nodes.JsonObject operation, string status) =>
        operation["responses"]![status]!["content"]!["application/problem+json"]!["schema"]!["allOf"]![1]!["properties"]!["code"]!["enum"]!
            .AsArray().Select(n => (string)n!).ToList();
}

public sealed class SqliteProtocolTests : ProtocolTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresProtocolTests : ProtocolTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
