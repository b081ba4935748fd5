using System.Text;
using Npgsql;
using Tollgate.Core.Common;
using Tollgate.Core.Customers;
using Tollgate.Core.Idempotency;
using Tollgate.Core.Ledger;
using Tollgate.Core.Payments;
using Tollgate.Core.Payments.Sandbox;
using Tollgate.Core.Subscriptions;
using Tollgate.Storage.Common;
using Tollgate.Storage.Stores;
using Tollgate.Storage.Migrations;

namespace Tollgate.Storage.Postgres;

/// <summary>PostgreSQL through one pooled <see cref="NpgsqlDataSource"/>.</summary>
internal sealed class PostgresDatabase : TollgateDatabase, IDatabaseTransactions
{
    // Any fixed number works; it only has to be the same in every Tollgate process sharing the database.
    private const long MigrationLockKey = 0x546f6c6c67617465; // "Tollgate"

    public PostgresDatabase(string connectionString, TimeProvider time)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        if (builder.ConnectionStringBuilder.MaxAutoPrepare == 0)
        {
            // The ledger sends the same few statements all day: preparing them saves a parse and plan per call.
            builder.ConnectionStringBuilder.MaxAutoPrepare = 64;
        }

        if (!Mentions(connectionString, "maximumpoolsize") && !Mentions(connectionString, "maxpoolsize"))
        {
            builder.ConnectionStringBuilder.MaxPoolSize = DefaultPostgresPoolSize;
        }

        if (!Mentions(connectionString, "noresetonclose"))
        {
            // Returning a connection to the pool otherwise resets its session (DISCARD ALL, or RESET ALL and more when
            // statements are prepared) on its next use: server work on every checkout, for state this code never
            // leaves behind. Npgsql still rolls back a transaction left open; the one LISTEN lives on a connection of
            // its own (ListenDataSource) that never enters the pool; the migrations' advisory lock is released in a
            // finally block (and dies with its connection if that fails).
            builder.ConnectionStringBuilder.NoResetOnClose = true;
        }

