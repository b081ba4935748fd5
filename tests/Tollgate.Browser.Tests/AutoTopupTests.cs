using System.Net;
using Microsoft.Playwright;
using Tollgate.Browser.Tests.Support;
using static Microsoft.Playwright.Assertions;

namespace Tollgate.Browser.Tests;

/// <summary>The portal's auto top-up switch: the customer turns off (and on) what the app set up, in Chromium.</summary>
public sealed class AutoTopupTests(BrowserServer server) : BrowserTest(server)
{
    [Fact]
    public async Task Portal_ShowsAutoTopup_AndTheCustomerTurnsItOffAndOn()
    {
        var (customer, portalUrl) = await Server.NewCustomerAsync("Topped-up Tess");
        var checkout = await Server.ApiJsonAsync(HttpMethod.Post, "/v1/checkouts", new { customer_id = customer, product = "starter_pack" }, 201);
        Assert.Equal(HttpStatusCode.Found, await Server.PaySandboxAsync((string)checkout["url"]!, "4242424242424242"));
        await Server.ApiJsonAsync(HttpMethod.Put, $"/v1/customers/{customer}/auto-topup",
            new { feature = "credits", below = 20, pack = "starter_pack", monthly_limit = 2 });

        var page = await NewPageAsync();
        await page.GotoAsync(portalUrl);
        var section = page.Locator("#topup");
        await Expect(section).ToHaveAttributeAsync("data-topup", "on");
        await Expect(section).ToContainTextAsync("When your credits fall below 20, Starter pack is bought with your saved payment method, at most 2 times a month");
        await section.GetByRole(AriaRole.Button, new() { Name = "Turn off" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Status)).ToHaveTextAsync("Auto top-up is off.");
        await Expect(section).ToHaveAttributeAsync("data-topup", "off");
        Assert.False((bool)(await Server.ApiJsonAsync(HttpMethod.Get, $"/v1/customers/{customer}/auto-topup"))["enabled"]!);
        await Screenshots.TakeAsync(page, "40-portal-auto-topup-off");

        await section.GetByRole(AriaRole.Button, new() { Name = "Turn on" }).ClickAsync();
        await Expect(section).ToHaveAttributeAsync("data-topup", "on");
        Assert.True((bool)(await Server.ApiJsonAsync(HttpMethod.Get, $"/v1/customers/{customer}/auto-topup"))["enabled"]!);
        await AssertCleanAsync(page);
    }
}
