using Tollgate.Storage;

namespace Tollgate.Server.Hosting;

/// <summary>
/// What must happen once before Tollgate serves: the database migrated, the API keys loaded, the Sandbox's secret
/// created. A hosted service registered before the others, so an embedding app gets it on <c>app.Run()</c>; the server
/// host runs it earlier, so a broken database stops <c>tollgate serve</c> before it listens.
/// </summary>
internal sealed class TollgateStartup(IServiceProvider services, ILogger<TollgateStartup> logger) : IHostedService
{
    private readonly Lazy<Task> _run = new(() => RunAsync(services, logger), LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Runs the start-up once; later calls wait for (or repeat the failure of) the first.</summary>
    public Task EnsureStartedAsync() => _run.Value;

    Task IHostedService.StartAsync(CancellationToken cancellationToken) => EnsureStartedAsync().WaitAsync(cancellationToken);

    Task IHostedService.StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static async Task RunAsync(IServiceProvider services, ILogger logger)
    {
        var settings = services.GetRequiredService<TollgateSettings>();
        var database = services.GetRequiredService<TollgateDatabase>();
        var report = await database.MigrateAsync(CancellationToken.None);
        logger.LogInformation("Database {Provider} at schema version {Version}; applied now: {Applied}",
            database.Provider, report.CurrentVersion, report.Applied.Count == 0 ? "none" : string.Join(", ", report.Applied));
        // An operator must be able to see whether test cards can buy anything here (issue 9, item 3).
        Log.ProvidersLive(logger, string.Join(", ", settings.Providers.LiveIds), settings.Providers.Default,
            settings.Providers.SandboxEnabled ? "ON: anyone can pay with a test card" : "off");
        // Each plan's terms as a version: a catalog edit becomes a new version, and existing subscriptions keep theirs.
        var catalog = services.GetRequiredService<Tollgate.Core.Catalog.ProductCatalog>();
        await Tollgate.Core.Catalog.PlanVersions.RegisterAsync(catalog, database.PlanVersions,
            services.GetRequiredService<TimeProvider>().GetUtcNow(), CancellationToken.None);
        logger.LogInformation("Plan versions: {Versions}", string.Join(", ", catalog.Plans.Select(p => $"{p.Id} v{catalog.Versions.Current(p.Id)}")));
        await services.GetRequiredService<ApiKeyRing>().LoadAsync(settings, database.Settings, CancellationToken.None);
        // Created now, so verifying a Sandbox webhook never waits on the database for it.
        if (settings.Providers.SandboxEnabled)
        {
            await services.GetRequiredService<Tollgate.Providers.Sandbox.SandboxSecret>().GetAsync();
        }
    }

    /// <summary>The one start-up line an operator reads first: where the server listens and whether it runs with a
    /// generated development key (then it is not ready for production, whatever the hosting environment says).</summary>
    public static void LogListening(ILogger logger, string addresses, bool developmentKey) =>
        Log.Listening(logger, addresses, developmentKey ? "development: a generated secret key, not for production" : "production: configured secret keys");
}
