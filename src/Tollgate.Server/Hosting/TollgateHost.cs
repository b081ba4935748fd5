using Tollgate.Server.Api.Http;
using Tollgate.Server.Telemetry;

namespace Tollgate.Server.Hosting;

/// <summary>Builds the Tollgate server: a web app that is Tollgate and nothing else, over <c>AddTollgate()</c> and
/// <c>MapTollgate()</c> (Tollgate.AspNetCore), plus what only a whole server owns: its URL, JSON defaults, HSTS, OpenAPI.</summary>
public static class TollgateHost
{
    public const string DefaultUrl = PublicUrls.DefaultUrl;

    /// <param name="configure">Lets a test host change the builder before Tollgate reads it (a test server, a fake clock, settings).</param>
    public static async Task<WebApplication> CreateAsync(string[] args, Action<WebApplicationBuilder>? configure = null,
        CancellationToken cancellationToken = default)
    {
        // appsettings.json is read from the app's own folder, wherever the server is started from: its logging rules
        // must apply even when the working directory is elsewhere (issue 9, item 7).
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        // The framework's request log prints every request's query string, and a portal link carries its token there.
        // Added after the configuration's rules, so no setting turns it back on; RequestLog writes paths without queries.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
        // The framework's start-up lines ("Hosting environment: Production", the content root) said Production beside a
        // generated development key; Tollgate says itself where it listens and in which mode (TollgateStartup).
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        if (string.IsNullOrEmpty(builder.Configuration["urls"]))
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }

        configure?.Invoke(builder);
        builder.Services.AddTollgate(builder.Configuration.GetSection("Tollgate"));
        builder.Services.AddTollgateTelemetry(builder.Configuration);
        builder.Services.ConfigureHttpJsonOptions(o => ApiJson.Configure(o.SerializerOptions));
        builder.Services.AddHsts(o =>
        {
            o.MaxAge = TimeSpan.FromDays(180);
            o.IncludeSubDomains = false;
        });
        builder.Services.AddOpenApi("v1", o =>
        {
            o.ShouldInclude = d => d.RelativePath?.StartsWith("v1/", StringComparison.Ordinal) == true;
            ApiDocs.Configure(o);
        });

        var app = builder.Build();
        // Before it listens: a database that cannot be migrated stops the server here, with the reason.
        await app.Services.GetRequiredService<TollgateStartup>().EnsureStartedAsync().WaitAsync(cancellationToken);
        app.MapTollgate(o => o.WholeApp = true);
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var addresses = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
                .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()?.Addresses ?? [];
            var keys = app.Services.GetRequiredService<ApiKeyRing>();
            TollgateStartup.LogListening(app.Services.GetRequiredService<ILoggerFactory>().CreateLogger<TollgateStartup>(),
                addresses.Count == 0 ? "(test server)" : string.Join(", ", addresses), keys.DevelopmentKey is not null);
        });
        return app;
    }
}
