using System.Text.RegularExpressions;
using Tollgate.Core.Ledger;
using Tollgate.Core.Payments;
using Tollgate.Core.Subscriptions;
using Tollgate.Server.Web;

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
            .Concat(Directory.EnumerateFiles(Path.Combine(server, "Web"), "*.cs"))
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
