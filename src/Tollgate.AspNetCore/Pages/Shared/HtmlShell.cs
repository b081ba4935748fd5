using System.Net;

namespace Tollgate.Server.Pages.Shared;

/// <summary>
/// The pages' frame for HTML written outside Razor: the error pages (written where the request failed, without
/// routing it again) and the Sandbox's checkout page. Same stylesheet, header and language switch as the layout.
/// </summary>
internal static class HtmlShell
{
    public static string Render(HttpContext http, Texts t, string title, string main, string brand = "Tollgate")
    {
        var here = Uri.EscapeDataString(PageLinks.Here(http.Request));
        return $"""
            <!doctype html>
            <html lang="{t.Code}">
            <head>
            <meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="color-scheme" content="light">
            <title>{E(title)} · {E(brand)}</title>
            <link rel="stylesheet" href="{Assets.CssUrl}"><link rel="icon" href="{Assets.IconUrl}" type="image/svg+xml">
            </head>
            <body>
            <header class="top"><div class="wrap top-in">
              <a class="brand" href="/"><img src="{Assets.IconUrl}" alt="" width="28" height="28"><span>{E(brand)}</span></a>
              <span class="nav"></span>
              <div class="lang" role="group" aria-label="{E(t["layout.language"])}">
                <a href="/lang/en?return={here}" lang="en" hreflang="en"{(t.Lang == Lang.En ? " aria-current=\"true\"" : "")}>English</a>
                <a href="/lang/zh-CN?return={here}" lang="zh-CN" hreflang="zh-CN"{(t.Lang == Lang.ZhCn ? " aria-current=\"true\"" : "")}>中文</a>
              </div>
            </div></header>
            <main id="main" class="wrap">{main}</main>
            <footer class="foot"><div class="wrap">{E(t["layout.footer"])}</div></footer>
            </body>
            </html>
            """;
    }

    /// <summary>The error page for a failed page request: what happened in the visitor's language, never a stack trace.</summary>
    public static Task WriteErrorAsync(HttpContext http)
    {
        var status = http.Response.StatusCode;
        var key = status is 400 or 401 or 403 or 404 or 405 or 500 ? "problem." + status.ToString(System.Globalization.CultureInfo.InvariantCulture) : "problem.other";
        var t = Texts.For(Languages.Of(http));
        var main = $"""
            <section class="problem card" aria-labelledby="problem-title">
              <p class="problem-code">{status}</p>
              <h1 id="problem-title">{E(t[key + ".title"])}</h1>
              <p>{E(t[key + ".message"])}</p>
              <p class="actions"><a class="btn" href="/">{E(t["problem.home"])}</a></p>
            </section>
            """;
        http.Response.ContentType = "text/html; charset=utf-8";
        return http.Response.WriteAsync(Render(http, t, t[key + ".title"], main), http.RequestAborted);
    }

    public static string E(string value) => WebUtility.HtmlEncode(value);
}
