using System.Data.Common;
using Tollgate.Core.Common;
using Tollgate.Core.Payments;
using Tollgate.Storage.Common;

namespace Tollgate.Storage.Stores;

internal sealed class WebhookInbox(Sql sql, bool skipLocked) : IWebhookInbox
{
    internal const string Columns =
        "provider, event_id, event_type, occurred_at, received_at, payload, status, attempts, next_attempt_at, last_error, applied_at, customer_id";

    public async Task<bool> TryStoreAsync(WebhookEvent e, CancellationToken cancellationToken)
    {
        if (sql.Defers)
        {
            // In a PostgreSQL flow: a plain insert, sent with the flow's next statement. An event stored already (or being
            // stored by a concurrent delivery, which the insert waits for, as the upsert below does) fails on the key,
            // which stops the batch there and fails the flow: IsDuplicate tells the processor it is a duplicate.
            await sql.ExecuteOrDeferAsync(InsertSql, cancellationToken, Args(e)).ConfigureAwait(false);
            return true;
        }

        return await sql.ExecuteAsync(
            $"""
            INSERT INTO webhook_events ({Columns})
            VALUES (@p, @id, @type, @occurred, @received, @payload, @status, @attempts, @next, @error, @applied, @c)
            ON CONFLICT (provider, event_id) DO NOTHING
            """,
            cancellationToken, Args(e)).ConfigureAwait(false) == 1;
    }

    public Task<bool> TryBeginAsync(WebhookEvent received, CancellationToken cancellationToken)
    {
        if (!sql.Defers)
        {
            // SQLite (and PostgreSQL outside a flow): stored as received at once, then updated. SQLite's transaction holds
            // the database's write lock from its first write, so nothing runs beside it, and its update costs little.
            return TryStoreAsync(received, cancellationToken);
        }

        // In a PostgreSQL flow (migration 0026): a check that the event is not stored, sent with the flow's first
        // statement, which fails as a taken key does; the row itself is inserted once, with its outcome, at the end.
        return CheckAbsentAsync(received, cancellationToken);
    }

    private async Task<bool> CheckAbsentAsync(WebhookEvent received, CancellationToken cancellationToken)
    {
        await sql.ExecuteOrDeferAsync("CALL tollgate_webhook_absent(@p, @id)", cancellationToken, ("@p", received.Provider), ("@id", received.EventId))
            .ConfigureAwait(false);
        return true;
    }

    public Task StoreOutcomeAsync(WebhookEvent outcome, CancellationToken cancellationToken) =>
        sql.Defers
            // The row's one insert, with the commit. A concurrent delivery of the same event that committed after this
            // flow's check makes it fail on the key (waiting for that delivery's commit if need be): a duplicate, rolled back.
            ? sql.ExecuteOrDeferAsync(InsertSql, cancellationToken, Args(outcome))
            : UpdateAsync(outcome, cancellationToken);

    public bool IsDuplicate(Exception exception) =>
        exception is Npgsql.PostgresException { SqlState: Npgsql.PostgresErrorCodes.UniqueViolation, ConstraintName: "webhook_events_pkey" };

    // The outcome's insert, not the check: PostgreSQL names the table of a key's violation, and the check's own error
    // (migration 0026) names none.
    public bool IsStoredMeanwhile(Exception exception) =>
        IsDuplicate(exception) && exception is Npgsql.PostgresException { TableName: "webhook_events" };

    public Task<WebhookEvent?> GetAsync(string provider, string eventId, CancellationToken cancellationToken) =>
        sql.QuerySingleAsync($"SELECT {Columns} FROM webhook_events WHERE provider = @p AND event_id = @id", Read, cancellationToken,
            ("@p", provider), ("@id", eventId));

    // In a flow (the outcome of an attempt) it goes with the commit: the row is the flow's own, nothing reads the count.
    public Task UpdateAsync(WebhookEvent e, CancellationToken cancellationToken) =>
        sql.ExecuteOrDeferAsync(
            """
            UPDATE webhook_events SET status = @status, attempts = @attempts, next_attempt_at = @next, last_error = @error, applied_at = @applied,
                customer_id = @c
            WHERE provider = @p AND event_id = @id
            """,
            cancellationToken, Args(e));

