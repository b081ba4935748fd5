using Npgsql;
using Tollgate.Storage;

namespace Tollgate.Testing;

/// <summary>A fresh, migrated, real database for one test: a SQLite file in a temp folder, or a PostgreSQL schema
/// of its own in the <c>TOLLGATE_TEST_POSTGRES</c> database. Dropped on dispose.</summary>
public sealed class TestDatabase : IAsyncDisposable
{
    private readonly Func<ValueTask> _cleanup;

    private TestDatabase(DatabaseOptions options, TollgateDatabase database, Func<ValueTask> cleanup)
    {
        Options = options;
        Database = database;
        _cleanup = cleanup;
    }

    public DatabaseOptions Options { get; }

    public TollgateDatabase Database { get; }

    /// <param name="onePooledConnection">PostgreSQL: a pool of one connection, so anything that holds a pooled connection
    /// while it asks for another fails (after the connection string's Timeout) instead of deadlocking only under load
    /// (Tollgate's default pool is small: TollgateDatabase.DefaultPostgresPoolSize). Otherwise the product's default pool.</param>
    public static async Task<TestDatabase> CreateAsync(DatabaseProvider provider, TimeProvider time, bool migrate = true,
        bool onePooledConnection = false)
    {
        string? folder = null;
        var options = provider == DatabaseProvider.Sqlite ? NewSqlite(out folder) : await NewPostgresSchemaAsync(onePooledConnection);
        var database = TollgateDatabase.Create(options, time);
        if (migrate)
        {
            await database.MigrateAsync(CancellationToken.None);
        }

        return new TestDatabase(options, database, async () =>
        {
            await database.DisposeAsync();
            if (provider == DatabaseProvider.Sqlite)
            {
                TryDelete(folder!);
            }
            else
            {
                await DropSchemaAsync(options.ConnectionString);
            }
        });
    }

    /// <summary>The same database for a second user (a second server) that must not drop it: disposing it does nothing.</summary>
    public TestDatabase Borrow() => new(Options, Database, () => ValueTask.CompletedTask);

    /// <summary>Another connection pool on the same database, as a second process would have.</summary>
    public TollgateDatabase OpenAnother(TimeProvider time) => TollgateDatabase.Create(Options, time);

    /// <summary>A plain open connection to this database, past Tollgate's stores: for a test that reads or checks the
    /// tables themselves (an invariant in one statement, an oracle).</summary>
    public async Task<System.Data.Common.DbConnection> OpenConnectionAsync()
    {
        System.Data.Common.DbConnection connection = Options.Provider == DatabaseProvider.Postgres
            ? new NpgsqlConnection(Options.ConnectionString)
            : new Microsoft.Data.Sqlite.SqliteConnection(Options.ConnectionString);
        await connection.OpenAsync();
        return connection;
    }

    public ValueTask DisposeAsync() => _cleanup();

    private static DatabaseOptions NewSqlite(out string? folder)
    {
        folder = Path.Combine(Path.GetTempPath(), "tollgate-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        return new DatabaseOptions(DatabaseProvider.Sqlite, $"Data Source={Path.Combine(folder, "tollgate.db")}");
    }

    private static async Task<DatabaseOptions> NewPostgresSchemaAsync(bool onePooledConnection)
    {
        var baseConnection = Postgres.ConnectionString;
        var schema = "t_" + Guid.NewGuid().ToString("N")[..16];
        await using (var connection = new NpgsqlConnection(baseConnection))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE SCHEMA {schema}", connection);
            await command.ExecuteNonQueryAsync();
        }

        var builder = new NpgsqlConnectionStringBuilder(baseConnection) { SearchPath = schema };
        if (onePooledConnection)
        {
            // Npgsql's Timeout bounds the pool's wait and also opening a new physical connection, which takes seconds
            // on a loaded CI machine; a nested checkout never gets the one connection, so a longer wait only delays its
            // failure, while a short one failed healthy tests (stop 50's CI: a connect past 3 s).
            builder.MaxPoolSize = 1;
            builder.Timeout = 15;
        }

        return new DatabaseOptions(DatabaseProvider.Postgres, builder.ToString());
    }

    private static async Task DropSchemaAsync(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        var schema = builder.SearchPath!;
        builder.SearchPath = null;
        builder.Pooling = false;
        // Not the test's own Timeout: dropping must not fail because a connect was slow.
        builder.Timeout = 30;
        await using var connection = new NpgsqlConnection(builder.ToString());
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"DROP SCHEMA {schema} CASCADE", connection);
        await command.ExecuteNonQueryAsync();
    }

    private static void TryDelete(string folder)
    {
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
            // A pooled handle may still be closing; the temp folder is cleaned by the OS later.
        }
    }
}
