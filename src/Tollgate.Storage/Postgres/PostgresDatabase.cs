using System.Text;
using Npgsql;
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
internal sealed class PostgresDatabase : TollgateDatabase
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

        DataSource = builder.Build();
        Ledger = new PostgresLedgerStore(DataSource, time);
        var sql = new Sql(async ct => await DataSource.OpenConnectionAsync(ct).ConfigureAwait(false), Dialect.Postgres);
        Customers = new CustomerStore(sql);
        Subscriptions = new SubscriptionStore(sql, (customerId, ct) => sql.ExecuteAsync($"SELECT pg_notify('{ChangeChannel}', @c)", ct, ("@c", customerId)));
        Idempotency = new IdempotencyStore(sql);
        Settings = new SettingsStore(sql);
        Payments = new PaymentStore(sql);
        Webhooks = new WebhookInbox(sql, skipLocked: true);
        Sandbox = new SandboxStore(sql);
    }

    public NpgsqlDataSource DataSource { get; }

    public override DatabaseProvider Provider => DatabaseProvider.Postgres;

    public override ILedgerStore Ledger { get; }

    public override ICustomerStore Customers { get; }

    public override ISubscriptionStore Subscriptions { get; }

    public override IIdempotencyStore Idempotency { get; }

    public override ISettingsStore Settings { get; }

    public override IPaymentStore Payments { get; }

    public override IWebhookInbox Webhooks { get; }

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

            return new MigrationReport(known.Count, pending.Select(m => $"{m.Version:D4}_{m.Name}").ToList());
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

    public override ValueTask DisposeAsync() => DataSource.DisposeAsync();

    public override async Task ListenForChangesAsync(Action<string> changed, Action<bool> feedUp, CancellationToken cancellationToken)
    {
        var backoff = TimeSpan.FromMilliseconds(200);
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
                connection.Notification += (_, e) =>
                {
                    foreach (var customerId in e.Payload.Split(ChangeSeparator))
                    {
                        changed(customerId);
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

    /// <summary>Customer ids joined into as few payloads as PostgreSQL's 8,000-byte payload limit allows.</summary>
    internal static IEnumerable<string> ChangePayloads(IEnumerable<string> customerIds)
    {
        const int MaxPayloadBytes = 7900;
        var payload = new StringBuilder();
        var bytes = 0;
        foreach (var id in customerIds)
        {
            var idBytes = Encoding.UTF8.GetByteCount(id);
            if (payload.Length > 0 && bytes + 1 + idBytes > MaxPayloadBytes)
            {
                yield return payload.ToString();
                payload.Clear();
                bytes = 0;
            }

            if (payload.Length > 0)
            {
                payload.Append(ChangeSeparator);
                bytes++;
            }

            payload.Append(id);
            bytes += idBytes;
        }

        if (payload.Length > 0)
        {
            yield return payload.ToString();
        }
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
