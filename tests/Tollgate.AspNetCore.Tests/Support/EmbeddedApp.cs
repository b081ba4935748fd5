using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Claims;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Tollgate.Storage;
using Tollgate.Testing;

namespace Tollgate.AspNetCore.Tests.Support;

/// <summary>
/// An app of its own (a test server) with Tollgate embedded by <c>AddTollgate()</c> and <c>MapTollgate()</c> on a real
/// database, a few gated endpoints of its own, and callers named by a claim: the test header <c>X-Test-User</c> becomes
/// the <c>NameIdentifier</c> claim (and <c>X-Test-Org</c> an <c>org</c> claim), as sign-in would.
/// </summary>
public sealed class EmbeddedApp : IAsyncDisposable
{
    public const string ApiKey = "tg_embedded_0123456789abcdef";

    private readonly TestDatabase _database;

    private EmbeddedApp(WebApplication app, TestDatabase database, Uri? address)
    {
        App = app;
        _database = database;
        Address = address;
        Client = address is null ? app.GetTestClient() : new HttpClient { BaseAddress = address };
    }

    /// <summary>Where the app listens, when it runs on Kestrel (a real port) rather than a test server.</summary>
    public Uri? Address { get; }

    public WebApplication App { get; }

    public HttpClient Client { get; }

    /// <summary>The engine's in-process <see cref="ITollgate"/>.</summary>
    public ITollgate Tollgate => App.Services.GetRequiredService<ITollgate>();

