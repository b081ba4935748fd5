using System.Text.RegularExpressions;
using Tollgate.Core.Ledger;
using Tollgate.Core.Payments;
using Tollgate.Core.Subscriptions;
using Tollgate.Server.Pages.Shared;
using Tollgate.Server.Pages.Portal;

namespace Tollgate.Server.Tests.Pages;

/// <summary>Every string the pages show exists in English and Simplified Chinese, with the same placeholders.</summary>
public sealed partial class TextsTests
{
    [Fact]
    public void EveryRow_HasBothLanguages_WithTheSamePlaceholders()
    {
        Assert.Equal(TextTable.All.Length, TextTable.All.Select(e => e.Key).Distinct(StringComparer.Ordinal).Count());
        foreach (var (key, en, zh) in TextTable.All)
        {
            Assert.False(string.IsNullOrWhiteSpace(en), key);
            Assert.False(string.IsNullOrWhiteSpace(zh), key);
            Assert.Equal(Placeholders(en), Placeholders(zh));
        }
    }

    [Fact]
    public void EveryKeyThePagesUse_Exists()
    {
        var server = Path.Combine(RepositoryRoot(), "src", "Tollgate.AspNetCore");
        var files = Directory.EnumerateFiles(Path.Combine(server, "Pages"), "*.cshtml*", SearchOption.AllDirectories)
            // The pages' helpers (Pages/Shared, each page folder's own) since Web/ was sorted into the page folders.
            .Concat(Directory.EnumerateFiles(Path.Combine(server, "Pages"), "*.cs", SearchOption.AllDirectories))
            .Append(Path.Combine(server, "Pages", "Sandbox", "SandboxPages.cs"))
            .ToList();
        var keys = new HashSet<string>(Texts.Keys, StringComparer.Ordinal);
        var used = files.SelectMany(f => KeyUse().Matches(File.ReadAllText(f)).Select(m => m.Groups["key"].Value)).ToHashSet(StringComparer.Ordinal);
        Assert.NotEmpty(used);
        var missing = used.Where(k => !k.EndsWith('.') && !keys.Contains(k)).Order(StringComparer.Ordinal).ToList();
        Assert.True(missing.Count == 0, "missing texts: " + string.Join(", ", missing));

        // Keys made from a prefix and a value.
        string[] dynamic =
        [
            .. Enum.GetValues<SubscriptionStatus>().Select(s => "status." + Core.Common.SnakeCase<SubscriptionStatus>.Name(s)),
            .. Enum.GetValues<WebhookStatus>().Select(s => "webhook." + Core.Common.SnakeCase<WebhookStatus>.Name(s)),
            .. Enum.GetValues<PaymentStatus>().Select(s => "payment." + Core.Common.SnakeCase<PaymentStatus>.Name(s)),
            .. Enum.GetValues<EntryType>().Select(s => "entry." + Core.Common.SnakeCase<EntryType>.Name(s)),
            .. Enum.GetValues<LotSource>().Select(s => "lot." + Core.Common.SnakeCase<LotSource>.Name(s)),
            .. Enum.GetValues<Core.Catalog.ResetInterval>().Select(s => "per." + Core.Common.SnakeCase<Core.Catalog.ResetInterval>.Name(s)),
            .. new[] { "400", "401", "403", "404", "405", "500", "other" }.SelectMany(c => new[] { $"problem.{c}.title", $"problem.{c}.message" }),
            .. new[] { "cancel", "resume", "change", "change_next" }.Select(d => "portal.done." + d),
            .. new[] { "granted", "adjusted", "refunded", "renewed" }.Select(d => "admin.done." + d),
            .. new[] { "paid", "canceled", "expired", "other" }.Select(s => "sandbox.closed." + s),
            .. new[] { "pending", "completed", "partially_refunded", "failed", "refunded", "disputed" }.Select(s => "portal.payment." + s),
            .. Tollgate.Providers.ProviderPlugins.BuiltIn.Select(p => "provider." + p.Id),
        ];
        missing = dynamic.Where(k => !keys.Contains(k)).ToList();
        Assert.True(missing.Count == 0, "missing texts: " + string.Join(", ", missing));
    }

    [Fact]
    public void Formats_PerLanguage()
    {
        var en = Texts.For(Lang.En);
        var zh = Texts.For(Lang.ZhCn);
        var at = new DateTimeOffset(2026, 2, 15, 9, 30, 0, TimeSpan.Zero);
        Assert.Equal("15 Feb 2026", en.Date(at));
        Assert.Equal("2026年2月15日", zh.Date(at));
        Assert.Equal("$19.00", en.Money(1900, "USD"));
        Assert.Equal("US$19.00", zh.Money(1900, "USD"));
        Assert.Equal("¥1,200", en.Money(1200, "JPY"));
        Assert.Equal("1.500 KWD", en.Money(1500, "KWD"));
        Assert.Equal("−1,000", en.Signed(-1000));
        Assert.Equal("专业版", zh.Name("Pro"));
        Assert.Equal("Pro", en.Name("Pro"));
        Assert.Equal("Custom plan", zh.Name("Custom plan"));
    }

