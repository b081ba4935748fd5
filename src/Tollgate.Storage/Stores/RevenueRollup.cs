using System.Globalization;
using Tollgate.Core.Common;
using Tollgate.Storage.Common;

namespace Tollgate.Storage.Stores;

/// <summary>What one rollup pass did.</summary>
/// <param name="DaysComputed">Closed days of the window whose revenue was (re)computed.</param>
/// <param name="DaysDropped">Days before the window whose computed revenue and markers were removed.</param>
public sealed record RevenueRollupReport(int DaysComputed, int DaysDropped);

/// <summary>
/// Keeps the revenue of closed UTC days computed (migration 0018, docs/operations.md "Revenue rollup"), so that the
/// dashboard's revenue reads about one row per day and currency plus only the days still live. Exact by construction:
/// every payment write that can change revenue leaves a marker of its payment's day in its own transaction
/// (<see cref="PaymentStore"/>); a day is read from <c>revenue_days</c> only while it has a <c>revenue_rollup</c> row and
/// no marker, and summed live otherwise. Whether or how often the pass runs changes only the cost of the read.
/// </summary>
public sealed class RevenueRollup
{
    private static readonly TimeSpan OneDay = TimeSpan.FromDays(1);

    private readonly Sql _sql;
    private readonly IDatabaseTransactions _transactions;
    private readonly bool _postgres;

    internal RevenueRollup(Sql sql, IDatabaseTransactions transactions)
    {
        _sql = sql;
        _transactions = transactions;
        _postgres = sql.Dialect == Dialect.Postgres;
    }

    /// <summary>Midnight UTC of an instant column, in the schema's instant type (what <c>payment_changes.day</c> and
    /// <c>revenue_days.day</c> hold).</summary>
    internal static string DayOf(Dialect dialect, string column) =>
        dialect == Dialect.Postgres ? $"date_trunc('day', {column}, 'UTC')" : $"{column} - {column} % 86400000000";

    /// <summary>Revenue per currency, the one rule the live read and the pass share: disputed payments count as nothing,
    /// refunds are subtracted.</summary>
    internal const string Sums =
        "coalesce(currency, '?'), CAST(sum(CASE WHEN status = 'disputed' THEN 0 ELSE amount - refunded_amount END) AS BIGINT), count(*)";

    /// <summary>The payments that count as revenue (with <see cref="Sums"/>).</summary>
    internal const string Counted = "amount IS NOT NULL AND status IN ('completed', 'refunded', 'disputed')";

    /// <summary>The marker of a payment write, for the payment's day as stored: inserted in the write's own transaction,
    /// after the write (an insert finds the row it just wrote).</summary>
    internal static string MarkerSql(Dialect dialect) =>
        $"INSERT INTO payment_changes (customer_id, day) SELECT customer_id, {DayOf(dialect, "created_at")} FROM payments WHERE customer_id = @c AND payment_id = @id";

    /// <summary>
    /// Computes every closed day in [<paramref name="from"/>, <paramref name="toExclusive"/>) (days from today on, UTC at
    /// <paramref name="now"/>, are never closed) that was never computed or has markers, and drops what was computed or
    /// marked for days before <paramref name="from"/> (so that a later read of such a day sums it live). Each day is its
    /// own short transaction.
    /// </summary>
    public async Task<RevenueRollupReport> RollUpAsync(DateOnly from, DateOnly toExclusive, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var today = DateOnly.FromDateTime(now.UtcDateTime);
        if (toExclusive > today)
        {
            toExclusive = today;
        }

        var start = Midnight(from);
        var end = Midnight(toExclusive);
        // One statement: the days computed (in the window and before it) and the days with markers (before today's).
        var found = await _sql.QueryAsync(
            """
            SELECT day, 0 FROM revenue_rollup WHERE day < @end
            UNION ALL
            SELECT day, 1 FROM payment_changes WHERE day < @end GROUP BY day
            """,
            r => (Day: _sql.Dialect.ReadTime(r, 0), Marked: Convert.ToInt32(r.GetValue(1), CultureInfo.InvariantCulture) == 1),
            cancellationToken, ("@end", end)).ConfigureAwait(false);
        var computed = found.Where(f => !f.Marked).Select(f => f.Day).ToHashSet();
        var marked = found.Where(f => f.Marked).Select(f => f.Day).ToHashSet();

        var computedDays = 0;
        for (var day = start; day < end; day += OneDay)
        {
            if (!computed.Contains(day) || marked.Contains(day))
            {
                await ComputeDayAsync(day, now, cancellationToken).ConfigureAwait(false);
                computedDays++;
            }
        }

        var dropped = 0;
        foreach (var day in computed.Concat(marked).Where(d => d < start).Distinct().Order())
        {
            await DropDayAsync(day, now, cancellationToken).ConfigureAwait(false);
            dropped++;
        }

        return new RevenueRollupReport(computedDays, dropped);
    }

