using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Tollgate.Bench;

/// <summary>
/// What the seed teams wrote: one transaction per request, <c>UPDATE … SET balance = balance - n WHERE balance &gt;= n</c>
/// plus an entry insert (with the idempotency key under a unique constraint, as Tollgate keeps one too).
/// </summary>
internal abstract class Baseline : IAsyncDisposable
{
    public static async Task<Baseline> CreateAsync(BenchDatabase database)
    {
        Baseline baseline = database.IsPostgres ? new PostgresBaseline(database.ConnectionString) : new SqliteBaseline(database.ConnectionString);
        await baseline.ExecuteAsync(database.IsPostgres
            ? """
              CREATE TABLE bench_balances (customer_id text PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0));
              CREATE TABLE bench_entries (id bigserial PRIMARY KEY, customer_id text NOT NULL, amount bigint NOT NULL,
                  balance_after bigint NOT NULL, idempotency_key text NOT NULL, at timestamptz NOT NULL DEFAULT now(),
                  UNIQUE (customer_id, idempotency_key));
              """
            : """
              PRAGMA journal_mode = WAL;
              CREATE TABLE bench_balances (customer_id TEXT PRIMARY KEY, balance INTEGER NOT NULL CHECK (balance >= 0));
              CREATE TABLE bench_entries (id INTEGER PRIMARY KEY, customer_id TEXT NOT NULL, amount INTEGER NOT NULL,
                  balance_after INTEGER NOT NULL, idempotency_key TEXT NOT NULL, at INTEGER NOT NULL DEFAULT (unixepoch()),
                  UNIQUE (customer_id, idempotency_key));
              """);
        return baseline;
    }

    public abstract Task SeedAsync(IReadOnlyList<string> customers, long balance);

    /// <summary>Takes <paramref name="amount"/> or nothing; true when taken.</summary>
    public abstract Task<bool> ConsumeAsync(string customer, long amount, string key);

    public abstract Task<(long Balance, long Entries)> TotalsAsync();

    public abstract ValueTask DisposeAsync();

    protected abstract Task ExecuteAsync(string sql);

    /// <remarks>On a pool of the size Tollgate's own has (TollgateDatabase.DefaultPostgresPoolSize, unless the connection
    /// string sets one): Npgsql's default of 100 let 64 callers run 64 transactions at once, which made the baseline
    /// slower on two cores (1,405 against 2,226 usages/s spread over 1,000 customers) and so every ratio to it larger.</remarks>
    private sealed class PostgresBaseline(string connectionString) : Baseline
    {
        private readonly NpgsqlDataSource _source = NpgsqlDataSource.Create(SizedAsTollgates(connectionString));

        private static string SizedAsTollgates(string connectionString)
        {
            var builder = new NpgsqlConnectionStringBuilder(connectionString);
            // As PostgresDatabase reads it: the key "Maximum Pool Size" or "MaxPoolSize", in any case or spacing ("Minimum
            // Pool Size" is not one of them).
            var keys = new DbConnectionStringBuilder { ConnectionString = connectionString }.Keys.Cast<string>()
                .Select(k => k.Replace(" ", "", StringComparison.Ordinal).ToUpperInvariant());
            if (!keys.Any(k => k is "MAXIMUMPOOLSIZE" or "MAXPOOLSIZE"))
            {
                builder.MaxPoolSize = Tollgate.Storage.TollgateDatabase.DefaultPostgresPoolSize;
            }

            return builder.ToString();
        }

        public override async Task SeedAsync(IReadOnlyList<string> customers, long balance)
        {
            await using var command = _source.CreateCommand("INSERT INTO bench_balances SELECT unnest($1::text[]), $2");
            command.Parameters.AddWithValue(customers.ToArray());
            command.Parameters.AddWithValue(balance);
            await command.ExecuteNonQueryAsync();
        }

        public override async Task<bool> ConsumeAsync(string customer, long amount, string key)
        {
            await using var connection = await _source.OpenConnectionAsync();
            await using var transaction = await connection.BeginTransactionAsync();
            await using var update = new NpgsqlCommand(
                "UPDATE bench_balances SET balance = balance - $2 WHERE customer_id = $1 AND balance >= $2 RETURNING balance", connection, transaction);
            update.Parameters.AddWithValue(customer);
            update.Parameters.AddWithValue(amount);
            if (await update.ExecuteScalarAsync() is not long after)
            {
                await transaction.RollbackAsync();
                return false;
            }

            await using var insert = new NpgsqlCommand(
                "INSERT INTO bench_entries (customer_id, amount, balance_after, idempotency_key) VALUES ($1, $2, $3, $4)", connection, transaction);
            insert.Parameters.AddWithValue(customer);
            insert.Parameters.AddWithValue(-amount);
            insert.Parameters.AddWithValue(after);
            insert.Parameters.AddWithValue(key);
            await insert.ExecuteNonQueryAsync();
            await transaction.CommitAsync();
            return true;
        }

        public override async Task<(long, long)> TotalsAsync()
        {
            await using var command = _source.CreateCommand("SELECT (SELECT sum(balance) FROM bench_balances)::bigint, (SELECT count(*) FROM bench_entries)");
            await using var reader = await command.ExecuteReaderAsync();
            await reader.ReadAsync();
            return (reader.GetInt64(0), reader.GetInt64(1));
        }

