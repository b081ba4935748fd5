using Npgsql;
using Tollgate.Core.Common;
using Tollgate.Core.Idempotency;
using Tollgate.Core.Ledger;
using Tollgate.Storage.Common;
using Tollgate.Storage.Sqlite;

namespace Tollgate.Storage.Postgres;

/// <summary>
/// The ledger on PostgreSQL. A write session locks its customers' rows (<c>FOR NO KEY UPDATE</c>, ordered by id, so
/// two sessions never wait on each other in a cycle) and loads their state in one round trip; the commit writes
/// every change as set-based statements over arrays in a second one.
/// </summary>
/// <remarks>Inside a flow's transaction (<see cref="PostgresFlowTransaction"/>) a write session joins it: it locks and
/// loads on the flow's connection, writes without committing, and leaves the commit and the notification to the flow.</remarks>
internal sealed class PostgresLedgerStore(PostgresDatabase database, TimeProvider time) : ILedgerStore
{
    private static readonly Dialect D = Dialect.Postgres;
    private readonly NpgsqlDataSource dataSource = database.DataSource;
    private readonly string origin = database.Origin;

    public bool InTransaction => AmbientTransaction.For(database) is not null;

    public async Task<ILedgerWriteSession> BeginWriteAsync(IReadOnlyList<CustomerLoad> loads, IReadOnlyCollection<(string Scope, string Key)> apiKeys,
        CancellationToken cancellationToken)
    {
        var ambient = (PostgresFlowTransaction?)AmbientTransaction.For(database);
        if (ambient is null && apiKeys.Count == 0 && loads.Count > 0 && loads.All(l => l.Known is not null))
        {
            // Every customer's state is known from this process's last commit: nothing to load, and no round trip now.
            // The commit's round trip opens the transaction, checks each customer's version and then writes.
            var known = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            return new Session(known, loads.ToDictionary(l => l.CustomerId, l => l.Known!.Data, StringComparer.Ordinal), NoResponses, time, origin,
                null, database, loads.ToDictionary(l => l.CustomerId, l => l.Known!.Version, StringComparer.Ordinal), claimPending: true);
        }

        if (ambient is not null && apiKeys.Count == 0 && loads.Count > 0 && loads.All(l => l.Known is not null)
            && await CheckKnownInFlowAsync(ambient, loads, cancellationToken).ConfigureAwait(false) is { } checkedSession)
        {
            return checkedSession;
        }

        var connection = ambient is null
            ? await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false)
            : await ambient.OpenAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var versions = new Dictionary<string, long>(StringComparer.Ordinal);
            var customers = loads.ToDictionary(l => l.CustomerId, l => new LedgerRows.CustomerDataBuilder(l.CustomerId), StringComparer.Ordinal);
            var lotIds = new HashSet<string>(StringComparer.Ordinal);
            var holdIds = new HashSet<string>(StringComparer.Ordinal);
            var responses = new Dictionary<(string Scope, string Key), StoredResponse>();

            // Every statement is an equality lookup on a key or key prefix, one customer at a time. Such statements
            // are planned as index scans even when the plan is cached while a table is still empty (a lookup by
            // "= ANY($1)" or a join against an array can be cached as a scan and stay one as the table grows).
            // BEGIN and COMMIT travel inside the batches, not through NpgsqlTransaction, so a write costs two round
            // trips: BEGIN + locks + loads, then writes + COMMIT.
            await using var batch = new NpgsqlBatch(connection);
            var readers = new List<Action<NpgsqlDataReader>>();
            if (ambient is null)
            {
                batch.BatchCommands.Add(new NpgsqlBatchCommand("BEGIN"));
            }
            else
            {
                // The flow's statements still waiting (its BEGIN, a webhook's inbox and payment rows) go first, in this
                // round trip.
                ambient.TakePending(batch);
                // In a flow's transaction a failed insert would abort the whole flow: its customers are created up
                // front, waiting (not failing) on a concurrent creator. Its writes are real ones (webhooks).
                Add(batch, "INSERT INTO customers (customer_id, created_at, updated_at) SELECT id, $2, $2 FROM unnest($1::text[]) AS id ORDER BY id ON CONFLICT (customer_id) DO NOTHING",
                    [loads.Select(l => l.CustomerId).ToArray(), Instants.Now(time)]);
            }

            // Loads arrive ordered by customer id, so every session takes its locks in the same order. A customer
            // without a row is not created here (a read or a refusal must not create one): the commit inserts the row
            // of a customer it changes, and a concurrent first write of the same customer then fails on its key.
            foreach (var load in loads)
            {
                var data = customers[load.CustomerId];
                data.Exists = false;
                Add(batch, LockCustomerSql, [load.CustomerId]);
                readers.Add(r =>
                {
                    data.Exists = true;
                    versions[load.CustomerId] = r.GetInt64(0);
                });
            }

