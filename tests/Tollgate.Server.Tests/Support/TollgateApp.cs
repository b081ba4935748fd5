using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Tollgate.Server.Hosting;
using Tollgate.Storage;
using Tollgate.Testing;

namespace Tollgate.Server.Tests.Support;

/// <summary>A whole Tollgate server in process (test server, real database, manual clock) and a client for it.</summary>
public sealed class TollgateApp : IAsyncDisposable
{
    public const string ApiKey = "tg_test_0123456789abcdef";

    private readonly TestDatabase _database;
    private int _keys;

    private TollgateApp(WebApplication app, TestDatabase database, ManualTimeProvider clock)
    {
        App = app;
        _database = database;
        Clock = clock;
        Client = app.GetTestClient();
        Client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ApiKey);
    }

    public WebApplication App { get; }

    public HttpClient Client { get; }

    public ManualTimeProvider Clock { get; }

    public IServiceProvider Services => App.Services;

    public TestDatabase Database => _database;

    public static async Task<TollgateApp> StartAsync(DatabaseProvider provider, ManualTimeProvider? clock = null,
        Action<IServiceCollection>? services = null, IDictionary<string, string?>? settings = null, TestDatabase? database = null,
        bool onePooledConnection = false)
    {
        clock ??= new ManualTimeProvider(new DateTimeOffset(2026, 1, 15, 9, 0, 0, TimeSpan.Zero));
        database ??= await TestDatabase.CreateAsync(provider, clock, migrate: false, onePooledConnection);
        var config = new Dictionary<string, string?>
        {
            ["Tollgate:Database:Provider"] = provider == DatabaseProvider.Postgres ? "postgres" : "sqlite",
            ["Tollgate:Database:ConnectionString"] = database.Options.ConnectionString,
            ["Tollgate:ApiKeys:0"] = ApiKey,
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            config[key] = value;
        }

        var app = await TollgateHost.CreateAsync([], builder =>
        {
            builder.WebHost.UseTestServer();
            builder.Configuration.AddInMemoryCollection(config);
            builder.Services.AddSingleton<TimeProvider>(clock);
            services?.Invoke(builder.Services);
        });
        await app.StartAsync();
        // The Sandbox posts its webhooks to the server itself; in a test server that goes through the in-memory handler.
        app.Services.GetRequiredService<Tollgate.Server.Hosting.PublicUrls>().SelfHandler = app.GetTestServer().CreateHandler();
        return new TollgateApp(app, database, clock);
    }

    public string Key() => $"key-{Interlocked.Increment(ref _keys)}-{Guid.NewGuid():N}";

    public static string NewCustomer() => "cus_" + Guid.NewGuid().ToString("N")[..12];

    public Task<HttpResponseMessage> PostAsync(string path, object? body, string? idempotencyKey = null) =>
        SendAsync(HttpMethod.Post, path, body is null ? null : JsonSerializer.Serialize(body), idempotencyKey);

    public async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? json, string? idempotencyKey = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }

        return await Client.SendAsync(request);
    }

    /// <summary>POST /v1/usage with a fresh key.</summary>
    public Task<HttpResponseMessage> UseAsync(string customer, string feature, long amount) =>
        PostAsync("/v1/usage", new { customer_id = customer, feature, amount }, Key());

    public async Task<JsonObject> GrantAsync(string customer, string feature, long amount, DateTimeOffset? expiresAt = null)
    {
        var response = await PostAsync($"/v1/customers/{customer}/grants",
            new { feature, amount, reason = "test", expires_at = expiresAt }, Key());
        return await Json.ReadAsync(response, 201);
    }

    public async Task<JsonObject> CheckAsync(string customer, string feature, long amount = 1) =>
        await Json.ReadAsync(await PostAsync("/v1/check", new { customer_id = customer, feature, amount }), 200);

    public async Task<JsonObject> BalanceAsync(string customer, string feature)
    {
        var balances = await Json.ReadAsync(await Client.GetAsync($"/v1/customers/{customer}/balances"), 200);
        return balances["balances"]!.AsArray().Single(b => (string)b!["feature"]! == feature)!.AsObject();
    }

    /// <summary>Starts a checkout and pays it on the Sandbox's page with <paramref name="card"/>; returns the checkout id
    /// and the page's status code (302 to the success URL when paid).</summary>
    public async Task<(string CheckoutId, int PayStatus)> BuyInSandboxAsync(string customer, string product, string card = "4242 4242 4242 4242")
    {
        var checkout = await Json.ReadAsync(await PostAsync("/v1/checkouts", new { customer_id = customer, product }), 201);
        var url = new Uri((string)checkout["url"]!);
        using var pay = await Client.PostAsync(url.PathAndQuery, new FormUrlEncodedContent([KeyValuePair.Create("card", card)]));
        return ((string)checkout["id"]!, (int)pay.StatusCode);
    }

    /// <summary>Rows in a table of the server's database (to prove that nothing was stored); the name may carry a
    /// <c>WHERE</c> clause after it (<c>"trials WHERE customer_id = …"</c>).</summary>
    public async Task<long> CountRowsAsync(string table)
    {
        await using var connection = Database.Options.Provider == DatabaseProvider.Postgres
            ? (System.Data.Common.DbConnection)new Npgsql.NpgsqlConnection(Database.Options.ConnectionString)
            : new Microsoft.Data.Sqlite.SqliteConnection(Database.Options.ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT count(*) FROM {table}";
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
        await _database.DisposeAsync();
    }
}

public static class Json
{
    /// <summary>Asserts the status and returns the body as a JSON object.</summary>
    public static async Task<JsonObject> ReadAsync(HttpResponseMessage response, int expectedStatus)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == expectedStatus, $"expected {expectedStatus}, got {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!.AsObject();
    }

    /// <summary>Asserts a problem+json answer with the given status and code.</summary>
    public static async Task<JsonObject> ProblemAsync(HttpResponseMessage response, int status, string code)
    {
        var body = await ReadAsync(response, status);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(code, (string?)body["code"]);
        Assert.Equal(status, (int)body["status"]!);
        Assert.False(string.IsNullOrEmpty((string?)body["title"]));
        return body;
    }
}

public static class TestClients
{
    /// <summary>A client of the test server that sends no secret key.</summary>
    public static HttpClient GetTestClientWithoutKey(this WebApplication app) => app.GetTestClient();
}
