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
internal sealed class ReadSnapshot(object owner, Func<CancellationToken, Task<DbConnection>> open, Dialect dialect) : ConnectionTransaction(owner)
{
    protected override Dialect Dialect => dialect;

    protected override Events.OutboxSignal OutboxSignal => throw new InvalidOperationException("A read snapshot writes no events.");

    protected override Task<DbConnection> OpenAsync(CancellationToken cancellationToken) => open(cancellationToken);

    protected override async ValueTask<DbTransaction> BeginAsync(DbConnection connection, CancellationToken cancellationToken) =>
        // Microsoft.Data.Sqlite begins IMMEDIATE (the write lock) unless asked for a deferred transaction.
        connection is Microsoft.Data.Sqlite.SqliteConnection sqlite
            ? sqlite.BeginTransaction(deferred: true)
            : await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken).ConfigureAwait(false);
}
