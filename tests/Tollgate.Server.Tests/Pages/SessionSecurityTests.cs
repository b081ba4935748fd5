using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.TestHost;
using Tollgate.Server.Tests.Support;
using Tollgate.Storage;

namespace Tollgate.Server.Tests.Pages;

/// <summary>Issue 9, item 7: portal tokens never reach the log, cookies are Secure behind a TLS proxy when forwarded
/// headers are turned on, the admin sign-in is rate-limited per address, and a portal sign-out ends the link.</summary>
public abstract partial class SessionSecurityTests
{
    private const string AdminKey = "admin_test_0123456789abcdef";

    protected abstract DatabaseProvider Provider { get; }

    /// <summary>A browser-like client of the test server: no automatic redirects, cookies kept by hand.</summary>
    private sealed partial class Browser(TollgateApp app, string? forwardedFor = null)
    {
        private readonly HttpClient _client = new(app.App.GetTestServer().CreateHandler()) { BaseAddress = new Uri("http://localhost") };
        private readonly Dictionary<string, string> _cookies = new(StringComparer.Ordinal);

        public IReadOnlyList<string> LastSetCookies { get; private set; } = [];

        public async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, IEnumerable<KeyValuePair<string, string>>? form = null,
            Action<HttpRequestMessage>? configure = null)
        {
            using var request = new HttpRequestMessage(method, path);
            if (form is not null)
            {
                request.Content = new FormUrlEncodedContent(form);
            }

            if (_cookies.Count > 0)
            {
                request.Headers.Add("Cookie", string.Join("; ", _cookies.Select(c => $"{c.Key}={c.Value}")));
            }

            if (forwardedFor is not null)
            {
                request.Headers.Add("X-Forwarded-For", forwardedFor);
            }

            configure?.Invoke(request);
            var response = await _client.SendAsync(request);
            LastSetCookies = response.Headers.TryGetValues("Set-Cookie", out var set) ? set.ToList() : [];
            foreach (var cookie in LastSetCookies)
            {
                var pair = cookie.Split(';')[0].Split('=', 2);
                if (cookie.Contains("expires=Thu, 01 Jan 1970", StringComparison.OrdinalIgnoreCase))
                {
                    _cookies.Remove(pair[0]);
                }
                else
                {
                    _cookies[pair[0]] = pair[1];
                }
            }

            return response;
        }

        /// <summary>Posts a page's form with the anti-forgery token the page rendered.</summary>
        public async Task<HttpResponseMessage> PostFormAsync(string page, string action, params KeyValuePair<string, string>[] fields)
        {
            using var get = await SendAsync(HttpMethod.Get, page);
            var token = CsrfField().Match(await get.Content.ReadAsStringAsync()).Groups[1].Value;
            Assert.False(string.IsNullOrEmpty(token), $"no anti-forgery field on {page}");
            return await SendAsync(HttpMethod.Post, action, [.. fields, KeyValuePair.Create("__csrf", token)]);
        }