        DataSource = builder.Build();
        var listen = new NpgsqlDataSourceBuilder(connectionString);
        listen.ConnectionStringBuilder.Pooling = false;
        ListenDataSource = listen.Build();
        Ledger = new PostgresLedgerStore(this, time);
        var sql = new Sql(async ct => await DataSource.OpenConnectionAsync(ct).ConfigureAwait(false), Dialect.Postgres, this);
        Customers = new CustomerStore(sql, NotifySubscriptionChangedAsync);
        Subscriptions = new SubscriptionStore(sql, NotifySubscriptionChangedAsync);
        PlanVersions = new PlanVersionStore(sql, NotifySubscriptionChangedAsync);
        Trials = new TrialStore(sql);
        Idempotency = new IdempotencyStore(sql);
        Settings = new SettingsStore(sql);
        Payments = new PaymentStore(sql);
        Webhooks = new WebhookInbox(sql, skipLocked: true);
        Retention = new RetentionSweep(sql);
        RevenueRollup = new RevenueRollup(sql, this);
        SubscriptionCounts = new SubscriptionCounts(sql);
        Endpoints = new Events.WebhookEndpointStore(sql, skipLocked: true);
        Outbox = new Events.EventOutbox(this);
        AutoTopups = new Events.AutoTopupStore(sql, skipLocked: true);
        Sandbox = new SandboxStore(sql);
    }

    public NpgsqlDataSource DataSource { get; }

    /// <summary>Whether the connection string sets <paramref name="key"/> (lower case, without spaces) itself.</summary>
    private static bool Mentions(string connectionString, string key) =>
        new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString }.Keys.Cast<string>()
            .Any(k => k.Replace(" ", "", StringComparison.Ordinal).Equals(key, StringComparison.OrdinalIgnoreCase));

    public override IDatabaseTransactions Transactions => this;

    IDatabaseTransaction IDatabaseTransactions.Begin() => new PostgresFlowTransaction(this);

    bool IDatabaseTransactions.IsTransient(Exception exception) => Ledger.IsTransient(exception) || IsConcurrentFirstWrite(exception);

    /// <summary>
    /// Two flows that each found no row for one provider subscription both insert it, under ids of their own: the second
    /// waits for the first to commit, then fails on the unique (provider, provider subscription id). Nothing was wrong with
    /// its work: run again, it reads the stored row and updates it (under the ordering rule of the upsert). Creem sends
    /// checkout.completed, subscription.active and subscription.paid within a second of each other, so without this the
    /// paid period's event failed and its allowance waited for the retry worker's backoff. (SQLite runs one writer at a
    /// time: it never sees this.)
    /// Since migration 0017 the uniqueness across customers is the provider subscription's customer_keys row: a flow of
    /// another customer that lost the race finds the key taken (<see cref="CustomerKeyTakenException"/>) and is run again
    /// in the same way; within one customer the unique index of that name still fails the second insert.
    /// </summary>
    private static bool IsConcurrentFirstWrite(Exception exception) =>
        exception is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation, ConstraintName: "subscriptions_provider" }
            or CustomerKeyTakenException { Kind: CustomerKeys.ProviderSubscription };

    /// <summary>A subscription changed: other servers drop everything cached about the customer. Inside a flow's
    /// transaction the notification waits for its commit (a transaction that notifies holds the global notify lock
    /// through its commit's flush).</summary>
    private async Task<int> NotifySubscriptionChangedAsync(string customerId, CancellationToken cancellationToken)
    {
        if (AmbientTransaction.For(this) is { } flow)
        {
            flow.ChangedSubscriptions.Add(customerId);
            return 0;
        }

        await using var command = DataSource.CreateCommand($"SELECT pg_notify('{ChangeChannel}', $1)");
        command.Parameters.AddWithValue(customerId);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Unpooled: the change feed's connection keeps its LISTEN, which must never reach a pooled connection.</summary>
    private NpgsqlDataSource ListenDataSource { get; }

    /// <summary>Names this instance in its ledger's change notifications, so its own listener skips them: its gate has
    /// already replaced its view of those customers with the state the write committed.</summary>
    internal string Origin { get; } = Guid.NewGuid().ToString("N")[..12];

    public override DatabaseProvider Provider => DatabaseProvider.Postgres;

    public override ILedgerStore Ledger { get; }

    public override ICustomerStore Customers { get; }

    public override ISubscriptionStore Subscriptions { get; }

    public override Core.Catalog.IPlanVersionStore PlanVersions { get; }
    public override ITrialStore Trials { get; }

    public override IIdempotencyStore Idempotency { get; }

    public override ISettingsStore Settings { get; }

    public override IPaymentStore Payments { get; }

    public override IWebhookInbox Webhooks { get; }

    public override RetentionSweep Retention { get; }

    public override RevenueRollup RevenueRollup { get; }

    public override SubscriptionCounts SubscriptionCounts { get; }

    public override Core.Events.IWebhookEndpointStore Endpoints { get; }

    public override Core.Events.IEventOutbox Outbox { get; }

    public override Core.Events.IAutoTopupStore AutoTopups { get; }

    public override ISandboxStore Sandbox { get; }

    public override async Task<MigrationReport> MigrateAsync(CancellationToken cancellationToken)
    {
        await using var connection = await DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        // A session advisory lock serialises migrators across processes; CREATE TABLE IF NOT EXISTS alone races
        // (two creators can both pass the check and one then fails on the catalog's unique index).
        await ExecuteAsync(connection, null, $"SELECT pg_advisory_lock({MigrationLockKey})", cancellationToken).ConfigureAwait(false);
        try
        {
            await ExecuteAsync(connection, null,
                "CREATE TABLE IF NOT EXISTS tollgate_migrations (version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
                cancellationToken).ConfigureAwait(false);
            var applied = new Dictionary<int, string>();
            await using (var read = new NpgsqlCommand("SELECT version, checksum FROM tollgate_migrations", connection))
            {
                await using var reader = await read.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    applied[reader.GetInt32(0)] = reader.GetString(1);
                }
            }

            var known = Migration.For(Provider);
            var pending = AppliedMigrations.Pending(known, applied);
            foreach (var migration in pending)
            {
                await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                await ExecuteAsync(connection, transaction, migration.Sql, cancellationToken).ConfigureAwait(false);
                await using (var record = new NpgsqlCommand("INSERT INTO tollgate_migrations (version, name, checksum) VALUES ($1, $2, $3)", connection, transaction))
                {
                    record.Parameters.AddWithValue(migration.Version);
                    record.Parameters.AddWithValue(migration.Name);
                    record.Parameters.AddWithValue(migration.Checksum);
                    await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }

                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            }

            return new MigrationReport(known[^1].Version, pending.Select(m => $"{m.Version:D4}_{m.Name}").ToList());
        }
        finally
        {
            await ExecuteAsync(connection, null, $"SELECT pg_advisory_unlock({MigrationLockKey})", CancellationToken.None).ConfigureAwait(false);
        }
    }

    public override async Task<int?> GetSchemaVersionAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var exists = DataSource.CreateCommand("SELECT to_regclass('tollgate_migrations') IS NOT NULL");
            if (!(bool)(await exists.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!)
            {
                return 0;
            }

            await using var command = DataSource.CreateCommand("SELECT coalesce(max(version), 0) FROM tollgate_migrations");
            return (int)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        }
        catch (NpgsqlException)
        {
            return null;
        }
    }

    public override async ValueTask DisposeAsync()
    {
        await ListenDataSource.DisposeAsync().ConfigureAwait(false);
        await DataSource.DisposeAsync().ConfigureAwait(false);
    }

    public override async Task ListenForChangesAsync(Action<CustomerChange> changed, Action<bool> feedUp, CancellationToken cancellationToken)
    {
        var backoff = TimeSpan.FromMilliseconds(200);
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await ListenDataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
                connection.Notification += (_, e) =>
                {
                    var (origin, ledgerOnly, ids) = ParsePayload(e.Payload);
                    if (origin == Origin)
                    {
                        return;
                    }

                    foreach (var customerId in ids.Split(ChangeSeparator))
                    {
                        changed(new CustomerChange(customerId, ledgerOnly));
                    }
                };
                await using (var listen = new NpgsqlCommand($"LISTEN {ChangeChannel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }

                feedUp(true);
                backoff = TimeSpan.FromMilliseconds(200);
                while (true)
                {
                    await connection.WaitAsync(cancellationToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is NpgsqlException or IOException or TimeoutException)
            {
                // Notifications sent while we were not listening are lost: nothing cached can be trusted now.
                feedUp(false);
                await Task.Delay(backoff, cancellationToken).ConfigureAwait(false);
                backoff = TimeSpan.FromMilliseconds(Math.Min(backoff.TotalMilliseconds * 2, 5000));
            }
        }
    }

    /// <summary>The channel every write notifies with the ids of the customers it changed.</summary>
    internal const string ChangeChannel = "tollgate_customers";

    /// <summary>Separates customer ids in a notification's payload; customer ids never contain it.</summary>
    internal const char ChangeSeparator = ',';

    /// <summary>Ends a ledger notification's header ("ledger:&lt;origin&gt;|"); customer ids never contain it. A payload
    /// without one (a subscription change) names customers whose whole view is stale.</summary>
    internal const char HeaderEnd = '|';

    private const string LedgerHeader = "ledger:";

    /// <summary>Customer ids changed by a ledger write of <paramref name="origin"/>, joined into as few payloads as
    /// PostgreSQL's 8,000-byte payload limit allows.</summary>
    /// <remarks>Without an origin the payload has no header: other servers drop everything they cache about these
    /// customers (a subscription changed), and this server's own listener hears it too.</remarks>
    internal static IEnumerable<string> ChangePayloads(string? origin, IEnumerable<string> customerIds)
    {
        const int MaxPayloadBytes = 7900;
        var header = origin is null ? "" : LedgerHeader + origin + HeaderEnd;
        var headerBytes = Encoding.UTF8.GetByteCount(header);
        var payload = new StringBuilder(header);
        var bytes = headerBytes;
        var empty = true;
        foreach (var id in customerIds)
        {
            var idBytes = Encoding.UTF8.GetByteCount(id);
            if (!empty && bytes + 1 + idBytes > MaxPayloadBytes)
            {
                yield return payload.ToString();
                payload.Clear().Append(header);
                bytes = headerBytes;
                empty = true;
            }

            if (!empty)
            {
                payload.Append(ChangeSeparator);
                bytes++;
            }

            payload.Append(id);
            bytes += idBytes;
            empty = false;
        }

        if (!empty)
        {
            yield return payload.ToString();
        }
    }

    private static (string? Origin, bool LedgerOnly, string Ids) ParsePayload(string payload)
    {
        var end = payload.IndexOf(HeaderEnd, StringComparison.Ordinal);
        if (end < 0 || !payload.StartsWith(LedgerHeader, StringComparison.Ordinal))
        {
            return (null, false, payload);
        }

        return (payload[LedgerHeader.Length..end], true, payload[(end + 1)..]);
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
