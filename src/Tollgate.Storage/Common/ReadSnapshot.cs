using System.Data;
using System.Data.Common;

namespace Tollgate.Storage.Common;

/// <summary>
/// Reads that must see one state of the database (<see cref="Sql.ReadOneSnapshotAsync"/>), as an ambient transaction
/// of their own: while it is open, the statements of its database in the calling flow run on its connection, in one
/// read transaction — REPEATABLE READ on PostgreSQL, whose snapshot is taken by the first statement and kept to the
/// end; a deferred transaction on SQLite, which in WAL mode reads the snapshot of its first read to the end and holds
/// no writer up. Nothing is written in it.
/// </summary>
internal sealed class ReadSnapshot(object owner, Func<CancellationToken, Task<DbConnection>> open, Dialect dialect) : AmbientTransaction(owner)
{
    private DbConnection? _connection;
    private DbTransaction? _transaction;

    public override DbTransaction? Transaction => _transaction;

    protected override Dialect Dialect => dialect;

    protected override Events.OutboxSignal OutboxSignal => throw new InvalidOperationException("A read snapshot writes no events.");

    public override async ValueTask<DbConnection> ConnectionAsync(CancellationToken cancellationToken)
    {
        if (_connection is null)
        {
            var connection = await open(cancellationToken).ConfigureAwait(false);
            try
            {
                // Microsoft.Data.Sqlite begins IMMEDIATE (the write lock) unless asked for a deferred transaction.
                _transaction = connection is Microsoft.Data.Sqlite.SqliteConnection sqlite
                    ? sqlite.BeginTransaction(deferred: true)
                    : await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken).ConfigureAwait(false);
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
    }
}
