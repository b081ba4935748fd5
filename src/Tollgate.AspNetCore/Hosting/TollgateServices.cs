using Microsoft.Extensions.DependencyInjection.Extensions;
using Tollgate.AspNetCore;
using Tollgate.Core.Catalog;
using Tollgate.Core.Customers;
using Tollgate.Core.Entitlements;
using Tollgate.Core.Ledger;
using Tollgate.Core.Payments;
using Tollgate.Core.Subscriptions;
using Tollgate.Core.Usage;
using Tollgate.Server.Api.Http;
using Tollgate.Server.Health;
using Tollgate.Server.Hosting;
using Tollgate.Server.Sessions;
using Tollgate.Server.Payments;
using Tollgate.Storage;
using Tollgate.Server.Pages.Shared;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the Tollgate engine into an app's services: <c>builder.Services.AddTollgate(builder.Configuration.GetSection("Tollgate"))</c>.</summary>
public static class TollgateServiceCollectionExtensions
{
    /// <summary>
    /// Registers the whole engine — gate, ledger, subscriptions, payments and their providers, webhooks, change feed,
    /// background jobs, the pages' services and the in-process <see cref="Tollgate.ITollgate"/> — configured by
    /// <paramref name="section"/>, which takes the keys of the server's <c>Tollgate</c> section (API.md §2).
    /// The database is migrated when the app starts, before it serves.
    /// </summary>
    /// <exception cref="ConfigurationException">A setting is wrong; the message names its key.</exception>
    public static IServiceCollection AddTollgate(this IServiceCollection services, IConfigurationSection section)
    {
        ArgumentNullException.ThrowIfNull(section);
        return services.AddTollgate(TollgateSettings.ReadSection(section));
    }

