using Tollgate.Storage.Common;

namespace Tollgate.Storage.Stores;

/// <summary>How long what only guards retries, or only helps an operator look back, is kept (docs/operations.md).</summary>
/// <param name="IdempotencyWindow">API responses stored under an <c>Idempotency-Key</c>, and the ledger operations of
/// usage, holds and counts keyed by the caller's request, are deleted once older: a retry inside the window replays
/// the first result, a retry after it is a new request.</param>
/// <param name="WebhookPayloadWindow">Payloads of applied and ignored webhooks are emptied once older (the event's
/// row and provider event id stay, so a redelivery is still a duplicate); null keeps them.</param>
/// <param name="BatchSize">Rows per statement: a pass takes at most this many of each kind, in one short transaction.</param>
public sealed record RetentionOptions(TimeSpan IdempotencyWindow, TimeSpan? WebhookPayloadWindow, int BatchSize)
{
    /// <summary>Seven days of replays (Stripe keeps keys 24 hours; Tollgate's callers are often job queues that retry
    /// after an outage), 90 days of webhook payloads, 1,000 rows a batch.</summary>
    public static RetentionOptions Default { get; } = new(TimeSpan.FromDays(7), TimeSpan.FromDays(90), 1000);
}

/// <summary>What one pass removed.</summary>
public sealed record RetentionReport(int ApiResponses, int Operations, int WebhookPayloads)
{
    /// <summary>Rows deleted or emptied in all.</summary>
    public int Total => ApiResponses + Operations + WebhookPayloads;
}

/// <summary>
/// Deletes API responses and request-keyed ledger operations past the idempotency window and empties old processed
/// webhook payloads, one batch per statement, oldest first, each batch found through a partial index that holds only
/// what is still to remove. What guards an effect forever is never touched: grants, clawbacks and retirements (their keys
/// come back with a replayed webhook or a recomputed period), and webhook event ids.
/// </summary>
public sealed class RetentionSweep
{
    private readonly Sql _sql;
    private readonly bool _postgres;

    internal RetentionSweep(Sql sql)
    {
        _sql = sql;
        _postgres = sql.Dialect == Dialect.Postgres;
    }

    /// <summary>Removes at most one batch of each kind older than the windows allow at <paramref name="now"/>, all in one
    /// short transaction (on PostgreSQL, one round trip).</summary>
    public async Task<RetentionReport> SweepOnceAsync(RetentionOptions options, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        var before = now - options.IdempotencyWindow;
        var statements = new List<(string Sql, (string Name, object? Value)[] Args)>();
        if (_postgres)
        {
            // The plans these statements are built for, and that GrowthPlanTests checks, are the generic ones: the
            // oldest rows from each partial index, whatever the window's instant. Left to choose, PostgreSQL keeps
            // planning them afresh for each instant on a grown table (it finds the estimate of "older than now - 7 days"
            // cheaper that way), and that planning cost more than the empty sweep it plans (docs/benchmarks.md: the steady
            // pass took 1.55× the empty database's). Local: the setting ends with this transaction.
            statements.Add(("SELECT set_config('plan_cache_mode', 'force_generic_plan', true)", []));
        }

        statements.Add((Batch("DELETE FROM api_idempotency", "api_idempotency", null, "created_at < @before", "created_at"),
            [("@before", before), ("@n", options.BatchSize)]));
        statements.Add((Batch("DELETE FROM ledger_operations", "ledger_operations", null, "kind IN ('consume', 'hold', 'count') AND created_at < @before", "created_at"),
            [("@before", before), ("@n", options.BatchSize)]));
        if (options.WebhookPayloadWindow is { } payloadWindow)
        {
            statements.Add((Batch("UPDATE webhook_events SET payload = ''", "webhook_events", "webhook_events_payload",
                "status IN ('applied', 'ignored') AND payload <> '' AND received_at < @before", "received_at"),
                [("@before", now - payloadWindow), ("@n", options.BatchSize)]));
        }

        var rows = (await _sql.ExecuteBatchAsync(statements, cancellationToken).ConfigureAwait(false)).Skip(_postgres ? 1 : 0).ToList();
        return new RetentionReport(rows[0], rows[1], rows.Count > 2 ? rows[2] : 0);
    }

    /// <summary>One batch: the oldest rows matching <paramref name="where"/>, by their physical address (PostgreSQL's ctid,
    /// SQLite's rowid), so the statement reads the batch from the partial index and touches nothing else. On PostgreSQL
    /// servers sweeping at once skip the rows another has locked instead of queueing behind it; SQLite is told the index
    /// (it would rather read the status index, which still holds the rows already emptied).</summary>
    private string Batch(string change, string table, string? sqliteIndex, string where, string order) =>
        _postgres
            ? $"{change} WHERE ctid = ANY (ARRAY(SELECT ctid FROM {table} WHERE {where} ORDER BY {order} LIMIT @n FOR UPDATE SKIP LOCKED))"
            : $"{change} WHERE rowid IN (SELECT rowid FROM {table}{(sqliteIndex is null ? "" : " INDEXED BY " + sqliteIndex)} WHERE {where} ORDER BY {order} LIMIT @n)";
}