        [GeneratedRegex("name=\"__csrf\" type=\"hidden\" value=\"([^\"]+)\"")]
        private static partial Regex CsrfField();
    }

    [Fact]
    public async Task Admin_EventsPage_ShowsEndpointsDeliveriesAndFailures_AndRedeliverSendsAgain()
    {
        await using var receiver = await Tollgate.Testing.Fakes.EventReceiver.StartAsync();
        receiver.AnswerNext(500);
        await using var app = await TollgateApp.StartAsync(Provider, new Tollgate.Testing.ManualTimeProvider(TimeProvider.System.GetUtcNow()),
            settings: new Dictionary<string, string?> { ["Tollgate:AdminKey"] = AdminKey, ["Tollgate:Webhooks:AllowPrivateAddresses"] = "true" });
        var endpoint = await Json.ReadAsync(await app.PostAsync("/v1/webhook-endpoints", new { url = receiver.Url.ToString() }), 201);
        receiver.Trust((string)endpoint["secret"]!);
        await app.GrantAsync(TollgateApp.NewCustomer(), "credits", 7);
        var first = (await receiver.WaitForAsync(r => r.Count == 1))[0];
        for (var i = 0; i < 100 && (await Json.ReadAsync(await app.Client.GetAsync($"/v1/webhook-endpoints/{endpoint["id"]}/deliveries"), 200))["deliveries"]!
            .AsArray().Count == 0; i++)
        {
            await Task.Delay(100);
        }

        var browser = new Browser(app);
        using var signIn = await browser.PostFormAsync("/admin/login", "/admin/login", KeyValuePair.Create("key", AdminKey));
        Assert.Equal(HttpStatusCode.Redirect, signIn.StatusCode);
        using var list = await browser.SendAsync(HttpMethod.Get, "/admin/events");
        var html = await list.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        Assert.Contains(receiver.Url.ToString(), html, StringComparison.Ordinal);
        Assert.Contains("credits.granted", html, StringComparison.Ordinal);
        Assert.Contains("HTTP 500", html, StringComparison.Ordinal);
        Assert.Contains($"/admin/events/{first.WebhookId}", html, StringComparison.Ordinal);

        using var page = await browser.SendAsync(HttpMethod.Get, $"/admin/events/{first.WebhookId}");
        var eventHtml = await page.Content.ReadAsStringAsync();
        Assert.Contains("lot_id", eventHtml, StringComparison.Ordinal);
        using var redeliver = await browser.PostFormAsync($"/admin/events/{first.WebhookId}", $"/admin/events/{first.WebhookId}?handler=Redeliver");
        Assert.Equal(HttpStatusCode.Redirect, redeliver.StatusCode);
        Assert.Equal($"/admin/events/{first.WebhookId}?done=redelivered", redeliver.Headers.Location?.OriginalString);
        var again = await receiver.WaitForAsync(r => r.Count(e => e.WebhookId == first.WebhookId && e.Answered == 200) >= 1);
        Assert.Contains(again, e => e.WebhookId == first.WebhookId && e.Answered == 200 && e.Verified);
    }

    private static async Task<string> PortalLinkAsync(TollgateApp app, string customer)
    {
        await Json.ReadAsync(await app.SendAsync(HttpMethod.Put, $"/v1/customers/{customer}", "{}"), 200);
        var portal = await Json.ReadAsync(await app.PostAsync($"/v1/customers/{customer}/portal", null), 200);
        return new Uri((string)portal["url"]!).PathAndQuery;
    }

    [Fact]
    public async Task Bug9_7_APortalSignOut_EndsTheLinkAndTheCookie_ServerSide()
    {
        await using var app = await TollgateApp.StartAsync(Provider);
        var link = await PortalLinkAsync(app, TollgateApp.NewCustomer());
        var browser = new Browser(app);
        var stolenCookieBrowser = new Browser(app);

        Assert.Equal(HttpStatusCode.Redirect, (await browser.SendAsync(HttpMethod.Get, link)).StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, (await stolenCookieBrowser.SendAsync(HttpMethod.Get, link)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await browser.SendAsync(HttpMethod.Get, "/portal")).StatusCode);
        var signOut = await browser.PostFormAsync("/portal", "/portal?handler=SignOut");

        Assert.Equal(HttpStatusCode.Redirect, signOut.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await new Browser(app).SendAsync(HttpMethod.Get, link)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await stolenCookieBrowser.SendAsync(HttpMethod.Get, "/portal")).StatusCode);
        var fresh = await PortalLinkAsync(app, TollgateApp.NewCustomer());
        Assert.Equal(HttpStatusCode.Redirect, (await new Browser(app).SendAsync(HttpMethod.Get, fresh)).StatusCode);
    }

    [Fact]
    public async Task Bug9_7_BehindATlsProxy_WithForwardedHeadersOn_CookiesAreSecure_AndHstsIsSent()
    {
        await using var proxied = await TollgateApp.StartAsync(Provider, settings: new Dictionary<string, string?> { ["Tollgate:ForwardedHeaders"] = "true" });
        await using var direct = await TollgateApp.StartAsync(Provider);
        static void ThroughTls(HttpRequestMessage request)
        {
            request.Headers.Host = "billing.example.com";
            request.Headers.Add("X-Forwarded-Proto", "https");
        }

        var behindProxy = new Browser(proxied);
        var viaProxy = await behindProxy.SendAsync(HttpMethod.Get, await PortalLinkAsync(proxied, TollgateApp.NewCustomer()), configure: ThroughTls);
        var proxyCookies = behindProxy.LastSetCookies;
        var notTrusted = new Browser(direct);
        var spoofed = await notTrusted.SendAsync(HttpMethod.Get, await PortalLinkAsync(direct, TollgateApp.NewCustomer()), configure: ThroughTls);

        Assert.Contains(proxyCookies, c => c.StartsWith("tollgate_portal=", StringComparison.Ordinal) && c.Contains("; secure", StringComparison.OrdinalIgnoreCase));
        Assert.StartsWith("max-age=", viaProxy.Headers.GetValues("Strict-Transport-Security").Single(), StringComparison.Ordinal);
        Assert.DoesNotContain(notTrusted.LastSetCookies, c => c.Contains("; secure", StringComparison.OrdinalIgnoreCase));
        Assert.False(spoofed.Headers.Contains("Strict-Transport-Security"));
    }

    [Fact]
    public async Task Bug9_7_AdminSignIn_IsRateLimitedPerAddress()
    {
        await using var app = await TollgateApp.StartAsync(Provider, settings: new Dictionary<string, string?>
        {
            ["Tollgate:AdminKey"] = AdminKey,
            ["Tollgate:ForwardedHeaders"] = "true",
        });
        var guesser = new Browser(app, forwardedFor: "203.0.113.7");
        var statuses = new List<HttpStatusCode>();
        for (var attempt = 0; attempt < Hosting.EdgeSecurity.AdminLoginAttempts + 1; attempt++)
        {
            using var response = await guesser.PostFormAsync("/admin/login", "/admin/login", KeyValuePair.Create("key", $"wrong-key-{attempt:D4}-abcdef"));
            statuses.Add(response.StatusCode);
        }

        using var rightKeyFromGuesser = await guesser.PostFormAsync("/admin/login", "/admin/login", KeyValuePair.Create("key", AdminKey));
        using var operatorSignIn = await new Browser(app, forwardedFor: "198.51.100.9").PostFormAsync("/admin/login", "/admin/login",
            KeyValuePair.Create("key", AdminKey));

        Assert.Equal(Enumerable.Repeat(HttpStatusCode.Unauthorized, Hosting.EdgeSecurity.AdminLoginAttempts), statuses.Take(Hosting.EdgeSecurity.AdminLoginAttempts));
        Assert.Equal(HttpStatusCode.TooManyRequests, statuses[^1]);
        Assert.Equal(HttpStatusCode.TooManyRequests, rightKeyFromGuesser.StatusCode);
        Assert.True(rightKeyFromGuesser.Headers.RetryAfter is not null);
        Assert.Equal(HttpStatusCode.Redirect, operatorSignIn.StatusCode);
    }
}

