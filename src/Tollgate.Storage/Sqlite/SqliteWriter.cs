using Microsoft.Data.Sqlite;

namespace Tollgate.Storage.Sqlite;

/// <summary>
/// The connection this process's ledger writes run on, kept open from one write to the next with the statements it has
/// compiled. Microsoft.Data.Sqlite compiles a command's SQL again for every new command (dotnet/efcore#14044): a usage
/// ran about twenty statements, so the write path compiled twenty statements and set the connection's pragmas before it
/// wrote a row, on the caller's critical path (issue 10; <c>perf</c> of the server at one connection put about 40 % of
/// SQLite's time in its parser and code generator). Here each distinct statement is compiled once per connection and
/// then only rebound.
/// </summary>
/// <remarks>
/// One session at a time: <see cref="SqliteDatabase.TakeWriterAsync"/> hands the writer out and takes it back
/// (<see cref="SqliteDatabase.ReturnWriterAsync"/>) only after a clean end, so a writer never serves two sessions at once and
/// one left in an unknown state by a failure is closed, not reused. A reused statement sees the schema as it is: SQLite
/// recompiles a prepared statement whose tables changed (<c>sqlite3_prepare_v2</c>) before it runs.
/// </remarks>
internal sealed class SqliteWriter(SqliteConnection connection) : IAsyncDisposable
{
    // The write path has a few dozen distinct statements (the lot loads have eight shapes); this bound only keeps an
    // unexpected stream of one-off SQL from growing the cache, which then runs such statements uncached.
    internal const int MaxStatements = 64;

    private readonly Dictionary<string, SqliteCommand> _statements = new(StringComparer.Ordinal);

    public SqliteConnection Connection { get; } = connection;

    /// <summary>Statements compiled and kept so far (for tests).</summary>
    internal int CachedStatements => _statements.Count;

    /// <summary>The statement for <paramref name="sql"/> in <paramref name="transaction"/>, without parameters: compiled
    /// on its first run on this connection and reused after that.</summary>
    public SqliteStatement Statement(string sql, SqliteTransaction? transaction)
    {
        if (_statements.TryGetValue(sql, out var cached))
        {
            cached.Transaction = transaction;
            cached.Parameters.Clear();
            return new SqliteStatement(cached, owned: false);
        }

        var command = Connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        if (_statements.Count >= MaxStatements)
        {
            return new SqliteStatement(command, owned: true);
        }

        _statements.Add(sql, command);
        return new SqliteStatement(command, owned: false);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var command in _statements.Values)
        {
            await command.DisposeAsync().ConfigureAwait(false);
        }

        _statements.Clear();
        await Connection.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>A command of a write session: disposing it disposes a command made for one use, and only clears the
/// parameters of one a <see cref="SqliteWriter"/> keeps.</summary>
internal readonly struct SqliteStatement(SqliteCommand command, bool owned) : IAsyncDisposable
{
    public SqliteParameterCollection Parameters => command.Parameters;

    public Task<SqliteDataReader> ExecuteReaderAsync(CancellationToken cancellationToken) => command.ExecuteReaderAsync(cancellationToken);

    public Task<int> ExecuteNonQueryAsync(CancellationToken cancellationToken) => command.ExecuteNonQueryAsync(cancellationToken);

    /// <summary>A statement made for one use on <paramref name="connection"/> (a flow's, or a read's).</summary>
    public static SqliteStatement Once(SqliteConnection connection, SqliteTransaction? transaction, string sql)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return new SqliteStatement(command, owned: true);
    }

    public ValueTask DisposeAsync()
    {
        if (owned)
        {
            return command.DisposeAsync();
        }

        command.Parameters.Clear();
        command.Transaction = null;
        return ValueTask.CompletedTask;
    }
}
