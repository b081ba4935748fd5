using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Tollgate.Browser.Tests.Support;
using static Microsoft.Playwright.Assertions;

namespace Tollgate.Browser.Tests;

/// <summary>The admin console: behind the key, CSRF-protected, and able to find a customer, replay a failed webhook
/// and grant credits with a reason.</summary>
public sealed class AdminTests(BrowserServer server) : BrowserTest(server)
{
    [Fact]
    public async Task Admin_WithoutTheKey_IsUnreachable()
    {
        var page = await NewPageAsync();
        foreach (var path in new[] { "/admin", "/admin/customers", "/admin/webhooks?status=failed", "/admin/payments", "/admin/reconcile?provider=stripe" })
        {
            await page.GotoAsync(path);
            await ArriveAsync(page, new Regex("/admin/login\\?return="));
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Admin sign-in" })).ToBeVisibleAsync();
        }

        await page.GetByLabel("Admin key").FillAsync("not_the_admin_key_at_all");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Alert)).ToHaveTextAsync("That is not the admin key.");
        Assert.Matches(new Regex("/admin/login"), page.Url);
        await Screenshots.TakeAsync(page, "20-admin-login");

        // Forms posted without a session change nothing either.
        var (customer, _) = await Server.NewCustomerAsync("Nobody's business");
        var response = await page.APIRequest.PostAsync($"/admin/customers/{customer}?handler=Grant", new()
        {
            Form = Form(page, ("feature", "credits"), ("amount", "1000"), ("reason", "free money")),
            MaxRedirects = 0,
        });
        Assert.True(response.Status is 400 || response.Headers["location"].Contains("/admin/login", StringComparison.Ordinal), $"answered {response.Status}");
        Assert.Equal(0, await CreditsAsync(customer));
    }

    [Fact]
    public async Task Admin_FindsCustomer_ReplaysFailedWebhook_GrantsCreditsWithReason()
    {
        // A refund that arrives before the payment it reverses fails (for now) and waits in the inbox.
        var (customer, _) = await Server.NewCustomerAsync("Refunded Rita");
        var checkout = await Server.ApiJsonAsync(HttpMethod.Post, "/v1/checkouts", new { customer_id = customer, product = "starter_pack" }, 201);
        var session = (string)checkout["provider_checkout_id"]!;
        Assert.Equal(HttpStatusCode.OK, await Server.SendSandboxEventAsync("refund.created", new JsonObject
        {
            ["refund_id"] = "sbx_re_" + Guid.NewGuid().ToString("N")[..8],
            ["customer_id"] = customer,
            ["payment_id"] = session,
            ["amount"] = 500,
            ["currency"] = "USD",
            ["full"] = true,
        }));
        Assert.Equal(HttpStatusCode.Redirect, await Server.PaySandboxAsync((string)checkout["url"]!));
        Assert.Equal(100, await CreditsAsync(customer));
        // An event for nobody Tollgate knows, and a second purchase of a once-per-customer pack, for the operator's lists.
        Assert.Equal(HttpStatusCode.OK, await Server.SendSandboxEventAsync("checkout.completed", new JsonObject
        {
            ["session_id"] = "sbx_cs_stranger",
            ["product"] = "starter_pack",
            ["mode"] = "payment",
            ["amount"] = 500,
            ["currency"] = "USD",
            ["order_id"] = "sbx_ord_stranger",
            ["metadata"] = new JsonObject(),
        }));
        var first = await Server.ApiJsonAsync(HttpMethod.Post, "/v1/checkouts", new { customer_id = customer, product = "new_user_pack" }, 201);
        var second = await Server.ApiJsonAsync(HttpMethod.Post, "/v1/checkouts", new { customer_id = customer, product = "new_user_pack" }, 201);
        await Server.PaySandboxAsync((string)first["url"]!);
        await Server.PaySandboxAsync((string)second["url"]!);
        Assert.Equal(220, await CreditsAsync(customer));

        var page = await NewPageAsync();
        await SignInAdminAsync(page);
        await Expect(page.Locator(".stat-bad .big")).Not.ToHaveTextAsync("0");
        await Screenshots.TakeAsync(page, "21-admin-overview");

        // Find the customer.
        await page.GetByLabel("Find a customer by id, email or name").FillAsync("Refunded Rita");
        await page.GetByRole(AriaRole.Button, new() { Name = "Search" }).ClickAsync();
        await page.GetByRole(AriaRole.Link, new() { Name = customer }).ClickAsync();
        await ArriveAsync(page, new Regex($"/admin/customers/{customer}$"));
        await Expect(page.Locator("tr[data-feature='credits']")).ToHaveAttributeAsync("data-available", "220");
        await Expect(page.Locator("tr[data-payment]")).ToHaveCountAsync(3);
        await Expect(page.Locator("tr[data-event][data-status='failed']")).ToHaveCountAsync(1);

        // The failed webhook: its error, its payload, and a replay that now applies it.
        await page.Locator("tr[data-event][data-status='failed'] a").First.ClickAsync();
        await Expect(page.Locator("[data-webhook-status]")).ToHaveTextAsync("Failed");
        await Expect(page.Locator("[data-error]")).ToContainTextAsync("is not recorded yet");
        await Expect(page.Locator(".payload")).ToContainTextAsync(session);
        await Screenshots.TakeAsync(page, "22-admin-webhook-failed");
        await page.GetByRole(AriaRole.Button, new() { Name = "Replay" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Status)).ToHaveTextAsync("Replayed.");
        await Expect(page.Locator("[data-webhook-status]")).ToHaveTextAsync("Applied");
        Assert.Equal(120, await CreditsAsync(customer));

        // A grant needs a reason, which the ledger keeps.
        await page.GetByRole(AriaRole.Link, new() { Name = customer }).ClickAsync();
        await Expect(page.Locator("tr[data-payment][data-status='refunded']")).ToHaveCountAsync(1);
        await page.Locator("#feature").SelectOptionAsync("credits");
        await page.GetByLabel("Amount").FillAsync("25");
        await page.Locator("#reason").EvaluateAsync("e => e.removeAttribute('required')");
        await page.GetByRole(AriaRole.Button, new() { Name = "Write to the ledger" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Alert)).ToHaveTextAsync("A reason is required (up to 500 characters).");
        Assert.Equal(120, await CreditsAsync(customer));
        await page.GetByLabel("Reason (required)").FillAsync("Goodwill after the outage");
        await page.GetByRole(AriaRole.Button, new() { Name = "Write to the ledger" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Status)).ToHaveTextAsync("Granted. The ledger entry carries your reason.");
        await Expect(page.Locator("#ledger tr[data-entry-type='grant']").First).ToContainTextAsync("Goodwill after the outage");
        Assert.Equal(145, await CreditsAsync(customer));
        var ledger = await Server.ApiJsonAsync(HttpMethod.Get, $"/v1/customers/{customer}/ledger?feature=credits&limit=1");
        Assert.Equal("Goodwill after the outage", (string?)ledger["entries"]![0]!["reference"]);
        await Screenshots.TakeAsync(page, "23-admin-customer");

        // A correction takes units away, with its reason too.
        await page.Locator("#feature").SelectOptionAsync("credits");
        await page.GetByLabel("Amount").FillAsync("-5");
        await page.GetByLabel("Reason (required)").FillAsync("Duplicate goodwill");
        await page.GetByRole(AriaRole.Button, new() { Name = "Write to the ledger" }).ClickAsync();
        await Expect(page.Locator("#ledger tr[data-entry-type='adjust']").First).ToContainTextAsync("Duplicate goodwill");
        Assert.Equal(140, await CreditsAsync(customer));

        // A Sandbox refund from the console arrives as the provider's webhook and claws the pack's credits back.
        await page.Locator("#payments tr[data-payment][data-status='completed']").First.GetByRole(AriaRole.Button, new() { Name = "Refund (Sandbox)" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Status)).ToHaveTextAsync("Refund sent to the Sandbox; its webhook has been applied.");
        await Expect(page.Locator("#payments tr[data-payment][data-status='refunded']")).ToHaveCountAsync(2);
        Assert.Equal(80, await CreditsAsync(customer));

        // The operator's lists.
        await page.GetByRole(AriaRole.Link, new() { Name = "Unmatched events" }).ClickAsync();
        await Expect(page.Locator("tr[data-status='unmatched']").First).ToBeVisibleAsync();
        await Screenshots.TakeAsync(page, "24-admin-unmatched");
        await page.GetByRole(AriaRole.Link, new() { Name = "Flagged payments" }).ClickAsync();
        await Expect(page.Locator($"tr[data-payment]", new() { HasText = customer })).ToHaveCountAsync(1);
        await Screenshots.TakeAsync(page, "25-admin-flagged");
        await page.GetByRole(AriaRole.Link, new() { Name = "Overview" }).ClickAsync();
        await Expect(page.Locator("tr[data-plan='pro']")).ToBeVisibleAsync();

        // No secret is in any page the operator saw, nor in the admin cookie.
        var cookies = await page.Context.CookiesAsync();
        foreach (var secret in await Server.SecretsAsync())
        {
            Assert.DoesNotContain(secret, await page.ContentAsync(), StringComparison.Ordinal);
            Assert.DoesNotContain(cookies, c => c.Value.Contains(secret, StringComparison.Ordinal));
        }

        var admin = Assert.Single(cookies, c => c.Name == "tollgate_admin");
        Assert.True(admin.HttpOnly);
        Assert.Equal(SameSiteAttribute.Strict, admin.SameSite);
    }

    [Fact]
    public async Task AdminForm_WithoutItsCsrfToken_IsRejected_AndChangesNothing()
    {
        var (customer, _) = await Server.NewCustomerAsync("Csrf Carl");
        var page = await NewPageAsync();
        await SignInAdminAsync(page);
        await page.GotoAsync($"/admin/customers/{customer}");
        var token = await page.Locator("form:has(#reason) input[name='__csrf']").InputValueAsync();
        var key = await page.Locator("form:has(#reason) input[name='key']").InputValueAsync();

        // Signed in, but without the form's token: refused, nothing written.
        var forged = await page.APIRequest.PostAsync($"/admin/customers/{customer}?handler=Grant", new()
        {
            Form = Form(page, ("feature", "credits"), ("amount", "1000"), ("reason", "a forged form"), ("key", key)),
            MaxRedirects = 0,
        });
        Assert.Equal(400, forged.Status);
        Assert.Contains("This form could not be accepted", await forged.TextAsync(), StringComparison.Ordinal);
        Assert.Equal(0, await CreditsAsync(customer));

        // With a token from another site's form (a wrong one), the same.
        var wrong = await page.APIRequest.PostAsync($"/admin/customers/{customer}?handler=Grant", new()
        {
            Form = Form(page, ("feature", "credits"), ("amount", "1000"), ("reason", "a forged form"), ("key", key), ("__csrf", "CfDJ8forged")),
            MaxRedirects = 0,
        });
        Assert.Equal(400, wrong.Status);
        Assert.Equal(0, await CreditsAsync(customer));

        // The same request with the page's token goes through: the token was the only thing missing.
        var real = await page.APIRequest.PostAsync($"/admin/customers/{customer}?handler=Grant", new()
        {
            Form = Form(page, ("feature", "credits"), ("amount", "7"), ("reason", "with its token"), ("key", key), ("__csrf", token)),
            MaxRedirects = 0,
        });
        Assert.Equal(302, real.Status);
        Assert.Equal(7, await CreditsAsync(customer));
    }

    private async Task<long> CreditsAsync(string customer)
    {
        var balances = await Server.ApiJsonAsync(HttpMethod.Get, $"/v1/customers/{customer}/balances");
        return (long)balances["balances"]!.AsArray().Single(b => (string)b!["feature"]! == "credits")!["available"]!;
    }

    private static IFormData Form(IPage page, params (string Name, string Value)[] fields)
    {
        var form = page.APIRequest.CreateFormData();
        foreach (var (name, value) in fields)
        {
            form.Set(name, value);
        }

        return form;
    }
}
