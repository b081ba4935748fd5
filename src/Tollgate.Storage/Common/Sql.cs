using System.Data.Common;

namespace Tollgate.Storage.Common;

/// <summary>
/// Plain statements with <c>@name</c> parameters, understood by both drivers, for the stores whose SQL is the same
/// on both databases. Instants are converted by the dialect; the hot ledger paths do not use this. Inside a flow's
/// transaction of the same database (<see cref="AmbientTransaction"/>) statements run in it, on its connection.
/// </summary>
/// <param name="owner">The database these statements are for: a flow's transaction is joined only by its own database.</param>
/// <param name="writeGate">SQLite: statements run by <see cref="ExecuteAsync"/> outside a flow take this process's turn
/// to write first (see <see cref="Sqlite.SqliteDatabase.WriteGate"/>).</param>
internal sealed class Sql(Func<CancellationToken, Task<DbConnection>> open, Dialect dialect, object owner, Sqlite.WriteGate? writeGate = null)
{
    public Dialect Dialect => dialect;

    public async Task<List<T>> QueryAsync<T>(string sql, Func<DbDataReader, T> map, CancellationToken cancellationToken, params (string Name, object? Value)[] args)
    {
        var ambient = AmbientTransaction.For(owner);
        if (ambient is Postgres.PostgresFlowTransaction flow)
        {
            // In the same round trip as the flow's deferred statements (which return no rows: the first result is ours).
            await using var batch = new Npgsql.NpgsqlBatch(await flow.OpenAsync(cancellationToken).ConfigureAwait(false));
            flow.TakePending(batch);
            batch.BatchCommands.Add(BatchCommand(sql, args));
            await using var batchReader = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            var found = new List<T>();
            while (await batchReader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                found.Add(map(batchReader));
            }

            return found;
        }

        var connection = ambient is null ? await open(cancellationToken).ConfigureAwait(false) : await ambient.ConnectionAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var command = Command(connection, ambient?.Transaction, sql, args);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            var rows = new List<T>();
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                rows.Add(map(reader));
            }

