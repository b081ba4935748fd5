using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Tollgate.Browser.Tests.Support;
using static Microsoft.Playwright.Assertions;

namespace Tollgate.Browser.Tests;

/// <summary>A plan change says what happens, when, and what it costs before it happens, and happens only on
/// "Confirm"; "Go back" changes nothing.</summary>
public sealed class PlanChangeTests(BrowserServer server) : BrowserTest(server)
{
    [Theory]
    [InlineData("en-US")]
    [InlineData("zh-CN")]
    public async Task Upgrade_IsConfirmedFirst_WithPriceAndWhen(string locale)
    {
        var page = await NewPageAsync(locale);
        await page.GotoAsync("/");
        await page.Locator("form button.btn-lg").ClickAsync();
        await ArriveAsync(page, PortalUrl());
        var customer = (await page.Locator("[data-customer]").InnerTextAsync()).Trim();
        await page.GotoAsync("/pricing");
        await page.Locator("[data-plan='pro'] button").First.ClickAsync();
        await page.Locator("input[name='card']").FillAsync(PaysCard);
        await page.Locator("button.btn-lg[type='submit']").ClickAsync();
        await ArriveAsync(page, new Regex("/checkout/return"));
        await Expect(page.Locator("[data-granted]")).ToBeVisibleAsync();

        // From the pricing page: Upgrade leads to the confirmation, which changes nothing by itself.
        await page.GotoAsync("/pricing");
        await page.Locator("[data-plan='team'] a[data-state='upgrade']").ClickAsync();
        await ArriveAsync(page, new Regex("/portal/confirm\\?action=change"));
        var zh = locale == "zh-CN";
        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync(zh ? "从专业版变更为团队版？" : "Change from Pro to Team?");
        await Expect(page.Locator(".confirm")).ToContainTextAsync(zh ? "立即生效" : "Takes effect now");
        await Expect(page.Locator(".confirm")).ToContainTextAsync(zh ? "US$49.00 / 月" : "$49.00 / month");
        // The Sandbox charges nothing for the rest of the period (Stripe and Creem would: their estimate is shown).
        await Expect(page.Locator("[data-cost]")).ToHaveTextAsync(zh ? "现在不会扣款；新价格从下次续费开始。" : "Nothing is charged now; the new price starts at your renewal.");
        await Expect(page.Locator(".confirm .ticks")).ToContainTextAsync(zh ? "AI 消息：每月 5,000 条" : "AI messages: 5,000 per month");
        await Screenshots.TakeAsync(page, zh ? "16-confirm-upgrade-zh" : "16-confirm-upgrade");
        await AssertCleanAsync(page);
        Assert.Equal("pro", await PlanAsync(customer));

        // Go back: still Pro.
        await page.Locator(".confirm a.btn-secondary").ClickAsync();
        await ArriveAsync(page, PortalUrl());
        Assert.Equal("pro", await PlanAsync(customer));

        // From the portal's list this time, and confirmed: Team.
        await page.Locator("[data-choice='team'] a").ClickAsync();
        await page.Locator("button[data-confirm]").ClickAsync();
        await ArriveAsync(page, new Regex("/portal\\?done=change"));
        await Expect(page.Locator("#plan")).ToHaveAttributeAsync("data-plan", "team", new() { Timeout = 10_000 });
        Assert.Equal("team", await PlanAsync(customer));
    }

    [Fact]
    public async Task Pricing_SwitchesBetweenMonthlyAndYearly_WithTheSaving_AndListsStartLevel()
    {
        var page = await NewPageAsync();
        await page.GotoAsync("/pricing");
        await Expect(page.Locator("[data-plan='pro']")).ToBeVisibleAsync();
        await Expect(page.Locator("[data-plan='pro_yearly']")).ToBeHiddenAsync();
        await Expect(page.Locator(".billing-switch")).ToContainTextAsync("Yearly save up to 16%");

        await page.Locator("label[for='billing-year']").ClickAsync();
        await Expect(page.Locator("[data-plan='pro']")).ToBeHiddenAsync();
        await Expect(page.Locator("[data-plan='pro_yearly']")).ToBeVisibleAsync();
        // $190 a year against 12 × $19 = $228: 16.7 % less, said as 16 % (never more than it is).
        await Expect(page.Locator("[data-plan='pro_yearly'] [data-saving]")).ToHaveTextAsync("16% less than monthly");
        // Plans without a yearly version stay in both views.
        await Expect(page.Locator("[data-plan='team']")).ToBeVisibleAsync();
        await Expect(page.Locator("[data-plan='lifetime']")).ToBeVisibleAsync();

        // At desktop width the plans of a row start their feature lists at the same height.
        var tops = await page.EvaluateAsync<double[]>(
            "() => [...document.querySelectorAll('.plans .plan')].filter(p => p.offsetParent !== null).map(p => p.querySelector('.ticks').getBoundingClientRect().top)");
        Assert.True(tops.Length >= 3);
        Assert.True(tops.Take(3).Max() - tops.Take(3).Min() < 1, string.Join(", ", tops));
        await Screenshots.TakeAsync(page, "17-pricing-yearly");
    }

    [Fact]
    public async Task ThePortalsChangeList_OffersLifetimeToo()
    {
        var page = await NewPageAsync();
        await CreateDemoCustomerAsync(page);
        await page.GotoAsync("/pricing");
        await BuyOnPricingAsync(page, page.Locator("[data-plan='pro']").GetByRole(AriaRole.Button, new() { Name = "Choose" }));
        await page.GotoAsync("/portal");
        var lifetime = page.Locator("[data-choice='lifetime']");
        await Expect(lifetime).ToContainTextAsync("$199.00");
        await lifetime.GetByRole(AriaRole.Button, new() { Name = "Buy" }).ClickAsync();
        await ArriveAsync(page, new Regex("/sandbox/checkout/"));
        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("Lifetime");
    }

    [Fact]
    public async Task TheConfirmationPage_RefusesWhatIsNotTheCustomers()
    {
        var page = await NewPageAsync();
        await CreateDemoCustomerAsync(page);
        Assert.Equal(404, (await page.GotoAsync("/portal/confirm?action=cancel&subscription=sub_someone_else"))!.Status);
        Assert.Equal(404, (await page.GotoAsync("/portal/confirm?action=explode&subscription=x"))!.Status);
        Assert.Equal(404, (await page.GotoAsync("/portal/confirm"))!.Status);
    }

    private async Task<string> PlanAsync(string customer)
    {
        var subscriptions = (await Server.ApiJsonAsync(HttpMethod.Get, $"/v1/customers/{customer}/subscriptions"))["subscriptions"]!.AsArray();
        return (string)subscriptions.Single(s => (string)s!["status"]! == "active")!["plan"]!;
    }
}