    /// <summary>
    /// One day, in one transaction, in this order (the order is what makes it exact on PostgreSQL's READ COMMITTED):
    /// (a) the day's lock — its <c>revenue_rollup</c> row, upserted, so two servers computing the day take turns;
    /// (b) the ids of the day's markers; (c) the day's sums from <c>payments</c>, in a statement that starts after (b):
    /// a marker (b) saw was committed with its payment change, which (c) therefore sees; (d) the day's rows replaced;
    /// (e) exactly the markers (b) read deleted. A change that commits after (b) leaves its marker, so the day is read live
    /// and computed again by the next pass.
    /// </summary>
    private async Task ComputeDayAsync(DateTimeOffset day, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var transaction = _transactions.Begin();
        // (a), deferred on PostgreSQL: it travels in the batch of (b) and runs before it.
        await _sql.ExecuteOrDeferAsync(
            "INSERT INTO revenue_rollup (day, computed_at) VALUES (@day, @now) ON CONFLICT (day) DO UPDATE SET computed_at = excluded.computed_at",
            cancellationToken, ("@day", day), ("@now", now)).ConfigureAwait(false);
        // (b)
        var ids = await _sql.QueryAsync("SELECT change_id FROM payment_changes WHERE day = @day", r => r.GetInt64(0), cancellationToken,
            ("@day", day)).ConfigureAwait(false);
        // (d), with (c) inside it: the insert's SELECT is the sum.
        await _sql.ExecuteOrDeferAsync("DELETE FROM revenue_days WHERE day = @day", cancellationToken, ("@day", day)).ConfigureAwait(false);
        await _sql.ExecuteOrDeferAsync(
            $"""
             INSERT INTO revenue_days (day, currency, amount, payments)
             SELECT @day, {Sums} FROM payments WHERE created_at >= @day AND created_at < @next AND {Counted} GROUP BY coalesce(currency, '?')
             """,
            cancellationToken, ("@day", day), ("@next", day + OneDay)).ConfigureAwait(false);
        // (e)
        if (ids.Count > 0)
        {
            await _sql.ExecuteOrDeferAsync(
                _postgres
                    ? "DELETE FROM payment_changes WHERE day = @day AND change_id = ANY (@ids)"
                    : "DELETE FROM payment_changes WHERE day = @day AND change_id IN (SELECT value FROM json_each(@ids))",
                cancellationToken, ("@day", day), ("@ids", _postgres ? ids.ToArray() : System.Text.Json.JsonSerializer.Serialize(ids))).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A day before the window: its computed rows, its <c>revenue_rollup</c> row and all its markers go, under the
    /// day's lock (a server whose window still holds the day, computing it meanwhile, finishes first or starts after).
    /// Without a <c>revenue_rollup</c> row the day is read live, so no marker of it is needed any more.</summary>
    private async Task DropDayAsync(DateTimeOffset day, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var transaction = _transactions.Begin();
        (string, object?)[] args = [("@day", day), ("@now", now)];
        await _sql.ExecuteOrDeferAsync(
            "INSERT INTO revenue_rollup (day, computed_at) VALUES (@day, @now) ON CONFLICT (day) DO UPDATE SET computed_at = excluded.computed_at",
            cancellationToken, args).ConfigureAwait(false);
        await _sql.ExecuteOrDeferAsync("DELETE FROM revenue_days WHERE day = @day", cancellationToken, args).ConfigureAwait(false);
        await _sql.ExecuteOrDeferAsync("DELETE FROM revenue_rollup WHERE day = @day", cancellationToken, args).ConfigureAwait(false);
        await _sql.ExecuteOrDeferAsync("DELETE FROM payment_changes WHERE day = @day", cancellationToken, args).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    internal static DateTimeOffset Midnight(DateOnly day) => new(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
}