        public override ValueTask DisposeAsync() => _source.DisposeAsync();

        protected override async Task ExecuteAsync(string sql)
        {
            await using var command = _source.CreateCommand(sql);
            await command.ExecuteNonQueryAsync();
        }
    }

    private sealed class SqliteBaseline(string connectionString) : Baseline
    {
        private readonly string _connectionString = new SqliteConnectionStringBuilder(connectionString) { Pooling = true, DefaultTimeout = 60 }.ToString();

        public override async Task SeedAsync(IReadOnlyList<string> customers, long balance)
        {
            await using var connection = await OpenAsync();
            await using var transaction = connection.BeginTransaction();
            foreach (var customer in customers)
            {
                await using var command = Command(connection, transaction, "INSERT INTO bench_balances VALUES ($c, $b)");
                command.Parameters.AddWithValue("$c", customer);
                command.Parameters.AddWithValue("$b", balance);
                await command.ExecuteNonQueryAsync();
            }

            await transaction.CommitAsync();
        }

        public override async Task<bool> ConsumeAsync(string customer, long amount, string key)
        {
            await using var connection = await OpenAsync();
            await using var transaction = connection.BeginTransaction(deferred: false);
            await using var update = Command(connection, transaction,
                "UPDATE bench_balances SET balance = balance - $n WHERE customer_id = $c AND balance >= $n RETURNING balance");
            update.Parameters.AddWithValue("$c", customer);
            update.Parameters.AddWithValue("$n", amount);
            if (await update.ExecuteScalarAsync() is not long after)
            {
                await transaction.RollbackAsync();
                return false;
            }

            await using var insert = Command(connection, transaction,
                "INSERT INTO bench_entries (customer_id, amount, balance_after, idempotency_key) VALUES ($c, $a, $b, $k)");
            insert.Parameters.AddWithValue("$c", customer);
            insert.Parameters.AddWithValue("$a", -amount);
            insert.Parameters.AddWithValue("$b", after);
            insert.Parameters.AddWithValue("$k", key);
            await insert.ExecuteNonQueryAsync();
            await transaction.CommitAsync();
            return true;
        }

        public override async Task<(long, long)> TotalsAsync()
        {
            await using var connection = await OpenAsync();
            await using var command = Command(connection, null, "SELECT (SELECT sum(balance) FROM bench_balances), (SELECT count(*) FROM bench_entries)");
            await using var reader = await command.ExecuteReaderAsync();
            await reader.ReadAsync();
            return (reader.GetInt64(0), reader.GetInt64(1));
        }

        public override ValueTask DisposeAsync() => ValueTask.CompletedTask;

        protected override async Task ExecuteAsync(string sql)
        {
            await using var connection = await OpenAsync();
            await using var command = Command(connection, null, sql);
            await command.ExecuteNonQueryAsync();
        }

        // The same durability settings Tollgate uses, so the comparison is fair.
        private async Task<SqliteConnection> OpenAsync()
        {
            var connection = new SqliteConnection(_connectionString);
            await connection.OpenAsync();
            await using var pragmas = Command(connection, null, "PRAGMA busy_timeout = 60000; PRAGMA synchronous = FULL;");
            await pragmas.ExecuteNonQueryAsync();
            return connection;
        }

        private static SqliteCommand Command(SqliteConnection connection, SqliteTransaction? transaction, string sql)
        {
            var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = sql;
            return command;
        }
    }
}

/// <summary>A fresh database for one benchmark cell: a SQLite file or a PostgreSQL schema.</summary>
internal sealed record BenchDatabase(bool IsPostgres, string ConnectionString, Func<Task> Drop)
{
    public static async Task<BenchDatabase> CreateAsync(string? postgres)
    {
        if (postgres is null)
        {
            var folder = Path.Combine(Path.GetTempPath(), "tollgate-bench", Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(folder);
            return new BenchDatabase(false, $"Data Source={Path.Combine(folder, "bench.db")}", () =>
            {
                SqliteConnection.ClearAllPools();
                Directory.Delete(folder, true);
                return Task.CompletedTask;
            });
        }

        var schema = "bench_" + Guid.NewGuid().ToString("N")[..12];
        await ExecuteAsync(postgres, $"CREATE SCHEMA {schema}");
        // The pool is the connection string's (Tollgate's default when it sets none): `--postgres "…;Maximum Pool Size=100"`
        // measures another.
        var builder = new NpgsqlConnectionStringBuilder(postgres) { SearchPath = schema };
        // TOLLGATE_BENCH_KEEP_SCHEMAS=1 leaves each schema behind for inspection afterwards (pg_stat_user_tables and the
        // like, per table of one run); drop them by hand (DROP SCHEMA bench_… CASCADE).
        var keep = Environment.GetEnvironmentVariable("TOLLGATE_BENCH_KEEP_SCHEMAS") == "1";
        return new BenchDatabase(true, builder.ToString(), () => keep ? Task.CompletedTask : ExecuteAsync(postgres, $"DROP SCHEMA {schema} CASCADE"));
    }

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using DbCommand command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
