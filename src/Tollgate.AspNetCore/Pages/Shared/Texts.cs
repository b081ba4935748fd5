using System.Collections.Frozen;
using System.Globalization;
using Tollgate.Core.Catalog;
using Tollgate.Core.Subscriptions;

namespace Tollgate.Server.Pages.Shared;

/// <summary>
/// Every visible string of the pages, in English and Simplified Chinese, and the formatting of numbers, money and
/// dates for each. The process runs with invariant globalization, so formats are spelled out here rather than taken
/// from a culture. Dates are UTC.
/// </summary>
internal sealed class Texts
{
    private static readonly Texts English = new(Lang.En);
    private static readonly Texts Chinese = new(Lang.ZhCn);

    private readonly FrozenDictionary<string, string> _strings;

    private Texts(Lang lang)
    {
        Lang = lang;
        _strings = TextTable.All.ToFrozenDictionary(e => e.Key, e => lang == Lang.ZhCn ? e.Zh : e.En, StringComparer.Ordinal);
    }

    public Lang Lang { get; }

    /// <summary>The language tag for <c>&lt;html lang&gt;</c>.</summary>
    public string Code => Languages.Code(Lang);

    public static Texts For(Lang lang) => lang == Lang.ZhCn ? Chinese : English;

    /// <summary>Every key, for the check that each page string exists in both languages.</summary>
    public static IEnumerable<string> Keys => TextTable.All.Select(e => e.Key);

    /// <summary>A missing key shows as itself in brackets (and a test fails), never as an exception on a page.</summary>
    public string this[string key] => _strings.TryGetValue(key, out var text) ? text : "[" + key + "]";

    public string F(string key, params object?[] args) => string.Format(CultureInfo.InvariantCulture, this[key], args);

    /// <summary>A catalog name (plan, pack, feature) in this language, when the pages know it; else as the catalog has it.</summary>
    public string Name(string catalogName) =>
        Lang == Lang.ZhCn && TextTable.CatalogNames.TryGetValue(catalogName, out var zh) ? zh : catalogName;

    /// <summary>The counter word a number of this catalog feature takes, with its space (" 条"); empty in English.</summary>
    public string Counter(string catalogName) =>
        Lang == Lang.ZhCn && TextTable.CatalogCounters.TryGetValue(catalogName, out var counter) ? " " + counter : "";

    public string Number(long value) => value.ToString("#,0", CultureInfo.InvariantCulture);

    public string Signed(long value) => value > 0 ? "+" + Number(value) : value < 0 ? "−" + Number(-value) : "0";

    /// <summary>Money from integer minor units of an ISO 4217 currency.</summary>
    public string Money(long minorUnits, string currency)
    {
        var code = currency.ToUpperInvariant();
        var exponent = Core.Common.Currencies.MinorDigits(code);
        var amount = minorUnits / (decimal)Math.Pow(10, exponent);
        var number = amount.ToString(exponent == 0 ? "#,0" : "#,0." + new string('0', exponent), CultureInfo.InvariantCulture);
        var symbol = (code, Lang) switch
        {
            ("USD", Lang.En) => "$",
            ("USD", Lang.ZhCn) => "US$",
            ("CNY", Lang.ZhCn) => "¥",
            ("CNY", Lang.En) => "CN¥",
            ("EUR", _) => "€",
            ("GBP", _) => "£",
            ("JPY", Lang.En) => "¥",
            ("JPY", Lang.ZhCn) => "JP¥",
            _ => null,
        };
        return symbol is null ? number + " " + code : symbol + number;
    }

    public string Date(DateTimeOffset at)
    {
        var utc = at.ToUniversalTime();
        return Lang == Lang.ZhCn
            ? string.Create(CultureInfo.InvariantCulture, $"{utc.Year}年{utc.Month}月{utc.Day}日")
            : utc.ToString("d MMM yyyy", CultureInfo.InvariantCulture);
    }

    public string Date(DateTimeOffset? at) => at is { } value ? Date(value) : "—";

    /// <summary>
    /// The end of a billing period (a renewal, a cancellation taking effect, a scheduled change, access ending), written
    /// one way on every page: the day of the end instant — the day the renewal happens, the first day without the plan
    /// — in UTC, as a date ("1 Jan 2027", "2027年1月1日"); "—" when the period has no end. Pages call this rather than
    /// <see cref="Date(DateTimeOffset)"/> so that a change of how period ends read is made once.
    /// </summary>
    public string PeriodEnd(DateTimeOffset? end) => end is { } value ? Date(value) : "—";

    public string Date(DateOnly day) => Date(new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero));

    public string DateTime(DateTimeOffset at) => Date(at) + " " + at.ToUniversalTime().ToString("HH:mm", CultureInfo.InvariantCulture) + " UTC";

    /// <summary>A day on a chart's axis: "15" in English, "15日" in Chinese.</summary>
    /// <summary>A day without its year, for chart axes: "1 Dec", "12月1日" (a bare "1" did not say which month).</summary>
    public string ShortDate(DateTimeOffset at)
    {
        var utc = at.ToUniversalTime();
        return Lang == Lang.ZhCn
            ? utc.Month.ToString(CultureInfo.InvariantCulture) + "月" + utc.Day.ToString(CultureInfo.InvariantCulture) + "日"
            : utc.ToString("d MMM", CultureInfo.InvariantCulture);
    }

    /// <summary>"/ month" after a price.</summary>
    public string Interval(BillingInterval? interval) => interval switch
    {
        BillingInterval.Month => this["interval.month"],
        BillingInterval.Year => this["interval.year"],
        BillingInterval.Once => this["interval.once"],
        _ => "",
    };

    /// <summary>The unit of "per …": month, 月.</summary>
    public string Per(ResetInterval reset) => this["per." + Core.Common.SnakeCase<ResetInterval>.Name(reset)];

    public string Status(SubscriptionStatus status) => this["status." + Core.Common.SnakeCase<SubscriptionStatus>.Name(status)];

    /// <summary>A provider's display name from the text table (<c>provider.&lt;id&gt;</c>); its id when the table has none,
    /// so a new provider shows without a text entry.</summary>
    public string ProviderName(string provider) => _strings.TryGetValue("provider." + provider, out var name) ? name : provider;

    /// <summary>Why a checkout failed, as the provider said it (<c>card_declined</c>), in words.</summary>
    public string Failure(string? reason) => reason switch
    {
        "card_declined" => this["failure.card_declined"],
        "insufficient_funds" => this["failure.insufficient_funds"],
        null or "" => this["failure.other"],
        _ => this["failure.other"] + " (" + reason + ")",
    };
}
