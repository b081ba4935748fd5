using System.Data.Common;
using Tollgate.Core.Common;
using Tollgate.Core.Events;
using Tollgate.Storage.Common;

namespace Tollgate.Storage.Events;

/// <param name="skipLocked">PostgreSQL: servers claiming at once skip each other's rows. SQLite has one writer.</param>
internal sealed class WebhookEndpointStore(Sql sql, bool skipLocked) : IWebhookEndpointStore
{
    private const string Columns =
        "w.endpoint_id, w.url, w.event_types, w.description, w.status, w.disabled_reason, w.secret, w.previous_secret, w.previous_secret_until, "
        + "w.created_at, w.updated_at";

    public Task CreateAsync(WebhookEndpoint e, CancellationToken cancellationToken) =>
        sql.ExecuteAsync(
            """
            INSERT INTO webhook_endpoints (endpoint_id, url, event_types, description, status, disabled_reason, secret, previous_secret,
                previous_secret_until, created_at, updated_at)
            VALUES (@id, @url, @types, @description, @status, NULL, @secret, NULL, NULL, @at, @at)
            """, cancellationToken,
            ("@id", e.Id), ("@url", e.Url), ("@types", e.EventTypes is null ? null : string.Join(',', e.EventTypes)), ("@description", e.Description),
            ("@status", SnakeCase<EndpointStatus>.Name(e.Status)), ("@secret", e.Secret), ("@at", e.CreatedAt));

    public async Task<IReadOnlyList<WebhookEndpoint>> ListAsync(CancellationToken cancellationToken) =>
        await sql.QueryAsync($"SELECT {Columns} FROM webhook_endpoints w ORDER BY w.created_at, w.endpoint_id", r => Endpoint(r, 0), cancellationToken)
            .ConfigureAwait(false);

    public Task<WebhookEndpoint?> GetAsync(string endpointId, CancellationToken cancellationToken) =>
        sql.QuerySingleAsync($"SELECT {Columns} FROM webhook_endpoints w WHERE w.endpoint_id = @id", r => Endpoint(r, 0), cancellationToken, ("@id", endpointId));

    public async Task<bool> DeleteAsync(string endpointId, CancellationToken cancellationToken)
    {
        // Explicit rather than through the foreign keys' cascade alone: SQLite enforces those only with its pragma on.
        await sql.ExecuteAsync("DELETE FROM event_attempts WHERE endpoint_id = @id", cancellationToken, ("@id", endpointId)).ConfigureAwait(false);
        await sql.ExecuteAsync("DELETE FROM event_deliveries WHERE endpoint_id = @id", cancellationToken, ("@id", endpointId)).ConfigureAwait(false);
        return await sql.ExecuteAsync("DELETE FROM webhook_endpoints WHERE endpoint_id = @id", cancellationToken, ("@id", endpointId)).ConfigureAwait(false) == 1;
    }

    public async Task<WebhookEndpoint?> RotateSecretAsync(string endpointId, string secret, DateTimeOffset previousUntil, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        var changed = await sql.ExecuteAsync(
            """
            UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_until = @until, secret = @secret, updated_at = @now
            WHERE endpoint_id = @id
            """, cancellationToken, ("@id", endpointId), ("@secret", secret), ("@until", previousUntil), ("@now", now)).ConfigureAwait(false);
        return changed == 1 ? await GetAsync(endpointId, cancellationToken).ConfigureAwait(false) : null;
    }

    public async Task<IReadOnlyList<DeliveryAttempt>> ListAttemptsAsync(string endpointId, int limit, long? before, CancellationToken cancellationToken) =>
        await sql.QueryAsync(
            $"""
            SELECT a.attempt_id, a.endpoint_id, a.event_id, e.event_type, a.attempt, a.status_code, a.error, a.at, a.next_attempt_at
            FROM event_attempts a JOIN events e ON e.event_id = a.event_id
            WHERE a.endpoint_id = @id{(before is null ? "" : " AND a.attempt_id < @before")}
            ORDER BY a.attempt_id DESC LIMIT @limit
            """,
            r => new DeliveryAttempt(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt32(4), r.IsDBNull(5) ? null : r.GetInt32(5),
                r.IsDBNull(6) ? null : r.GetString(6), sql.Dialect.ReadTime(r, 7), sql.Dialect.ReadNullableTime(r, 8)),
            cancellationToken, ("@id", endpointId), ("@before", before), ("@limit", limit)).ConfigureAwait(false);

