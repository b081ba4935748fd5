using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Tollgate.AspNetCore.Tests;

/// <summary><c>samples/Tollgate.Sample.Web</c> end to end (API.md §6.1), on a SQLite file of its own: the caller named by
/// <c>X-User-Id</c>, <c>GET /export</c> gated by <c>hd_export</c>, <c>POST /ai/messages</c> charging one
/// <c>ai_messages</c> only when it succeeds, and <c>/v1</c> with the key from <c>Tollgate__ApiKeys__0</c>.</summary>
public sealed class SampleTests : IAsyncLifetime
{
    private const string ApiKey = "tg_sample_0123456789abcdef";
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "tollgate-tests", "sample-" + Guid.NewGuid().ToString("N"));
    private WebApplicationFactory<Program> _factory = null!;

    public ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(_folder);
        _factory = new WebApplicationFactory<Program>().WithWebHostBuilder(builder => builder
            .UseSetting("Tollgate:Database:ConnectionString", $"Data Source={Path.Combine(_folder, "tollgate.db")}")
            .UseSetting("Tollgate:ApiKeys:0", ApiKey)
            .UseSetting("Logging:LogLevel:Default", "Warning"));
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _factory.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }

    private HttpRequestMessage As(HttpMethod method, string path, string user, object? body = null)
    {
        var request = new HttpRequestMessage(method, path);
        request.Headers.Add("X-User-Id", user);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        return request;
    }

    [Fact]
    public async Task TheSample_GatesItsRoutes_ChargesOnlySuccessfulMessages_AndServesV1()
    {
        using var client = _factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        var user = "user_" + Guid.NewGuid().ToString("N")[..8];

        using var export = await client.SendAsync(As(HttpMethod.Get, "/export", user));
        using var message = await client.SendAsync(As(HttpMethod.Post, "/ai/messages", user, new { text = "hello" }));
        using var failed = await client.SendAsync(As(HttpMethod.Post, "/ai/messages", user, new { text = "hello", fail = true }));
        using var anonymous = await client.PostAsJsonAsync("/ai/messages", new { text = "hello" });
        using var v1 = new HttpRequestMessage(HttpMethod.Get, $"/v1/customers/{user}/balances");
        v1.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ApiKey);
        using var balances = await client.SendAsync(v1);
        using var unauthorized = await client.GetAsync($"/v1/customers/{user}/balances");

        Assert.Equal(HttpStatusCode.Forbidden, export.StatusCode);
        Assert.Equal("not_entitled", (string?)JsonNode.Parse(await export.Content.ReadAsStringAsync())!["code"]);
        Assert.Equal(HttpStatusCode.OK, message.StatusCode);
        Assert.Equal("echo: hello", (string?)JsonNode.Parse(await message.Content.ReadAsStringAsync())!["reply"]);
        Assert.Equal(HttpStatusCode.InternalServerError, failed.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal(HttpStatusCode.OK, balances.StatusCode);
        var ai = JsonNode.Parse(await balances.Content.ReadAsStringAsync())!["balances"]!.AsArray().Single(b => (string?)b!["feature"] == "ai_messages")!;
        // One successful message charged; the failed one held and released.
        Assert.Equal((49L, 0L, 1L), ((long)ai["available"]!, (long)ai["held"]!, (long)ai["used"]!));
        Assert.Equal(HttpStatusCode.Unauthorized, unauthorized.StatusCode);
    }
}
