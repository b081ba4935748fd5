using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Tollgate.Browser.Tests.Support;
using static Microsoft.Playwright.Assertions;

namespace Tollgate.Browser.Tests;

/// <summary>The whole product as a newcomer meets it after <c>dotnet run</c>: landing page → demo customer → new user
/// pack in the Sandbox → credits in the portal → Pro → cancel at period end.</summary>
public sealed class NewcomerFlowTests(BrowserServer server) : BrowserTest(server)
{
    [Fact]
    public async Task Newcomer_BuysPackThenPro_SeesCreditsPlanAndCancellation()
    {
        var page = await NewPageAsync();

        // The landing page, then a demo customer of one's own.
        await page.GotoAsync("/");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToContainTextAsync("Know who paid for what");
        await Screenshots.TakeAsync(page, "01-home");
        var customer = await CreateDemoCustomerAsync(page);
        Assert.StartsWith("demo_", customer, StringComparison.Ordinal);
        await Expect(page.Locator("#plan")).ToHaveAttributeAsync("data-plan", "free");
        Assert.Equal(0, await AvailableAsync(page, "credits"));
        await AssertCleanAsync(page);

        // Pricing, signed in: the free plan is current, the pack can be bought.
        await page.GetByRole(AriaRole.Link, new() { Name = "Pricing", Exact = true }).ClickAsync();
        await Expect(page.Locator("[data-plan='free'] [data-state='current']")).ToHaveTextAsync("Current");
        await Screenshots.TakeAsync(page, "02-pricing");

        // The new user pack, paid in the Sandbox; the return page shows what the webhook granted.
        await page.Locator("[data-pack='new_user_pack']").GetByRole(AriaRole.Button, new() { Name = "Buy" }).ClickAsync();
        await ArriveAsync(page, new Regex("/sandbox/checkout/"));
        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("New user pack");
        await Screenshots.TakeAsync(page, "03-sandbox-checkout");
        await PayOnSandboxAsync(page, PaysCard);
        await ArriveAsync(page, new Regex("/checkout/return\\?checkout_id=chk_"));
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Payment received" })).ToBeVisibleAsync();
        await Expect(page.Locator("[data-granted]")).ToContainTextAsync("60 credits");
        await Screenshots.TakeAsync(page, "04-checkout-return");

        // 60 credits in the portal, from one purchased lot that expires.
        await page.GetByRole(AriaRole.Link, new() { Name = "Go to my account" }).ClickAsync();
        await ArriveAsync(page, PortalUrl());
        Assert.Equal(60, await AvailableAsync(page, "credits"));
        await Expect(page.Locator("[data-feature='credits'] .big")).ToHaveTextAsync("60 left");
        await Expect(page.Locator("[data-feature='credits'] tr[data-lot-source='payment']")).ToHaveCountAsync(1);

        // The once-per-customer pack is no longer for sale to this customer.
        await page.GotoAsync("/pricing");
        var pack = page.Locator("[data-pack='new_user_pack']");
        await Expect(pack.GetByRole(AriaRole.Button, new() { Name = "Already bought" })).ToBeDisabledAsync();
        await Expect(pack.GetByRole(AriaRole.Button, new() { Name = "Buy" })).ToHaveCountAsync(0);

        // Pro, by subscription.
        await BuyOnPricingAsync(page, page.Locator("[data-plan='pro']").GetByRole(AriaRole.Button, new() { Name = "Choose" }));
        await Expect(page.Locator("[data-granted]")).ToContainTextAsync("The Pro plan");
        await Expect(page.Locator("[data-granted]")).ToContainTextAsync("Credits: 500 per month");

        await page.GotoAsync("/portal");
        await Expect(page.Locator("#plan")).ToHaveAttributeAsync("data-plan", "pro");
        await Expect(page.Locator("#plan [data-status]")).ToHaveTextAsync("Active");
        var subscription = (await Server.ApiJsonAsync(HttpMethod.Get, $"/v1/customers/{customer}/subscriptions"))["subscriptions"]!.AsArray().Single()!;
        var periodEnd = DateTimeOffset.Parse((string)subscription["current_period_end"]!, CultureInfo.InvariantCulture);
        await Expect(page.Locator("#plan [data-renews]")).ToHaveTextAsync($"Renews on {periodEnd.UtcDateTime.ToString("d MMM yyyy", CultureInfo.InvariantCulture)}.");
        var allowances = page.Locator("#plan .ticks");
        await Expect(allowances).ToContainTextAsync("AI messages: 1,000 per month");
        await Expect(allowances).ToContainTextAsync("Credits: 500 per month");
        await Expect(allowances).ToContainTextAsync("HD export");
        Assert.Equal(560, await AvailableAsync(page, "credits"));
        // Every balance reads the same way: what is left, large; what was used, under it.
        await Expect(page.Locator("[data-feature='ai_messages'] .big")).ToHaveTextAsync("1,000 left");
        await Expect(page.Locator("[data-feature='ai_messages'] [data-used]")).ToContainTextAsync("0 of 1,000 used this period");
        await Expect(page.Locator("[data-feature='projects'] .big")).ToHaveTextAsync("10 left");

        // Pricing now knows the plan: Pro current, Team an upgrade (a plan change, explained), the pack still bought.
        await page.GotoAsync("/pricing");
        await Expect(page.Locator("[data-plan='pro'] [data-state='current']")).ToBeVisibleAsync();
        await Expect(page.Locator("[data-plan='team'] a[data-state='upgrade']")).ToHaveTextAsync("Upgrade");
        await Expect(page.Locator("[data-plan='team']")).ToContainTextAsync("Takes effect now");
        await Screenshots.TakeAsync(page, "05-pricing-signed-in");

        // Some use of it, through the API as the app would, for the usage page and the history.
        await Server.ApiJsonAsync(HttpMethod.Post, "/v1/usage", new { customer_id = customer, feature = "ai_messages", amount = 120 });
        await Server.ApiJsonAsync(HttpMethod.Post, "/v1/usage", new { customer_id = customer, feature = "credits", amount = 35 });
        await page.GotoAsync("/portal/usage");
        await Expect(page.Locator("[data-feature='ai_messages']")).ToHaveAttributeAsync("data-used", "120");
        await Expect(page.Locator("[data-feature='ai_messages'] svg.usage-chart rect.bar-day")).ToHaveCountAsync(1);
        // Axis days name their month ("1 Dec"), not a bare "1".
        await Expect(page.Locator("[data-feature='ai_messages'] svg.usage-chart text.axis").Last).ToHaveTextAsync(new Regex(@"^\d{1,2} [A-Z][a-z]{2}$"));
        await Expect(page.Locator("[data-feature='ai_messages'] svg line.limit")).ToHaveCountAsync(1);
        await Expect(page.Locator("[data-feature='ai_messages']")).ToContainTextAsync("120 used · Limit 1,000");
        await Screenshots.TakeAsync(page, "06-portal-usage");

        await page.GotoAsync("/portal/history");
        await Expect(page.Locator("tr[data-entry-type='consume']")).ToHaveCountAsync(2);
        // Each debit says which grant paid for it: the Pro allowance expires before the pack, so it pays first.
        await Expect(page.Locator("tr[data-entry-type='consume'][data-entry-feature='credits'] .draws")).ToHaveTextAsync("From your Pro allowance");
        await Expect(page.Locator("tr[data-entry-type='grant']").First).ToBeVisibleAsync();
        // Each line is a sentence, not the stored note ("plan pro", "allowance:…", the provider's order id).
        await Expect(page.Locator("tr[data-entry-type='consume'][data-entry-feature='credits'] [data-story]")).ToHaveTextAsync("35 Credits used");
        await Expect(page.Locator("tr[data-entry-type='consume'][data-entry-feature='ai_messages'] [data-story]")).ToHaveTextAsync("120 AI messages used");
        await Expect(page.Locator("tr[data-entry-type='grant'][data-entry-feature='ai_messages'] [data-story]").First).ToContainTextAsync("your Pro allowance for this period");
        await Expect(page.Locator("table.ledger")).Not.ToContainTextAsync("allowance:");
        await Expect(page.Locator("table.ledger")).Not.ToContainTextAsync("sbx_");
        await Expect(page.Locator("table.ledger")).Not.ToContainTextAsync("plan pro");
        await Screenshots.TakeAsync(page, "07-portal-history");

        // Cancel at period end: the plan stays until the end date, which the portal shows.
        await page.GotoAsync("/portal");
        await Screenshots.TakeAsync(page, "08-portal-pro");
        await page.GetByRole(AriaRole.Link, new() { Name = "Cancel at period end" }).ClickAsync();
        // First what it means, and what it costs; nothing has changed yet.
        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("Cancel your Pro plan?");
        await Expect(page.Locator("[data-cost]")).ToHaveTextAsync("Nothing more is charged. There is no refund for the rest of this period.");
        await Screenshots.TakeAsync(page, "09a-confirm-cancel");
        Assert.False((bool)(await Server.ApiJsonAsync(HttpMethod.Get, $"/v1/customers/{customer}/subscriptions"))["subscriptions"]!.AsArray().Single()!["cancel_at_period_end"]!);
        await page.GetByRole(AriaRole.Button, new() { Name = "Confirm cancellation" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Status)).ToContainTextAsync("Your plan will end at the end of this period.");
        await Expect(page.Locator("#plan [data-status]")).ToHaveTextAsync("Ends at period end");
        await Expect(page.Locator("#plan [data-ends]")).ToHaveTextAsync(
            $"Ends on {periodEnd.UtcDateTime.ToString("d MMM yyyy", CultureInfo.InvariantCulture)}. You keep everything until then.");
        await Expect(page.Locator("#plan")).ToHaveAttributeAsync("data-plan", "pro");
        await Expect(page.GetByRole(AriaRole.Link, new() { Name = "Resume my plan" })).ToBeVisibleAsync();
        await Screenshots.TakeAsync(page, "09-portal-canceling");
        subscription = (await Server.ApiJsonAsync(HttpMethod.Get, $"/v1/customers/{customer}/subscriptions"))["subscriptions"]!.AsArray().Single()!;
        Assert.True((bool)subscription["cancel_at_period_end"]!);
        await AssertCleanAsync(page);
    }
}
