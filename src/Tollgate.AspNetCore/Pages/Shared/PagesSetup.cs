using System.Text.Encodings.Web;
using System.Text.Unicode;
using Microsoft.AspNetCore.Mvc.ApplicationParts;
using Microsoft.Extensions.WebEncoders;
using Tollgate.Server.Pages.Checkout;
using Tollgate.Server.Sessions;

namespace Tollgate.Server.Pages.Shared;

/// <summary>
/// The server-rendered pages (Razor Pages): landing, pricing, checkout return, customer portal, admin console, and
/// the HTML error pages they share. API and webhook paths keep their problem+json answers.
/// </summary>
internal static class PagesSetup
{
    private static readonly string[] PagePrefixes = ["/pricing", "/portal", "/checkout/return", "/admin", "/lang", "/sandbox"];

    public static IServiceCollection AddTollgatePages(this IServiceCollection services)
    {
        services.AddHttpContextAccessor();
        services.AddRazorPages()
            // The pages live in this assembly, which is not the entry assembly when a test hosts the server.
            .ConfigureApplicationPartManager(parts =>
            {
                var assembly = typeof(PagesSetup).Assembly;
                if (!parts.ApplicationParts.OfType<AssemblyPart>().Any(p => p.Assembly == assembly))
                {
                    foreach (var part in ApplicationPartFactory.GetApplicationPartFactory(assembly).GetApplicationParts(assembly))
                    {
                        parts.ApplicationParts.Add(part);
                    }
                }
            });
        services.AddAntiforgery(o =>
        {
            o.Cookie.Name = "tollgate_csrf";
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.Cookie.HttpOnly = true;
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            o.FormFieldName = "__csrf";
            o.HeaderName = null;
        });
        // Chinese (and any other) text goes into pages as text, not as numeric character references.
        services.Configure<WebEncoderOptions>(o => o.TextEncoderSettings = new TextEncoderSettings(UnicodeRanges.All));
        services.AddSingleton<PortalSessions>();
        services.AddSingleton<AdminSessions>();
        services.AddScoped(sp => Texts.For(Languages.Of(sp.GetRequiredService<IHttpContextAccessor>().HttpContext)));
        return services;
    }

    public static WebApplication MapTollgatePages(this WebApplication app)
    {
        app.UseWhen(context => IsPage(context.Request.Path), page =>
        {
            // For pages, errors are pages too: a clear message in the visitor's language, never a stack trace. Written
            // where the request failed: re-executing it would need routing again, which a branch cannot do.
            page.UseExceptionHandler(new ExceptionHandlerOptions { ExceptionHandler = HtmlShell.WriteErrorAsync });
            page.UseStatusCodePages(context => HtmlShell.WriteErrorAsync(context.HttpContext));
            page.Use((context, next) =>
            {
                var headers = context.Response.Headers;
                headers.ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                    + "object-src 'none'; base-uri 'none'; frame-ancestors 'none'";
                headers.XContentTypeOptions = "nosniff";
                headers.XFrameOptions = "DENY";
                headers["Referrer-Policy"] = "no-referrer";
                // Exactly what antiforgery sets on a page with a form, so it does not warn that it overrode ours.
                headers.CacheControl = "no-cache, no-store";
                headers.Pragma = "no-cache";
                return next(context);
            });
        });

        app.MapAssets();
        app.MapGet("/lang/{code}", (string code, string? @return, HttpContext http) =>
        {
            if (Languages.Parse(code) is { } lang)
            {
                http.Response.Cookies.Append(Languages.Cookie, Languages.Code(lang), new CookieOptions
                {
                    HttpOnly = true,
                    Secure = http.Request.IsHttps,
                    SameSite = SameSiteMode.Lax,
                    Path = "/",
                    IsEssential = true,
                    MaxAge = TimeSpan.FromDays(365),
                });
            }

            return Results.LocalRedirect(PageLinks.IsLocal(@return) ? @return! : "/");
        }).ExcludeFromDescription();
        app.MapCheckoutStatus();
        app.MapRazorPages();
        return app;
    }

    private static bool IsPage(PathString path) =>
        path == "/" || PagePrefixes.Any(prefix => path.StartsWithSegments(prefix, StringComparison.OrdinalIgnoreCase));
}