public sealed class SqliteSessionSecurityTests : SessionSecurityTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresSessionSecurityTests : SessionSecurityTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}

/// <summary>Issue 9, item 7: the real server, started from another directory with every log level turned up, never
/// writes a portal token to its log.</summary>
public sealed class RequestLogTests
{
    [Fact]
    public async Task Bug9_7_PortalTokens_NeverReachTheLog_WhenTheServerStartsFromAnotherDirectory()
    {
        var folder = Directory.CreateTempSubdirectory("tollgate-log-").FullName;
        var port = FreePort();
        var start = ServerIn(folder, port);
        start.Environment["Tollgate__ApiKeys__0"] = TollgateApp.ApiKey;
        start.Environment["Logging__LogLevel__Default"] = "Debug";
        start.Environment["Logging__LogLevel__Microsoft.AspNetCore"] = "Debug";
        start.Environment["Logging__Console__FormatterName"] = "simple";
        var (process, output) = Run(start);
        using var _ = process;
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", TollgateApp.ApiKey);
            await WaitUntilUpAsync(client);
            using (var put = await client.PutAsync("/v1/customers/cus_log", new StringContent("{}", System.Text.Encoding.UTF8, "application/json")))
            {
                Assert.Equal(HttpStatusCode.OK, put.StatusCode);
            }

            using var portal = await client.PostAsync("/v1/customers/cus_log/portal", null);
            var url = (string)JsonNode.Parse(await portal.Content.ReadAsStringAsync())!["url"]!;
            var token = Uri.UnescapeDataString(new Uri(url).Query.Split("token=")[1]);
            using var visit = await new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }).GetAsync($"http://127.0.0.1:{port}{new Uri(url).PathAndQuery}");
            Assert.Equal(HttpStatusCode.Redirect, visit.StatusCode);
            await Task.Delay(500, TestContext.Current.CancellationToken);

            string log;
            lock (output)
            {
                log = output.ToString();
            }

            Assert.Contains("/portal", log, StringComparison.Ordinal);
            Assert.DoesNotContain(token, log, StringComparison.Ordinal);
            Assert.DoesNotContain(Uri.EscapeDataString(token), log, StringComparison.Ordinal);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(TestContext.Current.CancellationToken);
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>The app's own appsettings.json is read wherever the server is started from: it turns Microsoft.AspNetCore
    /// down to Warning, so routing's per-request "Executing endpoint" lines (Information) are not written, while other
    /// Information lines still are. Without that file the defaults (Information everywhere) write them: checked by
    /// running this test with the file moved away.</summary>
    [Fact]
    public async Task Bug9_7_TheAppsOwnSettingsFile_IsReadWhenTheServerStartsFromAnotherDirectory()
    {
        var folder = Directory.CreateTempSubdirectory("tollgate-settings-").FullName;
        var port = FreePort();
        var start = ServerIn(folder, port);
        start.Environment["Tollgate__ApiKeys__0"] = TollgateApp.ApiKey;
        start.Environment["Logging__Console__FormatterName"] = "simple";
        Assert.True(File.Exists(Path.Combine(AppContext.BaseDirectory, "appsettings.json")), "the server's appsettings.json is beside tollgate.dll");
        var (process, output) = Run(start);
        using var _ = process;
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", TollgateApp.ApiKey);
            await WaitUntilUpAsync(client);
            using (var put = await client.PutAsync("/v1/customers/cus_settings?probe=1", new StringContent("{}", System.Text.Encoding.UTF8, "application/json")))
            {
                Assert.Equal(HttpStatusCode.OK, put.StatusCode);
            }

            await Task.Delay(500, TestContext.Current.CancellationToken);
            string log;
            lock (output)
            {
                log = output.ToString();
            }

            Assert.Contains("info: Tollgate.", log, StringComparison.Ordinal); // Information is written for other categories
            Assert.DoesNotContain("Executing endpoint", log, StringComparison.Ordinal); // routing's Information lines
            Assert.DoesNotContain("Executed endpoint", log, StringComparison.Ordinal);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(TestContext.Current.CancellationToken);
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>The real server (tollgate.dll beside the tests), started with another working directory.</summary>
    private static ProcessStartInfo ServerIn(string folder, int port) =>
        new("dotnet", [Path.Combine(AppContext.BaseDirectory, "tollgate.dll"), "--urls", $"http://127.0.0.1:{port}"])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            WorkingDirectory = folder,
        };

    /// <summary>Starts it, collecting everything it writes (read under a lock on the builder).</summary>
    private static (Process Process, System.Text.StringBuilder Output) Run(ProcessStartInfo start)
    {
        var process = Process.Start(start)!;
        var output = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return (process, output);
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static async Task WaitUntilUpAsync(HttpClient client)
    {
        for (var attempt = 0; attempt < 600; attempt++)
        {
            try
            {
                using var health = await client.GetAsync("/healthz");
                if (health.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(100);
        }

        Assert.Fail("the server did not come up within a minute");
    }
}
