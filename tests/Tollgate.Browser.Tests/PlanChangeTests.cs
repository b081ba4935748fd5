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
        await page.WaitForURLAsync(PortalUrl());
        var customer = (await page.Locator("[data-customer]").InnerTextAsync()).Trim();
        await page.GotoAsync("/pricing");
        await page.Locator("[data-plan='pro'] button").First.ClickAsync();
        await page.Locator("input[name='card']").FillAsync(PaysCard);
        await page.Locator("button.btn-lg[type='submit']").ClickAsync();
        await page.WaitForURLAsync(new Regex("/checkout/return"));
        await Expect(page.Locator("[data-granted]")).ToBeVisibleAsync();

        // From the pricing page: Upgrade leads to the confirmation, which changes nothing by itself.
        await page.GotoAsync("/pricing");
        await page.Locator("[data-plan='team'] a[data-state='upgrade']").ClickAsync();
        await page.WaitForURLAsync(new Regex("/portal/confirm\\?action=change"));
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
        await page.WaitForURLAsync(PortalUrl());
        Assert.Equal("pro", await PlanAsync(customer));

        // From the portal's list this time, and confirmed: Team.
        await page.Locator("[data-choice='team'] a").ClickAsync();
        await page.Locator("button[data-confirm]").ClickAsync();
        await page.WaitForURLAsync(new Regex("/portal\\?done=change"));
        await Expect(page.Locator("#plan")).ToHaveAttributeAsync("data-plan", "team", new() { Timeout = 10_000 });
        Assert.Equal("team", await PlanAsync(customer));
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
