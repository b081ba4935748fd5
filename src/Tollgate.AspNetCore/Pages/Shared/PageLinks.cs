namespace Tollgate.Server.Pages.Shared;

/// <summary>Links within the pages.</summary>
internal static class PageLinks
{
    /// <summary>The current page as a local address to come back to, without a portal token or a form handler.</summary>
    public static string Here(HttpRequest request)
    {
        var query = request.Query.Where(q => q.Key is not ("token" or "handler" or "done" or "error"))
            .Select(q => Uri.EscapeDataString(q.Key) + "=" + Uri.EscapeDataString(q.Value.ToString()));
        var qs = string.Join('&', query);
        var path = request.PathBase + request.Path;
        return qs.Length == 0 ? path : path + "?" + qs;
    }

    /// <summary>Only a path on this site: never another host (<c>//evil</c>, <c>/\evil</c>) or a scheme.</summary>
    public static bool IsLocal(string? url) =>
        !string.IsNullOrEmpty(url) && url[0] == '/' && (url.Length == 1 || (url[1] != '/' && url[1] != '\\'))
        && !url.Contains("://", StringComparison.Ordinal) && !url.Any(char.IsControl);
}

/// <summary>What a problem page says: a status, a title and a message (text keys), and where to go next.</summary>
internal sealed record ProblemView(int Status, string TitleKey, string MessageKey, string? ActionKey = null, string? ActionHref = null);
