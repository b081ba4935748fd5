using Npgsql;
using NpgsqlTypes;
using Tollgate.Core.Common;
using Tollgate.Core.Ledger;
using Tollgate.Storage.Common;
using Tollgate.Storage.Sqlite;

namespace Tollgate.Storage.Postgres;

/// <summary>
/// The ledger on PostgreSQL. A write session locks its customers' rows (<c>FOR NO KEY UPDATE</c>, ordered by id, so
/// two sessions never wait on each other in a cycle) and loads their state in one round trip; the commit writes
/// every change as set-based statements over arrays in a second one.
/// </summary>
internal sealed class PostgresLedgerStore(NpgsqlDataSource dataSource, TimeProvider time) : ILedgerStore
{
    private static readonly Dialect D = Dialect.Postgres;

    public async Task<ILedgerWriteSession> BeginWriteAsync(IReadOnlyList<CustomerLoad> loads, CancellationToken cancellationToken)
    {
        var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        NpgsqlTransaction? transaction = null;
        try
        {
            transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            var ids = loads.Select(l => l.CustomerId).ToArray();
            var keyCustomers = loads.SelectMany(l => l.OperationKeys.Select(_ => l.CustomerId)).ToArray();
            var keys = loads.SelectMany(l => l.OperationKeys).ToArray();
            var refs = loads.SelectMany(l => l.SourceRefs).Distinct(StringComparer.Ordinal).ToArray();
            var holdIds = loads.SelectMany(l => l.HoldIds).ToArray();

            await using var batch = new NpgsqlBatch(connection, transaction);
            Add(batch, "INSERT INTO customers (customer_id, created_at, updated_at) SELECT id, $2, $2 FROM unnest($1::text[]) AS id ORDER BY id ON CONFLICT (customer_id) DO NOTHING", [ids, Instants.Now(time)]);
            Add(batch, "SELECT customer_id, ledger_seq FROM customers WHERE customer_id = ANY($1) ORDER BY customer_id FOR NO KEY UPDATE", [ids]);
            if (refs.Length == 0)
            {
                Add(batch, $"SELECT {LedgerRows.LotColumns} FROM ledger_lots WHERE customer_id = ANY($1) AND (remaining > 0 OR held > 0)", [ids]);
            }
            else
            {
                Add(batch,
                    $"""
                    SELECT {LedgerRows.LotColumns} FROM ledger_lots WHERE customer_id = ANY($1) AND (remaining > 0 OR held > 0)
                    UNION SELECT {LedgerRows.LotColumns} FROM ledger_lots WHERE customer_id = ANY($1) AND source_ref = ANY($2)
                    """,
                    [ids, refs]);
            }

            Add(batch, $"SELECT {LedgerRows.HoldColumns} FROM ledger_holds WHERE customer_id = ANY($1) AND (status = 'active' OR hold_id = ANY($2))", [ids, holdIds]);
            Add(batch, "SELECT customer_id, feature, amount FROM ledger_debts WHERE customer_id = ANY($1)", [ids]);
            Add(batch, $"SELECT {LedgerRows.OperationColumns} FROM ledger_operations WHERE (customer_id, operation_key) IN (SELECT * FROM unnest($1::text[], $2::text[]))", [keyCustomers, keys]);

            var customers = loads.ToDictionary(l => l.CustomerId, l => new LedgerRows.CustomerDataBuilder(l.CustomerId), StringComparer.Ordinal);
            await using (var reader = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            {
                // The INSERT returns no rows; the reader starts at the first SELECT.
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    customers[reader.GetString(0)].Seq = reader.GetInt64(1);
                }

                await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    var lot = LedgerRows.Lot(reader, D);
                    customers[lot.CustomerId].Lots.Add(lot);
                }

                await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    var hold = LedgerRows.Hold(reader, D);
                    customers[hold.CustomerId].Holds.Add(hold);
                }

                await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    customers[reader.GetString(0)].Debts[reader.GetString(1)] = reader.GetInt64(2);
                }

