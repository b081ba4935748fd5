using Tollgate.Core.Common;
using Tollgate.Core.Customers;
using Tollgate.Core.Idempotency;
using Tollgate.Core.Ledger;
using Tollgate.Core.Payments;
using Tollgate.Core.Payments.Sandbox;
using Tollgate.Core.Subscriptions;
using Tollgate.Storage.Migrations;
using Tollgate.Storage.Postgres;
using Tollgate.Storage.Sqlite;

namespace Tollgate.Storage;

/// <summary>A customer another process changed: only its ledger, or (a subscription) everything cached about it.</summary>
public readonly record struct CustomerChange(string CustomerId, bool LedgerOnly);

/// <summary>One Tollgate database: its migrations, health and the stores over it. Thread-safe; one per process.</summary>
public abstract class TollgateDatabase : IAsyncDisposable
{
    /// <summary>Which engine this is.</summary>
    public abstract DatabaseProvider Provider { get; }

    /// <summary>Lots, entries and holds.</summary>
    public abstract ILedgerStore Ledger { get; }

    /// <summary>Customers under the app's ids.</summary>
    public abstract ICustomerStore Customers { get; }

    /// <summary>Subscriptions and their periods.</summary>
    public abstract ISubscriptionStore Subscriptions { get; }

    /// <summary>The stored versions of the catalog's plans (grandfathering).</summary>
    public abstract Core.Catalog.IPlanVersionStore PlanVersions { get; }
    /// <summary>Which customer has had a trial of which plan (once per customer and plan, ever).</summary>
    public abstract ITrialStore Trials { get; }

    /// <summary>Responses stored under Idempotency-Keys.</summary>
    public abstract IIdempotencyStore Idempotency { get; }

    /// <summary>Settings Tollgate keeps itself (generated secrets).</summary>
    public abstract ISettingsStore Settings { get; }

    /// <summary>Checkouts, payments and provider customers.</summary>
    public abstract IPaymentStore Payments { get; }

    /// <summary>Provider webhooks as received, and their processing state.</summary>
    public abstract IWebhookInbox Webhooks { get; }

    /// <summary>Deletes what only guarded retries, once past its window (<see cref="Stores.RetentionOptions"/>).</summary>
    public abstract Stores.RetentionSweep Retention { get; }

    /// <summary>Keeps the revenue of closed days computed for the dashboard (<see cref="Stores.RevenueRollup"/>).</summary>
    public abstract Stores.RevenueRollup RevenueRollup { get; }

    /// <summary>Keeps the dashboard's subscriptions per plan and status as counts (<see cref="Stores.SubscriptionCounts"/>).</summary>
    public abstract Stores.SubscriptionCounts SubscriptionCounts { get; }

    /// <summary>The Sandbox provider's sessions and subscriptions.</summary>
    public abstract ISandboxStore Sandbox { get; }

    /// <summary>The app's event endpoints and the deliveries of events to them.</summary>
    public abstract Core.Events.IWebhookEndpointStore Endpoints { get; }

    /// <summary>The outbox of a flow's transaction (events written with the flow's changes).</summary>
    public abstract Core.Events.IEventOutbox Outbox { get; }

    /// <summary>Wakes this process's event dispatcher when events were committed here.</summary>
    public Events.OutboxSignal OutboxSignal { get; } = new();

    /// <summary>The events ledger writes report (credits granted, balance alerts); null: none. Set once, before the
    /// first write.</summary>
    public Core.Events.LedgerEvents? LedgerEvents { get; set; }

    /// <summary>The feature whose balance auto top-up watches (the catalog's credits feature, which packs fill); null:
    /// none, and ledger writes never look. Set once, before the first write.</summary>
    public string? AutoTopupFeature { get; set; }

    /// <summary>Wakes this process's auto top-up worker when a ledger write here made a charge due.</summary>
    public Events.OutboxSignal TopupSignal { get; } = new();

    /// <summary>Customers' auto top-up settings and charges.</summary>
    public abstract Core.Events.IAutoTopupStore AutoTopups { get; }

    /// <summary>Transactions a flow of store calls runs in (a webhook: stored and applied in one).</summary>
    public abstract IDatabaseTransactions Transactions { get; }

    /// <summary>The newest schema version this build knows.</summary>
    public int LatestVersion => Migration.For(Provider)[^1].Version;

    /// <summary>How many migrations this build knows (equal to <see cref="LatestVersion"/> unless numbers are skipped).</summary>
    public int MigrationCount => Migration.For(Provider).Count;

    /// <summary>
    /// PostgreSQL: the connection pool's size (per process) when the connection string does not set
    /// <c>Maximum Pool Size</c>; Npgsql's own default is 100. PostgreSQL does the most work with few transactions running
    /// at once: with 64 webhook deliveries in flight, 64 backends on two cores spent 4.2–4.6 ms of CPU per delivery, against
    /// 2.4–3.0 ms when at most 10 ran and the rest waited for a connection (docs/benchmarks.md, "A pool sized for the
    /// database"). A request that finds every connection busy waits in the pool's queue, up to the connection string's
    /// <c>Timeout</c> (15 s by default), then fails closed (<c>unavailable</c>). Nothing in Tollgate holds a pooled
    /// connection while it waits for another (tests run whole rule sets on a pool of one), so a small pool only queues
    /// work and never deadlocks it.
    /// </summary>
    public const int DefaultPostgresPoolSize = 10;

    /// <summary>The database <paramref name="options"/> name, not yet migrated (see <c>MigrateAsync</c>).</summary>
    /// <param name="options">Engine and connection string.</param>
    /// <param name="time">The clock stored rows are stamped with.</param>
    public static TollgateDatabase Create(DatabaseOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.Provider switch
        {
            DatabaseProvider.Sqlite => new SqliteDatabase(options.ConnectionString, time),
            DatabaseProvider.Postgres => new PostgresDatabase(options.ConnectionString, time),
            _ => throw new ArgumentOutOfRangeException(nameof(options), options.Provider, "Unknown database provider."),
        };
    }

    /// <summary>Applies pending migrations. Safe when several processes start at once: they take turns, and the
    /// later ones find nothing left to do.</summary>
    public abstract Task<MigrationReport> MigrateAsync(CancellationToken cancellationToken);

    /// <summary>The applied schema version, or null when the database cannot be reached.</summary>
    public abstract Task<int?> GetSchemaVersionAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Reports customers whose state another process changed, until cancelled. <paramref name="feedUp"/> is told
    /// whether changes can currently be heard; while they cannot, cached views must not be trusted. SQLite has one
    /// writing process, so there is nothing to hear: the feed is reported up and the call returns at once.
    /// </summary>
    public Task ListenForChangesAsync(Action<string> changed, Action<bool> feedUp, CancellationToken cancellationToken) =>
        ListenForChangesAsync(change => changed(change.CustomerId), feedUp, cancellationToken);

    /// <summary>As <see cref="ListenForChangesAsync(Action{string}, Action{bool}, CancellationToken)"/>, saying whether
    /// only the customer's ledger changed (its subscriptions did not). This instance's own ledger writes are not
    /// reported: the ledger's observer has seen them.</summary>
    public virtual Task ListenForChangesAsync(Action<CustomerChange> changed, Action<bool> feedUp, CancellationToken cancellationToken)
    {
        feedUp(true);
        return Task.CompletedTask;
    }

    /// <summary>Closes the connection pools.</summary>
    public abstract ValueTask DisposeAsync();
}
