using System.Data.Common;
using System.Globalization;
using Microsoft.Data.Sqlite;
using Npgsql;
using Tollgate.Storage;
using Tollgate.Testing;

namespace Tollgate.Fault.Tests.Support;

/// <summary>
/// The database a server process runs on, and the books read straight from it: a SQLite file of its own, a PostgreSQL
/// schema of its own in <c>TOLLGATE_TEST_POSTGRES</c>, or a PostgreSQL cluster of the test's own (<see cref="OwnPostgres"/>).
/// </summary>
public sealed class FaultDatabase : IAsyncDisposable
{
    private readonly Func<ValueTask> _cleanup;

    private FaultDatabase(bool isPostgres, string connectionString, Func<ValueTask> cleanup)
    {
        IsPostgres = isPostgres;
        ConnectionString = connectionString;
        _cleanup = cleanup;
    }

    public bool IsPostgres { get; }

    public string ConnectionString { get; }

    public string Name => IsPostgres ? "PostgreSQL" : "SQLite";

    /// <summary>A fresh, empty database (the server migrates it when it starts).</summary>
    public static async Task<FaultDatabase> CreateAsync(DatabaseProvider provider)
    {
        var database = await TestDatabase.CreateAsync(provider, TimeProvider.System, migrate: false);
        return new FaultDatabase(provider == DatabaseProvider.Postgres, database.Options.ConnectionString, database.DisposeAsync);
    }

    /// <summary>A database on a cluster the test controls; nothing to drop (the cluster goes).</summary>
    public static FaultDatabase On(string postgresConnectionString) => new(true, postgresConnectionString, () => ValueTask.CompletedTask);

    /// <summary>What the ledger holds for one customer's feature, read from the tables.</summary>
    public async Task<Books> BooksAsync(string customer, string feature)
    {
        await using var connection = Open();
        await connection.OpenAsync();
        var charges = new Dictionary<string, (int Entries, long Amount)>(StringComparer.Ordinal);
        await using (var command = Command(connection,
            "SELECT operation_key, count(*), sum(amount) FROM ledger_entries WHERE customer_id = @c AND feature = @f AND type = 'consume' GROUP BY operation_key",
            customer, feature))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                charges[reader.IsDBNull(0) ? "" : reader.GetString(0)] = (Convert.ToInt32(reader.GetValue(1), CultureInfo.InvariantCulture),
                    -Convert.ToInt64(reader.GetValue(2), CultureInfo.InvariantCulture));
            }
        }

        var entrySum = await ScalarAsync(connection, "SELECT coalesce(sum(amount), 0) FROM ledger_entries WHERE customer_id = @c AND feature = @f", customer, feature);
        var remaining = await ScalarAsync(connection, "SELECT coalesce(sum(remaining), 0) FROM ledger_lots WHERE customer_id = @c AND feature = @f", customer, feature);
        var held = await ScalarAsync(connection, "SELECT coalesce(sum(held), 0) FROM ledger_lots WHERE customer_id = @c AND feature = @f", customer, feature);
        return new Books(charges, entrySum, remaining, held);
    }

    /// <summary>Rows in each of the tables money lives in (to prove that bad input changed nothing).</summary>
    public async Task<IReadOnlyDictionary<string, long>> MoneyRowsAsync()
    {
        await using var connection = Open();
        await connection.OpenAsync();
        var counts = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var table in new[] { "ledger_entries", "ledger_lots", "ledger_holds", "ledger_operations", "payments", "subscriptions", "checkouts" })
        {
            counts[table] = await ScalarAsync(connection, $"SELECT count(*) FROM {table}", "", "");
        }

        return counts;
    }

    public ValueTask DisposeAsync() => _cleanup();

    private DbConnection Open() => IsPostgres ? new NpgsqlConnection(ConnectionString) : new SqliteConnection(ConnectionString);

    private static DbCommand Command(DbConnection connection, string sql, string customer, string feature)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in new[] { ("@c", customer), ("@f", feature) })
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value;
            command.Parameters.Add(parameter);
        }

        return command;
    }

    private static async Task<long> ScalarAsync(DbConnection connection, string sql, string customer, string feature)
    {
        await using var command = Command(connection, sql, customer, feature);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }
}

/// <summary>One customer's feature in the ledger tables.</summary>
/// <param name="Charges">Consume entries per operation key (usage keys are <c>usage:&lt;Idempotency-Key&gt;</c>).</param>
/// <param name="EntrySum">The sum of every entry of the feature: the balance the entries say.</param>
/// <param name="Remaining">What the lots say is left (not held).</param>
public sealed record Books(IReadOnlyDictionary<string, (int Entries, long Amount)> Charges, long EntrySum, long Remaining, long Held)
{
    public int EntriesFor(string idempotencyKey) => Charges.TryGetValue("usage:" + idempotencyKey, out var c) ? c.Entries : 0;

    public long Charged => Charges.Values.Sum(c => c.Amount);

    /// <summary>Invariant 4: the entries add up to what the lots hold.</summary>
    public bool Balanced => EntrySum == Remaining + Held;
}