    public async Task<IReadOnlyList<DeliveryState>> ListDeliveriesAsync(string endpointId, int limit, CancellationToken cancellationToken) =>
        await sql.QueryAsync(
            """
            SELECT d.endpoint_id, d.event_id, e.event_type, d.customer_id, d.seq, d.status, d.attempts, d.next_attempt_at, d.last_status_code,
                d.last_error, d.updated_at
            FROM event_deliveries d JOIN events e ON e.customer_id = d.customer_id AND e.event_id = d.event_id
            WHERE d.endpoint_id = @id ORDER BY e.created_at DESC, d.event_id DESC LIMIT @limit
            """,
            r => new DeliveryState(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt64(4), SnakeCase<DeliveryStatus>.Parse(r.GetString(5)),
                r.GetInt32(6), sql.Dialect.ReadTime(r, 7), r.IsDBNull(8) ? null : r.GetInt32(8), r.IsDBNull(9) ? null : r.GetString(9),
                sql.Dialect.ReadTime(r, 10)),
            cancellationToken, ("@id", endpointId), ("@limit", limit)).ConfigureAwait(false);

    // GET /v1/events/{id} and redelivery name the event alone: whose it is comes from its customer_keys row (written with
    // the event), then the event is read within that customer (docs/scaling.md).
    public async Task<StoredEvent?> GetEventAsync(string eventId, CancellationToken cancellationToken) =>
        await CustomerKeys.OwnerAsync(sql, eventId, CustomerKeys.Event, "", cancellationToken).ConfigureAwait(false) is { } owner
            ? await sql.QuerySingleAsync("SELECT event_id, customer_id, seq, event_type, payload, created_at FROM events WHERE customer_id = @c AND event_id = @id",
                r => new StoredEvent(r.GetString(0), r.GetString(1), r.GetInt64(2), r.GetString(3), r.GetString(4), sql.Dialect.ReadTime(r, 5)),
                cancellationToken, ("@c", owner), ("@id", eventId)).ConfigureAwait(false)
            : null;

    public async Task<OutboxBacklog> BacklogAsync(CancellationToken cancellationToken) =>
        (await sql.QuerySingleAsync(
            """
            SELECT
                count(CASE WHEN d.status = 'pending' THEN 1 END),
                min(CASE WHEN d.status = 'pending' THEN e.created_at END),
                count(CASE WHEN d.status = 'failed' THEN 1 END)
            FROM event_deliveries d JOIN events e ON e.customer_id = d.customer_id AND e.event_id = d.event_id
            WHERE d.status IN ('pending', 'failed')
            """,
            r => new OutboxBacklog(Convert.ToInt64(r.GetValue(0), System.Globalization.CultureInfo.InvariantCulture), sql.Dialect.ReadNullableTime(r, 1),
                Convert.ToInt64(r.GetValue(2), System.Globalization.CultureInfo.InvariantCulture)),
            cancellationToken).ConfigureAwait(false))!;

