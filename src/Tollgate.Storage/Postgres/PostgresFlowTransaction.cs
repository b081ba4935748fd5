using System.Data.Common;
using Npgsql;
using Tollgate.Storage.Common;

namespace Tollgate.Storage.Postgres;

/// <summary>
/// A flow's transaction on PostgreSQL, sent in as few round trips as its reads allow (issue 10: a webhook delivery made
/// about ten). Statements whose answer the flow does not need (an <c>INSERT … ON CONFLICT DO NOTHING</c> whose count is
/// ignored, an update of a row it already holds, a ledger write's rows) wait in <see cref="Defer"/> and travel in front
/// of the flow's next statement that must be answered, or in the commit's batch. The database runs every statement in
/// the order the flow issued it, in this one transaction, exactly as if each had been sent alone: only the client stops
/// waiting between them. A deferred statement that fails (a key taken meanwhile) fails the batch it travels in, before
/// anything after it runs, and so the flow, which rolls back: the same outcome as failing where it was issued.
/// <c>BEGIN</c> and <c>COMMIT</c> travel inside those batches (not through <see cref="NpgsqlTransaction"/>), and the
/// change notification for the customers the flow changed follows the <c>COMMIT</c> in the same batch, as the ledger's
/// own writes do (see <see cref="PostgresLedgerStore"/>).
/// </summary>
internal sealed class PostgresFlowTransaction(PostgresDatabase database) : AmbientTransaction(database)
{
    private readonly List<NpgsqlBatchCommand> _pending = [];
    private readonly List<Action> _afterCommit = [];
    private NpgsqlConnection? _connection;
    private bool _begun;

    // PostgreSQL's transaction is the connection's own (BEGIN in the first batch): commands name none.
    public override DbTransaction? Transaction => null;

    protected override Dialect Dialect => Dialect.Postgres;

    protected override Events.OutboxSignal OutboxSignal => database.OutboxSignal;

    /// <summary>The flow's connection with every deferred statement run (and so the transaction begun): for callers that
    /// send commands of their own on it.</summary>
    public override async ValueTask<DbConnection> ConnectionAsync(CancellationToken cancellationToken)
    {
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        if (!_begun || _pending.Count > 0)
        {
            await using var batch = new NpgsqlBatch(connection);
            TakePending(batch);
            await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        return connection;
    }

    /// <summary>The flow's connection, opened if need be, with nothing sent: the caller's next batch must start with
    /// <see cref="TakePending"/>.</summary>
    public async ValueTask<NpgsqlConnection> OpenAsync(CancellationToken cancellationToken) =>
        _connection ??= await database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>Moves what waits to be sent (the <c>BEGIN</c> first, on the flow's first batch) to the front of
    /// <paramref name="batch"/>. None of it returns rows, so the batch's first result set is its caller's first query's.</summary>
    public void TakePending(NpgsqlBatch batch)
    {
        if (!_begun)
        {
            batch.BatchCommands.Insert(0, new NpgsqlBatchCommand("BEGIN"));
            _begun = true;
        }

        foreach (var command in _pending)
        {
            batch.BatchCommands.Add(command);
        }

        _pending.Clear();
    }

    /// <summary>A statement that returns no rows and whose count the flow does not read: sent with the flow's next batch.</summary>
    public void Defer(NpgsqlBatchCommand command) => _pending.Add(command);

    /// <summary>Runs after the commit's batch was answered (a deferred write's side signals, read from its counts).</summary>
    public void AfterCommit(Action action) => _afterCommit.Add(action);

    /// <summary>The events of the flow in two steps instead of three round trips each: every event's sequence number in
    /// one batch (behind whatever waits, so after every other write of the flow, as the outbox requires), then their rows
    /// deferred into the commit's batch.</summary>
    protected override async Task WriteEventsAsync(IReadOnlyList<Core.Events.OutboundEvent> events, CancellationToken cancellationToken)
    {
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        foreach (var command in await Events.OutboxSql.WriteBatchedAsync(connection, TakePending, events, cancellationToken).ConfigureAwait(false))
        {
            Defer(command);
        }
    }

    protected override async Task CommitCoreAsync(CancellationToken cancellationToken)
    {
        if (_connection is null && _pending.Count == 0)
        {
            // Nothing was ever sent or deferred: there is no transaction to end.
            return;
        }

        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var batch = new NpgsqlBatch(connection);
        TakePending(batch);
        batch.BatchCommands.Add(new NpgsqlBatchCommand("COMMIT"));
        var notifications = PostgresLedgerStore.ChangeNotifications(batch, database.Origin, ChangedCustomers, ChangedSubscriptions);
        try
        {
            await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException ex) when (ex.BatchCommand is { } failed && notifications.Contains(failed))
        {
            // The flow committed; only its notification failed (a full notification queue): failing the flow now would
            // make its caller retry something that happened. Other servers' views of these customers stay stale until
            // their cache lifetime ends. The notification's own transaction is aborted: end it before the connection
            // goes back to the pool.
            await using var rollback = new NpgsqlCommand("ROLLBACK", connection);
            await rollback.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
        }

        foreach (var action in _afterCommit)
        {
            action();
        }
    }

    protected override async ValueTask CloseAsync(bool committed)
    {
        if (_connection is null)
        {
            return;
        }

        try
        {
            if (!committed && _begun && _connection.State == System.Data.ConnectionState.Open)
            {
                // Not committed (a failure, a duplicate delivery): end the transaction before the connection goes back to
                // the pool, which does not reset it (No Reset On Close).
                await using var rollback = new NpgsqlCommand("ROLLBACK", _connection);
                await rollback.ExecuteNonQueryAsync().ConfigureAwait(false);
            }
        }
        catch (NpgsqlException)
        {
            // The connection is broken; closing it ends the transaction on the server, which is all we need.
        }
        finally
        {
            await _connection.DisposeAsync().ConfigureAwait(false);
        }
    }
}
