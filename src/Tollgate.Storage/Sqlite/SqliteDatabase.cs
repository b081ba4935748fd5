using Microsoft.Data.Sqlite;
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

namespace Tollgate.Storage.Sqlite;

/// <summary>SQLite in one file: WAL journal, full fsync on commit, and a busy timeout so writers from several
/// processes queue instead of failing.</summary>
internal sealed class SqliteDatabase : TollgateDatabase, IDatabaseTransactions
{
    private const string ConnectionPragmas = "PRAGMA busy_timeout = 30000; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;";
    private readonly string _connectionString;

    public SqliteDatabase(string connectionString, TimeProvider time)
    {
        var builder = new SqliteConnectionStringBuilder(connectionString) { Pooling = true, DefaultTimeout = 30 };
        _connectionString = builder.ToString();
        Ledger = new SqliteLedgerStore(this, time);
        var sql = new Sql(async ct => await OpenAsync(ct).ConfigureAwait(false), Dialect.Sqlite, this, WriteGate);
        Customers = new CustomerStore(sql);
        Subscriptions = new SubscriptionStore(sql, null);
        PlanVersions = new PlanVersionStore(sql, null);
        Trials = new TrialStore(sql);
        Idempotency = new IdempotencyStore(sql);
        Settings = new SettingsStore(sql);
        Payments = new PaymentStore(sql);
        Webhooks = new WebhookInbox(sql, skipLocked: false);
        Retention = new RetentionSweep(sql);
        RevenueRollup = new RevenueRollup(sql, this);
        SubscriptionCounts = new SubscriptionCounts(sql);
        Endpoints = new Events.WebhookEndpointStore(sql, skipLocked: false);
        Outbox = new Events.EventOutbox(this);
        AutoTopups = new Events.AutoTopupStore(sql, skipLocked: false);
        Sandbox = new SandboxStore(sql);
    }

    public override DatabaseProvider Provider => DatabaseProvider.Sqlite;

    /// <summary>
    /// This process's writers take turns here before they take SQLite's write lock. SQLite has one writer, and a
    /// writer that finds the lock taken waits in its busy handler, which sleeps 1, 2, 5, 10 … 100 ms between tries: a
    /// write transaction arriving just after another one began lost milliseconds for nothing (the idle gaps of issue 10).
    /// Queued here, the next writer starts the moment the previous one commits. Other processes on the same file still
    /// meet in the busy handler.
    /// </summary>
    internal WriteGate WriteGate { get; } = new();

    public override IDatabaseTransactions Transactions => this;

    IDatabaseTransaction IDatabaseTransactions.Begin() => new SqliteFlowTransaction(this);

    bool IDatabaseTransactions.IsTransient(Exception exception) => Ledger.IsTransient(exception);

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

    public async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using var pragmas = connection.CreateCommand();
            pragmas.CommandText = ConnectionPragmas;
            await pragmas.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public override async Task<MigrationReport> MigrateAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, null, "PRAGMA journal_mode = WAL;", cancellationToken).ConfigureAwait(false);

        // BEGIN IMMEDIATE takes the write lock first, so a second process waits here and then sees our versions.
        await using var transaction = connection.BeginTransaction(deferred: false);
        await ExecuteAsync(connection, transaction,
            "CREATE TABLE IF NOT EXISTS tollgate_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT;",
            cancellationToken).ConfigureAwait(false);

        var applied = new Dictionary<int, string>();
        await using (var read = connection.CreateCommand())
        {
            read.Transaction = transaction;
            read.CommandText = "SELECT version, checksum FROM tollgate_migrations";
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
            await ExecuteAsync(connection, transaction, migration.Sql, cancellationToken).ConfigureAwait(false);
            await using var record = connection.CreateCommand();
            record.Transaction = transaction;
            record.CommandText = "INSERT INTO tollgate_migrations (version, name, checksum, applied_at) VALUES ($v, $n, $c, unixepoch('subsec') * 1000000)";
            record.Parameters.AddWithValue("$v", migration.Version);
            record.Parameters.AddWithValue("$n", migration.Name);
            record.Parameters.AddWithValue("$c", migration.Checksum);
            await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return new MigrationReport(known[^1].Version, pending.Select(m => $"{m.Version:D4}_{m.Name}").ToList());
    }

    public override async Task<int?> GetSchemaVersionAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
            await using var exists = connection.CreateCommand();
            exists.CommandText = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'tollgate_migrations'";
            if ((long)(await exists.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))! == 0)
            {
                return 0;
            }

            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT coalesce(max(version), 0) FROM tollgate_migrations";
            return (int)(long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        }
        catch (SqliteException)
        {
            return null;
        }
    }

    // The ledger's writer between two writes (null while a write session has it, or before the first one).
    private SqliteWriter? _writer;
    private bool _disposed;

    /// <summary>The ledger's writer (<see cref="SqliteWriter"/>): the one kept from the last write, or a new one. The
    /// caller has it alone until it gives it back with <see cref="ReturnWriterAsync"/> or disposes it.</summary>
    internal async Task<SqliteWriter> TakeWriterAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _writer, null) is { } kept)
        {
            if (kept.Connection.State == System.Data.ConnectionState.Open)
            {
                return kept;
            }

            await kept.DisposeAsync().ConfigureAwait(false);
        }

        return new SqliteWriter(await OpenAsync(cancellationToken).ConfigureAwait(false));
    }

    /// <summary>Keeps <paramref name="writer"/> for the next write session; call it only after the session committed, so
    /// its connection has no transaction or statement in progress. Closes it instead when one is kept already or the
    /// database is disposed.</summary>
    internal async ValueTask ReturnWriterAsync(SqliteWriter writer)
    {
        if (Volatile.Read(ref _disposed) || Interlocked.CompareExchange(ref _writer, writer, null) is not null)
        {
            await writer.DisposeAsync().ConfigureAwait(false);
        }
        else if (Volatile.Read(ref _disposed) && Interlocked.Exchange(ref _writer, null) is { } late)
        {
            // Disposed while this was being kept: close it here, as DisposeAsync may already have looked.
            await late.DisposeAsync().ConfigureAwait(false);
        }
    }

    public override async ValueTask DisposeAsync()
    {
        Volatile.Write(ref _disposed, true);
        if (Interlocked.Exchange(ref _writer, null) is { } writer)
        {
            await writer.DisposeAsync().ConfigureAwait(false);
        }

        using var connection = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(connection);
    }

    private static async Task ExecuteAsync(SqliteConnection connection, SqliteTransaction? transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
