using System.Data.Common;
using Npgsql;
using Tollgate.Storage.Common;

namespace Tollgate.Storage.Postgres;

/// <summary>A flow's transaction on PostgreSQL. Npgsql sends its BEGIN with the first statement; the change
/// notification for the customers it changed follows its commit, in a transaction of its own (see the ledger store).</summary>
internal sealed class PostgresFlowTransaction(PostgresDatabase database) : AmbientTransaction(database)
{
    private NpgsqlConnection? _connection;
    private NpgsqlTransaction? _transaction;

    public override DbTransaction? Transaction => _transaction;

    protected override Dialect Dialect => Dialect.Postgres;

    protected override Events.OutboxSignal OutboxSignal => database.OutboxSignal;

    public override async ValueTask<DbConnection> ConnectionAsync(CancellationToken cancellationToken)
    {
        if (_connection is null)
        {
            var connection = await database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                _transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
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
        if (_transaction is null)
        {
            return;
        }

        await _transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        await PostgresLedgerStore.NotifyAfterCommitAsync(_connection!, database.Origin, ChangedCustomers, ChangedSubscriptions).ConfigureAwait(false);
    }

    protected override async ValueTask CloseAsync(bool committed)
    {
        if (_transaction is not null)
        {
            // Rolls back when not committed; a broken connection ends the transaction on the server by itself.
            await _transaction.DisposeAsync().ConfigureAwait(false);
        }

        if (_connection is not null)
        {
            await _connection.DisposeAsync().ConfigureAwait(false);
        }
    }
}