            return rows;
        }
        finally
        {
            if (ambient is null)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    public async Task<T?> QuerySingleAsync<T>(string sql, Func<DbDataReader, T> map, CancellationToken cancellationToken, params (string Name, object? Value)[] args)
        where T : class =>
        (await QueryAsync(sql, map, cancellationToken, args).ConfigureAwait(false)).FirstOrDefault();

    /// <summary>
    /// Runs <paramref name="reads"/>, queries through this <see cref="Sql"/>, on one snapshot: a write that commits while
    /// they run is seen by all of them or by none (<see cref="ReadSnapshot"/>: a read transaction of their own). In a
    /// flow's transaction of this database they run in it instead, as every statement does, with its isolation.
    /// </summary>
    public async Task<T> ReadOneSnapshotAsync<T>(Func<Task<T>> reads, CancellationToken cancellationToken)
    {
        if (AmbientTransaction.For(owner) is not null)
        {
            return await reads().ConfigureAwait(false);
        }

        await using var snapshot = new ReadSnapshot(owner, open, dialect);
        var result = await reads().ConfigureAwait(false);
        await snapshot.CommitAsync(cancellationToken).ConfigureAwait(false);
        return result;
    }

    /// <summary>A statement that writes and returns rows (<c>UPDATE … RETURNING</c>): as <see cref="QueryAsync"/>, taking
    /// SQLite's turn to write first, as <see cref="ExecuteAsync"/> does.</summary>
    public async Task<List<T>> WriteQueryAsync<T>(string sql, Func<DbDataReader, T> map, CancellationToken cancellationToken, params (string Name, object? Value)[] args)
    {
        using var turn = AmbientTransaction.For(owner) is null && writeGate is not null ? await writeGate.EnterAsync(cancellationToken).ConfigureAwait(false) : null;
        return await QueryAsync(sql, map, cancellationToken, args).ConfigureAwait(false);
    }

    /// <summary>
    /// A write whose count the caller does not need and which returns no rows. In a PostgreSQL flow it waits and travels
    /// with the flow's next statement or its commit (see <see cref="Postgres.PostgresFlowTransaction"/>): it still runs
    /// in order and in the flow's transaction, and if it fails, the flow fails before anything after it runs. Elsewhere
    /// it runs now, as <see cref="ExecuteAsync"/>.
    /// </summary>
    /// <returns>Whether it was deferred.</returns>
    public async Task<bool> ExecuteOrDeferAsync(string sql, CancellationToken cancellationToken, params (string Name, object? Value)[] args)
    {
        if (AmbientTransaction.For(owner) is Postgres.PostgresFlowTransaction flow)
        {
            flow.Defer(BatchCommand(sql, args));
            return true;
        }

        await ExecuteAsync(sql, cancellationToken, args).ConfigureAwait(false);
        return false;
    }

    /// <summary>Whether statements of this database are deferred in the calling flow (<see cref="ExecuteOrDeferAsync"/>).</summary>
    public bool Defers => AmbientTransaction.For(owner) is Postgres.PostgresFlowTransaction;

    public async Task<int> ExecuteAsync(string sql, CancellationToken cancellationToken, params (string Name, object? Value)[] args)
    {
        var ambient = AmbientTransaction.For(owner);
        if (ambient is Postgres.PostgresFlowTransaction flow)
        {
            await using var batch = new Npgsql.NpgsqlBatch(await flow.OpenAsync(cancellationToken).ConfigureAwait(false));
            flow.TakePending(batch);
            var command = BatchCommand(sql, args);
            batch.BatchCommands.Add(command);
            await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return command.RecordsAffected;
        }

        using var turn = ambient is null && writeGate is not null ? await writeGate.EnterAsync(cancellationToken).ConfigureAwait(false) : null;
        var connection = ambient is null ? await open(cancellationToken).ConfigureAwait(false) : await ambient.ConnectionAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var command = Command(connection, ambient?.Transaction, sql, args);
            return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (ambient is null)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Runs <paramref name="statements"/> in order in one transaction (a flow's, when there is one; else its
    /// own); returns the rows each one changed.
    /// <paramref name="next"/> decides after each statement whether to run the rest (false: commit what ran, stop).</summary>
    public async Task<IReadOnlyList<int>> ExecuteAllAsync(IReadOnlyList<(string Sql, (string Name, object? Value)[] Args)> statements,
        Func<int, int, bool> next, CancellationToken cancellationToken)
    {
        var ambient = AmbientTransaction.For(owner);
        using var turn = ambient is null && writeGate is not null ? await writeGate.EnterAsync(cancellationToken).ConfigureAwait(false) : null;
        var connection = ambient is null ? await open(cancellationToken).ConfigureAwait(false) : await ambient.ConnectionAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var own = ambient is null ? await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false) : null;
            var counts = new List<int>();
            for (var i = 0; i < statements.Count; i++)
            {
                await using var command = Command(connection, ambient?.Transaction ?? own, statements[i].Sql, statements[i].Args);
                counts.Add(await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false));
                if (!next(i, counts[i]))
                {
                    break;
                }
            }

            if (own is not null)
            {
                await own.CommitAsync(cancellationToken).ConfigureAwait(false);
            }

            return counts;
        }
        finally
        {
            if (ambient is null)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Runs <paramref name="statements"/> in order in one transaction, as <see cref="ExecuteAllAsync"/> does, but
    /// on PostgreSQL outside a flow in one round trip: one batch, which PostgreSQL runs as one implicit transaction (a
    /// failing statement rolls back the ones before it). Returns the rows each one changed.</summary>
    public async Task<IReadOnlyList<int>> ExecuteBatchAsync(IReadOnlyList<(string Sql, (string Name, object? Value)[] Args)> statements,
        CancellationToken cancellationToken)
    {
        if (dialect != Dialect.Postgres || AmbientTransaction.For(owner) is not null)
        {
            return await ExecuteAllAsync(statements, (_, _) => true, cancellationToken).ConfigureAwait(false);
        }

        await using var connection = await open(cancellationToken).ConfigureAwait(false);
        await using var batch = new Npgsql.NpgsqlBatch((Npgsql.NpgsqlConnection)connection);
        foreach (var (sql, args) in statements)
        {
            batch.BatchCommands.Add(BatchCommand(sql, args));
        }

        await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        var counts = new List<int>(batch.BatchCommands.Count);
        foreach (var command in batch.BatchCommands)
        {
            counts.Add(command.RecordsAffected);
        }

        return counts;
    }

    /// <summary>
    /// Writes whose answers the caller reads, with follow-ups whose counts nobody reads (a revenue day's marker, a
    /// subscription count's changes) that must commit with them: all in order, in one transaction. A committed write
    /// without its follow-up would leave what the follow-up keeps (a computed day, a count) wrong for good, with nothing
    /// to mend it. In a PostgreSQL flow (<see cref="Defers"/>) each answered write is sent and waited for, as
    /// <see cref="ExecuteAsync"/> does, and each follow-up is deferred (<see cref="ExecuteOrDeferAsync"/>): it rides with
    /// the flow's next batch or its commit, no round trip more. Elsewhere they all run as <see cref="ExecuteAllAsync"/>
    /// does, in the flow's transaction or in their own.
    /// </summary>
    /// <param name="next">After each answered write, from its index among the answered writes and the rows it changed:
    /// whether to run the rest (false: nothing after it runs, its own follow-ups neither; what ran stays). It may throw,
    /// which fails the whole: outside a flow nothing of it commits (thrown inside the transaction); in a flow, the flow fails.</param>
    /// <returns>The rows each answered write that ran changed, in order.</returns>
    public async Task<IReadOnlyList<int>> ExecuteWithFollowUpsAsync(IReadOnlyList<SqlWrite> writes, Func<int, int, bool> next,
        CancellationToken cancellationToken)
    {
        if (!Defers)
        {
            var ran = await ExecuteAllAsync([.. writes.Select(w => (w.Text, w.Args))], (i, rows) => writes[i].IsFollowUp || next(Answered(i), rows),
                cancellationToken).ConfigureAwait(false);
            return [.. ran.Where((_, i) => !writes[i].IsFollowUp)];
        }

        var counts = new List<int>();
        foreach (var write in writes)
        {
            if (write.IsFollowUp)
            {
                await ExecuteOrDeferAsync(write.Text, cancellationToken, write.Args).ConfigureAwait(false);
                continue;
            }

            counts.Add(await ExecuteAsync(write.Text, cancellationToken, write.Args).ConfigureAwait(false));
            if (!next(counts.Count - 1, counts[^1]))
            {
                break;
            }
        }

        return counts;

        // The index of writes[i] among the answered writes.
        int Answered(int i) => writes.Take(i).Count(w => !w.IsFollowUp);
    }

    private Npgsql.NpgsqlBatchCommand BatchCommand(string sql, (string Name, object? Value)[] args)
    {
        var command = new Npgsql.NpgsqlBatchCommand(sql);
        foreach (var (name, value) in args)
        {
            command.Parameters.Add(new Npgsql.NpgsqlParameter(name, value switch
            {
                null => DBNull.Value,
                DateTimeOffset instant => dialect.Time(instant),
                _ => value,
            }));
        }

        return command;
    }

    private DbCommand Command(DbConnection connection, DbTransaction? transaction, string sql, (string Name, object? Value)[] args) =>
        Command(dialect, connection, transaction, sql, args);

    /// <summary>A command with the stores' named arguments (instants in the dialect's form), for a writer that runs its
    /// own connection and transaction (a ledger batch writing another feature's rows: PackDeliverySql).</summary>
    internal static DbCommand Command(Dialect dialect, DbConnection connection, DbTransaction? transaction, string sql, (string Name, object? Value)[] args)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        foreach (var (name, value) in args)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value switch
            {
                null => DBNull.Value,
                DateTimeOffset instant => dialect.Time(instant),
                _ => value,
            };
            command.Parameters.Add(parameter);
        }

        return command;
    }
}

/// <summary>A statement of <see cref="Sql.ExecuteWithFollowUpsAsync"/>: an answered write, or a follow-up whose count
/// nobody reads.</summary>
internal readonly record struct SqlWrite(string Text, (string Name, object? Value)[] Args, bool IsFollowUp)
{
    public static SqlWrite Answered(string text, (string Name, object? Value)[] args) => new(text, args, false);

    public static SqlWrite FollowUp(string text, (string Name, object? Value)[] args) => new(text, args, true);
}
