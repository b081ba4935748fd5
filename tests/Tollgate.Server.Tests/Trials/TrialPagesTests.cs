using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.TestHost;
using Tollgate.Server.Tests.Support;
using Tollgate.Storage;

namespace Tollgate.Server.Tests.Trials;

/// <summary>
/// Trials on the pages (issue 15), server-rendered: the pricing page offers "Start 14-day free trial" where the customer
/// may start it (and never twice), the form starts it and leads to the portal, the portal counts the days left in
/// English and Chinese, and the plan being tried is offered for purchase ("Subscribe now").
/// </summary>
public abstract partial class TrialPagesTests : IAsyncLifetime
{
    private string _catalog = null!;

    protected abstract DatabaseProvider Provider { get; }

    private TollgateApp App { get; set; } = null!;

    public async ValueTask InitializeAsync()
    {
        _catalog = Path.Combine(Path.GetTempPath(), $"tollgate-trial-pages-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(_catalog, """
            features:
              credits: { type: credits }
              hd_export: { type: boolean }
            plans:
              free: { default: true }
              basic:
                name: Basic
                interval: month
                price: { amount: 900, currency: USD }
              pro:
                name: Pro
                interval: month
                trial_days: 14
                price: { amount: 2900, currency: USD }
                features:
                  hd_export: true
                  credits: { grant: 300, reset: month }
            """);
        App = await TollgateApp.StartAsync(Provider, settings: new Dictionary<string, string?>
        {
            ["Tollgate:Catalog"] = _catalog,
            ["Tollgate:Providers:Sandbox:Enabled"] = "true",
        });
    }

    public async ValueTask DisposeAsync()
    {
        await App.DisposeAsync();
        File.Delete(_catalog);
        GC.SuppressFinalize(this);
    }

    /// <summary>The part of the pricing page that shows one plan.</summary>
    private static string PlanCard(string html, string plan)
    {
        var start = html.IndexOf($"data-plan=\"{plan}\"", StringComparison.Ordinal);
        Assert.True(start >= 0, $"no card for {plan}");
        var end = html.IndexOf("</article>", start, StringComparison.Ordinal);
        return html[start..end];
    }

    [Fact]
    public async Task ThePricingPage_StartsTheTrialOnce_AndThePortalCountsTheDaysLeft_InEnglishAndChinese()
    {
        var c = TollgateApp.NewCustomer();
        await Json.ReadAsync(await App.SendAsync(HttpMethod.Put, $"/v1/customers/{c}", "{}"), 200);
        var browser = new Browser(App);
        await browser.SignInAsync(c);

        var pricing = await browser.PageAsync("/pricing");
        using var started = await browser.PostFormAsync("/pricing", "/pricing?handler=Trial", KeyValuePair.Create("plan", "pro"));
        var portal = await browser.PageAsync("/portal");
        var portalZh = await browser.PageAsync("/portal", "zh-CN");
        var pricingAfter = await browser.PageAsync("/pricing");
        using var again = await browser.PostFormAsync("/portal", "/pricing?handler=Trial", KeyValuePair.Create("plan", "pro"));
        App.Clock.Advance(TimeSpan.FromDays(13.5));
        await browser.SignInAsync(c); // a portal session lasts hours, not weeks
        var lastDay = await browser.PageAsync("/portal");

        Assert.Contains("data-action=\"trial\" data-trial-days=\"14\">Start 14-day free trial</button>", PlanCard(pricing, "pro"), StringComparison.Ordinal);
        Assert.DoesNotContain("data-action=\"trial\"", PlanCard(pricing, "basic"), StringComparison.Ordinal);
        Assert.Equal((HttpStatusCode.Redirect, "/portal#plan"), (started.StatusCode, started.Headers.Location?.OriginalString));
        Assert.Contains("data-trial-days-left=\"14\"", portal, StringComparison.Ordinal);
        Assert.Contains("Free trial: 14 days left", portal, StringComparison.Ordinal);
        Assert.Contains("免费试用：剩余 14 天", portalZh, StringComparison.Ordinal);
        Assert.DoesNotContain("data-action=\"trial\"", pricingAfter, StringComparison.Ordinal); // tried once
        Assert.Contains("data-state=\"subscribe\">Subscribe now</button>", PlanCard(pricingAfter, "pro"), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Contains("each plan can be tried once", await again.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Contains("data-trial-days-left=\"1\"", lastDay, StringComparison.Ordinal);
        Assert.Contains("Free trial: last day", lastDay, StringComparison.Ordinal);
        Assert.Equal(1, await App.CountRowsAsync("trials"));
    }

    /// <summary>A browser-like client: no automatic redirects, the portal cookie kept by hand.</summary>
    private sealed partial class Browser(TollgateApp app)
    {
        private readonly HttpClient _client = new(app.App.GetTestServer().CreateHandler()) { BaseAddress = new Uri("http://localhost") };
        private readonly Dictionary<string, string> _cookies = new(StringComparer.Ordinal);

        public async Task SignInAsync(string customer)
        {
            var url = (string)(await Json.ReadAsync(await app.PostAsync($"/v1/customers/{customer}/portal", null), 200))["url"]!;
            using var signIn = await SendAsync(HttpMethod.Get, new Uri(url).PathAndQuery);
            Assert.True(_cookies.ContainsKey("tollgate_portal"));
        }

        public async Task<string> PageAsync(string path, string? language = null)
        {
            using var response = await SendAsync(HttpMethod.Get, path, language: language);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return await response.Content.ReadAsStringAsync();
        }

        /// <summary>Posts a form with the anti-forgery token <paramref name="page"/> rendered.</summary>
        public async Task<HttpResponseMessage> PostFormAsync(string page, string action, params KeyValuePair<string, string>[] fields)
        {
            var token = CsrfField().Match(await PageAsync(page)).Groups[1].Value;
            Assert.False(string.IsNullOrEmpty(token), $"no anti-forgery field on {page}");
            return await SendAsync(HttpMethod.Post, action, [.. fields, KeyValuePair.Create("__csrf", token)]);
        }

        private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, IEnumerable<KeyValuePair<string, string>>? form = null,
            string? language = null)
        {
            using var request = new HttpRequestMessage(method, path);
            if (form is not null)
            {
                request.Content = new FormUrlEncodedContent(form);
            }

            var cookies = _cookies.Select(c => $"{c.Key}={c.Value}").Concat(language is null ? [] : [$"tollgate_lang={language}"]).ToList();
            if (cookies.Count > 0)
            {
                request.Headers.Add("Cookie", string.Join("; ", cookies));
            }

            var response = await _client.SendAsync(request);
            foreach (var cookie in response.Headers.TryGetValues("Set-Cookie", out var set) ? set : [])
            {
                var pair = cookie.Split(';')[0].Split('=', 2);
                _cookies[pair[0]] = pair[1];
            }

            return response;
        }

        [GeneratedRegex("name=\"__csrf\" type=\"hidden\" value=\"([^\"]+)\"")]
        private static partial Regex CsrfField();
    }
}

public sealed class SqliteTrialPagesTests : TrialPagesTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresTrialPagesTests : TrialPagesTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
