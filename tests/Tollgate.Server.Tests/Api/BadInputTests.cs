using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Tollgate.Core.Payments;
using Tollgate.Server.Tests.Support;
using Tollgate.Storage;
using Tollgate.Testing;
using Tollgate.Testing.Fakes;

namespace Tollgate.Server.Tests.Api;

/// <summary>Issue 9, item 6: bad input gets a clear 400/415 and changes nothing, never a 500; a database that cannot be
/// reached is 503 <c>unavailable</c>.</summary>
public abstract class BadInputTests : IAsyncLifetime
{
    private FakeServer _creem = null!;

    protected abstract DatabaseProvider Provider { get; }

    private TollgateApp App { get; set; } = null!;

    public async ValueTask InitializeAsync()
    {
        _creem = await FakeCreem.StartAsync();
        App = await TollgateApp.StartAsync(Provider, settings: new Dictionary<string, string?>
        {
            ["Tollgate:Providers:Creem:ApiKey"] = FakeCreem.ApiKey,
            ["Tollgate:Providers:Creem:WebhookSecret"] = SignedWebhooks.CreemSecret,
            ["Tollgate:Providers:Creem:BaseUrl"] = _creem.BaseUrl.ToString(),
            ["Tollgate:Providers:Default"] = "creem",
            ["Tollgate:Providers:Stripe:SecretKey"] = FakeStripe.SecretKey,
            ["Tollgate:Providers:Stripe:WebhookSecrets:0"] = SignedWebhooks.StripeSecret,
        });
    }

    public async ValueTask DisposeAsync()
    {
        await App.DisposeAsync();
        await _creem.DisposeAsync();
        GC.SuppressFinalize(this);
    }

    private Task<HttpResponseMessage> Send(HttpMethod method, string path, string json, string? contentType = "application/json", string? key = null)
    {
        var request = new HttpRequestMessage(method, path) { Content = new ByteArrayContent(Encoding.UTF8.GetBytes(json)) };
        request.Content.Headers.ContentType = contentType is null ? null : MediaTypeHeaderValue.Parse(contentType);
        if (key is not null)
        {
            request.Headers.Add("Idempotency-Key", key);
        }

        return App.Client.SendAsync(request);
    }

    private static HttpRequestMessage SignedCreem(byte[] body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/webhooks/creem") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Add("creem-signature", Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(SignedWebhooks.CreemSecret), body)));
        return request;
    }

    [Theory]
    [InlineData("PUT", "/v1/customers/cus_nul", """{"name": "Ada\u0000Lovelace"}""")]
    [InlineData("PUT", "/v1/customers/cus_nul", """{"email": "ada\u0000@example.com"}""")]
    [InlineData("PUT", "/v1/customers/cus_nul", """{"metadata": {"plan\u0000": "x"}}""")]
    [InlineData("POST", "/v1/customers/cus_nul/grants", """{"feature": "credits", "amount": 5, "reason": "promo\u0000"}""")]
    [InlineData("POST", "/v1/usage", """{"customer_id": "cus_nul", "feature": "credits\u0000", "amount": 1}""")]
    public async Task Bug9_6_ANulCharacterInAString_Is400_AndChangesNothing(string method, string path, string json)
    {
        var response = await Send(new HttpMethod(method), path, json, key: App.Key());

        var problem = await Json.ProblemAsync(response, 400, "invalid_request");
        Assert.Contains("NUL", (string?)problem["detail"], StringComparison.Ordinal);
        Assert.Equal(0, await App.CountRowsAsync("customers"));
        Assert.Equal(0, await App.CountRowsAsync("ledger_entries"));
    }

    [Fact]
    public async Task Bug9_6_ANulInTheQuery_Is400()
    {
        // (A NUL in the path itself is refused by the server before any endpoint: "The path contains null characters".)
        await Json.ProblemAsync(await App.Client.GetAsync("/v1/customers/cus_1/ledger?feature=cre%00dits"), 400, "invalid_request");
        await Json.ProblemAsync(await App.Client.GetAsync("/v1/products?customer_id=cus%001"), 400, "invalid_request");
    }