    /// <summary>Due events are those with a next attempt, read from the partial index on it, which holds only them: the
    /// processor sets one only on received and failed events with attempts left (no status filter, which SQLite would
    /// rather read through the status index). An event that used up its attempts has none and is never read again.</summary>
    public async Task<IReadOnlyList<WebhookEvent>> ClaimDueAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int limit, CancellationToken cancellationToken) =>
        await sql.QueryAsync(
            $"""
            UPDATE webhook_events SET next_attempt_at = @lease
            WHERE (provider, event_id) IN (
                SELECT provider, event_id FROM webhook_events
                WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= @now
                ORDER BY next_attempt_at LIMIT @limit{(skipLocked ? " FOR UPDATE SKIP LOCKED" : "")})
            RETURNING {Columns}
            """,
            Read, cancellationToken, ("@now", now), ("@lease", leaseUntil), ("@limit", limit)).ConfigureAwait(false);

    public async Task<IReadOnlyList<WebhookEvent>> ListAsync(WebhookStatus? status, int limit, CancellationToken cancellationToken) =>
        status is { } s
            // The status in the text, as in CountAsync: once auto-prepared, a generic plan for "status = @s" walks the newest
            // events of every status filtering them (a rare status: the whole table) instead of reading the status index.
            ? await sql.QueryAsync($"SELECT {Columns} FROM webhook_events WHERE status = '{SnakeCase<WebhookStatus>.Name(s)}' ORDER BY received_at DESC, event_id LIMIT @limit",
                Read, cancellationToken, ("@limit", limit)).ConfigureAwait(false)
            : await sql.QueryAsync($"SELECT {Columns} FROM webhook_events ORDER BY received_at DESC, event_id LIMIT @limit", Read,
                cancellationToken, ("@limit", limit)).ConfigureAwait(false);

    public async Task<int> CountAsync(WebhookStatus status, int cap, CancellationToken cancellationToken) =>
        // The status in the text (a closed set of names): a generic plan for "status = @s" guesses half the table matches
        // and reads the table instead of the status index.
        (await sql.QueryAsync($"SELECT count(*) FROM (SELECT 1 FROM webhook_events WHERE status = '{SnakeCase<WebhookStatus>.Name(status)}' LIMIT @cap) capped",
            r => Convert.ToInt32(r.GetValue(0), System.Globalization.CultureInfo.InvariantCulture), cancellationToken, ("@cap", cap)).ConfigureAwait(false))[0];

    public async Task<IReadOnlyList<WebhookEvent>> ListByCustomerAsync(string customerId, int limit, CancellationToken cancellationToken) =>
        await sql.QueryAsync($"SELECT {Columns} FROM webhook_events WHERE customer_id = @c ORDER BY received_at DESC LIMIT @limit", Read,
            cancellationToken, ("@c", customerId), ("@limit", limit)).ConfigureAwait(false);

    /// <summary>Each part from the partial index that holds only what it counts, so a reading costs what is pending and
    /// a few index pages for the given-up events, not a heap page per failed event (migration 0020): the pending ones
    /// from <c>webhook_events_due</c> (events with a next attempt), the given-up ones (failed, no next attempt) from
    /// <c>webhook_events_given_up</c>, an index-only count. SQLite is told the indexes: without statistics it would rather
    /// read the status index, which is what cost a row per failed event.</summary>
    public async Task<InboxBacklog> BacklogAsync(CancellationToken cancellationToken) =>
        (await sql.QuerySingleAsync(
            $"""
            SELECT pending.n, pending.oldest,
                (SELECT count(*) FROM webhook_events{Hint("webhook_events_given_up")} WHERE status = 'failed' AND next_attempt_at IS NULL)
            FROM (SELECT count(*) AS n, min(received_at) AS oldest FROM webhook_events{Hint("webhook_events_due")}
                  WHERE next_attempt_at IS NOT NULL AND status IN ('failed', 'received')) pending
            """,
            r => new InboxBacklog(Convert.ToInt64(r.GetValue(0), System.Globalization.CultureInfo.InvariantCulture), sql.Dialect.ReadNullableTime(r, 1),
                Convert.ToInt64(r.GetValue(2), System.Globalization.CultureInfo.InvariantCulture)),
            cancellationToken).ConfigureAwait(false))!;

    private string Hint(string index) => sql.Dialect == Dialect.Sqlite ? " INDEXED BY " + index : "";

    /// <summary>An event's row, by <see cref="Args"/>'s names.</summary>
    internal const string InsertSql =
        $"INSERT INTO webhook_events ({Columns}) VALUES (@p, @id, @type, @occurred, @received, @payload, @status, @attempts, @next, @error, @applied, @c)";

    internal static (string, object?)[] Args(WebhookEvent e) =>
    [
        ("@p", e.Provider), ("@id", e.EventId), ("@type", e.EventType), ("@occurred", e.OccurredAt), ("@received", e.ReceivedAt),
        ("@payload", e.Payload), ("@status", SnakeCase<WebhookStatus>.Name(e.Status)), ("@attempts", e.Attempts), ("@next", e.NextAttemptAt),
        ("@error", e.LastError), ("@applied", e.AppliedAt), ("@c", e.CustomerId),
    ];

    private WebhookEvent Read(DbDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), sql.Dialect.ReadTime(r, 3), sql.Dialect.ReadTime(r, 4), r.GetString(5),
        SnakeCase<WebhookStatus>.Parse(r.GetString(6)), r.GetInt32(7), sql.Dialect.ReadNullableTime(r, 8), r.IsDBNull(9) ? null : r.GetString(9),
        sql.Dialect.ReadNullableTime(r, 10), r.IsDBNull(11) ? null : r.GetString(11));
}
