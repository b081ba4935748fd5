using System.Buffers.Text;
using System.Net;
using System.Text;
using Microsoft.Playwright;
using Tollgate.Browser.Tests.Support;
using static Microsoft.Playwright.Assertions;

namespace Tollgate.Browser.Tests;

/// <summary>A portal token is one customer's and nobody else's; a forged one is refused with a clear page.</summary>
public sealed class SecurityTests(BrowserServer server) : BrowserTest(server)
{
    [Fact]
    public async Task ForgedToken_IsRefused_WithAClearPage()
    {
        var (alice, aliceUrl) = await Server.NewCustomerAsync("Alice");
        var (bob, _) = await Server.NewCustomerAsync("Bob");
        var token = Uri.UnescapeDataString(aliceUrl[(aliceUrl.IndexOf("token=", StringComparison.Ordinal) + 6)..]);
        var (claims, mac) = (token.Split('.')[0], token.Split('.')[1]);
        var expiry = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(claims)).Split('|')[1];
        // Alice's signature on a token that says Bob.
        var forged = Base64Url.EncodeToString(Encoding.UTF8.GetBytes($"{bob}|{expiry}")) + "." + mac;

        var page = await NewPageAsync();
        var response = await page.GotoAsync("/portal?token=" + Uri.EscapeDataString(forged));
        Assert.Equal(403, response!.Status);
        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("This link is not valid");
        await Expect(page.Locator("body")).Not.ToContainTextAsync(bob);
        await AssertCleanAsync(page);
        await Screenshots.TakeAsync(page, "30-portal-link-invalid");

        response = await page.GotoAsync("/portal?token=garbage");
        Assert.Equal(403, response!.Status);
        response = await page.GotoAsync("/portal");
        Assert.Equal(401, response!.Status);
        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("Open your account from the app");

        // Alice's own link still works.
        await page.GotoAsync(aliceUrl);
        await Expect(page.Locator("[data-customer]")).ToHaveTextAsync(alice);
    }

    [Fact]
    public async Task AnotherCustomersToken_CannotReadOrActOnThisCustomer()
    {
        // Alice has Pro and a checkout; Bob is signed in to his own portal.
        var (alice, _) = await Server.NewCustomerAsync("Alice Pro");
        var checkout = await Server.ApiJsonAsync(HttpMethod.Post, "/v1/checkouts", new { customer_id = alice, product = "pro" }, 201);
        Assert.Equal(HttpStatusCode.Redirect, await Server.PaySandboxAsync((string)checkout["url"]!));
        var subscription = (string)(await Server.ApiJsonAsync(HttpMethod.Get, $"/v1/customers/{alice}/subscriptions"))["subscriptions"]![0]!["id"]!;
        var (bob, bobUrl) = await Server.NewCustomerAsync("Bob");

        var page = await NewPageAsync();
        await page.GotoAsync(bobUrl);
        await Expect(page.Locator("[data-customer]")).ToHaveTextAsync(bob);
        var csrf = await page.Locator("input[name='__csrf']").First.InputValueAsync();

        // Acting on Alice's subscription with Bob's session (and a valid form token) finds nothing.
        foreach (var handler in new[] { "Cancel", "Resume", "Change" })
        {
            var form = page.APIRequest.CreateFormData();
            form.Set("subscription", subscription);
            form.Set("plan", "team");
            form.Set("__csrf", csrf);
            var response = await page.APIRequest.PostAsync($"/portal?handler={handler}", new() { Form = form, MaxRedirects = 0 });
            Assert.Equal(404, response.Status);
        }

        var after = (await Server.ApiJsonAsync(HttpMethod.Get, $"/v1/customers/{alice}/subscriptions"))["subscriptions"]![0]!;
        Assert.False((bool)after["cancel_at_period_end"]!);
        Assert.Equal("pro", (string)after["plan"]!);

        // Alice's checkout is not Bob's to read.
        var status = await page.APIRequest.GetAsync($"/checkout/status/{checkout["id"]}");
        Assert.Equal(404, status.Status);
        Assert.DoesNotContain("pro", await status.TextAsync(), StringComparison.Ordinal);
        var returnPage = await page.GotoAsync($"/checkout/return?checkout_id={checkout["id"]}");
        Assert.Equal(404, returnPage!.Status);
        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("Checkout not found");

        // Bob's pages show Bob only.
        await page.GotoAsync("/portal");
        await Expect(page.Locator("#plan")).ToHaveAttributeAsync("data-plan", "free");
        Assert.DoesNotContain(alice, await page.ContentAsync(), StringComparison.Ordinal);

        // The portal cookie is HttpOnly and holds only the signed token; no secret reaches the browser.
        var cookie = Assert.Single(await page.Context.CookiesAsync(), c => c.Name == "tollgate_portal");
        Assert.True(cookie.HttpOnly);
        foreach (var secret in await Server.SecretsAsync())
        {
            Assert.DoesNotContain(secret, await page.ContentAsync(), StringComparison.Ordinal);
        }
    }
}