    [Fact]
    public async Task Bug9_6_DuplicateKeys_AreRefused_NotLastOneWins()
    {
        var c = TollgateApp.NewCustomer();
        await App.GrantAsync(c, "credits", 10);

        var usage = await Send(HttpMethod.Post, "/v1/usage", $$"""{"customer_id": "{{c}}", "feature": "credits", "amount": 1, "amount": 9}""", key: App.Key());
        var nested = await Send(HttpMethod.Put, $"/v1/customers/{c}", """{"metadata": {"tier": "a", "tier": "b"}}""");

        Assert.Contains("twice", (string?)(await Json.ProblemAsync(usage, 400, "invalid_request"))["detail"], StringComparison.Ordinal);
        await Json.ProblemAsync(nested, 400, "invalid_request");
        Assert.Equal(10, (long)(await App.BalanceAsync(c, "credits"))["available"]!);
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData("application/json; charset=latin1")]
    [InlineData(null)]
    public async Task Bug9_6_ABodyWithoutJsonContentType_Is415_AndTheKeyStaysUnused(string? contentType)
    {
        var c = TollgateApp.NewCustomer();
        await App.GrantAsync(c, "credits", 10);
        var key = App.Key();
        var json = $$"""{"customer_id": "{{c}}", "feature": "credits", "amount": 3}""";

        var refused = await Send(HttpMethod.Post, "/v1/usage", json, contentType, key);
        var retried = await Send(HttpMethod.Post, "/v1/usage", json, "application/json; charset=utf-8", key);

        await Json.ProblemAsync(refused, 415, "unsupported_media_type");
        Assert.Equal(7, (long)(await Json.ReadAsync(retried, 200))["remaining"]!);
    }

    [Theory]
    [InlineData("created_at", "9000000000000000000")]
    [InlineData("created_at", "-9000000000000000000")]
    [InlineData("created_at", "9e18")]
    [InlineData("created_at", "1.5")]
    [InlineData("created_at", "99999999999999999999999")]
    [InlineData("object.current_period_start_date", "9000000000000000000")]
    [InlineData("id", "\"evt_\\u0000nul\"")]
    [InlineData("duplicate", "\"evt_dup\"")]
    public async Task Bug9_6_ASignedWebhookThatCannotBeRead_Is400_AndStoredAsRejected(string field, string value)
    {
        var e = SignedWebhooks.Sample("creem", "subscription.paid");
        e["id"] = "evt_bad_" + field;
        var json = e.ToJsonString();
        json = field switch
        {
            "created_at" => json.Replace("\"created_at\":1728734327355", $"\"created_at\":{value}", StringComparison.Ordinal),
            "object.current_period_start_date" => json.Replace("\"2024-10-12T11:58:38.000Z\"", value, StringComparison.Ordinal),
            "id" => json.Replace("\"evt_bad_id\"", value, StringComparison.Ordinal),
            _ => json.Replace("\"id\":\"evt_bad_duplicate\"", $"\"id\":\"evt_bad_duplicate\",\"id\":{value}", StringComparison.Ordinal),
        };
        Assert.NotEqual(e.ToJsonString(), json);
        var body = Encoding.UTF8.GetBytes(json);

        var first = await App.Client.SendAsync(SignedCreem(body));
        var again = await App.Client.SendAsync(SignedCreem(body));

        await Json.ProblemAsync(first, 400, "invalid_request");
        await Json.ProblemAsync(again, 400, "invalid_request");
        var stored = await App.Services.GetRequiredService<IWebhookInbox>().ListAsync(null, 10, CancellationToken.None);
        Assert.Equal(WebhookStatus.Rejected, Assert.Single(stored).Status);
        Assert.Equal(0, await App.CountRowsAsync("subscriptions"));
    }