            foreach (var load in loads)
            {
                var data = customers[load.CustomerId];
                // After the locks, in statements of their own: their snapshots include what the previous holder committed.
                Add(batch, "SELECT seq FROM ledger_entries WHERE customer_id = $1 ORDER BY seq DESC LIMIT 1", [load.CustomerId]);
                readers.Add(r => data.Seq = r.GetInt64(0));
                Add(batch, $"SELECT {LedgerRows.LotColumns} FROM ledger_lots WHERE customer_id = $1 AND live", [load.CustomerId]);
                readers.Add(r => AddLot(data, LedgerRows.Lot(r, D)));
                foreach (var sourceRef in load.SourceRefs)
                {
                    Add(batch, $"SELECT {LedgerRows.LotColumns} FROM ledger_lots WHERE customer_id = $1 AND source_ref = $2", [load.CustomerId, sourceRef]);
                    readers.Add(r => AddLot(data, LedgerRows.Lot(r, D)));
                }

                foreach (var prefix in load.SourcePrefixes)
                {
                    // A prefix compared as text (not LIKE: ids hold '_', a LIKE wildcard).
                    Add(batch, $"SELECT {LedgerRows.LotColumns} FROM ledger_lots WHERE customer_id = $1 AND source_ref IS NOT NULL AND left(source_ref, length($2)) = $2",
                        [load.CustomerId, prefix]);
                    readers.Add(r => AddLot(data, LedgerRows.Lot(r, D)));
                }

                foreach (var lotId in load.LotIds)
                {
                    Add(batch, $"SELECT {LedgerRows.LotColumns} FROM ledger_lots WHERE customer_id = $1 AND lot_id = $2", [load.CustomerId, lotId]);
                    readers.Add(r => AddLot(data, LedgerRows.Lot(r, D)));
                }

                Add(batch, $"SELECT {LedgerRows.HoldColumns} FROM ledger_holds WHERE customer_id = $1 AND status = 'active'", [load.CustomerId]);
                readers.Add(r => AddHold(data, LedgerRows.Hold(r, D)));
                foreach (var holdId in load.HoldIds)
                {
                    Add(batch, $"SELECT {LedgerRows.HoldColumns} FROM ledger_holds WHERE customer_id = $1 AND hold_id = $2", [load.CustomerId, holdId]);
                    readers.Add(r => AddHold(data, LedgerRows.Hold(r, D)));
                }

                Add(batch, "SELECT feature, amount FROM ledger_debts WHERE customer_id = $1", [load.CustomerId]);
                readers.Add(r => data.Debts[r.GetString(0)] = r.GetInt64(1));
                Add(batch, "SELECT feature, level FROM ledger_counters WHERE customer_id = $1", [load.CustomerId]);
                readers.Add(r => data.Counters[r.GetString(0)] = r.GetInt64(1));
                foreach (var key in load.OperationKeys)
                {
                    Add(batch, OperationByKeySql, [load.CustomerId, key]);
                    readers.Add(r => data.Operations.Add(LedgerRows.Operation(r, D)));
                }
            }

            foreach (var (scope, key) in apiKeys)
            {
                Add(batch, "SELECT request_hash, status, response FROM api_idempotency WHERE scope = $1 AND idempotency_key = $2", [scope, key]);
                readers.Add(r => responses[(scope, key)] = new StoredResponse(r.GetString(0), r.GetInt32(1), r.GetString(2)));
            }

            await ReadEachAsync(batch, readers, cancellationToken).ConfigureAwait(false);

            return new Session(connection, customers.ToDictionary(c => c.Key, c => c.Value.Build(), StringComparer.Ordinal), responses, time, origin, ambient,
                database, versions, claimPending: false);

            void AddLot(LedgerRows.CustomerDataBuilder data, LotRecord lot)
            {
                if (lotIds.Add(lot.LotId))
                {
                    data.Lots.Add(lot);
                }
            }

