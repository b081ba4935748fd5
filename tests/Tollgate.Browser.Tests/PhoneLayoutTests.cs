using System.Text.Json;
using System.Text.RegularExpressions;
using Deque.AxeCore.Commons;
using Deque.AxeCore.Playwright;
using Microsoft.Playwright;
using Tollgate.Browser.Tests.Support;
using static Microsoft.Playwright.Assertions;

namespace Tollgate.Browser.Tests;

/// <summary>
/// Every page at a phone's width (390 px) and a desktop's (1280 px), in English and Chinese: nothing wider than the
/// screen (the document does not scroll sideways, no element reaches past the right edge), no text squeezed into a
/// column so narrow that words or Chinese labels break one character per line, and no accessibility violation that
/// axe-core finds under WCAG 2 A/AA (contrast, labels of inputs and buttons, link names, language, titles). The
/// customer has a history of every kind first (a pack, a plan, use, a refusal-free consume of credits) so that the
/// tables are full.
/// </summary>
public sealed partial class PhoneLayoutTests(BrowserServer server) : BrowserTest(server)
{
    [Theory]
    [InlineData("en-US", 390)]
    [InlineData("zh-CN", 390)]
    [InlineData("en-US", 1280)]
    [InlineData("zh-CN", 1280)]
    public async Task EveryPage_FitsTheScreen_AndPassesAxe(string locale, int width)
    {
        var page = await NewPageAsync(locale);
        var problems = new List<string>();
        await page.SetViewportSizeAsync(width, width < 800 ? 844 : 900);

        // A customer with a bit of everything, made the way a visitor does it.
        await page.GotoAsync("/");
        await page.Locator("form button.btn-lg").ClickAsync();
        await ArriveAsync(page, PortalUrl());
        var customer = (await page.Locator("[data-customer]").InnerTextAsync()).Trim();
        await page.GotoAsync("/pricing");
        await page.Locator("[data-pack='new_user_pack'] button").First.ClickAsync();
        await ArriveAsync(page, new Regex("/sandbox/checkout/"));
        var sandboxPage = new Uri(page.Url).PathAndQuery;
        problems.AddRange(await CheckAsync(page, "sandbox checkout"));
        await page.Locator("input[name='card']").FillAsync(PaysCard);
        await page.Locator("button.btn-lg[type='submit']").ClickAsync();
        await ArriveAsync(page, new Regex("/checkout/return\\?checkout_id="));
        await Expect(page.Locator("[data-granted]")).ToBeVisibleAsync();
        var returnPage = new Uri(page.Url).PathAndQuery;
        await page.GotoAsync("/pricing");
        await page.Locator("[data-plan='pro'] button").First.ClickAsync();
        await ArriveAsync(page, new Regex("/sandbox/checkout/"));
        await page.Locator("input[name='card']").FillAsync(PaysCard);
        await page.Locator("button.btn-lg[type='submit']").ClickAsync();
        await ArriveAsync(page, new Regex("/checkout/return\\?checkout_id="));
        await Expect(page.Locator("[data-granted]")).ToBeVisibleAsync();
        await Server.ApiJsonAsync(HttpMethod.Post, "/v1/usage", new { customer_id = customer, feature = "ai_messages", amount = 999 });
        await Server.ApiJsonAsync(HttpMethod.Post, "/v1/usage", new { customer_id = customer, feature = "ai_messages", amount = 12 });
        await Server.ApiJsonAsync(HttpMethod.Post, "/v1/usage", new { customer_id = customer, feature = "credits", amount = 35 });

        foreach (var path in new[] { "/", "/pricing", "/portal", "/portal/usage", "/portal/history", "/portal/payments", returnPage, sandboxPage })
        {
            await page.GotoAsync(path);
            problems.AddRange(await CheckAsync(page, path));
        }

        await page.GotoAsync("/portal/payments");
        await page.Locator("tr[data-payment] a").First.ClickAsync();
        await ArriveAsync(page, new Regex("/portal/payments/pay_"));
        problems.AddRange(await CheckAsync(page, "receipt"));

        await page.GotoAsync("/admin/login");
        problems.AddRange(await CheckAsync(page, "/admin/login"));
        await SignInAdminAsync(page);
        foreach (var path in new[] { "/admin", "/admin/customers", $"/admin/customers/{customer}", "/admin/webhooks", "/admin/payments",
                     "/admin/events", "/admin/reconcile" })
        {
            await page.GotoAsync(path);
            problems.AddRange(await CheckAsync(page, path));
        }

        await page.GotoAsync("/admin/webhooks");
        var eventLink = await page.Locator("a[href^='/admin/webhooks/']").First.GetAttributeAsync("href");
        Assert.NotNull(eventLink);
        await page.GotoAsync(eventLink);
        problems.AddRange(await CheckAsync(page, eventLink));
        Assert.True(problems.Count == 0, $"At {width} px ({locale}):\n  " + string.Join("\n  ", problems));
    }