    /// <param name="kestrel">On a real loopback port (for Tollgate.Client, whose request URIs the test server cannot take).</param>
    /// <param name="catalogYaml">A catalog of the test's own instead of the demo catalog.</param>
    /// <param name="route">Rewrites the connection string the engine uses (through a proxy the test can cut).</param>
    public static async Task<EmbeddedApp> StartAsync(DatabaseProvider provider, Action<IServiceCollection>? services = null, bool kestrel = false,
        string? catalogYaml = null, Func<string, string>? route = null)
    {
        var clock = new ManualTimeProvider(new DateTimeOffset(2026, 1, 15, 9, 0, 0, TimeSpan.Zero));
        var database = await TestDatabase.CreateAsync(provider, clock, migrate: false);
        var builder = WebApplication.CreateBuilder();
        if (kestrel)
        {
            builder.WebHost.UseUrls("http://127.0.0.1:0");
        }
        else
        {
            builder.WebHost.UseTestServer();
        }

        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Tollgate:Database:Provider"] = provider == DatabaseProvider.Postgres ? "postgres" : "sqlite",
            ["Tollgate:Database:ConnectionString"] = route is null ? database.Options.ConnectionString : route(database.Options.ConnectionString),
            ["Tollgate:ApiKeys:0"] = ApiKey,
            ["Logging:LogLevel:Default"] = "Warning",
        });
        if (catalogYaml is not null)
        {
            var file = Path.Combine(Path.GetTempPath(), $"tollgate-catalog-{Guid.NewGuid():N}.yaml");
            await File.WriteAllTextAsync(file, catalogYaml);
            builder.Configuration["Tollgate:Catalog"] = file;
        }

        builder.Services.AddSingleton<TimeProvider>(clock);
        builder.Services.AddTollgate(builder.Configuration.GetSection("Tollgate"));
        builder.Services.AddControllers().AddApplicationPart(typeof(EmbeddedApp).Assembly);
        services?.Invoke(builder.Services);
        var app = builder.Build();

        // An app's own error handling: a handler that throws answers 500.
        app.UseExceptionHandler(failed => failed.Run(context =>
        {
            context.Response.StatusCode = StatusCodes.Status500InternalServerError;
            return Task.CompletedTask;
        }));
        app.Use((context, next) =>
        {
            var claims = new List<Claim>();
            if (context.Request.Headers["X-Test-User"].ToString() is { Length: > 0 } user)
            {
                claims.Add(new Claim(ClaimTypes.NameIdentifier, user));
            }

            if (context.Request.Headers["X-Test-Org"].ToString() is { Length: > 0 } org)
            {
                claims.Add(new Claim("org", org));
            }

            context.User = new ClaimsPrincipal(new ClaimsIdentity(claims, claims.Count > 0 ? "test" : null));
            return next(context);
        });
        app.MapGet("/export", () => Results.Ok(new { export = "hd" })).RequireFeature("hd_export");
        app.MapPost("/ai/messages", () => Results.Ok(new { reply = "hi" })).ChargeUsage("ai_messages", amount: 1);
        app.MapPost("/ai/throws", IResult () => throw new InvalidOperationException("the model crashed")).ChargeUsage("ai_messages", amount: 1);
        app.MapPost("/ai/bad", () => Results.BadRequest()).ChargeUsage("ai_messages", amount: 1);
        app.MapPost("/ai/credits", () => Results.Ok()).ChargeUsage("credits", amount: 10);
        app.MapPost("/ai/two", () => Results.Ok()).ChargeUsage("ai_messages", amount: 1).ChargeUsage("credits", amount: 10);
        app.MapPost("/ai/stream", async (HttpContext http) =>
        {
            // A streamed reply: the first words go out, then the model keeps generating until the caller hangs up.
            await http.Response.WriteAsync("first words\n");
            await http.Response.Body.FlushAsync();
            await Task.Delay(Timeout.Infinite, http.RequestAborted);
        }).ChargeUsage("ai_messages", amount: 1);
        app.MapPost("/ai/stream-fails", async (HttpContext http) =>
        {
            // A streamed reply whose model fails part-way, the caller still listening.
            await http.Response.WriteAsync("first words\n");
            await http.Response.Body.FlushAsync();
            throw new InvalidOperationException("the model crashed mid-stream");
        }).ChargeUsage("ai_messages", amount: 1);
        app.MapControllers();
        app.MapTollgate(o => o.Pages = false);
        await app.StartAsync();
        if (kestrel)
        {
            var address = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
                .Features.GetRequiredFeature<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>().Addresses.First();
            return new EmbeddedApp(app, database, new Uri(address + "/"));
        }

        // The Sandbox posts its webhooks to the app itself; in a test server that goes through the in-memory handler.
        app.Services.GetRequiredService<Tollgate.Server.Hosting.PublicUrls>().SelfHandler = app.GetTestServer().CreateHandler();
        return new EmbeddedApp(app, database, null);
    }

    public static string NewCustomer() => "cus_" + Guid.NewGuid().ToString("N")[..12];

    /// <summary>A request as the signed-in <paramref name="user"/>.</summary>
    public Task<HttpResponseMessage> SendAsUserAsync(HttpMethod method, string path, string? user, string? org = null)
    {
        var request = new HttpRequestMessage(method, path);
        if (user is not null)
        {
            request.Headers.Add("X-Test-User", user);
        }

        if (org is not null)
        {
            request.Headers.Add("X-Test-Org", org);
        }

        return Client.SendAsync(request);
    }

    /// <summary>A client of the app's /v1 with its secret key.</summary>
    public HttpClient ApiClient()
    {
        var client = Address is null ? App.GetTestClient() : new HttpClient { BaseAddress = Address };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ApiKey);
        return client;
    }

    /// <summary>Buys <paramref name="product"/> for <paramref name="customer"/> in the Sandbox, through /v1 and the test-card page.</summary>
    public async Task BuyInSandboxAsync(string customer, string product)
    {
        using var api = ApiClient();
        using var created = await api.PostAsJsonAsync("/v1/checkouts", new Dictionary<string, string> { ["customer_id"] = customer, ["product"] = product });
        var checkout = JsonNode.Parse(await created.Content.ReadAsStringAsync())!;
        Assert.True(created.IsSuccessStatusCode, checkout.ToJsonString());
        var url = new Uri((string)checkout["url"]!);
        using var pay = await Client.PostAsync(url.PathAndQuery, new FormUrlEncodedContent([KeyValuePair.Create("card", "4242 4242 4242 4242")]));
        Assert.Equal(302, (int)pay.StatusCode);
        var capabilities = (await Tollgate.GetCapabilitiesAsync(customer)).EnsureSuccess();
        Assert.True(capabilities.Has("plan:" + product), string.Join(", ", capabilities.Items));
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        await _database.DisposeAsync();
    }
}

/// <summary>An MVC controller gated by attributes.</summary>
[ApiController]
[Route("mvc")]
public sealed class GatedController : ControllerBase
{
    [HttpGet("export")]
    [RequireFeature("hd_export")]
    public IActionResult Export() => Ok(new { export = "hd" });

    [HttpPost("messages")]
    [ChargeUsage("ai_messages")]
    public IActionResult Message() => Ok(new { reply = "hi" });
}
