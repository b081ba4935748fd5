using Tollgate.Core.Catalog;
using Tollgate.Core.Entitlements;
using Tollgate.Core.Ledger;
using Tollgate.Core.Subscriptions;
using Tollgate.Core.Usage;
using Tollgate.Testing;

namespace Tollgate.Storage.Tests.Usage;

/// <summary>The gate over a real database (a fresh one per test), the ledger engine and a small catalog, on a manual
/// clock: the gate's rules without the HTTP server around it, so each runs in milliseconds.</summary>
public abstract class GateTestBase : IAsyncLifetime
{
    /// <summary>A free default plan and a paid one, with one feature of each type; metered <c>ai_messages</c> spills into
    /// <c>credits</c> at 2 credits a message, metered <c>reports</c> has no credit cost (and pro leaves it out), and no plan
    /// has the concurrency feature <c>gpus</c>.</summary>
    protected const string CatalogYaml = """
        features:
          credits: { type: credits, name: Credits }
          ai_messages: { type: metered, credit_cost: 2 }
          reports: { type: metered }
          hd_export: { type: boolean }
          projects: { type: count }
          jobs: { type: concurrency }
          gpus: { type: concurrency }
        plans:
          free:
            default: true
            features:
              ai_messages: { limit: 3, reset: month }
              reports: { limit: 2, reset: month }
              projects: { limit: 2 }
              jobs: { limit: 2 }
          pro:
            interval: month
            price: { amount: 1900, currency: USD }
            features:
              hd_export: true
              ai_messages: { limit: 100, reset: month }
              projects: { limit: 10 }
              jobs: { limit: 5 }
              credits: { grant: 10, reset: month }
        """;

    private int _keys;

    protected abstract DatabaseProvider Provider { get; }

    /// <summary>PostgreSQL with one pooled connection (<see cref="TestDatabase.CreateAsync"/>): for the rules run again to
    /// show that nothing in them asks for a second connection while it holds one.</summary>
    protected virtual bool OnePooledConnection => false;

    protected ManualTimeProvider Clock { get; } = new();

    protected TestDatabase Db { get; private set; } = null!;

    protected LedgerEngine Ledger { get; private set; } = null!;

    protected Gate Gate { get; private set; } = null!;

    /// <summary>What the gate logged.</summary>
    protected ListLogger<Gate> Log { get; } = new();

    protected ProductCatalog Catalog { get; private set; } = null!;

    /// <summary>The catalog the gate decides against (<see cref="CatalogYaml"/> unless a test class needs another).</summary>
    protected virtual string Yaml => CatalogYaml;

    /// <summary>The ledger store the engine writes through (the database's, unless a test puts a fault in front of it).</summary>
    protected virtual ILedgerStore Store(ILedgerStore database) => database;

    /// <summary>The outside source of capabilities the gate asks, or none.</summary>
    protected virtual IExternalAccessSource? External => null;

    /// <summary>Whether the gate knows members (customers billed on another): it then reads the customers' store.</summary>
    protected virtual bool WithMembers => false;

    /// <summary>The subscription store the gate reads (the database's, unless a test puts something in front of it).</summary>
    protected virtual ISubscriptionStore Subscriptions(ISubscriptionStore database) => database;

    public async ValueTask InitializeAsync()
    {
        // The first of a month, so the free plan's calendar window is the whole month ahead.
        Clock.Set(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero));
        Catalog = CatalogLoader.Parse(Yaml, "catalog.yaml", [new CatalogMapping("sandbox", null)]);
        Db = await TestDatabase.CreateAsync(Provider, Clock, onePooledConnection: OnePooledConnection);
        Ledger = new LedgerEngine(Store(Db.Database.Ledger), Clock, new LedgerOptions { Lanes = 1 });
        Gate = new Gate(Catalog, Ledger, Subscriptions(Db.Database.Subscriptions), Clock, external: External, logger: Log,
            customers: WithMembers ? Db.Database.Customers : null);
    }

    public async ValueTask DisposeAsync()
    {
        await Ledger.DisposeAsync();
        await Db.DisposeAsync();
        GC.SuppressFinalize(this);
    }

    protected static string NewCustomer() => "cus_" + Guid.NewGuid().ToString("N")[..12];

    protected string Key() => $"k{Interlocked.Increment(ref _keys)}";

    /// <summary>Credits bought (a pack): lots of the credits feature.</summary>
    protected async Task GrantCredits(string customer, long amount) =>
        Assert.True((await Ledger.GrantAsync(new GrantRequest(customer, "credits", amount, LotSource.Payment, Key()))).Succeeded);

    /// <summary>An active subscription to <paramref name="plan"/> for the month from now.</summary>
    protected async Task Subscribe(string customer, string plan = "pro")
    {
        var now = Clock.GetUtcNow();
        var subscription = new Subscription("sub_" + Guid.NewGuid().ToString("N")[..12], customer, plan, "sandbox", null, null,
            SubscriptionStatus.Active, now, now.AddMonths(1), false, null, null, now, now, now);
        await Db.Database.Subscriptions.SaveAsync(subscription, CancellationToken.None);
        Gate.Invalidate(customer);
    }
}
