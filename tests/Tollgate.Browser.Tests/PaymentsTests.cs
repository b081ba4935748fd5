using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Tollgate.Browser.Tests.Support;
using Tollgate.Core.Payments;
using Tollgate.Providers.Sandbox;
using static Microsoft.Playwright.Assertions;

namespace Tollgate.Browser.Tests;

/// <summary>Money in the portal: the return page says what was paid, the Payments section lists every payment with
/// what became of it, and each has a receipt page of its own customer only.</summary>
public sealed class PaymentsTests(BrowserServer server) : BrowserTest(server)
{
    [Fact]
    public async Task Payments_ShowAmountsDatesRefunds_AndAReceiptEach()
    {
        var page = await NewPageAsync();
        var customer = await CreateDemoCustomerAsync(page);

        // Nothing paid yet: said so, with the way to the plans.
        await page.GetByRole(AriaRole.Link, new() { Name = "Payments" }).ClickAsync();
        await Expect(page.Locator("[data-empty]")).ToContainTextAsync("No payments yet.");

        // A pack: the return page names the amount, the day and the provider's order number.
        await page.GotoAsync("/pricing");
        await BuyOnPricingAsync(page, page.Locator("[data-pack='starter_pack']").GetByRole(AriaRole.Button, new() { Name = "Buy" }));
        await Expect(page.Locator("[data-paid]")).ToHaveTextAsync(new Regex(@"^\$5\.00 paid on \d{1,2} \w{3} \d{4} · order sbx_ord_\w+$"));
        await page.GotoAsync("/pricing");
        await BuyOnPricingAsync(page, page.Locator("[data-plan='pro']").GetByRole(AriaRole.Button, new() { Name = "Choose" }));
        await Expect(page.Locator("[data-paid]")).ToContainTextAsync("$19.00 paid on");

        // The pack is refunded in part by the provider (its webhook, as always).
        var pack = (await Server.Services.GetRequiredService<IPaymentStore>().ListPaymentsAsync(customer, CancellationToken.None))
            .Single(p => p.Product == "starter_pack");
        await Server.Services.GetRequiredService<SandboxBilling>().RefundAsync(customer, pack.ProviderPaymentId, 200, "USD", full: false, CancellationToken.None);

        await page.GotoAsync("/portal/payments");
        var rows = page.Locator("tr[data-payment]");
        await Expect(rows).ToHaveCountAsync(2);
        await Expect(rows.Nth(0)).ToContainTextAsync("Pro");
        await Expect(rows.Nth(0)).ToContainTextAsync("$19.00");
        await Expect(rows.Nth(0)).ToHaveAttributeAsync("data-status", "completed");
        var refunded = page.Locator($"tr[data-payment='{pack.Id}']");
        await Expect(refunded).ToHaveAttributeAsync("data-status", "partially_refunded");
        await Expect(refunded).ToContainTextAsync("Partly refunded");
        await Expect(refunded).ToContainTextAsync("($2.00 refunded)");
        await Screenshots.TakeAsync(page, "14-portal-payments");
        await AssertCleanAsync(page);

        // Its receipt: order number, amount, refund, a Print button; nothing of the site's frame on paper.
        await refunded.GetByRole(AriaRole.Link, new() { Name = "Receipt" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Receipt" })).ToBeVisibleAsync();
        await Expect(page.Locator("[data-order]")).ToHaveTextAsync(pack.ProviderPaymentId);
        await Expect(page.Locator("[data-amount]")).ToHaveTextAsync("$5.00");
        await Expect(page.Locator("[data-refunded]")).ToHaveTextAsync("$2.00");
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Print" })).ToBeVisibleAsync();
        await page.EmulateMediaAsync(new() { Media = Media.Print });
        await Expect(page.Locator("header.top")).ToBeHiddenAsync();
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Print" })).ToBeHiddenAsync();
        await Expect(page.Locator("[data-amount]")).ToBeVisibleAsync();
        await page.EmulateMediaAsync(new() { Media = Media.Screen });
        await Screenshots.TakeAsync(page, "15-portal-receipt");

        // Another customer cannot open it: the same answer as for a payment that does not exist.
        var other = await NewPageAsync();
        await CreateDemoCustomerAsync(other);
        var response = await other.GotoAsync($"/portal/payments/{pack.Id}");
        Assert.Equal(404, response!.Status);
        await Expect(other.GetByRole(AriaRole.Heading, new() { Name = "Payment not found" })).ToBeVisibleAsync();
        Assert.Equal(404, (await other.GotoAsync("/portal/payments/pay_nope"))!.Status);
    }
}
