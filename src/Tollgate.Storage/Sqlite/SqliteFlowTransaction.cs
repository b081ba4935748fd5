using System.Data.Common;
using Microsoft.Data.Sqlite;
using Tollgate.Storage.Common;

namespace Tollgate.Storage.Sqlite;

/// <summary>A flow's transaction on SQLite: <c>BEGIN IMMEDIATE</c> with the first statement, so it holds the write
/// lock from its first read (SQLite has one writer; a read-then-write transaction must not find the lock taken later).</summary>
internal sealed class SqliteFlowTransaction(SqliteDatabase database) : AmbientTransaction(database)
{
    private SqliteConnection? _connection;
    private Microsoft.Data.Sqlite.SqliteTransaction? _transaction;
    private WriteGate.Turn? _turn;

    public override DbTransaction? Transaction => _transaction;

    protected override Dialect Dialect => Dialect.Sqlite;

    protected override Events.OutboxSignal OutboxSignal => database.OutboxSignal;

    public override async ValueTask<DbConnection> ConnectionAsync(CancellationToken cancellationToken)
    {
        if (_connection is null)
        {
            _turn ??= await database.WriteGate.EnterAsync(cancellationToken).ConfigureAwait(false);
            var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                _transaction = connection.BeginTransaction(deferred: false);
            }
            catch
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                throw;
            }

            _connection = connection;
        }

        return _connection;
    }

    protected override async Task CommitCoreAsync(CancellationToken cancellationToken)
    {
        if (_transaction is not null)
        {
            await _transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    protected override async ValueTask CloseAsync(bool committed)
    {
        if (_transaction is not null)
        {
            await _transaction.DisposeAsync().ConfigureAwait(false);
        }

        if (_connection is not null)
        {
            await _connection.DisposeAsync().ConfigureAwait(false);
        }

        _turn?.Dispose();
    }
}