    public async Task<bool> RedeliverAsync(string eventId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (await GetEventAsync(eventId, cancellationToken).ConfigureAwait(false) is not { } stored)
        {
            return false;
        }

        await sql.ExecuteAsync(
            """
            UPDATE event_deliveries SET status = 'pending', attempts = 0, next_attempt_at = @now, claim = NULL, claimed_until = NULL, updated_at = @now
            WHERE customer_id = @c AND event_id = @id AND status <> 'pending'
            """, cancellationToken, ("@c", stored.CustomerId), ("@id", eventId), ("@now", now)).ConfigureAwait(false);
        // One waiting for its next retry is due now (one in flight is left to its sender).
        await sql.ExecuteAsync(
            """
            UPDATE event_deliveries SET next_attempt_at = @now, updated_at = @now
            WHERE customer_id = @c AND event_id = @id AND status = 'pending' AND claim IS NULL AND next_attempt_at > @now
            """,
            cancellationToken, ("@c", stored.CustomerId), ("@id", eventId), ("@now", now)).ConfigureAwait(false);
        await sql.ExecuteAsync(
            """
            INSERT INTO event_deliveries (endpoint_id, event_id, customer_id, seq, status, attempts, next_attempt_at, updated_at)
            SELECT endpoint_id, @id, @c, @seq, 'pending', 0, @now, @now FROM webhook_endpoints
            WHERE status = 'enabled' AND (event_types IS NULL OR ',' || event_types || ',' LIKE '%,' || @type || ',%')
            ON CONFLICT DO NOTHING
            """, cancellationToken, ("@id", eventId), ("@c", stored.CustomerId), ("@seq", stored.Sequence), ("@type", stored.Type), ("@now", now))
            .ConfigureAwait(false);
        return true;
    }

