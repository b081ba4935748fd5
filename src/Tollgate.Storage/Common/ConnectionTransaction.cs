using System.Data.Common;

namespace Tollgate.Storage.Common;

/// <summary>
/// An ambient transaction on one connection of its own, opened and begun by the first statement that needs it (a flow
/// that reads nothing of this database costs it nothing), committed by <see cref="AmbientTransaction.CommitAsync"/> and
/// rolled back and closed on dispose otherwise. What differs between its kinds is how the connection is opened and how
/// the transaction begins.
/// </summary>
internal abstract class ConnectionTransaction(object owner) : AmbientTransaction(owner)
{
    private DbConnection? _connection;
    private DbTransaction? _transaction;

    public override DbTransaction? Transaction => _transaction;

    public override async ValueTask<DbConnection> ConnectionAsync(CancellationToken cancellationToken)
    {
        if (_connection is null)
        {
            var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                _transaction = await BeginAsync(connection, cancellationToken).ConfigureAwait(false);
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

    /// <summary>Opens the transaction's connection.</summary>
    protected abstract Task<DbConnection> OpenAsync(CancellationToken cancellationToken);

    /// <summary>Begins the transaction on the connection <see cref="OpenAsync"/> opened.</summary>
    protected abstract ValueTask<DbTransaction> BeginAsync(DbConnection connection, CancellationToken cancellationToken);

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
