using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Tollgate.Server.Sessions;
using Tollgate.Server.Tests.Support;
using Tollgate.Storage;

namespace Tollgate.Server.Tests.Pages;

/// <summary>The pages without a browser: who may see what, error pages, languages. The flows themselves are driven in
/// Chromium by Tollgate.Browser.Tests.</summary>
public sealed class PagesTests
{
    private const string AdminKey = "admin_test_0123456789abcdef";

    [Fact]
    public async Task Admin_WithoutAdminKeySetting_DoesNotExist()
    {
        await using var app = await TollgateApp.StartAsync(DatabaseProvider.Sqlite);
        using var client = Browser(app);
        foreach (var path in new[] { "/admin", "/admin/login", "/admin/customers", "/admin/webhooks" })
        {
            using var response = await client.GetAsync(path);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Contains("Page not found", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using var login = await client.PostAsync("/admin/login", new FormUrlEncodedContent([new("key", AdminKey)]));
        Assert.NotEqual(HttpStatusCode.Redirect, login.StatusCode);
        Assert.False(login.Headers.TryGetValues("Set-Cookie", out var cookies) && cookies.Any(c => c.StartsWith("tollgate_admin", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Admin_WithoutSignIn_SendsToTheSignInPage()
    {
        await using var app = await TollgateApp.StartAsync(DatabaseProvider.Sqlite, settings: new Dictionary<string, string?> { ["Tollgate:AdminKey"] = AdminKey });
        using var client = Browser(app);
        using var response = await client.GetAsync("/admin/customers?q=x");
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("/admin/login?return=%2Fadmin%2Fcustomers%3Fq%3Dx", response.Headers.Location?.OriginalString);

        // A forged session cookie is no session.
        using var forged = new HttpRequestMessage(HttpMethod.Get, "/admin");
        forged.Headers.Add("Cookie", "tollgate_admin=YWRtaW58OTk5OTk5OTk5OQ.AAAA");
        using var answer = await client.SendAsync(forged);
        Assert.Equal(HttpStatusCode.Redirect, answer.StatusCode);
    }

    [Fact]
    public async Task Portal_ExpiredLink_ShowsAClearPage()
    {
        await using var app = await TollgateApp.StartAsync(DatabaseProvider.Sqlite);
        var customer = TollgateApp.NewCustomer();
        await Json.ReadAsync(await app.SendAsync(HttpMethod.Put, $"/v1/customers/{customer}", "{}"), 200);
        var url = (string)(await Json.ReadAsync(await app.PostAsync($"/v1/customers/{customer}/portal", null), 200))["url"]!;
        app.Clock.Advance(PortalTokens.Lifetime + TimeSpan.FromMinutes(1));

        using var client = Browser(app);
        using var response = await client.GetAsync(new Uri(url).PathAndQuery);
        var html = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.StartsWith("text/html", response.Content.Headers.ContentType?.ToString(), StringComparison.Ordinal);
        Assert.Contains("This link has expired", html, StringComparison.Ordinal);
        Assert.DoesNotContain(customer, html, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", html, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("garbage", HttpStatusCode.Forbidden, "This link is not valid")]
    [InlineData("Y3VzXzF8OTk5OTk5OTk5OQ.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", HttpStatusCode.Forbidden, "This link is not valid")]
    public async Task Portal_BadLink_IsRefused(string token, HttpStatusCode status, string text)
    {
        await using var app = await TollgateApp.StartAsync(DatabaseProvider.Sqlite);
        using var client = Browser(app);
        using var response = await client.GetAsync("/portal?token=" + Uri.EscapeDataString(token));
        Assert.Equal(status, response.StatusCode);
        Assert.Contains(text, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.False(response.Headers.TryGetValues("Set-Cookie", out var cookies) && cookies.Any(c => c.StartsWith("tollgate_portal", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Portal_ValidLink_MovesTheTokenIntoAnHttpOnlyCookie()
    {
        await using var app = await TollgateApp.StartAsync(DatabaseProvider.Sqlite);
        var customer = TollgateApp.NewCustomer();
        await Json.ReadAsync(await app.SendAsync(HttpMethod.Put, $"/v1/customers/{customer}", "{}"), 200);
        var url = (string)(await Json.ReadAsync(await app.PostAsync($"/v1/customers/{customer}/portal", null), 200))["url"]!;

        using var client = Browser(app);
        using var response = await client.GetAsync(new Uri(url).PathAndQuery);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("/portal", response.Headers.Location?.OriginalString);
        var cookie = Assert.Single(response.Headers.GetValues("Set-Cookie"), c => c.StartsWith("tollgate_portal=", StringComparison.Ordinal));
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=lax", cookie, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task PortalHistory_SaysWhichGrantPaidForEachDebit()
    {
        await using var app = await TollgateApp.StartAsync(DatabaseProvider.Sqlite);
        var customer = TollgateApp.NewCustomer();
        await Json.ReadAsync(await app.SendAsync(HttpMethod.Put, $"/v1/customers/{customer}", "{}"), 200);
        await app.GrantAsync(customer, "credits", 10);
        Assert.Equal(200, (int)(await app.UseAsync(customer, "ai_messages", 52)).StatusCode);

        var html = await PortalPageAsync(app, customer, "/portal/history");

        Assert.Contains("> From your Free allowance</span>", html, StringComparison.Ordinal);
        Assert.Contains("> From a grant by support</span>", html, StringComparison.Ordinal);

        // Each entry is a sentence, the stored notes (plan and allowance keys) are not shown to the customer.
        Assert.Contains("<span data-story>52 AI messages used, 2 of them over your allowance</span>", html, StringComparison.Ordinal);
        Assert.Contains("<span data-story>2 Credits for 2 AI messages over your allowance</span>", html, StringComparison.Ordinal);
        Assert.Contains("<span data-story>10 Credits added by support</span>", html, StringComparison.Ordinal);
        Assert.Contains("<span data-story>50 AI messages: your Free allowance for this period</span>", html, StringComparison.Ordinal);
        Assert.DoesNotContain("allowance:", html, StringComparison.Ordinal);
        Assert.DoesNotContain("plan free", html, StringComparison.Ordinal);

        // A debit paid by two lots names both, with what each paid.
        await app.GrantAsync(customer, "credits", 5, app.Clock.GetUtcNow().AddDays(2));
        Assert.Equal(200, (int)(await app.UseAsync(customer, "credits", 7)).StatusCode);
        html = await PortalPageAsync(app, customer, "/portal/history");
        Assert.Contains("> From a grant by support (5), from a grant by support (2)</span>", html, StringComparison.Ordinal);
    }

    private static async Task<string> PortalPageAsync(TollgateApp app, string customer, string path)
    {
        var url = (string)(await Json.ReadAsync(await app.PostAsync($"/v1/customers/{customer}/portal", null), 200))["url"]!;
        using var client = Browser(app);
        using var signIn = await client.GetAsync(new Uri(url).PathAndQuery);
        var cookie = signIn.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("tollgate_portal=", StringComparison.Ordinal)).Split(';')[0];
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Add("Cookie", cookie);
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync();
    }

    [Fact]
    public async Task UnknownPage_IsAnHtmlPage_WhileTheApiKeepsProblemJson()
    {
        await using var app = await TollgateApp.StartAsync(DatabaseProvider.Sqlite);
        using var client = Browser(app);
        using var page = await client.GetAsync("/portal/nothing-here");
        Assert.Equal(HttpStatusCode.NotFound, page.StatusCode);
        Assert.StartsWith("text/html", page.Content.Headers.ContentType?.ToString(), StringComparison.Ordinal);
        Assert.NotNull(page.Headers.GetValues("Content-Security-Policy").Single());

        await Json.ProblemAsync(await app.Client.GetAsync("/v1/nothing-here"), 404, "not_found");
    }

    [Theory]
    [InlineData("/nothing-here")]
    [InlineData("/favicon.ico")]
    [InlineData("/wp-login.php")]
    public async Task UnknownAddress_AskedForByABrowser_IsAnHtmlPage(string path)
    {
        await using var app = await TollgateApp.StartAsync(DatabaseProvider.Sqlite);
        using var client = Browser(app);
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Add("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8");
        request.Headers.Add("Accept-Language", "zh-CN");
        using var page = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.NotFound, page.StatusCode);
        Assert.StartsWith("text/html", page.Content.Headers.ContentType?.ToString(), StringComparison.Ordinal);
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("页面不存在", html, StringComparison.Ordinal);
        Assert.Contains("<p class=\"problem-code\">404</p>", html, StringComparison.Ordinal);

        // A program asking for the same address (no text/html), and any address under /v1 or /webhooks, keeps problem+json.
        await Json.ProblemAsync(await app.Client.GetAsync(path), 404, "not_found");
        using var api = new HttpRequestMessage(HttpMethod.Get, "/v1/nothing-here");
        api.Headers.Add("Accept", "text/html");
        await Json.ProblemAsync(await app.Client.SendAsync(api), 404, "not_found");
        using var webhook = new HttpRequestMessage(HttpMethod.Get, "/webhooks/nothing-here");
        webhook.Headers.Add("Accept", "text/html");
        using var webhookAnswer = await client.SendAsync(webhook);
        Assert.StartsWith("application/problem+json", webhookAnswer.Content.Headers.ContentType?.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("zh-CN,zh;q=0.9,en;q=0.8", "lang=\"zh-CN\"", "谁为哪些内容付了费")]
    [InlineData("zh-TW", "lang=\"zh-CN\"", "谁为哪些内容付了费")]
    [InlineData("en-GB,en;q=0.9", "lang=\"en\"", "Know who paid for what")]
    [InlineData("fr-FR,fr;q=0.9", "lang=\"en\"", "Know who paid for what")]
    [InlineData("fr;q=0.9,zh;q=0.5,en;q=0.4", "lang=\"zh-CN\"", "谁为哪些内容付了费")]
    [InlineData("en;q=0.9,zh;q=0.95", "lang=\"zh-CN\"", "谁为哪些内容付了费")]
    public async Task Language_ComesFromAcceptLanguage(string header, string lang, string text)
    {
        await using var app = await TollgateApp.StartAsync(DatabaseProvider.Sqlite);
        using var client = Browser(app);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.Add("Accept-Language", header);
        using var response = await client.SendAsync(request);
        var html = await response.Content.ReadAsStringAsync();
        Assert.Contains(lang, html, StringComparison.Ordinal);
        Assert.Contains(text, html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LanguageSwitch_SetsTheCookie_AndOnlyReturnsToThisSite()
    {
        await using var app = await TollgateApp.StartAsync(DatabaseProvider.Sqlite);
        using var client = Browser(app);
        using var local = await client.GetAsync("/lang/zh-CN?return=%2Fpricing");
        Assert.Equal("/pricing", local.Headers.Location?.OriginalString);
        Assert.Contains(local.Headers.GetValues("Set-Cookie"), c => c.StartsWith("tollgate_lang=zh-CN", StringComparison.Ordinal));
        foreach (var elsewhere in new[] { "//evil.example/", "/\\evil.example", "https://evil.example/", "http:/evil" })
        {
            using var response = await client.GetAsync("/lang/en?return=" + Uri.EscapeDataString(elsewhere));
            Assert.Equal("/", response.Headers.Location?.OriginalString);
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, "/pricing");
        request.Headers.Add("Accept-Language", "en");
        request.Headers.Add("Cookie", "tollgate_lang=zh-CN");
        using var page = await client.SendAsync(request);
        Assert.Contains("<h1>价格</h1>", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckoutStatus_ShowsNoCustomerAndNoSecret()
    {
        await using var app = await TollgateApp.StartAsync(DatabaseProvider.Sqlite);
        var customer = TollgateApp.NewCustomer();
        await Json.ReadAsync(await app.SendAsync(HttpMethod.Put, $"/v1/customers/{customer}", "{}"), 200);
        var checkout = await Json.ReadAsync(await app.PostAsync("/v1/checkouts", new { customer_id = customer, product = "starter_pack" }), 201);

        using var client = Browser(app);
        var status = await Json.ReadAsync(await client.GetAsync($"/checkout/status/{checkout["id"]}"), 200);
        Assert.Equal("open", (string?)status["status"]);
        Assert.Equal(["granted", "product", "product_name", "status"], PropertyNames(status));
        Assert.DoesNotContain(customer, status.ToJsonString(), StringComparison.Ordinal);
        await Json.ReadAsync(await client.GetAsync("/checkout/status/chk_nope"), 404);
    }

    private static string[] PropertyNames(JsonObject json) => [.. json.Select(p => p.Key).Order(StringComparer.Ordinal)];

    /// <summary>A client of the test server as a browser is: no API key, redirects not followed.</summary>
    private static HttpClient Browser(TollgateApp app)
    {
        var client = app.App.GetTestServer().CreateClient();
        client.DefaultRequestHeaders.Clear();
        return client;
    }
}
