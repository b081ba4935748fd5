using Tollgate.Core.Ledger;
using Tollgate.Storage.Migrations;
using Tollgate.Storage.Postgres;
using Tollgate.Storage.Sqlite;

namespace Tollgate.Storage;

/// <summary>One Tollgate database: its migrations, health and the stores over it. Thread-safe; one per process.</summary>
public abstract class TollgateDatabase : IAsyncDisposable
{
    public abstract DatabaseProvider Provider { get; }

    public abstract ILedgerStore Ledger { get; }

    /// <summary>The newest schema version this build knows.</summary>
    public int LatestVersion => Migration.For(Provider).Count;

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

    public abstract ValueTask DisposeAsync();
}
