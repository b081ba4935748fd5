using Microsoft.Net.Http.Headers;

namespace Tollgate.Server.Pages.Shared;

/// <summary>The languages the pages speak. Chosen by the visitor's switch (a cookie), else by <c>Accept-Language</c>.</summary>
internal enum Lang
{
    En,
    ZhCn,
}

internal static class Languages
{
    public const string Cookie = "tollgate_lang";

    private const string ItemKey = "tollgate.lang";

    public static string Code(Lang lang) => lang == Lang.ZhCn ? "zh-CN" : "en";

    public static Lang? Parse(string? code) => code?.Trim().ToLowerInvariant() switch
    {
        "en" => Lang.En,
        "zh-cn" or "zh" => Lang.ZhCn,
        _ => null,
    };

    /// <summary>The request's language, decided once per request.</summary>
    public static Lang Of(HttpContext? http)
    {
        if (http is null)
        {
            return Lang.En;
        }

        if (http.Items.TryGetValue(ItemKey, out var known) && known is Lang lang)
        {
            return lang;
        }

        var chosen = Parse(http.Request.Cookies[Cookie]) ?? FromAcceptLanguage(http.Request.Headers.AcceptLanguage.ToString());
        http.Items[ItemKey] = chosen;
        return chosen;
    }

    /// <summary>The first language of the header (by quality, then order) that the pages speak; any Chinese tag reads
    /// Simplified Chinese, the one Chinese the pages have.</summary>
    public static Lang FromAcceptLanguage(string? header)
    {
        if (string.IsNullOrWhiteSpace(header) || !StringWithQualityHeaderValue.TryParseList(header.Split(','), out var values))
        {
            return Lang.En;
        }

        foreach (var value in values.Select((v, i) => (v, i)).OrderByDescending(x => x.v.Quality ?? 1).ThenBy(x => x.i).Select(x => x.v))
        {
            if (value.Quality is 0)
            {
                continue;
            }

            var tag = value.Value.ToString().ToLowerInvariant();
            if (tag == "zh" || tag.StartsWith("zh-", StringComparison.Ordinal))
            {
                return Lang.ZhCn;
            }

            if (tag == "en" || tag.StartsWith("en-", StringComparison.Ordinal))
            {
                return Lang.En;
            }
        }

        return Lang.En;
    }
}