    [Theory]
    [InlineData("9000000000000000000")]
    [InlineData("-9000000000000000000")]
    [InlineData("9e18")]
    [InlineData("1.5")]
    [InlineData("99999999999999999999999")]
    [InlineData("\"yesterday\"")]
    public async Task Bug9_6_ASignedStripeEventWithAnImpossibleTime_Is400_AndStoredAsRejected(string created)
    {
        // The same rule for Stripe's signed events, whose times are Unix seconds (an overflow sooner than Creem's ms).
        var e = SignedWebhooks.Sample("stripe", "invoice.paid.basil");
        var json = e.ToJsonString().Replace($"\"created\":{(long)e["created"]!}", $"\"created\":{created}", StringComparison.Ordinal);
        Assert.NotEqual(e.ToJsonString(), json);

        var response = await App.Client.SendAsync(SignedWebhooks.Stripe(json, App.Clock.GetUtcNow()));
        var again = await App.Client.SendAsync(SignedWebhooks.Stripe(json, App.Clock.GetUtcNow()));

        await Json.ProblemAsync(response, 400, "invalid_request");
        await Json.ProblemAsync(again, 400, "invalid_request");
        var stored = await App.Services.GetRequiredService<IWebhookInbox>().ListAsync(null, 10, CancellationToken.None);
        Assert.Equal(WebhookStatus.Rejected, Assert.Single(stored).Status);
        Assert.Equal(0, await App.CountRowsAsync("ledger_entries"));
    }

    [Fact]
    public async Task Bug9_6_ASignedWebhookWithInvalidUtf8_Is400_AndStoredAsRejected()
    {
        var e = SignedWebhooks.Sample("creem", "subscription.paid");
        e["object"]!["customer"]!["name"] = "TESTER";
        var body = Encoding.UTF8.GetBytes(e.ToJsonString());
        var at = body.AsSpan().IndexOf("TESTER"u8);
        body[at] = 0xC3; // a lead byte followed by 'E': not UTF-8
        body[at + 2] = 0xFF;

        var response = await App.Client.SendAsync(SignedCreem(body));

        await Json.ProblemAsync(response, 400, "invalid_request");
        var stored = Assert.Single(await App.Services.GetRequiredService<IWebhookInbox>().ListAsync(null, 10, CancellationToken.None));
        Assert.Equal((WebhookStatus.Rejected, "rejected"), (stored.Status, stored.EventType));
        Assert.Contains("\uFFFD", stored.Payload, StringComparison.Ordinal);
        Assert.Equal(0, await App.CountRowsAsync("subscriptions"));
    }
}

public sealed class SqliteBadInputTests : BadInputTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresBadInputTests : BadInputTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}

/// <summary>Issue 9, item 6: usage (and every other write) while PostgreSQL cannot be reached is 503 <c>unavailable</c>,
/// like check's reason, and works again once it is back. The database is taken away by a proxy in front of it.</summary>
public sealed class DatabaseOutageTests : IAsyncLifetime
{
    private TestDatabase _database = null!;
    private TcpProxy _proxy = null!;
    private TollgateApp _app = null!;

    public async ValueTask InitializeAsync()
    {
        var clock = new ManualTimeProvider(new DateTimeOffset(2026, 1, 15, 9, 0, 0, TimeSpan.Zero));
        _database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres, clock, migrate: false);
        var target = new Npgsql.NpgsqlConnectionStringBuilder(_database.Options.ConnectionString);
        _proxy = TcpProxy.Start(target.Host!, target.Port);
        _app = await TollgateApp.StartAsync(DatabaseProvider.Postgres, clock, database: _database, settings: new Dictionary<string, string?>
        {
            ["Tollgate:Database:ConnectionString"] = _proxy.Route(_database.Options.ConnectionString) + ";Timeout=3;Command Timeout=5",
        });
    }

    public async ValueTask DisposeAsync()
    {
        _proxy.Restore();
        await _app.DisposeAsync();
        await _proxy.DisposeAsync();
    }

    [Fact]
    public async Task Bug9_6_UsageWhileTheDatabaseIsDown_Is503Unavailable_AndNothingIsHalfApplied()
    {
        var c = TollgateApp.NewCustomer();
        await _app.GrantAsync(c, "credits", 10);
        var key = _app.Key();
        var body = new { customer_id = c, feature = "credits", amount = 4 };

        _proxy.Cut();
        var down = await _app.PostAsync("/v1/usage", body, key);
        var check = await _app.CheckAsync(c, "credits");
        _proxy.Restore();
        var retried = await _app.PostAsync("/v1/usage", body, key);

        await Json.ProblemAsync(down, 503, "unavailable");
        Assert.Equal((false, "unavailable"), ((bool)check["allowed"]!, (string?)check["reason"]));
        Assert.Equal(6, (long)(await Json.ReadAsync(retried, 200))["remaining"]!);
        Assert.Equal(6, (long)(await _app.BalanceAsync(c, "credits"))["available"]!);
    }
}
