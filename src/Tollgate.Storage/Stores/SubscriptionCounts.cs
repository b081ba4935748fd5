using Tollgate.Storage.Common;

namespace Tollgate.Storage.Stores;

/// <summary>
/// The dashboard's subscriptions per plan and status as counts (migration 0019, docs/operations.md "Subscription
/// counts"), so that reading them costs the number of plans, not the number of subscriptions. Exact by construction:
/// every subscription save appends to <c>subscription_count_changes</c>, in its own transaction, <c>-1</c> for the row
/// as it was (read under the row's lock) and <c>+1</c> for the row as it is after the save; the read adds the changes not
/// yet folded to <c>subscription_counts</c> in one statement; a fold moves changes into counts atomically.
/// </summary>
public sealed class SubscriptionCounts
{
    private readonly Sql _sql;

    internal SubscriptionCounts(Sql sql) => _sql = sql;

    /// <summary>The change a save appends for the row as it is, by <c>@c</c> and <c>@id</c>: <paramref name="delta"/> -1
    /// before the save, +1 after it. Before the save it locks the row on PostgreSQL, so that a concurrent save of the same
    /// subscription waits and then reads the state this one leaves (each state is taken away once); SQLite has one writer.
    /// A save the ordering rule skips leaves the row as it was, and its two changes cancel. (Today the save's claim of
    /// the subscription's own key, taken first, already orders two saves of one subscription; the lock keeps this rule
    /// true on its own. Hand-removed, no test sees it, for that reason: docs/testing.md.)</summary>
    internal static string ChangeSql(Dialect dialect, int delta) =>
        $"""
         INSERT INTO subscription_count_changes (customer_id, plan_id, status, delta)
         SELECT customer_id, plan_id, status, {delta} FROM subscriptions WHERE customer_id = @c AND subscription_id = @id{(delta < 0 && dialect == Dialect.Postgres ? " FOR UPDATE" : "")}
         """;

    /// <summary>The counts of these statuses, per plan: counts plus the changes not yet folded, in one statement (one
    /// snapshot: a fold that commits meanwhile is seen whole or not at all). Statuses are a closed set of names and go in
    /// the text.</summary>
    internal static string ReadSql(IEnumerable<string> statuses)
    {
        var list = string.Join(", ", statuses.Select(s => "'" + s + "'"));
        return $"""
                SELECT plan_id, status, CAST(sum(n) AS BIGINT) FROM (
                    SELECT plan_id, status, count AS n FROM subscription_counts WHERE status IN ({list})
                    UNION ALL
                    SELECT plan_id, status, delta FROM subscription_count_changes WHERE status IN ({list})
                ) counted
                GROUP BY plan_id, status
                """;
    }

    /// <summary>Moves the changes there are into the counts. PostgreSQL: one statement deletes the changes it moves and
    /// adds them up (a fold running at the same time skips the rows this one holds, so no change is moved twice; a change
    /// not yet committed is not seen, and waits for the next fold). The counts are written in key order, so two folds
    /// never wait on each other in a cycle (the race test met that deadlock before the ORDER BY). SQLite: both in one write transaction, with no other
    /// writer between them.</summary>
    /// <returns>The changes moved.</returns>
    public async Task<int> FoldAsync(int batchSize, CancellationToken cancellationToken)
    {
        if (_sql.Dialect == Dialect.Postgres)
        {
            return (await _sql.WriteQueryAsync(
                """
                WITH moved AS (
                    DELETE FROM subscription_count_changes WHERE ctid = ANY (ARRAY(
                        SELECT ctid FROM subscription_count_changes LIMIT @n FOR UPDATE SKIP LOCKED))
                    RETURNING plan_id, status, delta),
                added AS (
                    INSERT INTO subscription_counts (plan_id, status, count)
                    SELECT plan_id, status, sum(delta) FROM moved GROUP BY plan_id, status ORDER BY plan_id, status
                    ON CONFLICT (plan_id, status) DO UPDATE SET count = subscription_counts.count + excluded.count)
                SELECT count(*) FROM moved
                """,
                r => Convert.ToInt32(r.GetValue(0), System.Globalization.CultureInfo.InvariantCulture), cancellationToken, ("@n", batchSize))
                .ConfigureAwait(false))[0];
        }

        var last = "(SELECT change_id FROM subscription_count_changes ORDER BY change_id LIMIT 1 OFFSET @n - 1)";
        var upTo = $"change_id <= coalesce({last}, (SELECT max(change_id) FROM subscription_count_changes))";
        var counts = await _sql.ExecuteAllAsync(
            [
                ($"""
                  INSERT INTO subscription_counts (plan_id, status, count)
                  SELECT plan_id, status, sum(delta) FROM subscription_count_changes WHERE {upTo} GROUP BY plan_id, status
                  ON CONFLICT (plan_id, status) DO UPDATE SET count = subscription_counts.count + excluded.count
                  """, [("@n", batchSize)]),
                ($"DELETE FROM subscription_count_changes WHERE {upTo}", [("@n", batchSize)]),
            ],
            (_, _) => true, cancellationToken).ConfigureAwait(false);
        return counts[1];
    }
}