    [Fact]
    public void PlanAllowances_ReadAsSentences_InBothLanguages()
    {
        var catalog = Core.Catalog.CatalogLoader.LoadDemo(Tollgate.Providers.ProviderPlugins.CatalogMappings(Tollgate.Providers.ProviderPlugins.BuiltIn));
        var pro = catalog.PlansById["pro"];
        var en = Catalogs.Allowances(pro, catalog, Texts.For(Lang.En));
        var zh = Catalogs.Allowances(pro, catalog, Texts.For(Lang.ZhCn));
        Assert.Contains("AI messages: 1,000 per month", en);
        Assert.Contains("Credits: 500 per month", en);
        // A Chinese number takes its counter word ("1,000 条"), except where the noun counts itself (积分).
        Assert.Contains("AI 消息：每月 1,000 条", zh);
        Assert.Contains("积分：每月 500", zh);
        Assert.Contains("项目：最多 10 个", zh);
        // No space between a plan's name and 套餐.
        Assert.Equal("专业版套餐", Texts.For(Lang.ZhCn).F("checkout.granted.plan", Texts.For(Lang.ZhCn).Name("Pro")));
    }

    [Theory]
    // Stripe's invoice (the subscription's payment) and charge objects name pages the customer may open.
    [InlineData("""{"type":"invoice.paid","data":{"object":{"id":"in_1","hosted_invoice_url":"https://invoice.stripe.com/i/acct_1/test_x","invoice_pdf":"https://pay.stripe.com/invoice/acct_1/test_x/pdf"}}}""",
        "https://invoice.stripe.com/i/acct_1/test_x")]
    [InlineData("""{"type":"charge.succeeded","data":{"object":{"id":"ch_1","receipt_url":"https://pay.stripe.com/receipts/payment/x"}}}""",
        "https://pay.stripe.com/receipts/payment/x")]
    // Creem's order carries none; a plain-http or malformed address is never shown; a payload that is not JSON neither.
    [InlineData("""{"eventType":"checkout.completed","object":{"order":{"id":"ord_1","amount":500}}}""", null)]
    [InlineData("""{"data":{"object":{"receipt_url":"http://pay.example/receipt"}}}""", null)]
    [InlineData("""{"data":{"object":{"receipt_url":"javascript:alert(1)"}}}""", null)]
    [InlineData("not json", null)]
    public void ProviderReceipt_IsTakenFromThePayload_OnlyAsHttps(string payload, string? expected) =>
        Assert.Equal(expected, PaymentReceipts.ProviderReceipt(payload)?.ToString());

    [Theory]
    // Pro $19 → Team $49 with half of a 30-day period left: $15.00 now; a downgrade credits; none left, nothing.
    [InlineData(1900, 4900, 15, 1500)]
    [InlineData(4900, 1900, 15, -1500)]
    [InlineData(1900, 4900, 30, 3000)]
    [InlineData(1900, 4900, 0, 0)]
    // A third of the period: 3,000 × 10/30 = 1,000; odd cents round half away from zero.
    [InlineData(1900, 4900, 10, 1000)]
    [InlineData(0, 1, 15, 1)]
    public void TheConfirmationPage_EstimatesTheProviderProration(long from, long to, int daysLeft, long expected)
    {
        var start = new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);
        var end = start.AddDays(30);
        Assert.Equal(expected, Tollgate.Server.Pages.Portal.ConfirmModel.ProratedDifference(from, to, start, end, end.AddDays(-daysLeft)));
    }

    [Theory]
    [InlineData("/portal", true)]
    [InlineData("/", true)]
    [InlineData("//evil.example", false)]
    [InlineData("/\\evil.example", false)]
    [InlineData("https://evil.example", false)]
    [InlineData("portal", false)]
    [InlineData("", false)]
    public void LocalReturnAddresses(string url, bool local) => Assert.Equal(local, PageLinks.IsLocal(url));

    private static string[] Placeholders(string text) => [.. Placeholder().Matches(text).Select(m => m.Value).Distinct().Order(StringComparer.Ordinal)];

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Tollgate.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("The repository root (Tollgate.slnx) is not above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"\b[Tt](?:\.F\(|\[)""(?<key>[a-z0-9_]+(?:\.[a-z0-9_]+)*\.?)""")]
    private static partial Regex KeyUse();

    [GeneratedRegex(@"\{\d+\}")]
    private static partial Regex Placeholder();
}