    public async Task<IReadOnlyList<DeliveryWork>> ClaimAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int limit, CancellationToken cancellationToken)
    {
        var claim = Guid.NewGuid().ToString("N");
        // Of each endpoint and customer only the lowest pending sequence number is eligible, and it stays pending (so
        // it keeps blocking the next one) while claimed: at most one delivery per endpoint and customer is in flight,
        // and a customer's events arrive in order.
        var claimed = await sql.ExecuteAsync(
            $"""
            UPDATE event_deliveries SET claim = @claim, claimed_until = @until
            WHERE (customer_id, endpoint_id, event_id) IN (
                SELECT d.customer_id, d.endpoint_id, d.event_id FROM event_deliveries d
                JOIN webhook_endpoints w ON w.endpoint_id = d.endpoint_id AND w.status = 'enabled'
                WHERE d.status = 'pending' AND d.next_attempt_at <= @now AND (d.claimed_until IS NULL OR d.claimed_until < @now)
                  AND NOT EXISTS (SELECT 1 FROM event_deliveries p
                      WHERE p.endpoint_id = d.endpoint_id AND p.customer_id = d.customer_id AND p.status = 'pending' AND p.seq < d.seq)
                ORDER BY d.next_attempt_at LIMIT @limit{(skipLocked ? " FOR UPDATE OF d SKIP LOCKED" : "")})
            """, cancellationToken, ("@claim", claim), ("@until", leaseUntil), ("@now", now), ("@limit", limit)).ConfigureAwait(false);
        if (claimed == 0)
        {
            return [];
        }

        return await sql.QueryAsync(
            $"""
            SELECT {Columns}, d.event_id, e.payload, d.attempts, d.customer_id FROM event_deliveries d
            JOIN webhook_endpoints w ON w.endpoint_id = d.endpoint_id JOIN events e ON e.customer_id = d.customer_id AND e.event_id = d.event_id
            WHERE d.claim = @claim
            """,
            r => new DeliveryWork(Endpoint(r, 0), r.GetString(11), r.GetString(12), r.GetInt32(13), claim) { CustomerId = r.GetString(14) }, cancellationToken,
            ("@claim", claim))
            .ConfigureAwait(false);
    }

    public async Task<bool> CompleteAsync(DeliveryOutcome o, CancellationToken cancellationToken)
    {
        var recorded = await sql.ExecuteAsync(
            """
            UPDATE event_deliveries SET status = @status, attempts = @attempt, next_attempt_at = COALESCE(@next, next_attempt_at), claim = NULL,
                claimed_until = NULL, last_status_code = @code, last_error = @error, updated_at = @at
            WHERE customer_id = @c AND endpoint_id = @endpoint AND event_id = @event AND claim = @claim
            """, cancellationToken, ("@c", o.CustomerId),
            ("@status", SnakeCase<DeliveryStatus>.Name(o.Status)), ("@attempt", o.Attempt), ("@next", o.Next), ("@code", o.StatusCode), ("@error", o.Error),
            ("@at", o.At), ("@endpoint", o.EndpointId), ("@event", o.EventId), ("@claim", o.Claim)).ConfigureAwait(false) == 1;
        // The attempt happened whether or not the claim was still ours: it is history either way.
        if (recorded || await GetAsync(o.EndpointId, cancellationToken).ConfigureAwait(false) is not null)
        {
            await sql.ExecuteAsync(
                """
                INSERT INTO event_attempts (endpoint_id, event_id, attempt, status_code, error, at, next_attempt_at)
                VALUES (@endpoint, @event, @attempt, @code, @error, @at, @next)
                """, cancellationToken,
                ("@endpoint", o.EndpointId), ("@event", o.EventId), ("@attempt", o.Attempt), ("@code", o.StatusCode), ("@error", o.Error), ("@at", o.At),
                ("@next", o.Next)).ConfigureAwait(false);
        }
        if (o.DisableEndpoint)
        {
            await sql.ExecuteAsync(
                "UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = @reason, updated_at = @at WHERE endpoint_id = @endpoint",
                cancellationToken, ("@reason", o.Error ?? "disabled"), ("@at", o.At), ("@endpoint", o.EndpointId)).ConfigureAwait(false);
        }

        return recorded;
    }

    public async Task<int> PruneAsync(DateTimeOffset before, int limit, CancellationToken cancellationToken)
    {
        var ids = await sql.QueryAsync(
            """
            SELECT e.event_id FROM events e
            WHERE e.created_at < @before AND NOT EXISTS (SELECT 1 FROM event_deliveries d WHERE d.event_id = e.event_id AND d.status = 'pending')
            ORDER BY e.created_at LIMIT @limit
            """, r => r.GetString(0), cancellationToken, ("@before", before), ("@limit", limit)).ConfigureAwait(false);
        if (ids.Count == 0)
        {
            return 0;
        }

        // A redelivery may make one pending again meanwhile: the last statement re-checks, and what it keeps stays whole
        // (its deliveries are deleted only with it).
        var names = string.Join(", ", ids.Select((_, i) => "@e" + i));
        var args = ids.Select((id, i) => ("@e" + i, (object?)id)).ToArray();
        var pruned = await sql.ExecuteAsync(
            $"DELETE FROM events WHERE event_id IN ({names}) AND NOT EXISTS (SELECT 1 FROM event_deliveries d WHERE d.event_id = events.event_id AND d.status = 'pending')",
            cancellationToken, args).ConfigureAwait(false);
        await sql.ExecuteAsync($"DELETE FROM event_attempts WHERE event_id IN ({names}) AND NOT EXISTS (SELECT 1 FROM events e WHERE e.event_id = event_attempts.event_id)",
            cancellationToken, args).ConfigureAwait(false);
        await sql.ExecuteAsync($"DELETE FROM event_deliveries WHERE event_id IN ({names}) AND NOT EXISTS (SELECT 1 FROM events e WHERE e.event_id = event_deliveries.event_id)",
            cancellationToken, args).ConfigureAwait(false);
        // The pruned events' customer_keys rows go with them (one per event: kept, they would grow without bound).
        await sql.ExecuteAsync(
            $"DELETE FROM customer_keys WHERE key IN ({names}) AND kind = 'event' AND provider = '' AND NOT EXISTS (SELECT 1 FROM events e WHERE e.event_id = customer_keys.key)",
            cancellationToken, args).ConfigureAwait(false);
        return pruned;
    }

    private WebhookEndpoint Endpoint(DbDataReader r, int i) => new(
        r.GetString(i), r.GetString(i + 1), r.IsDBNull(i + 2) ? null : r.GetString(i + 2).Split(','), r.IsDBNull(i + 3) ? null : r.GetString(i + 3),
        SnakeCase<EndpointStatus>.Parse(r.GetString(i + 4)), r.IsDBNull(i + 5) ? null : r.GetString(i + 5), r.GetString(i + 6),
        r.IsDBNull(i + 7) ? null : r.GetString(i + 7), sql.Dialect.ReadNullableTime(r, i + 8), sql.Dialect.ReadTime(r, i + 9), sql.Dialect.ReadTime(r, i + 10));
}
