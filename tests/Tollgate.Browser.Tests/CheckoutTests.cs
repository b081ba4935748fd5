using System.Net;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Tollgate.Browser.Tests.Support;
using static Microsoft.Playwright.Assertions;

namespace Tollgate.Browser.Tests;

/// <summary>The checkout hand-off: a declined card grants nothing, and the return page waits for the webhook.</summary>
public sealed class CheckoutTests(BrowserServer server) : BrowserTest(server)
{
    [Fact]
    public async Task DeclinedCard_ShowsTheFailure_AndGrantsNothing()
    {
        var page = await NewPageAsync();
        var customer = await CreateDemoCustomerAsync(page);
        await page.GotoAsync("/pricing");
        await page.Locator("[data-pack='new_user_pack']").GetByRole(AriaRole.Button, new() { Name = "Buy" }).ClickAsync();
        await PayOnSandboxAsync(page, DeclinedCard);

        // The provider's page says so, and the browser stays there.
        await Expect(page.GetByRole(AriaRole.Alert)).ToHaveTextAsync("Your card was declined. Nothing was charged.");
        Assert.Matches(new Regex("/sandbox/checkout/"), page.Url);
        await Screenshots.TakeAsync(page, "10-sandbox-declined");

        // Nothing was granted, and the pack is still for sale.
        await page.GotoAsync("/portal");
        Assert.Equal(0, await AvailableAsync(page, "credits"));
        await page.GotoAsync("/portal/history");
        await Expect(page.Locator("tr[data-entry-type='grant'][data-entry-feature='credits']")).ToHaveCountAsync(0);
        await page.GotoAsync("/pricing");
        await Expect(page.Locator("[data-pack='new_user_pack']").GetByRole(AriaRole.Button, new() { Name = "Buy" })).ToBeEnabledAsync();
        var balances = await Server.ApiJsonAsync(HttpMethod.Get, $"/v1/customers/{customer}/balances");
        Assert.Equal(0, (long)balances["balances"]!.AsArray().Single(b => (string)b!["feature"]! == "credits")!["available"]!);
    }

    [Fact]
    public async Task ReturnPage_OfADeclinedCheckout_ShowsTheFailure()
    {
        var (customer, portalUrl) = await Server.NewCustomerAsync("Declined Dora");
        var checkout = await Server.ApiJsonAsync(HttpMethod.Post, "/v1/checkouts", new { customer_id = customer, product = "starter_pack" }, 201);
        Assert.Equal(HttpStatusCode.PaymentRequired, await Server.PaySandboxAsync((string)checkout["url"]!, "4000000000000002"));

        var page = await NewPageAsync();
        await page.GotoAsync(portalUrl);
        await page.GotoAsync($"/checkout/return?checkout_id={checkout["id"]}");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Payment failed" })).ToBeVisibleAsync();
        await Expect(page.Locator("[data-failure]")).ToHaveTextAsync("Your card was declined.");
        await Expect(page.Locator("[data-when='completed']")).ToBeHiddenAsync();
        await Screenshots.TakeAsync(page, "11-checkout-failed");
        await AssertCleanAsync(page);
    }

    [Fact]
    public async Task ReturnPage_ShowsProcessing_UntilTheWebhookIsApplied()
    {
        var (customer, portalUrl) = await Server.NewCustomerAsync("Patient Pat");
        var checkout = await Server.ApiJsonAsync(HttpMethod.Post, "/v1/checkouts", new { customer_id = customer, product = "starter_pack" }, 201);

        var page = await NewPageAsync();
        await page.GotoAsync(portalUrl);
        await page.GotoAsync($"/checkout/return?checkout_id={checkout["id"]}");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Payment processing" })).ToBeVisibleAsync();
        await Screenshots.TakeAsync(page, "12-checkout-processing");

        // Coming back granted nothing: the balance moves only when the provider's webhook is applied.
        var before = await Server.ApiJsonAsync(HttpMethod.Get, $"/v1/customers/{customer}/balances");
        Assert.Equal(0, (long)before["balances"]!.AsArray().Single(b => (string)b!["feature"]! == "credits")!["available"]!);

        // The provider takes the payment meanwhile (elsewhere); the open page notices by itself.
        Assert.Equal(HttpStatusCode.Redirect, await Server.PaySandboxAsync((string)checkout["url"]!));
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Payment received" })).ToBeVisibleAsync(new() { Timeout = 10_000 });
        await Expect(page.Locator("[data-granted]")).ToContainTextAsync("100 credits");
        await Expect(page.Locator("[data-when='open']")).ToBeHiddenAsync();
    }

    [Fact]
    public async Task ReturnPage_StopsWaitingAfterTwoMinutes_SaysWhatToDo_AndCanCheckAgain()
    {
        var (customer, portalUrl) = await Server.NewCustomerAsync("Stalled Stan");
        var checkout = await Server.ApiJsonAsync(HttpMethod.Post, "/v1/checkouts", new { customer_id = customer, product = "starter_pack" }, 201);

        var page = await NewPageAsync();
        await page.Clock.InstallAsync();
        await page.GotoAsync(portalUrl);
        await page.GotoAsync($"/checkout/return?checkout_id={checkout["id"]}");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Payment processing" })).ToBeVisibleAsync();

        // Two minutes and more of the page's time pass with no confirmation: the spinner gives way to what to do.
        await page.Clock.FastForwardAsync("02:05");
        await page.Clock.FastForwardAsync("00:06");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Not confirmed yet" })).ToBeVisibleAsync();
        await Expect(page.Locator("[data-when='stalled']")).ToContainTextAsync("If you paid, nothing is lost");
        await Expect(page.Locator("[data-when='open']")).ToBeHiddenAsync();
        await Screenshots.TakeAsync(page, "13-checkout-stalled");

        // The payment is confirmed later; "Check again" finds it.
        Assert.Equal(HttpStatusCode.Redirect, await Server.PaySandboxAsync((string)checkout["url"]!));
        await page.GetByRole(AriaRole.Button, new() { Name = "Check again" }).ClickAsync();
        await page.Clock.FastForwardAsync("00:02");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Payment received" })).ToBeVisibleAsync(new() { Timeout = 10_000 });
    }
}
