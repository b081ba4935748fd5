using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Tollgate.Core.Common;
using Tollgate.Providers.Sandbox;
using Tollgate.Server.Hosting;

[assembly: AssemblyFixture(typeof(Tollgate.Browser.Tests.Support.BrowserServer))]
// One server, one browser, one test at a time: the machine has two cores, and the flows read best in order.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Tollgate.Browser.Tests.Support;

/// <summary>
/// The real server on Kestrel at <c>http://127.0.0.1:&lt;free port&gt;</c> (a temporary SQLite database, the Sandbox,
/// the demo catalog, an admin key), so that Chromium can reach it and the Sandbox can deliver its webhooks to it, and
/// one headless Chromium for all the tests, each test in contexts of its own.
/// </summary>
public sealed class BrowserServer : IAsyncLifetime
{
    public const string ApiKey = "tg_browser_test_0123456789";
    public const string AdminKey = "admin_browser_test_0123456789";

    private readonly string _folder = Path.Combine(Path.GetTempPath(), "tollgate-browser-tests", Guid.NewGuid().ToString("N"));
    private WebApplication? _app;
    private IPlaywright? _playwright;
    private IBrowser? _browser;

    public Uri BaseUrl { get; private set; } = null!;

    public HttpClient Api { get; private set; } = null!;

    public IServiceProvider Services => _app!.Services;

    public IBrowser Browser => _browser ?? throw new InvalidOperationException("Chromium is not running (call Chromium.Require() first).");

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(_folder);
        var port = FreePort();
        BaseUrl = new Uri($"http://127.0.0.1:{port}/");
        _app = await TollgateHost.CreateAsync(["--urls", BaseUrl.ToString().TrimEnd('/')], builder =>
        {
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Tollgate:Database:Provider"] = "sqlite",
                ["Tollgate:Database:ConnectionString"] = $"Data Source={Path.Combine(_folder, "tollgate.db")}",
                ["Tollgate:ApiKeys:0"] = ApiKey,
                ["Tollgate:AdminKey"] = AdminKey,
                ["Logging:LogLevel:Default"] = "Warning",
                ["Logging:LogLevel:Microsoft.AspNetCore.DataProtection"] = "Error",
            });
        });
        await _app.StartAsync();
        Api = new HttpClient { BaseAddress = BaseUrl };
        Api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ApiKey);

        if (Chromium.IsInstalled)
        {
            _playwright = await Playwright.CreateAsync();
            _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = Chromium.ExecutablePath,
                Args = Chromium.Args,
                Headless = true,
            });
        }
    }

    /// <summary>A fresh browser context (its own cookies), speaking <paramref name="locale"/> in Accept-Language.</summary>
    public async Task<IPage> NewPageAsync(string locale = "en-US", int width = 1280, int height = 800)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = BaseUrl.ToString().TrimEnd('/'),
            Locale = locale,
            ViewportSize = new ViewportSize { Width = width, Height = height },
            TimezoneId = "UTC",
        });
        // 30 s, not 15: on a 2-core CI machine a page that waits for the server while a build or another suite runs
        // beside it has taken longer than 15 s (PhoneLayoutTests, stop 24); a real hang still fails.
        context.SetDefaultTimeout(30_000);
        return await context.NewPageAsync();
    }

    public async Task<JsonObject> ApiJsonAsync(HttpMethod method, string path, object? body = null, int expected = 200)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new StringContent(System.Text.Json.JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");
        }

        if (method == HttpMethod.Post && (path == "/v1/usage" || path.EndsWith("/grants", StringComparison.Ordinal)))
        {
            request.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString("N"));
        }

        using var response = await Api.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == expected, $"{method} {path}: expected {expected}, got {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!.AsObject();
    }

    /// <summary>A customer made through the API, as an app would, and a portal link for them.</summary>
    public async Task<(string Id, string PortalUrl)> NewCustomerAsync(string name)
    {
        var id = "cus_" + Guid.NewGuid().ToString("N")[..10];
        await ApiJsonAsync(HttpMethod.Put, $"/v1/customers/{id}", new { name });
        var portal = await ApiJsonAsync(HttpMethod.Post, $"/v1/customers/{id}/portal");
        return (id, (string)portal["url"]!);
    }

    /// <summary>Pays a Sandbox checkout as its page's form would (for set-up done outside the browser).</summary>
    public async Task<HttpStatusCode> PaySandboxAsync(string checkoutUrl, string card = SandboxBilling.SuccessCard)
    {
        using var client = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = BaseUrl };
        using var response = await client.PostAsync(new Uri(checkoutUrl).PathAndQuery, new FormUrlEncodedContent([new("card", card)]));
        return response.StatusCode;
    }

    /// <summary>Sends a Sandbox event signed with the server's own Sandbox secret, as the Sandbox itself would.</summary>
    public async Task<HttpStatusCode> SendSandboxEventAsync(string type, JsonObject data)
    {
        var time = Services.GetRequiredService<TimeProvider>();
        var body = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["id"] = "sbx_evt_" + Guid.NewGuid().ToString("N"),
            ["type"] = type,
            ["created_at"] = Instants.Normalize(time.GetUtcNow()),
            ["data"] = data,
        }.ToJsonString());
        var secret = await Services.GetRequiredService<SandboxSecret>().GetAsync();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/webhooks/sandbox") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Add(SandboxSignature.Header, SandboxSignature.Sign(secret, body, time.GetUtcNow()));
        using var client = new HttpClient { BaseAddress = BaseUrl };
        using var response = await client.SendAsync(request);
        return response.StatusCode;
    }

    /// <summary>Every secret this server holds, none of which may ever reach a browser.</summary>
    public async Task<IReadOnlyList<string>> SecretsAsync()
    {
        var settings = Services.GetRequiredService<Tollgate.Core.Idempotency.ISettingsStore>();
        var secrets = new List<string> { ApiKey, AdminKey, await Services.GetRequiredService<SandboxSecret>().GetAsync() };
        if (await settings.GetAsync("portal_token_secret", CancellationToken.None) is { } portal)
        {
            secrets.Add(portal);
        }

        return secrets;
    }

    public async ValueTask DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.CloseAsync();
        }

        _playwright?.Dispose();
        Api?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
            // A file the OS still holds: the temp folder is cleaned up some other day.
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