            void AddHold(LedgerRows.CustomerDataBuilder data, HoldRecord hold)
            {
                if (holdIds.Add(hold.HoldId))
                {
                    data.Holds.Add(hold);
                }
            }
        }
        catch when (ambient is null)
        {
            await Session.AbandonAsync(connection).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// A flow's write from known state: its customers' rows locked (in id order, as every write takes them) and the
    /// operation keys it names read, in the round trip that carries the flow's waiting statements, instead of the
    /// customer upsert, the lock and six reads per customer. The known states are used only if every row still holds
    /// its known version under the lock: a flow cannot fail its commit on a moved version as a lane's batch does (it
    /// would fail the flow), so a moved or missing row returns null, and the caller loads the customers in the same
    /// transaction, their rows already locked.
    /// </summary>
    private async Task<ILedgerWriteSession?> CheckKnownInFlowAsync(PostgresFlowTransaction ambient, IReadOnlyList<CustomerLoad> loads,
        CancellationToken cancellationToken)
    {
        var connection = await ambient.OpenAsync(cancellationToken).ConfigureAwait(false);
        var versions = new Dictionary<string, long>(StringComparer.Ordinal);
        var operations = loads.ToDictionary(l => l.CustomerId, _ => new List<OperationRecord>(), StringComparer.Ordinal);
        await using (var batch = new NpgsqlBatch(connection))
        {
            ambient.TakePending(batch);
            var readers = new List<Action<NpgsqlDataReader>>();
            foreach (var load in loads)
            {
                Add(batch, LockCustomerSql, [load.CustomerId]);
                readers.Add(r => versions[load.CustomerId] = r.GetInt64(0));
            }

            foreach (var load in loads)
            {
                foreach (var key in load.OperationKeys)
                {
                    Add(batch, OperationByKeySql, [load.CustomerId, key]);
                    readers.Add(r => operations[load.CustomerId].Add(LedgerRows.Operation(r, D)));
                }
            }

            await ReadEachAsync(batch, readers, cancellationToken).ConfigureAwait(false);
        }

        if (!loads.All(l => versions.TryGetValue(l.CustomerId, out var version) && version == l.Known!.Version))
        {
            return null;
        }

        return new Session(connection, loads.ToDictionary(l => l.CustomerId, l => l.Known!.Data with { Operations = operations[l.CustomerId] },
                StringComparer.Ordinal), NoResponses, time, origin, ambient, database, versions, claimPending: false)
            { FromKnownState = true };
    }

    private const string LockCustomerSql = "SELECT ledger_version FROM customers WHERE customer_id = $1 FOR NO KEY UPDATE";

    private static readonly string OperationByKeySql =
        $"SELECT {LedgerRows.OperationColumns} FROM ledger_operations WHERE customer_id = $1 AND operation_key = $2";

    /// <summary>Runs <paramref name="batch"/> and hands each statement that returns rows, in order, to its reader.
    /// Statements without rows (BEGIN, a flow's waiting writes, an insert) have no result set, so the first result set
    /// is the first reader's.</summary>
    private static async Task ReadEachAsync(NpgsqlBatch batch, List<Action<NpgsqlDataReader>> readers, CancellationToken cancellationToken)
    {
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        foreach (var read in readers)
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                read(reader);
            }

            await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task<CustomerLedgerData> ReadAsync(string customerId, IReadOnlyCollection<string> operationKeys, CancellationToken cancellationToken)
    {
        // Inside a flow (a webhook applying a subscription reads what its plan owes) on the flow's connection, behind what
        // the flow has waiting: it sees the flow's own writes, and a flow never waits for a second pooled connection while
        // it holds one (with every connection held by such flows, none would come: TollgateDatabase.DefaultPostgresPoolSize).
        var flow = (PostgresFlowTransaction?)AmbientTransaction.For(database);
        await using var own = flow is null ? await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false) : null;
        await using var batch = new NpgsqlBatch(own ?? await flow!.OpenAsync(cancellationToken).ConfigureAwait(false));
        if (flow is null)
        {
            // One snapshot for all the reads: BEGIN ISOLATION LEVEL REPEATABLE READ travels in the batch, and the
            // transaction ends (read-only, nothing to roll back) with a COMMIT in the same round trip.
            batch.BatchCommands.Add(new NpgsqlBatchCommand("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
        }
        else
        {
            // None of what waits returns rows: the first result set is still the first query's. The flow's transaction is
            // READ COMMITTED, so each of these statements sees what was committed when it began: like any read without a
            // lock, a view; a write the flow then makes locks the customer and writes from its state under that lock.
            flow.TakePending(batch);
        }

        Add(batch, "SELECT coalesce(max(seq), 0) FROM ledger_entries WHERE customer_id = $1", [customerId]);
        Add(batch, $"SELECT {LedgerRows.LotColumns} FROM ledger_lots WHERE customer_id = $1 AND live", [customerId]);
        Add(batch, $"SELECT {LedgerRows.HoldColumns} FROM ledger_holds WHERE customer_id = $1 AND status = 'active'", [customerId]);
        Add(batch, "SELECT feature, amount FROM ledger_debts WHERE customer_id = $1", [customerId]);
        Add(batch, "SELECT feature, level FROM ledger_counters WHERE customer_id = $1", [customerId]);
        foreach (var key in operationKeys)
        {
            Add(batch, OperationByKeySql, [customerId, key]);
        }

        if (flow is null)
        {
            batch.BatchCommands.Add(new NpgsqlBatchCommand("COMMIT"));
        }

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

        await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            data.Counters[reader.GetString(0)] = reader.GetInt64(1);
        }

        foreach (var _ in operationKeys)
        {
            await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                data.Operations.Add(LedgerRows.Operation(reader, D));
            }
        }

        return data.Build();
    }

    /// <summary>A read's command: inside a flow on the flow's connection (what waits sent first), so it sees the flow's
    /// writes and never waits for a second pooled connection (see <see cref="ReadAsync"/>); otherwise on a pooled
    /// connection for this command alone.</summary>
    private async ValueTask<NpgsqlCommand> ReadCommandAsync(string sql, CancellationToken cancellationToken) =>
        AmbientTransaction.For(database) is PostgresFlowTransaction flow
            ? new NpgsqlCommand(sql, (NpgsqlConnection)await flow.ConnectionAsync(cancellationToken).ConfigureAwait(false))
            : dataSource.CreateCommand(sql);

    public Task<string?> FindHoldOwnerAsync(string holdId, CancellationToken cancellationToken) =>
        OwnerAsync(holdId, CustomerKeys.Hold, cancellationToken);

    // A hold or entry named by its id alone: its owner from customer_keys, then the row with its customer (two statements,
    // each on one shard when distributed; one joined statement would be sent to every shard of the customer's table).
    public async Task<HoldRecord?> GetHoldAsync(string holdId, CancellationToken cancellationToken)
    {
        if (await OwnerAsync(holdId, CustomerKeys.Hold, cancellationToken).ConfigureAwait(false) is not { } owner)
        {
            return null;
        }

        await using var command = await ReadCommandAsync(
            $"SELECT {LedgerRows.HoldColumns} FROM ledger_holds WHERE customer_id = $1 AND hold_id = $2", cancellationToken).ConfigureAwait(false);
        command.Parameters.AddWithValue(owner);
        command.Parameters.AddWithValue(holdId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? LedgerRows.Hold(reader, D) : null;
    }

    public async Task<EntryRecord?> FindEntryAsync(string entryId, CancellationToken cancellationToken)
    {
        // customer_keys gives the entry's customer and seq (migration 0023): the entry is then read by its primary key.
        // An entry keyed by an earlier version has no seq there, and is read by its id among its customer's entries.
        await using var owner = await ReadCommandAsync(CustomerKeys.EntryOwnerSql("$1"), cancellationToken).ConfigureAwait(false);
        owner.Parameters.AddWithValue(entryId);
        string customerId;
        long? seq;
        await using (var reader = await owner.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                return null;
            }

            (customerId, seq) = (reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetInt64(1));
        }

        await using var command = await ReadCommandAsync(seq is null
            ? $"SELECT {LedgerRows.EntryColumns} FROM ledger_entries WHERE customer_id = $1 AND entry_id = $2"
            : $"SELECT {LedgerRows.EntryColumns} FROM ledger_entries WHERE customer_id = $1 AND entry_id = $2 AND seq = $3",
            cancellationToken).ConfigureAwait(false);
        command.Parameters.AddWithValue(customerId);
        command.Parameters.AddWithValue(entryId);
        if (seq is { } s)
        {
            command.Parameters.AddWithValue(s);
        }

        await using var entry = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await entry.ReadAsync(cancellationToken).ConfigureAwait(false) ? LedgerRows.Entry(entry, D) : null;
    }

    private async Task<string?> OwnerAsync(string key, string kind, CancellationToken cancellationToken)
    {
        await using var command = await ReadCommandAsync(CustomerKeys.OwnerSql("$1", "$2") + " AND provider = ''", cancellationToken)
            .ConfigureAwait(false);
        command.Parameters.AddWithValue(key);
        command.Parameters.AddWithValue(kind);
        return (string?)await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task<EntryPage> GetEntriesAsync(string customerId, string? feature, int limit, long? before, CancellationToken cancellationToken)
    {
        // One statement text per filter shape: a "$2 IS NULL OR feature = $2" statement, once auto-prepared, gets a
        // generic plan that walks all of the customer's entries and filters them (6.5x slower on 241k entries).
        await using var command = await ReadCommandAsync(feature is null
            ? $"SELECT {LedgerRows.EntryColumns} FROM ledger_entries WHERE customer_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"
            : $"SELECT {LedgerRows.EntryColumns} FROM ledger_entries WHERE customer_id = $1 AND seq < $2 AND feature = $4 ORDER BY seq DESC LIMIT $3",
            cancellationToken).ConfigureAwait(false);
        command.Parameters.AddWithValue(customerId);
        command.Parameters.AddWithValue(before ?? long.MaxValue);
        command.Parameters.AddWithValue(limit + 1);
        if (feature is not null)
        {
            command.Parameters.AddWithValue(feature);
        }
        var entries = new List<EntryRecord>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            entries.Add(LedgerRows.Entry(reader, D));
        }

        return SqliteLedgerStore.Page(entries, limit);
    }

    public async Task<IReadOnlyList<(DateTimeOffset Day, long Used)>> GetDailyUsageAsync(string customerId, string feature, DateTimeOffset from,
        DateTimeOffset to, CancellationToken cancellationToken)
    {
        var (wholeFrom, wholeTo, edges) = UsageRanges.Split(from, to);
        await using var command = await ReadCommandAsync(
            $"""
            SELECT date_trunc('day', hour, 'UTC'), sum(used)::bigint FROM ledger_usage_hourly
            WHERE customer_id = $1 AND feature = $2 AND hour >= $3 AND hour < $4 GROUP BY 1
            UNION ALL
            SELECT date_trunc('day', at, 'UTC'), sum({UsedUnits})::bigint FROM ledger_entries
            WHERE customer_id = $1 AND feature = $2 AND at >= $5 AND at < $6 AND {UsageRanges.SeqBoundsSql("$1", "$2", "$9", "$6")} GROUP BY 1
            UNION ALL
            SELECT date_trunc('day', at, 'UTC'), sum({UsedUnits})::bigint FROM ledger_entries
            WHERE customer_id = $1 AND feature = $2 AND at >= $7 AND at < $8 AND {UsageRanges.SeqBoundsSql("$1", "$2", "$10", "$8")} GROUP BY 1
            """, cancellationToken).ConfigureAwait(false);
        command.Parameters.AddWithValue(customerId);
        command.Parameters.AddWithValue(feature);
        foreach (var at in new[] { wholeFrom, wholeTo, edges[0].From, edges[0].To, edges[1].From, edges[1].To,
                     UsageRanges.FirstHour(edges[0]), UsageRanges.FirstHour(edges[1]) })
        {
            command.Parameters.AddWithValue(D.Time(at));
        }

        var days = new List<(DateTimeOffset, long)>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            days.Add((D.ReadTime(reader, 0), reader.GetInt64(1)));
        }

        return days;
    }

    private static readonly string UsedUnits = LedgerRows.UsedUnitsSql(field => $"(detail::json ->> '{field}')::bigint");

    public async Task<IReadOnlyList<LotRecord>> GetAllLotsAsync(string customerId, CancellationToken cancellationToken)
    {
        await using var command = await ReadCommandAsync($"SELECT {LedgerRows.LotColumns} FROM ledger_lots WHERE customer_id = $1 ORDER BY seq",
            cancellationToken).ConfigureAwait(false);
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
        await using var command = await ReadCommandAsync(
            """
            SELECT customer_id FROM ledger_lots WHERE live AND expires_at <= $1 AND remaining > 0
            UNION
            SELECT customer_id FROM ledger_holds WHERE status = 'active' AND expires_at <= $1
            LIMIT $2
            """, cancellationToken).ConfigureAwait(false);
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
        exception is PostgresException { SqlState: "40001" or "40P01" or "55P03" }
        || exception is NpgsqlException { IsTransient: true };

    public bool IsStale(Exception exception) => exception is PostgresException { SqlState: StaleLedger };

    // Raised by tollgate_claim_ledger (migration 0021) when a customer's row no longer holds the version a batch knew.
    private const string StaleLedger = "TG001";

    private static readonly IReadOnlyDictionary<(string Scope, string Key), StoredResponse> NoResponses =
        new Dictionary<(string Scope, string Key), StoredResponse>();

    public bool IsKeyConflict(Exception exception) =>
        exception is PostgresException
        {
            SqlState: PostgresErrorCodes.UniqueViolation,
            ConstraintName: "ledger_operations_pkey" or "api_idempotency_pkey" or "customers_pkey",
        };

    /// <summary>The change notifications for a commit, appended to its batch after its <c>COMMIT</c> (see
    /// <see cref="Session.AddNotifications"/>); returns the commands added, so a failure among them can be told apart.</summary>
    internal static List<NpgsqlBatchCommand> ChangeNotifications(NpgsqlBatch batch, string origin, IEnumerable<string> customerIds,
        IEnumerable<string> subscriptionsChanged) =>
        Session.AddNotifications(batch, origin, customerIds, subscriptionsChanged);

    // Values come as an explicit array ("[ids]"): with a params array, a lone string[] would be taken as the array itself.
    private static void Add(NpgsqlBatch batch, string sql, object[] values)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var value in values)
        {
            command.Parameters.Add(value as NpgsqlParameter ?? new NpgsqlParameter { Value = value });
        }

        batch.BatchCommands.Add(command);
    }

    private static object TimeOrNull(DateTimeOffset? value) => value is { } v ? Instants.Normalize(v) : DBNull.Value;

    /// <param name="versions">The version of each locked customer's row, as loaded, or as known when
    /// <paramref name="claimPending"/>.</param>
    /// <param name="claimPending">Written from known state: the transaction is not open yet. Its first round trip
    /// opens it and checks every customer's version (<see cref="Claim"/>).</param>
    private sealed class Session(NpgsqlConnection connection, IReadOnlyDictionary<string, CustomerLedgerData> customers,
        IReadOnlyDictionary<(string Scope, string Key), StoredResponse> apiResponses, TimeProvider time, string origin, PostgresFlowTransaction? ambient,
        PostgresDatabase database, Dictionary<string, long> versions, bool claimPending)
        : ILedgerWriteSession
    {
        private bool _committed;
        private bool _claimPending = claimPending;
        // The version this transaction gives each customer whose ledger it changes, once the statement that sets it is
        // in a batch (their claim, the commit's update, a new customer's insert).
        private readonly Dictionary<string, long> _next = new(StringComparer.Ordinal);

        public IReadOnlyDictionary<string, CustomerLedgerData> Customers { get; } = customers;

        public IReadOnlyDictionary<(string Scope, string Key), StoredResponse> ApiResponses { get; } = apiResponses;

        public IReadOnlyDictionary<string, long> Versions => _committed && ambient is null ? versions : NoVersions;

        public bool FromKnownState { get; init; }

        /// <summary>The versions this session leaves (a new one for each customer it changed, the locked one for the
        /// others), reported once the flow's commit has been answered.</summary>
        public void OnFlowCommitted(Action<IReadOnlyDictionary<string, long>> committed)
        {
            if (ambient is null)
            {
                return;
            }

            var left = new Dictionary<string, long>(versions, StringComparer.Ordinal);
            foreach (var (customerId, next) in _next)
            {
                left[customerId] = next;
            }

            ambient.AfterCommit(() => committed(left));
        }

        private static readonly IReadOnlyDictionary<string, long> NoVersions = new Dictionary<string, long>();

        /// <summary>Opens a transaction written from known state, in an empty <paramref name="batch"/>: BEGIN, then each
        /// customer's version checked (in id order, as locks are always taken) and, for those in <paramref name="changing"/>,
        /// replaced. A version another writer replaced meanwhile fails the batch there (<see cref="IsStale"/>), before any write.</summary>
        private void Claim(NpgsqlBatch batch, IReadOnlySet<string> changing)
        {
            if (!_claimPending)
            {
                return;
            }

            _claimPending = false;
            batch.BatchCommands.Add(new NpgsqlBatchCommand("BEGIN"));
            var claims = versions.OrderBy(v => v.Key, StringComparer.Ordinal)
                .Select(v => (CustomerId: v.Key, Version: v.Value, Next: changing.Contains(v.Key) ? NextVersion(v.Key) : v.Value))
                .ToList();
            if (claims is [var one])
            {
                // One customer: a function of one customer, a distributed function on Citus routed by it (docs/scaling.md).
                Add(batch, "SELECT tollgate_claim_ledger($1, $2, $3)", [one.CustomerId, one.Version, one.Next]);
            }
            else
            {
                AddClaims(batch, claims);
            }
        }

        /// <summary>Checks each customer's version and replaces it with its next, in the order given, in one statement
        /// (migration 0022: in a batch spread over many customers, a statement per customer cost more than its work).</summary>
        private static void AddClaims(NpgsqlBatch batch, IReadOnlyList<(string CustomerId, long Version, long Next)> claims) =>
            Add(batch, "CALL tollgate_claim_ledgers($1::text[], $2::bigint[], $3::bigint[])",
                [Col(claims, c => c.CustomerId), Col(claims, c => c.Version), Col(claims, c => c.Next)]);

        /// <summary>Opens a transaction written from known state in a round trip of its own, before a statement that
        /// needs an answer inside it (a refusal's stored keys, a ledger event's alert marks). Versions are only checked
        /// here; the commit gives those it changes new ones.</summary>
        private async Task OpenClaimedAsync(CancellationToken cancellationToken)
        {
            if (!_claimPending)
            {
                return;
            }

            await using var open = new NpgsqlBatch(connection);
            Claim(open, EmptySet);
            await open.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        private static readonly IReadOnlySet<string> EmptySet = new HashSet<string>();

        /// <summary>A new version for <paramref name="customerId"/>'s row: random, so that no other state of the customer
        /// ever had it (see migration 0021). Zero is what rows had before any versioned write; it is never given.</summary>
        private long NextVersion(string customerId)
        {
            long next;
            do
            {
                next = Random.Shared.NextInt64(long.MinValue, long.MaxValue);
            }
            while (next == 0 || (versions.TryGetValue(customerId, out var current) && next == current));

            _next[customerId] = next;
            return next;
        }

        public async Task<IReadOnlyList<OperationRecord>> LoadOperationsAsync(IReadOnlyList<(string CustomerId, string Key)> keys, CancellationToken cancellationToken)
        {
            await FlushFlowAsync(cancellationToken).ConfigureAwait(false);
            await OpenClaimedAsync(cancellationToken).ConfigureAwait(false);
            await using var batch = new NpgsqlBatch(connection);
            foreach (var (customerId, key) in keys)
            {
                Add(batch, OperationByKeySql, [customerId, key]);
            }

            var found = new List<OperationRecord>();
            await using var reader = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            do
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    found.Add(LedgerRows.Operation(reader, D));
                }
            }
            while (await reader.NextResultAsync(cancellationToken).ConfigureAwait(false));

            return found;
        }

        /// <summary>In a flow, whatever it deferred since this session's load runs before the session's own commands
        /// (nothing, as the flow waits on this write; no round trip then).</summary>
        private async ValueTask FlushFlowAsync(CancellationToken cancellationToken)
        {
            if (ambient is not null)
            {
                await ambient.ConnectionAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        /// <summary>Rolls back an open transaction and returns the connection to the pool.</summary>
        public static async Task AbandonAsync(NpgsqlConnection connection)
        {
            try
            {
                if (connection.State == System.Data.ConnectionState.Open)
                {
                    await using var rollback = new NpgsqlCommand("ROLLBACK", connection);
                    await rollback.ExecuteNonQueryAsync().ConfigureAwait(false);
                }
            }
            catch (NpgsqlException)
            {
                // The connection is broken; closing it ends the transaction on the server, which is all we need.
            }
            finally
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }

        public async Task CommitAsync(LedgerChanges changes, CancellationToken cancellationToken)
        {
            // The events this write reports, in its transaction (nothing to do, and no round trip, for most writes).
            await FlushFlowAsync(cancellationToken).ConfigureAwait(false);
            var changing = changes.LedgerCustomers();
            // In a flow, its events join the flow's, written in its commit's round trips rather than three of their own each.
            // In a lane's batch they are gathered here with its attachments' and written below, in one statement per kind.
            // Written from known state, the transaction is not open yet: it opens (claims checked) before the outbox's
            // first statement, if it sends one.
            var ledgerEvents = new List<Core.Events.OutboundEvent>();
            var events = await Events.OutboxSql.WriteLedgerAsync(connection, null, Dialect.Postgres, database.LedgerEvents, changes, cancellationToken,
                ambient?.PendingEvents ?? ledgerEvents, _claimPending ? OpenClaimedAsync : null).ConfigureAwait(false);
            IReadOnlyList<NpgsqlBatchCommand> eventRows = [];
            if (ambient is not null)
            {
                if (changes.Attachments.Count > 0)
                {
                    throw new InvalidOperationException("A flow's ledger write cannot carry attachments: the flow writes its own rows.");
                }
            }
            else if (Stores.PackDeliverySql.Events(changes, ledgerEvents) is { Count: > 0 } outbound)
            {
                // Their sequence numbers in one round trip (the transaction opens in it when written from known state,
                // claims first, so customers are locked before their counters, as everywhere); their rows go with the commit.
                eventRows = await Events.OutboxSql.WriteBatchedAsync(connection, pending => Claim(pending, changing), outbound, cancellationToken)
                    .ConfigureAwait(false);
                events = outbound.Count;
            }

            await using var batch = new NpgsqlBatch(connection);
            // Written from known state and nothing sent yet: the transaction opens, and the versions are checked (and
            // replaced for the customers this changes), in this same round trip, ahead of the writes.
            Claim(batch, changing);

            if (changes.NewCustomers.Count > 0)
            {
                // A plain insert: a concurrent first write of the same customer fails here on the key (after waiting
                // for the other to commit) and its batch runs again, this time locking the row. Born with a version.
                Add(batch, "INSERT INTO customers (customer_id, created_at, updated_at, ledger_version) SELECT id, $2, $2, v FROM unnest($1::text[], $3::bigint[]) AS t(id, v) ORDER BY id",
                    [changes.NewCustomers.ToArray(), Instants.Now(time), changes.NewCustomers.Select(NextVersion).ToArray()]);
            }

            // Every customer whose ledger this changes gets a new version, so a server writing from the state it
            // knows (Claim) fails rather than overwrite this change. Their rows are locked and their versions loaded:
            // several are claimed in one statement (its check passes).
            var renewed = changing.Where(c => versions.ContainsKey(c) && !_next.ContainsKey(c)).Order(StringComparer.Ordinal).ToList();
            if (renewed is [var customer])
            {
                Add(batch, "UPDATE customers SET ledger_version = $2 WHERE customer_id = $1", [customer, NextVersion(customer)]);
            }
            else if (renewed.Count > 1)
            {
                AddClaims(batch, renewed.Select(c => (c, versions[c], NextVersion(c))).ToList());
            }

            if (changes.InsertedLots.Count > 0)
            {
                var l = changes.InsertedLots;
                Add(batch,
                    $"""
                    INSERT INTO ledger_lots ({LedgerRows.LotColumns}, live)
                    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[],
                        $9::text[], $10::text[], $11::timestamptz[], $12::integer[], $13::bigint[], $14::timestamptz[], $15::boolean[])
                    """, [Col(l, x => x.CustomerId), Col(l, x => x.LotId), Col(l, x => x.Feature), Col(l, x => x.Amount), Col(l, x => x.Remaining),
                    Col(l, x => x.Held), Col(l, x => x.Clawed), Col(l, x => x.Expired), Col(l, x => SnakeCase<LotSource>.Name(x.Source)),
                    Col(l, x => x.SourceRef), Col(l, x => x.ExpiresAt), Col(l, x => x.Priority), Col(l, x => x.Seq), Col(l, x => x.CreatedAt),
                    l.Select(LedgerRows.IsLive).ToArray()]);
            }

            // Primary-key updates, lot by lot. One lot is a plain statement; several are one procedure call (migrations 0022
            // and 0024): one UPDATE joined to each lot by its primary key, a plan the procedure pins whatever the table's
            // statistics say (a cached join planned on a small table would scan it).
            if (changes.UpdatedLots is [var lot])
            {
                Add(batch, "UPDATE ledger_lots SET remaining = $3, held = $4, clawed = $5, expired = $6, live = $7, expires_at = $8 WHERE customer_id = $1 AND lot_id = $2",
                    [lot.CustomerId, lot.LotId, lot.Remaining, lot.Held, lot.Clawed, lot.Expired, LedgerRows.IsLive(lot), TimeOrNull(lot.ExpiresAt)]);
            }
            else if (changes.UpdatedLots is { Count: > 1 } lots)
            {
                Add(batch,
                    "CALL tollgate_update_lots($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::boolean[], $8::timestamptz[])",
                    [Col(lots, x => x.CustomerId), Col(lots, x => x.LotId), Col(lots, x => x.Remaining), Col(lots, x => x.Held), Col(lots, x => x.Clawed),
                        Col(lots, x => x.Expired), lots.Select(LedgerRows.IsLive).ToArray(), Col(lots, x => x.ExpiresAt)]);
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

            foreach (var hold in changes.UpdatedHolds)
            {
                Add(batch, "UPDATE ledger_holds SET status = $3, allocations = $4, closed_at = $5, settled = $6 WHERE customer_id = $1 AND hold_id = $2",
                    [hold.CustomerId, hold.HoldId, SnakeCase<HoldStatus>.Name(hold.Status), LedgerJson.SerializeAllocations(hold.Allocations),
                        D.Time(hold.ClosedAt), hold.Settled]);
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

            if (CustomerKeys.OfLedger(changes) is { Count: > 0 } k)
            {
                // Whose each new hold and entry is (customer_keys), in the same batch: no round trip of its own. A plain
                // insert: ids are generated, and a clash must fail the write rather than point an id at two customers.
                Add(batch,
                    "INSERT INTO customer_keys (key, kind, provider, customer_id, seq) SELECT k, kind, '', c, s FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS t(k, kind, c, s)",
                    [Col(k, x => x.Key), Col(k, x => x.Kind), Col(k, x => x.CustomerId), Col(k, x => x.Seq)]);
            }

            if (LedgerRows.UsageByHour(changes.Entries) is { Count: > 0 } u)
            {
                Add(batch,
                    """
                    INSERT INTO ledger_usage_hourly (customer_id, feature, hour, used, first_seq, last_seq)
                    SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bigint[], $5::bigint[], $6::bigint[])
                    ON CONFLICT (customer_id, feature, hour) DO UPDATE SET used = ledger_usage_hourly.used + excluded.used,
                        first_seq = least(ledger_usage_hourly.first_seq, excluded.first_seq), last_seq = greatest(ledger_usage_hourly.last_seq, excluded.last_seq)
                    """, [Col(u, x => x.CustomerId), Col(u, x => x.Feature), Col(u, x => (DateTimeOffset?)x.Hour), Col(u, x => x.Used),
                    Col(u, x => x.FirstSeq), Col(u, x => x.LastSeq)]);
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

            if (changes.Counters.Count > 0)
            {
                var c = changes.Counters;
                Add(batch,
                    """
                    INSERT INTO ledger_counters (customer_id, feature, level) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
                    ON CONFLICT (customer_id, feature) DO UPDATE SET level = excluded.level
                    """,
                    [Col(c, x => x.CustomerId), Col(c, x => x.Feature), Col(c, x => x.Level)]);
            }

            if (changes.ApiResponses.Count > 0)
            {
                // A plain insert: a key stored meanwhile fails the commit, and the engine reruns the batch with it loaded.
                var r = changes.ApiResponses;
                Add(batch,
                    """
                    INSERT INTO api_idempotency (scope, idempotency_key, request_hash, status, response, created_at)
                    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::text[], $6::timestamptz[])
                    """,
                    [Col(r, x => x.Scope), Col(r, x => x.Key), Col(r, x => x.Response.RequestHash), Col(r, x => x.Response.Status),
                        Col(r, x => x.Response.Body), Col(r, x => x.CreatedAt)]);
            }

            // Auto top-up: a charge row when a threshold was crossed, in this transaction (no round trip of its own), for
            // every customer of the batch in one statement.
            var triggers = new List<NpgsqlBatchCommand>();
            if (Core.Events.AutoTopupTrigger.Crossings(changes, database.AutoTopupFeature) is { Count: > 0 } crossings)
            {
                var (sql, values) = Events.TopupSql.TriggerAll(crossings, () => Ids.New("tup", time), Instants.Now(time));
                // Its generic plan, not one planned for these values: a custom plan sees each array's real length, so its
                // estimate always beats the generic plan's (unnest's default of 100 rows), and PostgreSQL's plan cache
                // planned this statement again on every batch, at about 0.2 ms, several times its execution when no
                // customer of the batch has an auto top-up (pg_stat_statements with track_planning: docs/benchmarks.md).
                // For this statement only: the session's mode comes back before anything else of the transaction runs.
                batch.BatchCommands.Add(new NpgsqlBatchCommand("SET LOCAL plan_cache_mode = force_generic_plan"));
                Add(batch, sql, values);
                triggers.Add(batch.BatchCommands[^1]);
                batch.BatchCommands.Add(new NpgsqlBatchCommand("SET LOCAL plan_cache_mode TO DEFAULT"));
            }

            foreach (var row in eventRows)
            {
                batch.BatchCommands.Add(row);
            }

            // Other features' rows last, the customers locked before them (a delivery's inbox row and payment).
            Stores.PackDeliverySql.AddTo(batch, Stores.PackDeliverySql.Of(changes));

            if (ambient is not null)
            {
                // Nothing here needs an answer before the flow goes on: the rows travel with the flow's next statement
                // or its commit, in order and in its transaction (a failure fails the flow, as it would have here). The
                // flow commits, and then notifies for everything it changed.
                var commands = batch.BatchCommands.ToList<NpgsqlBatchCommand>();
                batch.BatchCommands.Clear();
                commands.ForEach(ambient.Defer);
                ambient.AfterCommit(() => NotifyTopups(triggers));
                ambient.ChangedCustomers.UnionWith(changes.Customers);
                ambient.WroteEvents |= events > 0;
                _committed = true;
                return;
            }

            batch.BatchCommands.Add(new NpgsqlBatchCommand("COMMIT"));
            var notifications = AddNotifications(batch, origin, changes.Customers);
            try
            {
                await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (PostgresException ex) when (ex.BatchCommand is { } failed && notifications.Contains(failed))
            {
                // The write committed; only its notification failed (a full notification queue): failing the write
                // now would make its callers retry something that happened. Other servers' views of these customers
                // stay stale until their cache lifetime ends.
            }

            _committed = true;
            foreach (var (customerId, version) in _next)
            {
                versions[customerId] = version;
            }

            NotifyTopups(triggers);
            if (events > 0)
            {
                database.OutboxSignal.Notify();
            }
        }

        private void NotifyTopups(List<NpgsqlBatchCommand> triggers)
        {
            if (triggers.Any(t => t.RecordsAffected > 0))
            {
                database.TopupSignal.Notify();
            }
        }

        /// <summary>
        /// Tells other servers to drop their cached view of these customers (LISTEN tollgate_customers), after the commit
        /// and before anyone is answered, in the commit's round trip: its own transaction, after the write's COMMIT in
        /// the same pipeline. Not inside the write: a transaction that notifies holds PostgreSQL's global notify lock
        /// from its commit until its WAL is flushed, so every notifying write of every server would commit one at a
        /// time. Its own transaction commits asynchronously (synchronous_commit off): a notification needs no
        /// durability (listeners lose it with their connection in a crash anyway, and then distrust their cache), so
        /// it holds the lock only while its commit record is written, not through a flush.
        /// </summary>
        public static List<NpgsqlBatchCommand> AddNotifications(NpgsqlBatch batch, string origin, IEnumerable<string> customerIds,
            IEnumerable<string>? subscriptionsChanged = null)
        {
            var added = new List<NpgsqlBatchCommand>();
            var payloads = PostgresDatabase.ChangePayloads(origin, customerIds)
                .Concat(PostgresDatabase.ChangePayloads(null, subscriptionsChanged ?? []));
            foreach (var payload in payloads)
            {
                if (added.Count == 0)
                {
                    added.Add(new NpgsqlBatchCommand("BEGIN"));
                    added.Add(new NpgsqlBatchCommand("SET LOCAL synchronous_commit = off"));
                }

                var notify = new NpgsqlBatchCommand($"SELECT pg_notify('{PostgresDatabase.ChangeChannel}', $1)");
                notify.Parameters.Add(new NpgsqlParameter { Value = payload });
                added.Add(notify);
            }

            if (added.Count > 0)
            {
                added.Add(new NpgsqlBatchCommand("COMMIT"));
                foreach (var command in added)
                {
                    batch.BatchCommands.Add(command);
                }
            }

            return added;
        }

        public async ValueTask DisposeAsync()
        {
            if (ambient is not null)
            {
                // The connection is the flow's: it commits or rolls back, and closes it.
                return;
            }

            if (_committed || _claimPending)
            {
                // Committed, or written from known state and never sent: no transaction to roll back.
                await connection.DisposeAsync().ConfigureAwait(false);
            }
            else
            {
                await AbandonAsync(connection).ConfigureAwait(false);
            }
        }

        private static string?[] Col<T>(IReadOnlyList<T> rows, Func<T, string?> value) => rows.Select(value).ToArray();

        private static long[] Col<T>(IReadOnlyList<T> rows, Func<T, long> value) => rows.Select(value).ToArray();

        private static int[] Col<T>(IReadOnlyList<T> rows, Func<T, int> value) => rows.Select(value).ToArray();

        // Typed as bigint[] for the same reason as the times below: an array of nothing but nulls says no type of its own.
        private static NpgsqlParameter Col<T>(IReadOnlyList<T> rows, Func<T, long?> value) => new()
        {
            Value = rows.Select(value).ToArray(),
            NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Bigint,
        };

        // Typed as timestamptz[] rather than inferred from the values: in a standalone program Npgsql 10 sent a DateTime?[]
        // starting with a null as timestamp[], and a later UTC value then failed the whole batch. The ledger's own batches
        // (tested with lot rows that start without an expiry) did not show it, but nothing here should rest on inference.
        private static NpgsqlParameter Col<T>(IReadOnlyList<T> rows, Func<T, DateTimeOffset?> value) => new()
        {
            Value = rows.Select(r => value(r) is { } v ? Instants.Normalize(v).UtcDateTime : (DateTime?)null).ToArray(),
            NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.TimestampTz,
        };
    }
}