                await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    var operation = LedgerRows.Operation(reader, D);
                    customers[operation.CustomerId].Operations.Add(operation);
                }
            }

            return new Session(connection, transaction, customers.ToDictionary(c => c.Key, c => c.Value.Build(), StringComparer.Ordinal));
        }
        catch
        {
            if (transaction is not null)
            {
                await transaction.DisposeAsync().ConfigureAwait(false);
            }

            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async Task<CustomerLedgerData> ReadAsync(string customerId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        // REPEATABLE READ gives the four reads one snapshot.
        await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken).ConfigureAwait(false);
        await using var batch = new NpgsqlBatch(connection, transaction);
        Add(batch, "SELECT ledger_seq FROM customers WHERE customer_id = $1", [customerId]);
        Add(batch, $"SELECT {LedgerRows.LotColumns} FROM ledger_lots WHERE customer_id = $1 AND (remaining > 0 OR held > 0)", [customerId]);
        Add(batch, $"SELECT {LedgerRows.HoldColumns} FROM ledger_holds WHERE customer_id = $1 AND status = 'active'", [customerId]);
        Add(batch, "SELECT feature, amount FROM ledger_debts WHERE customer_id = $1", [customerId]);
        var data = new LedgerRows.CustomerDataBuilder(customerId);
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            data.Seq = reader.GetInt64(0);
        }

        await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            data.Lots.Add(LedgerRows.Lot(reader, D));
        }

        await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            data.Holds.Add(LedgerRows.Hold(reader, D));
        }

        await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            data.Debts[reader.GetString(0)] = reader.GetInt64(1);
        }

        return data.Build();
    }

    public async Task<string?> FindHoldOwnerAsync(string holdId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("SELECT customer_id FROM ledger_holds WHERE hold_id = $1");
        command.Parameters.AddWithValue(holdId);
        return (string?)await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task<HoldRecord?> GetHoldAsync(string holdId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand($"SELECT {LedgerRows.HoldColumns} FROM ledger_holds WHERE hold_id = $1");
        command.Parameters.AddWithValue(holdId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? LedgerRows.Hold(reader, D) : null;
    }

    public async Task<EntryPage> GetEntriesAsync(string customerId, string? feature, int limit, long? before, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"""
            SELECT {LedgerRows.EntryColumns} FROM ledger_entries
            WHERE customer_id = $1 AND ($2::text IS NULL OR feature = $2) AND seq < $3
            ORDER BY seq DESC LIMIT $4
            """);
        command.Parameters.AddWithValue(customerId);
        command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = (object?)feature ?? DBNull.Value });
        command.Parameters.AddWithValue(before ?? long.MaxValue);
        command.Parameters.AddWithValue(limit + 1);
        var entries = new List<EntryRecord>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            entries.Add(LedgerRows.Entry(reader, D));
        }

        return SqliteLedgerStore.Page(entries, limit);
    }

    public async Task<IReadOnlyList<LotRecord>> GetAllLotsAsync(string customerId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand($"SELECT {LedgerRows.LotColumns} FROM ledger_lots WHERE customer_id = $1 ORDER BY seq");
        command.Parameters.AddWithValue(customerId);
        var lots = new List<LotRecord>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            lots.Add(LedgerRows.Lot(reader, D));
        }

        return lots;
    }

    public async Task<IReadOnlyList<string>> FindCustomersWithDueExpiriesAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            """
            SELECT customer_id FROM ledger_lots WHERE remaining > 0 AND expires_at <= $1
            UNION
            SELECT customer_id FROM ledger_holds WHERE status = 'active' AND expires_at <= $1
            LIMIT $2
            """);
        command.Parameters.AddWithValue(D.Time(now));
        command.Parameters.AddWithValue(limit);
        var customers = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            customers.Add(reader.GetString(0));
        }

        return customers;
    }

    public bool IsTransient(Exception exception) =>
        exception is PostgresException { SqlState: "40001" or "40P01" or "55P03" } || exception is NpgsqlException { IsTransient: true };

    // Values come as an explicit array ("[ids]"): with a params array, a lone string[] would be taken as the array itself.
    private static void Add(NpgsqlBatch batch, string sql, object[] values)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var value in values)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }

        batch.BatchCommands.Add(command);
    }

    private sealed class Session(NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyDictionary<string, CustomerLedgerData> customers)
        : ILedgerWriteSession
    {
        public IReadOnlyDictionary<string, CustomerLedgerData> Customers { get; } = customers;

        public async Task CommitAsync(LedgerChanges changes, CancellationToken cancellationToken)
        {
            await using var batch = new NpgsqlBatch(connection, transaction);
            if (changes.CustomerSeqs.Count > 0)
            {
                Add(batch, "UPDATE customers SET ledger_seq = v.seq FROM unnest($1::text[], $2::bigint[]) AS v(id, seq) WHERE customers.customer_id = v.id", [changes.CustomerSeqs.Keys.ToArray(), changes.CustomerSeqs.Values.ToArray()]);
            }

            if (changes.InsertedLots.Count > 0)
            {
                var l = changes.InsertedLots;
                Add(batch,
                    $"""
                    INSERT INTO ledger_lots ({LedgerRows.LotColumns})
                    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[],
                        $9::text[], $10::text[], $11::timestamptz[], $12::integer[], $13::bigint[], $14::timestamptz[])
                    """, [Col(l, x => x.CustomerId), Col(l, x => x.LotId), Col(l, x => x.Feature), Col(l, x => x.Amount), Col(l, x => x.Remaining),
                    Col(l, x => x.Held), Col(l, x => x.Clawed), Col(l, x => x.Expired), Col(l, x => SnakeCase<LotSource>.Name(x.Source)),
                    Col(l, x => x.SourceRef), Col(l, x => x.ExpiresAt), Col(l, x => x.Priority), Col(l, x => x.Seq), Col(l, x => x.CreatedAt)]);
            }

            if (changes.UpdatedLots.Count > 0)
            {
                var l = changes.UpdatedLots;
                Add(batch,
                    """
                    UPDATE ledger_lots SET remaining = v.remaining, held = v.held, clawed = v.clawed, expired = v.expired
                    FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[]) AS v(customer_id, lot_id, remaining, held, clawed, expired)
                    WHERE ledger_lots.customer_id = v.customer_id AND ledger_lots.lot_id = v.lot_id
                    """, [Col(l, x => x.CustomerId), Col(l, x => x.LotId), Col(l, x => x.Remaining), Col(l, x => x.Held), Col(l, x => x.Clawed), Col(l, x => x.Expired)]);
            }

            if (changes.InsertedHolds.Count > 0)
            {
                var h = changes.InsertedHolds;
                Add(batch,
                    $"""
                    INSERT INTO ledger_holds ({LedgerRows.HoldColumns})
                    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::bigint[],
                        $9::timestamptz[], $10::timestamptz[], $11::timestamptz[], $12::bigint[], $13::text[])
                    """, [Col(h, x => x.CustomerId), Col(h, x => x.HoldId), Col(h, x => x.Feature), Col(h, x => x.Amount),
                    Col(h, x => SnakeCase<HoldStatus>.Name(x.Status)), Col(h, x => LedgerJson.SerializeAllocations(x.Allocations)),
                    Col(h, x => x.SpillFeature), Col(h, x => x.SpillUnitCost), Col(h, x => x.CreatedAt), Col(h, x => x.ExpiresAt),
                    Col(h, x => x.ClosedAt), Col(h, x => x.Settled), Col(h, x => x.Reference)]);
            }

            if (changes.UpdatedHolds.Count > 0)
            {
                var h = changes.UpdatedHolds;
                Add(batch,
                    """
                    UPDATE ledger_holds SET status = v.status, allocations = v.allocations, closed_at = v.closed_at, settled = v.settled
                    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::bigint[]) AS v(customer_id, hold_id, status, allocations, closed_at, settled)
                    WHERE ledger_holds.customer_id = v.customer_id AND ledger_holds.hold_id = v.hold_id
                    """, [Col(h, x => x.CustomerId), Col(h, x => x.HoldId), Col(h, x => SnakeCase<HoldStatus>.Name(x.Status)),
                    Col(h, x => LedgerJson.SerializeAllocations(x.Allocations)), Col(h, x => x.ClosedAt), Col(h, x => x.Settled)]);
            }

            if (changes.Entries.Count > 0)
            {
                var e = changes.Entries;
                Add(batch,
                    $"""
                    INSERT INTO ledger_entries ({LedgerRows.EntryColumns})
                    SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::timestamptz[],
                        $9::text[], $10::text[], $11::text[], $12::text[])
                    """, [Col(e, x => x.CustomerId), Col(e, x => x.Seq), Col(e, x => x.EntryId), Col(e, x => x.Feature),
                    Col(e, x => SnakeCase<EntryType>.Name(x.Type)), Col(e, x => x.Amount), Col(e, x => x.BalanceAfter), Col(e, x => x.At),
                    Col(e, LedgerJson.SerializeDetail), Col(e, x => x.Reference), Col(e, x => x.HoldId), Col(e, x => x.OperationKey)]);
            }

            if (changes.Debts.Count > 0)
            {
                var d = changes.Debts;
                Add(batch,
                    """
                    INSERT INTO ledger_debts (customer_id, feature, amount) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
                    ON CONFLICT (customer_id, feature) DO UPDATE SET amount = excluded.amount
                    """, [Col(d, x => x.CustomerId), Col(d, x => x.Feature), Col(d, x => x.Amount)]);
            }

            if (changes.Operations.Count > 0)
            {
                var o = changes.Operations;
                Add(batch,
                    $"INSERT INTO ledger_operations ({LedgerRows.OperationColumns}) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])", [Col(o, x => x.CustomerId), Col(o, x => x.OperationKey), Col(o, x => x.Kind), Col(o, x => x.Fingerprint), Col(o, x => x.Result), Col(o, x => x.CreatedAt)]);
            }

            if (batch.BatchCommands.Count > 0)
            {
                await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }

        public async ValueTask DisposeAsync()
        {
            await transaction.DisposeAsync().ConfigureAwait(false);
            await connection.DisposeAsync().ConfigureAwait(false);
        }

        private static string?[] Col<T>(IReadOnlyList<T> rows, Func<T, string?> value) => rows.Select(value).ToArray();

        private static long[] Col<T>(IReadOnlyList<T> rows, Func<T, long> value) => rows.Select(value).ToArray();

        private static int[] Col<T>(IReadOnlyList<T> rows, Func<T, int> value) => rows.Select(value).ToArray();

        private static DateTime?[] Col<T>(IReadOnlyList<T> rows, Func<T, DateTimeOffset?> value) =>
            rows.Select(r => value(r) is { } v ? Instants.Normalize(v).UtcDateTime : (DateTime?)null).ToArray();
    }
}
