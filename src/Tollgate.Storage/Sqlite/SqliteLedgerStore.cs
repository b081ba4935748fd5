using System.Text.Json;
using Microsoft.Data.Sqlite;
using Tollgate.Core.Common;
using Tollgate.Core.Idempotency;
using Tollgate.Core.Ledger;
using Tollgate.Storage.Common;
using SqliteTransaction = Microsoft.Data.Sqlite.SqliteTransaction;

namespace Tollgate.Storage.Sqlite;

/// <summary>The ledger on SQLite. A write session is one <c>BEGIN IMMEDIATE</c> transaction: SQLite has one writer,
/// which is also what serialises concurrent writers across processes.</summary>
/// <remarks>Inside a flow's transaction (<see cref="SqliteFlowTransaction"/>, which holds the write lock) a write session
/// joins it and leaves the commit to the flow.</remarks>
internal sealed class SqliteLedgerStore(SqliteDatabase database, TimeProvider time) : ILedgerStore
{
    private static readonly Dialect D = Dialect.Sqlite;

    public bool InTransaction => AmbientTransaction.For(database) is not null;

    public async Task<ILedgerWriteSession> BeginWriteAsync(IReadOnlyList<CustomerLoad> loads, IReadOnlyCollection<(string Scope, string Key)> apiKeys,
        CancellationToken cancellationToken)
    {
        var ambient = AmbientTransaction.For(database);
        var turn = ambient is null ? await database.WriteGate.EnterAsync(cancellationToken).ConfigureAwait(false) : null;
        SqliteConnection connection;
        // The ledger's own writer (kept open with its compiled statements) outside a flow; the flow's connection in one.
        SqliteWriter? writer = null;
        try
        {
            writer = ambient is null ? await database.TakeWriterAsync(cancellationToken).ConfigureAwait(false) : null;
            connection = writer?.Connection ?? (SqliteConnection)await ambient!.ConnectionAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            turn?.Dispose();
            throw;
        }

        SqliteTransaction? transaction = (SqliteTransaction?)ambient?.Transaction;
        try
        {
            // BEGIN IMMEDIATE takes the write lock now: everything read below stays true until the commit.
            transaction ??= connection.BeginTransaction(deferred: false);
            var customers = new Dictionary<string, CustomerLedgerData>(StringComparer.Ordinal);
            foreach (var load in loads)
            {
                if (ambient is not null)
                {
                    // In a flow's transaction its writes are real ones (webhooks): the customer is created up front.
                    await using var ensure = Statement(writer, connection, transaction,
                        "INSERT OR IGNORE INTO customers (customer_id, created_at, updated_at) VALUES ($c, $now, $now)");
                    ensure.Parameters.AddWithValue("$c", load.CustomerId);
                    ensure.Parameters.AddWithValue("$now", D.Time(Instants.Now(time)));
                    await ensure.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }

                customers[load.CustomerId] = await LoadAsync(writer, connection, transaction, load, cancellationToken).ConfigureAwait(false);
            }

            var responses = new Dictionary<(string Scope, string Key), StoredResponse>();
            if (apiKeys.Count > 0)
            {
                await using var command = Statement(writer, connection, transaction,
                    "SELECT request_hash, status, response FROM api_idempotency WHERE scope = $s AND idempotency_key = $k");
                foreach (var (scope, key) in apiKeys)
                {
                    command.Parameters.Clear();
                    command.Parameters.AddWithValue("$s", scope);
                    command.Parameters.AddWithValue("$k", key);
                    await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                    if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        responses[(scope, key)] = new StoredResponse(reader.GetString(0), reader.GetInt32(1), reader.GetString(2));
                    }
                }
            }

            return new Session(connection, transaction, customers, responses, time, turn, writer, database);
        }
        catch when (ambient is null)
        {
            if (transaction is not null)
            {
                await transaction.DisposeAsync().ConfigureAwait(false);
            }

            // A failed start leaves the writer's state unknown: it is closed, not kept.
            await writer!.DisposeAsync().ConfigureAwait(false);
            turn?.Dispose();
            throw;
        }
    }

    public async Task<CustomerLedgerData> ReadAsync(string customerId, IReadOnlyCollection<string> operationKeys, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        // A deferred transaction gives the reads one consistent snapshot under WAL.
        await using var transaction = connection.BeginTransaction(deferred: true);
        return await LoadAsync(null, connection, transaction, new CustomerLoad(customerId, operationKeys, [], []), cancellationToken).ConfigureAwait(false);
    }

    public async Task<string?> FindHoldOwnerAsync(string holdId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await OwnerAsync(connection, holdId, CustomerKeys.Hold, cancellationToken).ConfigureAwait(false);
    }

    // The same two lookups as on PostgreSQL (owner from customer_keys, then the row with its customer), so both dialects
    // run one design; on SQLite both are local index reads on one connection.
    public async Task<HoldRecord?> GetHoldAsync(string holdId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        if (await OwnerAsync(connection, holdId, CustomerKeys.Hold, cancellationToken).ConfigureAwait(false) is not { } owner)
        {
            return null;
        }

        await using var command = Command(connection, null, $"SELECT {LedgerRows.HoldColumns} FROM ledger_holds WHERE customer_id = $c AND hold_id = $h");
        command.Parameters.AddWithValue("$c", owner);
        command.Parameters.AddWithValue("$h", holdId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? LedgerRows.Hold(reader, D) : null;
    }

    public async Task<EntryRecord?> FindEntryAsync(string entryId, CancellationToken cancellationToken)
    {
        // The entry's customer and seq from customer_keys, then the entry by its primary key (see the PostgreSQL store).
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        string customerId;
        long? seq;
        await using (var owner = Command(connection, null, CustomerKeys.EntryOwnerSql("$k")))
        {
            owner.Parameters.AddWithValue("$k", entryId);
            await using var reader = await owner.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                return null;
            }

            (customerId, seq) = (reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetInt64(1));
        }

        await using var command = Command(connection, null, seq is null
            ? $"SELECT {LedgerRows.EntryColumns} FROM ledger_entries WHERE customer_id = $c AND entry_id = $id"
            : $"SELECT {LedgerRows.EntryColumns} FROM ledger_entries WHERE customer_id = $c AND entry_id = $id AND seq = $seq");
        command.Parameters.AddWithValue("$c", customerId);
        command.Parameters.AddWithValue("$id", entryId);
        if (seq is { } s)
        {
            command.Parameters.AddWithValue("$seq", s);
        }

        await using var entry = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await entry.ReadAsync(cancellationToken).ConfigureAwait(false) ? LedgerRows.Entry(entry, D) : null;
    }

    private static async Task<string?> OwnerAsync(SqliteConnection connection, string key, string kind, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, null, CustomerKeys.OwnerSql("$k", "$kind") + " AND provider = ''");
        command.Parameters.AddWithValue("$k", key);
        command.Parameters.AddWithValue("$kind", kind);
        return (string?)await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task<EntryPage> GetEntriesAsync(string customerId, string? feature, int limit, long? before, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        // One statement per filter shape: with "$f IS NULL OR feature = $f" SQLite cannot use the feature's index either.
        await using var command = Command(connection, null, feature is null
            ? $"SELECT {LedgerRows.EntryColumns} FROM ledger_entries WHERE customer_id = $c AND seq < $before ORDER BY seq DESC LIMIT $limit"
            : $"SELECT {LedgerRows.EntryColumns} FROM ledger_entries WHERE customer_id = $c AND feature = $f AND seq < $before ORDER BY seq DESC LIMIT $limit");
        command.Parameters.AddWithValue("$c", customerId);
        if (feature is not null)
        {
            command.Parameters.AddWithValue("$f", feature);
        }

        command.Parameters.AddWithValue("$before", before ?? long.MaxValue);
        command.Parameters.AddWithValue("$limit", limit + 1);
        var entries = new List<EntryRecord>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            entries.Add(LedgerRows.Entry(reader, D));
        }

        return Page(entries, limit);
    }

    public async Task<IReadOnlyList<(DateTimeOffset Day, long Used)>> GetDailyUsageAsync(string customerId, string feature, DateTimeOffset from,
        DateTimeOffset to, CancellationToken cancellationToken)
    {
        var (wholeFrom, wholeTo, edges) = UsageRanges.Split(from, to);
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null,
            $"""
            SELECT hour - hour % 86400000000, sum(used) FROM ledger_usage_hourly
            WHERE customer_id = $c AND feature = $f AND hour >= $d0 AND hour < $d1 GROUP BY 1
            UNION ALL
            SELECT at - at % 86400000000, sum({UsedUnits}) FROM ledger_entries
            WHERE customer_id = $c AND feature = $f AND at >= $a0 AND at < $a1 AND {UsageRanges.SeqBoundsSql("$c", "$f", "$ah", "$a1")} GROUP BY 1
            UNION ALL
            SELECT at - at % 86400000000, sum({UsedUnits}) FROM ledger_entries
            WHERE customer_id = $c AND feature = $f AND at >= $b0 AND at < $b1 AND {UsageRanges.SeqBoundsSql("$c", "$f", "$bh", "$b1")} GROUP BY 1
            """);
        command.Parameters.AddWithValue("$c", customerId);
        command.Parameters.AddWithValue("$f", feature);
        command.Parameters.AddWithValue("$d0", D.Time(wholeFrom));
        command.Parameters.AddWithValue("$d1", D.Time(wholeTo));
        command.Parameters.AddWithValue("$a0", D.Time(edges[0].From));
        command.Parameters.AddWithValue("$a1", D.Time(edges[0].To));
        command.Parameters.AddWithValue("$b0", D.Time(edges[1].From));
        command.Parameters.AddWithValue("$b1", D.Time(edges[1].To));
        command.Parameters.AddWithValue("$ah", D.Time(UsageRanges.FirstHour(edges[0])));
        command.Parameters.AddWithValue("$bh", D.Time(UsageRanges.FirstHour(edges[1])));
        var days = new List<(DateTimeOffset, long)>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            days.Add((D.ReadTime(reader, 0), reader.GetInt64(1)));
        }

        return days;
    }

    private static readonly string UsedUnits = LedgerRows.UsedUnitsSql(field => $"json_extract(detail, '$.{field}')");

    public async Task<IReadOnlyList<LotRecord>> GetAllLotsAsync(string customerId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, $"SELECT {LedgerRows.LotColumns} FROM ledger_lots WHERE customer_id = $c ORDER BY seq");
        command.Parameters.AddWithValue("$c", customerId);
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
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null,
            """
            SELECT customer_id FROM ledger_lots WHERE live AND expires_at <= $now AND remaining > 0
            UNION
            SELECT customer_id FROM ledger_holds WHERE status = 'active' AND expires_at <= $now
            LIMIT $limit
            """);
        command.Parameters.AddWithValue("$now", D.Time(now));
        command.Parameters.AddWithValue("$limit", limit);
        var customers = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            customers.Add(reader.GetString(0));
        }

        return customers;
    }

    public bool IsTransient(Exception exception) =>
        exception is SqliteException { SqliteErrorCode: 5 or 6 }; // SQLITE_BUSY, SQLITE_LOCKED

    /// <summary>Never: one writer at a time holds the database, and every batch loads its customers (in process, no round trip).</summary>
    public bool IsStale(Exception exception) => false;

    public bool IsKeyConflict(Exception exception) =>
        exception is SqliteException { SqliteExtendedErrorCode: 1555 } e // SQLITE_CONSTRAINT_PRIMARYKEY
        && (e.Message.Contains("ledger_operations.", StringComparison.Ordinal)
            || e.Message.Contains("api_idempotency.", StringComparison.Ordinal)
            || e.Message.Contains("customers.", StringComparison.Ordinal));

    internal static EntryPage Page(List<EntryRecord> entries, int limit)
    {
        if (entries.Count <= limit)
        {
            return new EntryPage(entries, null);
        }

        entries.RemoveAt(entries.Count - 1);
        return new EntryPage(entries, entries[^1].Seq);
    }

    /// <summary>A customer's active holds and the closed ones a batch names, as two searches: written as one
    /// <c>status = 'active' OR hold_id IN (…)</c>, SQLite searched the primary key by the customer alone and so read every
    /// hold the customer ever had on every write (a customer with 15,000 settled holds wrote at a third of the speed).</summary>
    internal const string HoldsLoadSql =
        $"SELECT {LedgerRows.HoldColumns} FROM ledger_holds WHERE customer_id = $c AND status = 'active'"
        + $" UNION SELECT {LedgerRows.HoldColumns} FROM ledger_holds WHERE customer_id = $c AND hold_id IN (SELECT value FROM json_each($ids))";

    private static async Task<CustomerLedgerData> LoadAsync(SqliteWriter? writer, SqliteConnection connection, SqliteTransaction transaction, CustomerLoad load,
        CancellationToken cancellationToken)
    {
        var data = new LedgerRows.CustomerDataBuilder(load.CustomerId);
        await using (var seq = Statement(writer, connection, transaction,
            "SELECT (SELECT count(*) FROM customers WHERE customer_id = $c), (SELECT coalesce(max(seq), 0) FROM ledger_entries WHERE customer_id = $c)"))
        {
            seq.Parameters.AddWithValue("$c", load.CustomerId);
            await using var reader = await seq.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            data.Exists = reader.GetInt64(0) > 0;
            data.Seq = reader.GetInt64(1);
        }

        var lotsSql = $"SELECT {LedgerRows.LotColumns} FROM ledger_lots WHERE customer_id = $c AND live";
        if (load.SourceRefs.Count > 0)
        {
            lotsSql += $" UNION SELECT {LedgerRows.LotColumns} FROM ledger_lots WHERE customer_id = $c AND source_ref IN (SELECT value FROM json_each($refs))";
        }

        if (load.LotIds.Count > 0)
        {
            lotsSql += $" UNION SELECT {LedgerRows.LotColumns} FROM ledger_lots WHERE customer_id = $c AND lot_id IN (SELECT value FROM json_each($lots))";
        }

        if (load.SourcePrefixes.Count > 0)
        {
            // A prefix compared as text (not LIKE: ids hold '_', a LIKE wildcard).
            lotsSql += $" UNION SELECT {LedgerRows.LotColumns} FROM ledger_lots WHERE customer_id = $c AND source_ref IS NOT NULL"
                + " AND EXISTS (SELECT 1 FROM json_each($prefixes) p WHERE substr(source_ref, 1, length(p.value)) = p.value)";
        }

        await using (var lots = Statement(writer, connection, transaction, lotsSql))
        {
            lots.Parameters.AddWithValue("$c", load.CustomerId);
            lots.Parameters.AddWithValue("$refs", JsonSerializer.Serialize(load.SourceRefs));
            lots.Parameters.AddWithValue("$lots", JsonSerializer.Serialize(load.LotIds));
            lots.Parameters.AddWithValue("$prefixes", JsonSerializer.Serialize(load.SourcePrefixes));
            await using var reader = await lots.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                data.Lots.Add(LedgerRows.Lot(reader, D));
            }
        }

        await using (var holds = Statement(writer, connection, transaction, HoldsLoadSql))
        {
            holds.Parameters.AddWithValue("$c", load.CustomerId);
            holds.Parameters.AddWithValue("$ids", JsonSerializer.Serialize(load.HoldIds));
            await using var reader = await holds.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                data.Holds.Add(LedgerRows.Hold(reader, D));
            }
        }

        await using (var debts = Statement(writer, connection, transaction, "SELECT feature, amount FROM ledger_debts WHERE customer_id = $c"))
        {
            debts.Parameters.AddWithValue("$c", load.CustomerId);
            await using var reader = await debts.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                data.Debts[reader.GetString(0)] = reader.GetInt64(1);
            }
        }

        await using (var counters = Statement(writer, connection, transaction, "SELECT feature, level FROM ledger_counters WHERE customer_id = $c"))
        {
            counters.Parameters.AddWithValue("$c", load.CustomerId);
            await using var reader = await counters.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                data.Counters[reader.GetString(0)] = reader.GetInt64(1);
            }
        }

        if (load.OperationKeys.Count > 0)
        {
            await using var operations = Statement(writer, connection, transaction,
                $"SELECT {LedgerRows.OperationColumns} FROM ledger_operations WHERE customer_id = $c AND operation_key IN (SELECT value FROM json_each($keys))");
            operations.Parameters.AddWithValue("$c", load.CustomerId);
            operations.Parameters.AddWithValue("$keys", JsonSerializer.Serialize(load.OperationKeys));
            await using var reader = await operations.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                data.Operations.Add(LedgerRows.Operation(reader, D));
            }
        }

        return data.Build();
    }

    private static SqliteCommand Command(SqliteConnection connection, SqliteTransaction? transaction, string sql)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return command;
    }

    /// <summary>A statement of a write session: the writer's compiled one, or (in a flow, or a read) one for this use.</summary>
    private static SqliteStatement Statement(SqliteWriter? writer, SqliteConnection connection, SqliteTransaction? transaction, string sql) =>
        writer?.Statement(sql, transaction) ?? SqliteStatement.Once(connection, transaction, sql);

    private sealed class Session(SqliteConnection connection, SqliteTransaction transaction, IReadOnlyDictionary<string, CustomerLedgerData> customers,
        IReadOnlyDictionary<(string Scope, string Key), StoredResponse> apiResponses, TimeProvider time, WriteGate.Turn? turn, SqliteWriter? writer,
        SqliteDatabase database)
        : ILedgerWriteSession
    {
        // Without a turn of its own the session is part of a flow's transaction, which holds the turn and commits.
        private readonly bool inFlow = turn is null;

        private bool _committed;

        // No versions: a SQLite write always loads (see IsStale).
        public IReadOnlyDictionary<string, long> Versions { get; } = new Dictionary<string, long>();

        public IReadOnlyDictionary<string, CustomerLedgerData> Customers { get; } = customers;

        public IReadOnlyDictionary<(string Scope, string Key), StoredResponse> ApiResponses { get; } = apiResponses;

        public async Task<IReadOnlyList<OperationRecord>> LoadOperationsAsync(IReadOnlyList<(string CustomerId, string Key)> keys, CancellationToken cancellationToken)
        {
            var found = new List<OperationRecord>();
            await using var command = Statement(writer, connection, transaction,
                $"SELECT {LedgerRows.OperationColumns} FROM ledger_operations WHERE customer_id = $c AND operation_key = $k");
            foreach (var (customerId, key) in keys)
            {
                command.Parameters.Clear();
                command.Parameters.AddWithValue("$c", customerId);
                command.Parameters.AddWithValue("$k", key);
                await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    found.Add(LedgerRows.Operation(reader, D));
                }
            }

            return found;
        }

        public async Task CommitAsync(LedgerChanges changes, CancellationToken cancellationToken)
        {
            var now = Instants.Now(time);
            await ExecuteEachAsync(changes.NewCustomers,
                "INSERT INTO customers (customer_id, created_at, updated_at) VALUES ($c, $now, $now)",
                (p, c) =>
                {
                    p.AddWithValue("$c", c);
                    p.AddWithValue("$now", D.Time(now));
                }, cancellationToken).ConfigureAwait(false);
            await ExecuteEachAsync(changes.InsertedLots,
                $"INSERT INTO ledger_lots ({LedgerRows.LotColumns}, live) VALUES ($c, $id, $f, $amount, $remaining, $held, $clawed, $expired, $source, $ref, $expires, $priority, $seq, $created, $live)",
                (p, l) =>
                {
                    p.AddWithValue("$c", l.CustomerId);
                    p.AddWithValue("$id", l.LotId);
                    p.AddWithValue("$f", l.Feature);
                    p.AddWithValue("$amount", l.Amount);
                    p.AddWithValue("$remaining", l.Remaining);
                    p.AddWithValue("$held", l.Held);
                    p.AddWithValue("$clawed", l.Clawed);
                    p.AddWithValue("$expired", l.Expired);
                    p.AddWithValue("$source", SnakeCase<LotSource>.Name(l.Source));
                    p.AddWithValue("$ref", (object?)l.SourceRef ?? DBNull.Value);
                    p.AddWithValue("$expires", D.Time(l.ExpiresAt));
                    p.AddWithValue("$priority", l.Priority);
                    p.AddWithValue("$seq", l.Seq);
                    p.AddWithValue("$created", D.Time(l.CreatedAt));
                    p.AddWithValue("$live", LedgerRows.IsLive(l));
                }, cancellationToken).ConfigureAwait(false);
            await ExecuteEachAsync(changes.UpdatedLots,
                "UPDATE ledger_lots SET remaining = $remaining, held = $held, clawed = $clawed, expired = $expired, live = $live, expires_at = $expires WHERE customer_id = $c AND lot_id = $id",
                (p, l) =>
                {
                    p.AddWithValue("$c", l.CustomerId);
                    p.AddWithValue("$id", l.LotId);
                    p.AddWithValue("$remaining", l.Remaining);
                    p.AddWithValue("$held", l.Held);
                    p.AddWithValue("$clawed", l.Clawed);
                    p.AddWithValue("$expired", l.Expired);
                    p.AddWithValue("$live", LedgerRows.IsLive(l));
                    p.AddWithValue("$expires", D.Time(l.ExpiresAt));
                }, cancellationToken).ConfigureAwait(false);
            await ExecuteEachAsync(changes.InsertedHolds,
                $"INSERT INTO ledger_holds ({LedgerRows.HoldColumns}) VALUES ($c, $id, $f, $amount, $status, $alloc, $spill, $cost, $created, $expires, $closed, $settled, $ref)",
                (p, h) =>
                {
                    p.AddWithValue("$c", h.CustomerId);
                    p.AddWithValue("$id", h.HoldId);
                    p.AddWithValue("$f", h.Feature);
                    p.AddWithValue("$amount", h.Amount);
                    p.AddWithValue("$status", SnakeCase<HoldStatus>.Name(h.Status));
                    p.AddWithValue("$alloc", LedgerJson.SerializeAllocations(h.Allocations));
                    p.AddWithValue("$spill", (object?)h.SpillFeature ?? DBNull.Value);
                    p.AddWithValue("$cost", h.SpillUnitCost);
                    p.AddWithValue("$created", D.Time(h.CreatedAt));
                    p.AddWithValue("$expires", D.Time(h.ExpiresAt));
                    p.AddWithValue("$closed", D.Time(h.ClosedAt));
                    p.AddWithValue("$settled", h.Settled);
                    p.AddWithValue("$ref", (object?)h.Reference ?? DBNull.Value);
                }, cancellationToken).ConfigureAwait(false);
            await ExecuteEachAsync(changes.UpdatedHolds,
                "UPDATE ledger_holds SET status = $status, allocations = $alloc, closed_at = $closed, settled = $settled WHERE customer_id = $c AND hold_id = $id",
                (p, h) =>
                {
                    p.AddWithValue("$c", h.CustomerId);
                    p.AddWithValue("$id", h.HoldId);
                    p.AddWithValue("$status", SnakeCase<HoldStatus>.Name(h.Status));
                    p.AddWithValue("$alloc", LedgerJson.SerializeAllocations(h.Allocations));
                    p.AddWithValue("$closed", D.Time(h.ClosedAt));
                    p.AddWithValue("$settled", h.Settled);
                }, cancellationToken).ConfigureAwait(false);
            await ExecuteEachAsync(changes.Entries,
                $"INSERT INTO ledger_entries ({LedgerRows.EntryColumns}) VALUES ($c, $seq, $id, $f, $type, $amount, $after, $at, $detail, $ref, $hold, $key)",
                (p, e) =>
                {
                    p.AddWithValue("$c", e.CustomerId);
                    p.AddWithValue("$seq", e.Seq);
                    p.AddWithValue("$id", e.EntryId);
                    p.AddWithValue("$f", e.Feature);
                    p.AddWithValue("$type", SnakeCase<EntryType>.Name(e.Type));
                    p.AddWithValue("$amount", e.Amount);
                    p.AddWithValue("$after", e.BalanceAfter);
                    p.AddWithValue("$at", D.Time(e.At));
                    p.AddWithValue("$detail", LedgerJson.SerializeDetail(e));
                    p.AddWithValue("$ref", (object?)e.Reference ?? DBNull.Value);
                    p.AddWithValue("$hold", (object?)e.HoldId ?? DBNull.Value);
                    p.AddWithValue("$key", (object?)e.OperationKey ?? DBNull.Value);
                }, cancellationToken).ConfigureAwait(false);
            // Whose each new hold and entry is (see the PostgreSQL store); a plain insert, as there.
            await ExecuteEachAsync(CustomerKeys.OfLedger(changes),
                "INSERT INTO customer_keys (key, kind, provider, customer_id, seq) VALUES ($k, $kind, '', $c, $seq)",
                (p, k) =>
                {
                    p.AddWithValue("$k", k.Key);
                    p.AddWithValue("$kind", k.Kind);
                    p.AddWithValue("$c", k.CustomerId);
                    p.AddWithValue("$seq", (object?)k.Seq ?? DBNull.Value);
                }, cancellationToken).ConfigureAwait(false);
            await ExecuteEachAsync(LedgerRows.UsageByHour(changes.Entries),
                """
                INSERT INTO ledger_usage_hourly (customer_id, feature, hour, used, first_seq, last_seq) VALUES ($c, $f, $hour, $used, $first, $last)
                ON CONFLICT (customer_id, feature, hour) DO UPDATE SET used = used + excluded.used,
                    first_seq = min(first_seq, excluded.first_seq), last_seq = max(last_seq, excluded.last_seq)
                """,
                (p, u) =>
                {
                    p.AddWithValue("$c", u.CustomerId);
                    p.AddWithValue("$f", u.Feature);
                    p.AddWithValue("$hour", D.Time(u.Hour));
                    p.AddWithValue("$used", u.Used);
                    p.AddWithValue("$first", u.FirstSeq);
                    p.AddWithValue("$last", u.LastSeq);
                }, cancellationToken).ConfigureAwait(false);
            await ExecuteEachAsync(changes.Debts,
                "INSERT INTO ledger_debts (customer_id, feature, amount) VALUES ($c, $f, $amount) ON CONFLICT (customer_id, feature) DO UPDATE SET amount = excluded.amount",
                (p, d) =>
                {
                    p.AddWithValue("$c", d.CustomerId);
                    p.AddWithValue("$f", d.Feature);
                    p.AddWithValue("$amount", d.Amount);
                }, cancellationToken).ConfigureAwait(false);
            await ExecuteEachAsync(changes.Operations,
                $"INSERT INTO ledger_operations ({LedgerRows.OperationColumns}) VALUES ($c, $key, $kind, $fp, $result, $created)",
                (p, o) =>
                {
                    p.AddWithValue("$c", o.CustomerId);
                    p.AddWithValue("$key", o.OperationKey);
                    p.AddWithValue("$kind", o.Kind);
                    p.AddWithValue("$fp", o.Fingerprint);
                    p.AddWithValue("$result", o.Result);
                    p.AddWithValue("$created", D.Time(o.CreatedAt));
                }, cancellationToken).ConfigureAwait(false);
            await ExecuteEachAsync(changes.Counters,
                "INSERT INTO ledger_counters (customer_id, feature, level) VALUES ($c, $f, $level) ON CONFLICT (customer_id, feature) DO UPDATE SET level = excluded.level",
                (p, c) =>
                {
                    p.AddWithValue("$c", c.CustomerId);
                    p.AddWithValue("$f", c.Feature);
                    p.AddWithValue("$level", c.Level);
                }, cancellationToken).ConfigureAwait(false);
            // A plain insert: a key stored meanwhile fails the commit, and the engine reruns the batch with it loaded.
            await ExecuteEachAsync(changes.ApiResponses,
                "INSERT INTO api_idempotency (scope, idempotency_key, request_hash, status, response, created_at) VALUES ($s, $k, $h, $status, $body, $at)",
                (p, r) =>
                {
                    p.AddWithValue("$s", r.Scope);
                    p.AddWithValue("$k", r.Key);
                    p.AddWithValue("$h", r.Response.RequestHash);
                    p.AddWithValue("$status", r.Response.Status);
                    p.AddWithValue("$body", r.Response.Body);
                    p.AddWithValue("$at", D.Time(r.CreatedAt));
                }, cancellationToken).ConfigureAwait(false);
            // In a flow, its events join the flow's (written at its commit, after the flow's own), as on PostgreSQL, so a
            // flow's events are numbered in the same order on both databases.
            int events;
            if (changes.Attachments.Count == 0)
            {
                events = await Events.OutboxSql.WriteLedgerAsync(connection, transaction, D, database.LedgerEvents, changes, cancellationToken,
                        inFlow ? AmbientTransaction.For(database)!.PendingEvents : null)
                    .ConfigureAwait(false);
            }
            else if (inFlow)
            {
                throw new InvalidOperationException("A flow's ledger write cannot carry attachments: the flow writes its own rows.");
            }
            else
            {
                // Other features' rows (a delivery's payment and inbox row), then every event of the write in order: the
                // attachments' around the ledger's own.
                await Stores.PackDeliverySql.WriteAsync(connection, transaction, Stores.PackDeliverySql.Of(changes), cancellationToken).ConfigureAwait(false);
                var ledgerEvents = new List<Core.Events.OutboundEvent>();
                await Events.OutboxSql.WriteLedgerAsync(connection, transaction, D, database.LedgerEvents, changes, cancellationToken, ledgerEvents)
                    .ConfigureAwait(false);
                events = await Events.OutboxSql.WriteAsync(connection, transaction, D, Stores.PackDeliverySql.Events(changes, ledgerEvents), cancellationToken)
                    .ConfigureAwait(false);
            }
            var topupsDue = 0;
            foreach (var crossing in Core.Events.AutoTopupTrigger.Crossings(changes, database.AutoTopupFeature))
            {
                var (sql, values) = Events.TopupSql.Trigger(crossing, Core.Common.Ids.New("tup", time), Core.Common.Instants.Now(time), D, i => "$p" + i);
                await using var trigger = Statement(writer, connection, transaction, sql);
                for (var i = 0; i < values.Length; i++)
                {
                    trigger.Parameters.AddWithValue("$p" + (i + 1), values[i]);
                }

                topupsDue += await trigger.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            if (topupsDue > 0)
            {
                database.TopupSignal.Notify();
            }

            if (!inFlow)
            {
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                _committed = true;
                if (events > 0)
                {
                    database.OutboxSignal.Notify();
                }
            }
            else if (events > 0)
            {
                AmbientTransaction.For(database)!.WroteEvents = true;
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (inFlow)
            {
                // The transaction and its connection are the flow's: it commits or rolls back, and closes them.
                return;
            }

            try
            {
                await transaction.DisposeAsync().ConfigureAwait(false);
            }
            finally
            {
                // Kept for the next write only after a commit: a session that ended otherwise (a failed statement, a
                // key conflict) may have left the connection in a state not worth reasoning about, and is rare.
                try
                {
                    if (_committed)
                    {
                        await database.ReturnWriterAsync(writer!).ConfigureAwait(false);
                    }
                    else
                    {
                        await writer!.DisposeAsync().ConfigureAwait(false);
                    }
                }
                finally
                {
                    turn!.Dispose();
                }
            }
        }

        private async Task ExecuteEachAsync<T>(IEnumerable<T> rows, string sql, Action<SqliteParameterCollection, T> bind, CancellationToken cancellationToken)
        {
            await using var command = Statement(writer, connection, transaction, sql);
            foreach (var row in rows)
            {
                command.Parameters.Clear();
                bind(command.Parameters, row);
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
