using Microsoft.Playwright;
using Tollgate.Browser.Tests.Support;
using static Microsoft.Playwright.Assertions;

namespace Tollgate.Browser.Tests;

/// <summary>English and Simplified Chinese: from Accept-Language, and from the switch, which is remembered.</summary>
public sealed class LanguageTests(BrowserServer server) : BrowserTest(server)
{
    [Fact]
    public async Task ChineseBrowser_GetsChinesePages()
    {
        var page = await NewPageAsync("zh-CN");
        await page.GotoAsync("/");
        await Expect(page.Locator("html")).ToHaveAttributeAsync("lang", "zh-CN");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("谁为哪些内容付了费、还能用多少，一目了然。");
        await Screenshots.TakeAsync(page, "40-home-zh");

        // The whole path in Chinese: demo customer, pricing, the Sandbox, the return page, the portal.
        await page.GetByRole(AriaRole.Button, new() { Name = "创建演示客户" }).ClickAsync();
        await ArriveAsync(page, PortalUrl());
        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("我的账户");
        await page.GotoAsync("/pricing");
        await Expect(page.Locator("[data-plan='free'] [data-state='current']")).ToHaveTextAsync("当前套餐");
        await Expect(page.Locator("[data-plan='pro'] h3")).ToHaveTextAsync("专业版");
        await Expect(page.Locator("[data-plan='pro'] .ticks")).ToContainTextAsync("AI 消息：每月 1,000 条");
        await Screenshots.TakeAsync(page, "41-pricing-zh");
        await AssertCleanAsync(page);

        await page.Locator("[data-pack='new_user_pack']").GetByRole(AriaRole.Button, new() { Name = "购买" }).ClickAsync();
        await page.GetByLabel("卡号").FillAsync(PaysCard);
        await page.GetByRole(AriaRole.Button, new() { NameRegex = new System.Text.RegularExpressions.Regex("^支付 ") }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "付款成功" })).ToBeVisibleAsync();
        await Expect(page.Locator("[data-granted]")).ToContainTextAsync("60 积分");
        await Screenshots.TakeAsync(page, "42-checkout-return-zh");
        await page.GotoAsync("/portal");
        await Expect(page.Locator("#plan")).ToContainTextAsync("您正在使用免费套餐。");
        await Expect(page.Locator("[data-feature='credits'] tr[data-lot-source='payment']")).ToContainTextAsync("购买");
        await Screenshots.TakeAsync(page, "43-portal-zh");
        await AssertCleanAsync(page);
        await page.GotoAsync("/portal/usage");
        await AssertCleanAsync(page);
        await page.GotoAsync("/portal/history");
        await AssertCleanAsync(page);
    }

    [Fact]
    public async Task LanguageSwitch_ChangesTheLanguage_AndIsRemembered()
    {
        var page = await NewPageAsync("en-US");
        await page.GotoAsync("/pricing");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("Pricing");

        await page.GetByRole(AriaRole.Link, new() { Name = "中文" }).ClickAsync();
        await ArriveAsync(page, new System.Text.RegularExpressions.Regex("/pricing$"));
        await Expect(page.Locator("html")).ToHaveAttributeAsync("lang", "zh-CN");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("价格");

        // Remembered on the next page, though the browser still asks for English.
        await page.GotoAsync("/");
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "创建演示客户" })).ToBeVisibleAsync();

        await page.GetByRole(AriaRole.Link, new() { Name = "English" }).ClickAsync();
        await Expect(page.Locator("html")).ToHaveAttributeAsync("lang", "en");
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Create a demo customer" })).ToBeVisibleAsync();
    }

    [Fact]
    public async Task AdminConsole_SpeaksChinese()
    {
        var page = await NewPageAsync("zh-CN");
        await page.GotoAsync("/admin/login");
        await page.GetByLabel("管理员密钥").FillAsync(BrowserServer.AdminKey);
        await page.GetByRole(AriaRole.Button, new() { Name = "登录" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("管理后台");
        await AssertCleanAsync(page);
        foreach (var path in new[] { "/admin/customers", "/admin/webhooks", "/admin/webhooks?status=unmatched", "/admin/payments", "/admin/reconcile" })
        {
            await page.GotoAsync(path);
            await AssertCleanAsync(page);
        }

        await Screenshots.TakeAsync(page, "44-admin-zh");
    }
}
