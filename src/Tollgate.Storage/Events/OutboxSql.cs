using System.Data.Common;
using Tollgate.Core.Common;
using Tollgate.Core.Events;
using Tollgate.Core.Ledger;
using Tollgate.Storage.Common;

namespace Tollgate.Storage.Events;

/// <summary>
/// Writes events into the transaction of the change they report (the outbox, DESIGN.md invariant 7): each gets the
/// customer's next sequence number (the counter row stays locked until that transaction ends, so a customer's events
/// are numbered in commit order) and one delivery row per enabled endpoint that takes its type (fan-out in the same
/// transaction: a committed event is never without its deliveries).
/// </summary>
internal static class OutboxSql
{
    public static async Task<int> WriteAsync(DbConnection connection, DbTransaction? transaction, Dialect dialect, IReadOnlyList<OutboundEvent> events,
        CancellationToken cancellationToken)
    {
        if (events.Count == 0)
        {
            return 0;
        }

        // A command per statement and event: reusing one with its parameters cleared made Npgsql's auto-prepared
        // statement bind the values of an earlier execution (seen as a duplicate event id on the fifth use).
        // Counter rows are locked in customer order, as the ledger locks customers, so two transactions writing events
        // of the same customers never wait on each other in a cycle; the sort is stable, so each customer's events keep
        // their order (and their sequence numbers follow it).
        foreach (var e in events.OrderBy(e => e.CustomerId, StringComparer.Ordinal))
        {
            long seq;
            await using (var counter = Command(connection, transaction,
                "INSERT INTO event_counters (customer_id, seq) VALUES (@c, 1) ON CONFLICT (customer_id) DO UPDATE SET seq = event_counters.seq + 1 RETURNING seq"))
            {
                Add(counter, "@c", e.CustomerId);
                seq = Convert.ToInt64(await counter.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
            }

            await using (var insert = Command(connection, transaction,
                "INSERT INTO events (event_id, customer_id, seq, event_type, payload, created_at) VALUES (@id, @c, @seq, @type, @payload, @at)"))
            {
                Add(insert, "@id", e.EventId);
                Add(insert, "@c", e.CustomerId);
                Add(insert, "@seq", seq);
                Add(insert, "@type", e.Type);
                Add(insert, "@payload", e.Body(seq));
                Add(insert, "@at", dialect.Time(e.CreatedAt));
                await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            // Whose the event is, for GET /v1/events/{id} and redelivery (they name it alone): written with it. A plain
            // insert: event ids are unique across customers, which the events table keyed by customer no longer says.
            await using (var key = Command(connection, transaction, CustomerKeys.InsertSql))
            {
                foreach (var (name, value) in CustomerKeys.Args(e.EventId, CustomerKeys.Event, "", e.CustomerId))
                {
                    Add(key, name, value);
                }

                await key.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await using (var fanOut = Command(connection, transaction,
                """
                INSERT INTO event_deliveries (endpoint_id, event_id, customer_id, seq, status, attempts, next_attempt_at, updated_at)
                SELECT endpoint_id, @id, @c, @seq, 'pending', 0, @at, @at FROM webhook_endpoints
                WHERE status = 'enabled' AND (event_types IS NULL OR ',' || event_types || ',' LIKE '%,' || @type || ',%')
                """))
            {
                Add(fanOut, "@id", e.EventId);
                Add(fanOut, "@c", e.CustomerId);
                Add(fanOut, "@seq", seq);
                Add(fanOut, "@at", dialect.Time(e.CreatedAt));
                Add(fanOut, "@type", e.Type);
                await fanOut.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        return events.Count;
    }

    /// <summary>
    /// PostgreSQL, in a flow's transaction: <see cref="WriteAsync"/> in one round trip instead of three per event, and in
    /// one statement per kind instead of four per event. Each customer's sequence numbers are taken in one batch (after
    /// <paramref name="takePending"/>, the flow's writes still to be sent, so the counter rows are still locked last), one
    /// upsert per customer that moves its counter by its number of events, in customer order as there; the event, key and
    /// delivery rows, which need no answer, come back as three commands for the flow's commit batch.
    /// </summary>
    public static async Task<IReadOnlyList<Npgsql.NpgsqlBatchCommand>> WriteBatchedAsync(Npgsql.NpgsqlConnection connection,
        Action<Npgsql.NpgsqlBatch> takePending, IReadOnlyList<OutboundEvent> events, CancellationToken cancellationToken)
    {
        // Stable: each customer's events keep their order, and their sequence numbers follow it.
        var ordered = events.OrderBy(e => e.CustomerId, StringComparer.Ordinal).ToList();
        var customers = ordered.GroupBy(e => e.CustomerId, StringComparer.Ordinal).Select(g => (Id: g.Key, Count: g.Count())).ToList();
        var lastSeqs = new List<long>(customers.Count);
        await using (var batch = new Npgsql.NpgsqlBatch(connection))
        {
            takePending(batch);
            foreach (var (customer, count) in customers)
            {
                batch.BatchCommands.Add(Batched(
                    "INSERT INTO event_counters (customer_id, seq) VALUES ($1, $2) ON CONFLICT (customer_id) DO UPDATE SET seq = event_counters.seq + excluded.seq RETURNING seq",
                    customer, (long)count));
            }

            // The counters' result sets are those of a column named seq, in order; a pending statement may return a row
            // of its own (a ledger write's claim of its customers' versions returns the function's void).
            await using var reader = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            do
            {
                while (reader.FieldCount == 1 && reader.GetName(0) == "seq" && await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    lastSeqs.Add(reader.GetInt64(0));
                }
            }
            while (await reader.NextResultAsync(cancellationToken).ConfigureAwait(false));
        }

        if (lastSeqs.Count != customers.Count)
        {
            throw new InvalidOperationException($"The outbox took {lastSeqs.Count} counters for {customers.Count} customers.");
        }

        // A customer's counter now stands at its last event's number: its events take the numbers up to it, in order.
        var seqs = new long[ordered.Count];
        var next = 0;
        for (var c = 0; c < customers.Count; c++)
        {
            for (var i = 0; i < customers[c].Count; i++)
            {
                seqs[next++] = lastSeqs[c] - customers[c].Count + 1 + i;
            }
        }

        var ids = ordered.Select(e => e.EventId).ToArray();
        var owners = ordered.Select(e => e.CustomerId).ToArray();
        var types = ordered.Select(e => e.Type).ToArray();
        var at = ordered.Select(e => Instants.Normalize(e.CreatedAt)).ToArray();
        return
        [
            Batched(
                "INSERT INTO events (event_id, customer_id, seq, event_type, payload, created_at) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::timestamptz[])",
                ids, owners, seqs, types, ordered.Select((e, i) => e.Body(seqs[i])).ToArray(), at),
            // Whose each event is (GET /v1/events/{id}, redelivery), as WriteAsync writes it.
            Batched("INSERT INTO customer_keys (key, kind, provider, customer_id) SELECT k, $2, '', c FROM unnest($1::text[], $3::text[]) AS t(k, c)",
                ids, CustomerKeys.Event, owners),
            Batched(
                """
                INSERT INTO event_deliveries (endpoint_id, event_id, customer_id, seq, status, attempts, next_attempt_at, updated_at)
                SELECT w.endpoint_id, e.id, e.c, e.seq, 'pending', 0, e.at, e.at
                FROM unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[], $5::text[]) AS e(id, c, seq, at, type)
                JOIN webhook_endpoints w ON w.status = 'enabled' AND (w.event_types IS NULL OR ',' || w.event_types || ',' LIKE '%,' || e.type || ',%')
                """, ids, owners, seqs, at, types),
        ];
    }

    private static Npgsql.NpgsqlBatchCommand Batched(string sql, params object[] values)
    {
        var command = new Npgsql.NpgsqlBatchCommand(sql);
        foreach (var value in values)
        {
            command.Parameters.Add(new Npgsql.NpgsqlParameter { Value = value });
        }

        return command;
    }

    /// <summary>Writes what a ledger write reports (<see cref="LedgerEvents"/>) in its transaction, its customers
    /// locked. Returns the number of events written.</summary>
    /// <param name="flowEvents">In a flow's transaction whose outbox writes its events at its commit: the events are added
    /// there instead of being written now (their rows then cost no round trips of their own).</param>
    /// <param name="beforeFirstStatement">Run once before the first statement this sends, if it sends any: a ledger write
    /// from known state opens its transaction there (PostgreSQL: BEGIN and the versions' claims), so that nothing of this
    /// runs outside it, and pays no round trip of its own when nothing is sent.</param>
    public static async Task<int> WriteLedgerAsync(DbConnection connection, DbTransaction? transaction, Dialect dialect, LedgerEvents? rules,
        LedgerChanges changes, CancellationToken cancellationToken, List<OutboundEvent>? flowEvents = null,
        Func<CancellationToken, Task>? beforeFirstStatement = null)
    {
        if (rules is null || (changes.Entries.Count == 0 && changes.InsertedLots.Count == 0))
        {
            return 0;
        }

        var needed = rules.MarksNeeded(changes);
        var marks = new Dictionary<(string, string), IReadOnlySet<long>>();
        if (needed.Count > 0)
        {
            await OpenAsync().ConfigureAwait(false);
            foreach (var (customer, feature) in needed)
            {
                await using var read = Command(connection, transaction, "SELECT threshold FROM alert_marks WHERE customer_id = @c AND feature = @f");
                Add(read, "@c", customer);
                Add(read, "@f", feature);
                var fired = new HashSet<long>();
                await using (var reader = await read.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
                {
                    while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        fired.Add(reader.GetInt64(0));
                    }
                }

                marks[(customer, feature)] = fired;
            }
        }

        var plan = rules.Plan(changes, marks);
        if (plan.MarksCleared.Count > 0)
        {
            await OpenAsync().ConfigureAwait(false);
            foreach (var (customer, feature) in plan.MarksCleared)
            {
                await using var clear = Command(connection, transaction, "DELETE FROM alert_marks WHERE customer_id = @c AND feature = @f");
                Add(clear, "@c", customer);
                Add(clear, "@f", feature);
                await clear.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        if (plan.MarksSet.Count > 0)
        {
            await OpenAsync().ConfigureAwait(false);
            foreach (var (customer, feature, threshold) in plan.MarksSet)
            {
                await using var set = Command(connection, transaction,
                    "INSERT INTO alert_marks (customer_id, feature, threshold, created_at) VALUES (@c, @f, @t, @at) ON CONFLICT (customer_id, feature, threshold) DO NOTHING");
                Add(set, "@c", customer);
                Add(set, "@f", feature);
                Add(set, "@t", threshold);
                Add(set, "@at", dialect.Time(changes.Entries.Count > 0 ? changes.Entries[^1].At : DateTimeOffset.UnixEpoch));
                await set.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        if (flowEvents is not null)
        {
            flowEvents.AddRange(plan.Events);
            return plan.Events.Count;
        }

        if (plan.Events.Count > 0)
        {
            await OpenAsync().ConfigureAwait(false);
        }

        return await WriteAsync(connection, transaction, dialect, plan.Events, cancellationToken).ConfigureAwait(false);

        // Once, before the first statement this sends (most ledger writes send none).
        async Task OpenAsync()
        {
            if (beforeFirstStatement is { } open)
            {
                beforeFirstStatement = null;
                await open(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private static DbCommand Command(DbConnection connection, DbTransaction? transaction, string sql)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return command;
    }

    private static void Add(DbCommand command, string name, object? value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value ?? DBNull.Value;
        command.Parameters.Add(parameter);
    }
}

/// <summary>The outbox of a flow's transaction: events wait in the transaction and are written just before it
/// commits, after every other write of the flow (so the counter row is always locked last, as in a ledger write).</summary>
internal sealed class EventOutbox(object database) : IEventOutbox
{
    public bool InTransaction => AmbientTransaction.For(database) is not null;

    public void Add(OutboundEvent outboundEvent)
    {
        ArgumentNullException.ThrowIfNull(outboundEvent);
        var ambient = AmbientTransaction.For(database)
            ?? throw new InvalidOperationException($"Event {outboundEvent.Type} was added outside a database transaction: it must be written with its change.");
        ambient.PendingEvents.Add(outboundEvent);
    }
}

/// <summary>Wakes this process's dispatcher when events were committed here (other servers' events are found by polling).</summary>
public sealed class OutboxSignal
{
    private readonly SemaphoreSlim _signal = new(0, 1);

    /// <summary>Events were committed: the dispatcher looks now rather than at its next poll.</summary>
    public void Notify()
    {
        try
        {
            _signal.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already signalled: one wake-up covers every event committed before the dispatcher looks.
        }
    }

    /// <summary>Waits for a signal or the timeout, whichever comes first.</summary>
    public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken) => _signal.WaitAsync(timeout, cancellationToken);
}
