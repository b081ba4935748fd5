using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Tollgate.Core.Catalog;
using Tollgate.Core.Customers;
using Tollgate.Core.Payments;
using Tollgate.Core.Payments.Sandbox;
using Tollgate.Providers;
using Tollgate.Providers.Apple;
using Tollgate.Providers.Creem;
using Tollgate.Providers.Stripe;
using Tollgate.Server.Payments;
using Tollgate.Server.Payments.Sandbox;
using Tollgate.Core.Entitlements;
using Tollgate.Core.Ledger;
using Tollgate.Core.Subscriptions;
using Tollgate.Core.Usage;
using Tollgate.Server.Api;
using Tollgate.Server.Api.Http;
using Tollgate.Server.Export;
using Tollgate.Server.Health;
using Tollgate.Server.Telemetry;
using Tollgate.Server.Web;
using Tollgate.Storage;

namespace Tollgate.Server.Hosting;

/// <summary>Builds the Tollgate web application: configuration, database (migrated before it serves), engine, API.</summary>
public static class TollgateHost
{
    public const string DefaultUrl = "http://localhost:5080";

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
        if (string.IsNullOrEmpty(builder.Configuration["urls"]))
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }

        configure?.Invoke(builder);
        var settings = TollgateSettings.Read(builder.Configuration);
        var catalog = settings.LoadCatalog();
        AddTollgate(builder.Services, settings, catalog);
        builder.Services.AddTollgateTelemetry(builder.Configuration);

        var app = builder.Build();
        var database = app.Services.GetRequiredService<TollgateDatabase>();
        var report = await database.MigrateAsync(cancellationToken);
        app.Logger.LogInformation("Database {Provider} at schema version {Version}; applied now: {Applied}",
            database.Provider, report.CurrentVersion, report.Applied.Count == 0 ? "none" : string.Join(", ", report.Applied));
        // An operator must be able to see whether test cards can buy anything here (issue 9, item 3).
        Log.ProvidersLive(app.Logger, string.Join(", ", settings.Providers.Live), settings.Providers.Default,
            settings.Providers.SandboxEnabled ? "ON: anyone can pay with a test card" : "off");
        await app.Services.GetRequiredService<ApiKeyRing>().LoadAsync(settings, database.Settings, cancellationToken);
        // Created now, so verifying a Sandbox webhook never waits on the database for it.
        await app.Services.GetRequiredService<SandboxSecret>().GetAsync();

        MapTollgate(app);
        return app;
    }

    private static void AddTollgate(IServiceCollection services, TollgateSettings settings, ProductCatalog catalog)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(settings);
        services.AddSingleton(catalog);
        services.AddSingleton(sp =>
        {
            var database = TollgateDatabase.Create(settings.Database, sp.GetRequiredService<TimeProvider>());
            database.LedgerEvents = new Core.Events.LedgerEvents(catalog, sp.GetRequiredService<TimeProvider>());
            return database;
        });
        services.AddSingleton(sp => sp.GetRequiredService<TollgateDatabase>().Endpoints);
        services.AddSingleton(sp => sp.GetRequiredService<TollgateDatabase>().Outbox);
        services.AddSingleton(sp => new Events.WebhookSender(settings.AllowPrivateWebhookAddresses, sp.GetRequiredService<TimeProvider>()));
        services.AddHostedService<Events.EventDispatcher>();
        services.AddSingleton(sp => sp.GetRequiredService<TollgateDatabase>().Customers);
        services.AddSingleton(sp => sp.GetRequiredService<TollgateDatabase>().Subscriptions);
        services.AddSingleton(sp => sp.GetRequiredService<TollgateDatabase>().Idempotency);
        services.AddSingleton(sp => sp.GetRequiredService<TollgateDatabase>().Settings);
        services.AddSingleton(sp => new LedgerEngine(
            sp.GetRequiredService<TollgateDatabase>().Ledger,
            sp.GetRequiredService<TimeProvider>(),
            new LedgerOptions { Lanes = settings.Database.Provider == DatabaseProvider.Postgres ? 4 : 1, BurnOrders = catalog.BurnOrders() },
            sp.GetRequiredService<ILogger<LedgerEngine>>()));
        services.AddSingleton(sp => new Gate(catalog, sp.GetRequiredService<LedgerEngine>(), sp.GetRequiredService<ISubscriptionStore>(),
            sp.GetRequiredService<TimeProvider>(), new GateOptions { PastDueKeepsAccess = settings.PastDueKeepsAccess },
            sp.GetService<IExternalAccessSource>(), sp.GetRequiredService<ILogger<Gate>>())
        {
            // Until the change feed is heard, other servers' writes could be missed: no cache on PostgreSQL yet.
            CacheEnabled = settings.Database.Provider == DatabaseProvider.Sqlite,
        });
        services.AddSingleton(sp => new SubscriptionService(catalog, sp.GetRequiredService<ISubscriptionStore>(), sp.GetRequiredService<LedgerEngine>(),
            sp.GetRequiredService<Gate>(), sp.GetRequiredService<TimeProvider>()));
        AddPayments(services, settings, catalog);
        services.AddSingleton<ApiKeyRing>();
        services.AddSingleton(sp => sp.GetRequiredService<ApiKeyRing>().Keys);
        services.AddSingleton<ApiKeyFilter>();
        services.AddSingleton<IdempotencyFilter>();
        services.AddTollgateHealth();
        services.AddGracefulShutdown();
        services.AddHostedService<LedgerSweeper>();
        services.AddHostedService<ChangeFeedListener>();
        services.AddHostedService<WebhookRetryWorker>();
        if (settings.Providers.SandboxEnabled)
        {
            services.AddHostedService<SandboxRenewer>();
        }

        services.ConfigureHttpJsonOptions(o => ApiJson.Configure(o.SerializerOptions));
        services.AddHsts(o =>
        {
            o.MaxAge = TimeSpan.FromDays(180);
            o.IncludeSubDomains = false;
        });
        services.AddAdminLoginRateLimit();
        services.AddOpenApi("v1", o =>
        {
            o.ShouldInclude = d => d.RelativePath?.StartsWith("v1/", StringComparison.Ordinal) == true;
            ApiDocs.Configure(o);
        });
        services.AddTollgatePages();
    }

    private static ApiResult StatusProblem(int status) => status switch
    {
        404 => Problems.NotFound("not_found", "No such endpoint."),
        405 => Problems.Create(405, "method_not_allowed", "This endpoint does not take that method."),
        415 => Problems.UnsupportedMediaType(),
        _ => Problems.Create(status, "error", "The request failed."),
    };

    private static void MapTollgate(WebApplication app)
    {
        var settings = app.Services.GetRequiredService<TollgateSettings>();
        if (settings.ForwardedHeaders)
        {
            var forwarded = new ForwardedHeadersOptions { ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto };
            // Turned on by the operator for the proxy in front of Tollgate, wherever it runs (a container network).
            forwarded.KnownIPNetworks.Clear();
            forwarded.KnownProxies.Clear();
            app.UseForwardedHeaders(forwarded);
        }

        app.UseRequestLog();
        app.UseHsts();
        app.UseExceptionHandler(handler => handler.Run(RequestGuard.HandleExceptionAsync));
        // Errors the framework answers with an empty body (no route, wrong method, not JSON) get a problem body too.
        app.UseStatusCodePages(context => StatusProblem(context.HttpContext.Response.StatusCode).ExecuteAsync(context.HttpContext));
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
        app.MapHealthApi();
        app.MapOpenApi("/openapi/{documentName}.json");
        var v1 = app.MapGroup("/v1").AddEndpointFilter<ApiKeyFilter>().Refuses(401, "unauthorized").Refuses(500, "internal_error");
        v1.MapCustomersApi();
        v1.MapGateApi();
        v1.MapProductsApi();
        v1.MapPaymentsApi();
        v1.MapAppleApi();
        v1.MapExportApi();
        v1.MapEventsApi();
        app.MapWebhooksApi();
        if (settings.Providers.SandboxEnabled)
        {
            app.MapSandboxPages();
        }

        app.MapTollgatePages();
    }

    private static void AddPayments(IServiceCollection services, TollgateSettings settings, ProductCatalog catalog)
    {
        services.AddSingleton(sp => sp.GetRequiredService<TollgateDatabase>().Payments);
        services.AddSingleton(sp => sp.GetRequiredService<TollgateDatabase>().Webhooks);
        services.AddSingleton(sp => sp.GetRequiredService<TollgateDatabase>().Sandbox);
        services.AddSingleton<PublicUrls>();
        services.AddSingleton<PortalTokens>();
        services.AddSingleton<SubscriptionActions>();
        services.AddSingleton<AppleTransactions>();
        services.AddSingleton<SandboxSecret>();
        services.AddSingleton(sp => new SandboxBilling(sp.GetRequiredService<ISandboxStore>(), catalog, sp.GetRequiredService<PublicUrls>(),
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<SandboxSecret>().GetAsync, sp.GetRequiredService<ILogger<SandboxBilling>>()));
        services.AddSingleton(sp =>
        {
            // Provider calls time out and back off in wall-clock time, whatever clock the business logic runs on.
            var providers = new List<IPaymentProvider>();
            if (settings.Providers.SandboxEnabled)
            {
                providers.Add(new SandboxProvider(sp.GetRequiredService<ISandboxStore>(), catalog, sp.GetRequiredService<PublicUrls>(),
                    sp.GetRequiredService<SandboxBilling>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<SandboxSecret>().GetAsync));
            }

            var logger = sp.GetRequiredService<ILoggerFactory>().CreateLogger("Tollgate.Providers");
            if (settings.Providers.Creem is { } creem)
            {
                providers.Add(PaymentProviders.CreateCreem(new HttpClient(), new CreemOptions { ApiKey = creem.ApiKey, WebhookSecret = creem.WebhookSecret, BaseUrl = creem.BaseUrl },
                    TimeProvider.System, logger));
            }

            if (settings.Providers.Stripe is { } stripe)
            {
                providers.Add(PaymentProviders.CreateStripe(new HttpClient(), new StripeOptions
                {
                    SecretKey = stripe.SecretKey,
                    WebhookSecrets = stripe.WebhookSecrets,
                    BaseUrl = stripe.BaseUrl,
                    SignatureToleranceSeconds = stripe.ToleranceSeconds,
                }, TimeProvider.System, logger));
            }

            if (settings.Providers.Apple is { } apple)
            {
                providers.Add(PaymentProviders.CreateApple(new AppleOptions
                {
                    BundleId = apple.BundleId,
                    Environment = apple.Environment,
                    AdditionalRoots = apple.RootCertificates,
                    OnlineRevocationChecks = apple.OnlineChecks,
                }, sp.GetRequiredService<TimeProvider>()));
            }

            return new ProviderRegistry(providers, settings.Providers.Default);
        });
        services.AddSingleton(sp => new PriceBook(catalog, sp.GetRequiredService<ProviderRegistry>(), sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<PriceBook>>()));
        services.AddSingleton(sp => new CheckoutService(catalog, sp.GetRequiredService<ProviderRegistry>(), sp.GetRequiredService<IPaymentStore>(),
            sp.GetRequiredService<ICustomerStore>(), sp.GetRequiredService<Gate>(), sp.GetRequiredService<TimeProvider>(), () => sp.GetRequiredService<PublicUrls>().Base));
        services.AddSingleton(sp => new PaymentApplier(catalog, sp.GetRequiredService<IPaymentStore>(), sp.GetRequiredService<ISubscriptionStore>(),
            sp.GetRequiredService<SubscriptionService>(), sp.GetRequiredService<LedgerEngine>(), sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<Core.Events.IEventOutbox>()));
        services.AddSingleton(sp => new WebhookProcessor(sp.GetRequiredService<ProviderRegistry>(), sp.GetRequiredService<IWebhookInbox>(),
            sp.GetRequiredService<PaymentApplier>(), sp.GetRequiredService<Gate>(), sp.GetRequiredService<TollgateDatabase>().Transactions,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<WebhookProcessor>>()));
    }
}
