using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Tollgate.Server.Tests.Support;
using Tollgate.Storage;
using Tollgate.Testing.Fakes;

namespace Tollgate.Server.Tests.Api;

/// <summary>Issue 9, item 3: with a real provider configured, the Sandbox (test cards) and the landing page's demo path
/// are off unless an operator turns them on, and start-up says which providers are live.</summary>
public abstract class SandboxExposureTests : IAsyncLifetime
{
    private readonly LogCapture _logs = new();
    private FakeServer _creem = null!;

    protected abstract DatabaseProvider Provider { get; }

    private TollgateApp App { get; set; } = null!;

    public async ValueTask InitializeAsync()
    {
        _creem = await FakeCreem.StartAsync();
        App = await TollgateApp.StartAsync(Provider, services: s => s.AddSingleton<ILoggerProvider>(_logs), settings: new Dictionary<string, string?>
        {
            ["Logging:LogLevel:Default"] = "Information",
            ["Tollgate:AdminKey"] = "admin-key-0123456789abcdef",
            ["Tollgate:Providers:Creem:ApiKey"] = FakeCreem.ApiKey,
            ["Tollgate:Providers:Creem:WebhookSecret"] = SignedWebhooks.CreemSecret,
            ["Tollgate:Providers:Creem:BaseUrl"] = _creem.BaseUrl.ToString(),
        });
    }

    public async ValueTask DisposeAsync()
    {
        await App.DisposeAsync();
        await _creem.DisposeAsync();
        GC.SuppressFinalize(this);
    }

    [Fact]
    public async Task Bug9_3_WithCreemConfiguredAndNoDefault_NobodyCanPayWithATestCard()
    {
        var c = TollgateApp.NewCustomer();

        var sandboxCheckout = await App.PostAsync("/v1/checkouts", new { customer_id = c, product = "starter_pack", provider = "sandbox" });
        var home = await App.Client.GetStringAsync("/");
        var demo = await PostFormAsync("/?handler=Demo");
        var sandboxPage = await App.Client.PostAsync("/sandbox/checkout/sbx_anything",
            new FormUrlEncodedContent([KeyValuePair.Create("card", "4242 4242 4242 4242")]));
        var sandboxWebhook = await App.Client.SendAsync(SignedWebhooks.Post("/webhooks/sandbox", "{}"));

        await Json.ProblemAsync(sandboxCheckout, 400, "invalid_request");
        Assert.DoesNotContain("handler=Demo", home, StringComparison.Ordinal);
        Assert.Equal(404, (int)demo.StatusCode);
        Assert.Equal(404, (int)sandboxPage.StatusCode);
        await Json.ProblemAsync(sandboxWebhook, 404, "unknown_provider");
        Assert.Equal(0, await App.CountRowsAsync("checkouts"));
        Assert.Equal(0, await App.CountRowsAsync("customers"));
        Assert.Contains(_logs.Lines, l => l == "Payment providers live: creem (default creem); Sandbox test cards off");
    }

    /// <summary>Posts a page form with a valid anti-forgery token (taken from the admin login page's form), so the
    /// answer is the handler's own, not the token check's.</summary>
    private async Task<HttpResponseMessage> PostFormAsync(string path)
    {
        using var login = await App.Client.GetAsync("/admin/login");
        var html = await login.Content.ReadAsStringAsync();
        var token = System.Text.RegularExpressions.Regex.Match(html, "name=\"__csrf\" type=\"hidden\" value=\"([^\"]+)\"").Groups[1].Value;
        var cookie = login.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("tollgate_csrf=", StringComparison.Ordinal)).Split(';')[0];
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new FormUrlEncodedContent([KeyValuePair.Create("__csrf", token)]) };
        request.Headers.Add("Cookie", cookie);
        Assert.NotEmpty(token);
        return await App.Client.SendAsync(request);
    }

    private sealed class LogCapture : ILoggerProvider
    {
        public ConcurrentQueue<string> Lines { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(Lines);

        public void Dispose()
        {
        }

        private sealed class Logger(ConcurrentQueue<string> lines) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                lines.Enqueue(formatter(state, exception));
        }
    }
}

public sealed class SqliteSandboxExposureTests : SandboxExposureTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresSandboxExposureTests : SandboxExposureTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
