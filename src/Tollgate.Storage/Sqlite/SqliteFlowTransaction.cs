using System.Data.Common;
using Microsoft.Data.Sqlite;
using Tollgate.Storage.Common;

namespace Tollgate.Storage.Sqlite;

/// <summary>A flow's transaction on SQLite: <c>BEGIN IMMEDIATE</c> with the first statement, so it holds the write
/// lock from its first read (SQLite has one writer; a read-then-write transaction must not find the lock taken later).
/// It takes this process's turn to write (<see cref="SqliteDatabase.WriteGate"/>) before it opens, and gives it back
/// when it closes.</summary>
internal sealed class SqliteFlowTransaction(SqliteDatabase database) : ConnectionTransaction(database)
{
    private WriteGate.Turn? _turn;

    protected override Dialect Dialect => Dialect.Sqlite;

    protected override Events.OutboxSignal OutboxSignal => database.OutboxSignal;

    protected override async Task<DbConnection> OpenAsync(CancellationToken cancellationToken)
    {
        _turn ??= await database.WriteGate.EnterAsync(cancellationToken).ConfigureAwait(false);
        return await database.OpenAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override ValueTask<DbTransaction> BeginAsync(DbConnection connection, CancellationToken cancellationToken) =>
        ValueTask.FromResult<DbTransaction>(((SqliteConnection)connection).BeginTransaction(deferred: false));

    protected override async ValueTask CloseAsync(bool committed)
    {
        try
        {
            await base.CloseAsync(committed).ConfigureAwait(false);
        }
        finally
        {
            _turn?.Dispose();
        }
    }
}
