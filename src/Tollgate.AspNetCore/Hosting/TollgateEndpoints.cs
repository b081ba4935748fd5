using Microsoft.AspNetCore.HttpOverrides;
using Tollgate.AspNetCore;
using Tollgate.Core.Usage;
using Tollgate.Server.Api;
using Tollgate.Server.Api.Http;
using Tollgate.Server.Export;
using Tollgate.Server.Health;
using Tollgate.Server.Hosting;
using Tollgate.Server.Pages.Sandbox;
using Tollgate.Server.Pages.Shared;

namespace Microsoft.AspNetCore.Builder;

/// <summary>What <see cref="TollgateEndpointExtensions.MapTollgate"/> maps besides <c>/v1</c> and <c>/webhooks/*</c>.</summary>
public sealed class TollgateEndpointOptions
{
    /// <summary>The server-rendered pages (landing, pricing, checkout return, customer portal, admin console). On by
    /// default; an app with its own pages at <c>/</c> turns them off (the Sandbox's test-card page stays).</summary>
    public bool Pages { get; set; } = true;

    /// <summary>Tollgate is the whole app (the <c>tollgate</c> server): its error handling, request log, HSTS, forwarded
    /// headers, <c>/healthz</c> and <c>/openapi</c> apply to every path. Embedded, they apply to Tollgate's paths only.</summary>
    internal bool WholeApp { get; set; }
}

/// <summary>Maps Tollgate's HTTP surface into an app: <c>app.MapTollgate()</c>.</summary>
public static class TollgateEndpointExtensions
{
    private static readonly string[] EmbeddedPrefixes = ["/v1", "/webhooks", "/sandbox"];
    private static readonly string[] PagePrefixes = ["/pricing", "/portal", "/checkout", "/admin", "/lang", "/assets"];
    private static readonly string[] ApiPrefixes = ["/v1", "/webhooks", "/openapi", "/healthz", "/readyz", "/metrics"];

    /// <summary>
    /// Maps <c>/v1</c> (with the secret keys of <c>Tollgate:ApiKeys</c>), <c>/webhooks/*</c> and, unless
    /// <see cref="TollgateEndpointOptions.Pages"/> is off, the pages, with the middleware they need (problem+json errors,
    /// request guards), which applies to those paths only, and enforces the endpoint gates
    /// (<see cref="TollgateGateExtensions.RequireFeature{TBuilder}"/>, <see cref="TollgateGateExtensions.ChargeUsage{TBuilder}"/>)
    /// of the app's own endpoints. Needs <c>services.AddTollgate(…)</c>.
    /// </summary>
    public static WebApplication MapTollgate(this WebApplication app, Action<TollgateEndpointOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(app);
        var options = new TollgateEndpointOptions();
        configure?.Invoke(options);
        var settings = app.Services.GetService<TollgateSettings>()
            ?? throw new InvalidOperationException("MapTollgate needs the engine: call builder.Services.AddTollgate(…) first.");
        if (options.WholeApp)
        {
            UseTollgate(app, settings, options);
            app.MapHealthApi();
            app.MapOpenApi("/openapi/{documentName}.json");
        }
        else
        {
            app.UseWhen(context => IsTollgatePath(context.Request.Path, options.Pages), branch => UseTollgate(branch, settings, options));
        }

        // After the app's authentication when MapTollgate comes after it (WebApplication adds it first when the app registers it).
        app.UseTollgateGates();
        // The edge (RequestGuard) refuses, before any endpoint: a NUL in the path or query (400), a body that is not JSON (415).
        var v1 = app.MapGroup("/v1").AddEndpointFilter<ApiKeyFilter>().Refuses(401, "unauthorized").Refuses(500, "internal_error")
            .Refuses(400, "invalid_request").Refuses(415, "unsupported_media_type");
        v1.MapCustomersApi();
        v1.MapGateApi();
        v1.MapProductsApi();
        v1.MapPaymentsApi();
        v1.MapAppleApi();
        v1.MapExportApi();
        v1.MapEventsApi();
        v1.MapAutoTopupApi();
        app.MapWebhooksApi();
        if (settings.Providers.SandboxEnabled)
        {
            app.MapSandboxPages();
        }

        if (options.Pages)
        {
            app.MapTollgatePages();
        }

        return app;
    }

    private static bool IsTollgatePath(PathString path, bool pages) =>
        EmbeddedPrefixes.Any(prefix => path.StartsWithSegments(prefix, StringComparison.OrdinalIgnoreCase))
        || (pages && (path == "/" || PagePrefixes.Any(prefix => path.StartsWithSegments(prefix, StringComparison.OrdinalIgnoreCase))));

    private static bool WantsPage(HttpRequest request, TollgateEndpointOptions options) =>
        options.Pages
        && !ApiPrefixes.Any(prefix => request.Path.StartsWithSegments(prefix, StringComparison.OrdinalIgnoreCase))
        && request.GetTypedHeaders().Accept.Any(accept => accept.MediaType.Equals("text/html", StringComparison.OrdinalIgnoreCase));

    private static ApiResult StatusProblem(int status) => status switch
    {
        404 => Problems.NotFound("not_found", "No such endpoint."),
        405 => Problems.Create(405, "method_not_allowed", "This endpoint does not take that method."),
        415 => Problems.UnsupportedMediaType(),
        // A route or query value ASP.NET could not bind (limit=abc): bad input, with the code every endpoint declares for it.
        400 => Problems.InvalidRequest("A value of the path or the query is not of the expected type."),
        _ => Problems.Create(status, "error", "The request failed."),
    };

    private static void UseTollgate(IApplicationBuilder app, TollgateSettings settings, TollgateEndpointOptions options)
    {
        if (options.WholeApp && settings.ForwardedHeaders)
        {
            var forwarded = new ForwardedHeadersOptions { ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto };
            // Turned on by the operator for the proxy in front of Tollgate, wherever it runs (a container network).
            forwarded.KnownIPNetworks.Clear();
            forwarded.KnownProxies.Clear();
            app.UseForwardedHeaders(forwarded);
        }

        app.UseRequestLog();
        if (options.WholeApp)
        {
            app.UseHsts();
        }

        app.UseExceptionHandler(handler => handler.Run(RequestGuard.HandleExceptionAsync));
        // Errors the framework answers with an empty body (no route, wrong method, not JSON) get a problem body too; a
        // browser asking for a page at an address that is none (Accept: text/html, outside /v1 and /webhooks) gets
        // the HTML error page instead of JSON it cannot show.
        app.UseStatusCodePages(context => WantsPage(context.HttpContext.Request, options)
            ? HtmlShell.WriteErrorAsync(context.HttpContext)
            : StatusProblem(context.HttpContext.Response.StatusCode).ExecuteAsync(context.HttpContext));
        app.Use(async (context, next) =>
        {
            try
            {
                await next(context);
            }
            catch (UnknownFeatureException ex) when (!context.Response.HasStarted)
            {
                await Problems.NotFound("unknown_feature", $"'{ex.FeatureId}' is not a feature of the catalog.").ExecuteAsync(context);
            }
        });

        app.UseApiRequestGuard();
        app.UseRateLimiter();
    }
}