    // By selectors, not by the English labels the base class's sign-in uses: this runs in both languages.
    private static new async Task SignInAdminAsync(IPage page)
    {
        await page.GotoAsync("/admin/login");
        await page.Locator("input[type='password']").FillAsync(BrowserServer.AdminKey);
        await page.Locator("form button[type='submit']").ClickAsync();
        await ArriveAsync(page, new Regex("/admin$"));
    }

    /// <summary>The page's layout (no sideways scroll, nothing past the right edge, no squeezed text) and axe-core's
    /// WCAG 2 A/AA rules.</summary>
    private static async Task<IEnumerable<string>> CheckAsync(IPage page, string what)
    {
        var found = await page.EvaluateAsync<JsonElement>(LayoutProbe);
        var axe = await page.RunAxe(new AxeRunOptions
        {
            RunOnly = new RunOnlyOptions { Type = "tag", Values = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
        });
        return found.EnumerateArray().Select(p => $"{what}: {p.GetString()}")
            .Concat(axe.Violations.Select(v => $"{what}: axe {v.Id} ({v.Impact}): {v.Help} at "
                + string.Join(", ", v.Nodes.Take(3).Select(n => n.Target?.ToString()))));
    }

    // Runs in the page. An element inside one that clips or scrolls its overflow (a JSON payload that scrolls by
    // design, a visually hidden header row) is exempt from the right-edge rule: that ancestor is checked itself, and
    // the document must not scroll sideways.
    private const string LayoutProbe = """
        () => {
          const problems = [];
          const doc = document.documentElement;
          if (doc.scrollWidth > window.innerWidth) problems.push(`document is ${doc.scrollWidth} px wide`);
          const scrolls = el => { for (let e = el.parentElement; e; e = e.parentElement) {
              const o = getComputedStyle(e).overflowX; if (o !== 'visible') return true; } return false; };
          for (const el of document.body.querySelectorAll('*')) {
            const style = getComputedStyle(el);
            if (style.display === 'none' || style.visibility === 'hidden') continue;
            const r = el.getBoundingClientRect();
            if (r.width === 0 || r.height === 0) continue;
            const label = el.tagName.toLowerCase() + (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ').join('.') : '')
              + ' "' + (el.innerText || '').trim().slice(0, 30).replace(/\s+/g, ' ') + '"';
            if (r.right > window.innerWidth + 0.5 && !scrolls(el)) problems.push(`${label} reaches ${Math.round(r.right)} px`);
            // Text squeezed: an element holding 4+ characters of its own text that wraps to about two characters
            // a line or fewer (a column collapsed to a sliver, a Chinese label stacked one character per line).
            const texts = [...el.childNodes].filter(n => n.nodeType === 3 && n.textContent.trim().length > 0);
            const own = texts.map(n => n.textContent.trim()).join('');
            if (own.length >= 4) {
              const tops = new Set();
              for (const t of texts) { const range = document.createRange(); range.selectNodeContents(t);
                for (const line of range.getClientRects()) if (line.width > 0) tops.add(Math.round(line.top)); }
              const lines = tops.size;
              if (lines >= 3 && own.length / lines <= 2.5) problems.push(`${label} breaks into ${lines} lines`);
            }
          }
          return problems.slice(0, 25);
        }
        """;
}