    /// <summary>Registers the whole engine with settings built in code (see <see cref="AddTollgate(IServiceCollection, IConfigurationSection)"/>).</summary>
    /// <param name="services">The app's services.</param>
    /// <param name="settings">The settings; <see cref="TollgateSettings.Read"/> builds them from configuration.</param>
    /// <param name="catalog">The catalog; the one <paramref name="settings"/> names (or the demo catalog) when null.</param>
    /// <exception cref="ConfigurationException">The catalog cannot be loaded; the message names its key.</exception>
    public static IServiceCollection AddTollgate(this IServiceCollection services, TollgateSettings settings, ProductCatalog? catalog = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(settings);
        catalog ??= settings.LoadCatalog();
        // First, so the database is migrated and the keys are loaded before any other hosted service (and the server) starts.
        services.AddSingleton<TollgateStartup>();
        services.AddHostedService(sp => sp.GetRequiredService<TollgateStartup>());
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(settings);
        services.AddSingleton<Tollgate.Server.Health.RefusalSpikes>();
        services.AddSingleton(catalog);
        services.AddSingleton(sp =>
        {
            var database = TollgateDatabase.Create(settings.Database, sp.GetRequiredService<TimeProvider>());
            database.LedgerEvents = new Tollgate.Core.Events.LedgerEvents(catalog, sp.GetRequiredService<TimeProvider>());
            database.AutoTopupFeature = catalog.CreditsFeature?.Id;
            return database;
        });
        services.AddSingleton(sp => sp.GetRequiredService<TollgateDatabase>().Endpoints);
        services.AddSingleton(sp => sp.GetRequiredService<TollgateDatabase>().Outbox);
        services.AddSingleton(sp => new Tollgate.Server.Events.WebhookSender(settings.AllowPrivateWebhookAddresses, sp.GetRequiredService<TimeProvider>()));
        services.AddHostedService<Tollgate.Server.Events.EventDispatcher>();
        services.AddHostedService<Tollgate.Server.Events.EventRetention>();
        services.AddSingleton<Tollgate.Server.Events.AutoTopupCharger>();
        services.AddHostedService<Tollgate.Server.Events.AutoTopupWorker>();
        services.AddSingleton(sp => sp.GetRequiredService<TollgateDatabase>().Customers);
        services.AddSingleton(sp => sp.GetRequiredService<TollgateDatabase>().Subscriptions);
        services.AddSingleton(sp => sp.GetRequiredService<TollgateDatabase>().Idempotency);
        services.AddSingleton(sp => sp.GetRequiredService<TollgateDatabase>().Settings);
        services.AddSingleton(sp => new LedgerEngine(
            sp.GetRequiredService<TollgateDatabase>().Ledger,
            sp.GetRequiredService<TimeProvider>(),
            new LedgerOptions { Lanes = settings.LedgerLanesOrDefault, BurnOrders = catalog.BurnOrders() },
            sp.GetRequiredService<ILogger<LedgerEngine>>()));
        services.AddSingleton(sp => new Gate(catalog, sp.GetRequiredService<LedgerEngine>(), sp.GetRequiredService<ISubscriptionStore>(),
            sp.GetRequiredService<TimeProvider>(), new GateOptions { PastDueKeepsAccess = settings.PastDueKeepsAccess },
            sp.GetService<IExternalAccessSource>(), sp.GetRequiredService<ILogger<Gate>>(), sp.GetRequiredService<Tollgate.Core.Customers.ICustomerStore>())
        {
            // Until the change feed is heard, other servers' writes could be missed: no cache on PostgreSQL yet.
            CacheEnabled = settings.Database.Provider == DatabaseProvider.Sqlite,
        });
        services.AddSingleton(sp => new Tollgate.Core.Customers.Organizations(sp.GetRequiredService<Tollgate.Core.Customers.ICustomerStore>(),
            sp.GetRequiredService<Gate>(), sp.GetRequiredService<TollgateDatabase>().Transactions, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new SubscriptionService(catalog, sp.GetRequiredService<ISubscriptionStore>(), sp.GetRequiredService<LedgerEngine>(),
            sp.GetRequiredService<Gate>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<Tollgate.Core.Events.IEventOutbox>(),
            sp.GetRequiredService<TollgateDatabase>().Transactions, settings.PastDueKeepsAccess, sp.GetRequiredService<ITrialStore>()));
        services.AddSingleton(sp => sp.GetRequiredService<TollgateDatabase>().Trials);
        services.AddSingleton(sp => new TrialService(catalog, sp.GetRequiredService<ITrialStore>(), sp.GetRequiredService<ISubscriptionStore>(),
            sp.GetRequiredService<SubscriptionService>(), sp.GetRequiredService<ICustomerStore>(), sp.GetRequiredService<Gate>(),
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<Tollgate.Core.Idempotency.IIdempotencyStore>(), sp.GetRequiredService<TollgateDatabase>().Transactions,
            sp.GetRequiredService<Tollgate.Core.Events.IEventOutbox>()));
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
        services.AddHostedService<RetentionSweeper>();
        services.AddHostedService<DashboardRollupWorker>();
        if (settings.Providers.SandboxEnabled)
        {
            services.AddHostedService<SandboxRenewer>();
        }

        services.AddSingleton<Tollgate.ITollgate, Tollgate.Server.InProcess.InProcessTollgate>();
        services.AddTollgateGates();
        services.AddAdminLoginRateLimit();
        services.AddTollgatePages();
        return services;
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
        services.AddSingleton<Tollgate.Providers.Sandbox.ISandboxHost>(sp => sp.GetRequiredService<PublicUrls>());
        foreach (var plugin in settings.Providers.Plugins)
        {
            plugin.AddServices(services);
        }

        services.AddSingleton(sp => new ProviderRegistry([.. settings.Providers.Live.Select(p => p.Plugin.Create(p.Settings, sp))], settings.Providers.Default));
        services.AddSingleton(sp => new PriceBook(catalog, sp.GetRequiredService<ProviderRegistry>(), sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<PriceBook>>()));
        services.AddSingleton(sp => new CheckoutService(catalog, sp.GetRequiredService<ProviderRegistry>(), sp.GetRequiredService<IPaymentStore>(),
            sp.GetRequiredService<ICustomerStore>(), sp.GetRequiredService<Gate>(), sp.GetRequiredService<TimeProvider>(), () => sp.GetRequiredService<PublicUrls>().Base,
            sp.GetRequiredService<TollgateDatabase>().Transactions, sp.GetRequiredService<Tollgate.Core.Events.IEventOutbox>(),
            sp.GetRequiredService<ITrialStore>()));
        services.AddSingleton(sp => new PaymentApplier(catalog, sp.GetRequiredService<IPaymentStore>(), sp.GetRequiredService<ISubscriptionStore>(),
            sp.GetRequiredService<SubscriptionService>(), sp.GetRequiredService<LedgerEngine>(), sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<Tollgate.Core.Events.IEventOutbox>()));
        services.AddSingleton(sp => new WebhookProcessor(sp.GetRequiredService<ProviderRegistry>(), sp.GetRequiredService<IWebhookInbox>(),
            sp.GetRequiredService<PaymentApplier>(), sp.GetRequiredService<Gate>(), sp.GetRequiredService<TollgateDatabase>().Transactions,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<WebhookProcessor>>()));
    }
}
