using System.Text;
using Tollgate.Core.Events;
using Tollgate.Storage.Common;

namespace Tollgate.Storage.Events;

/// <summary>
/// The statement a ledger write runs, in its transaction and under its customers' locks, for each customer whose credits
/// balance went down (<see cref="AutoTopupTrigger"/>): it writes a due charge when the customer's enabled threshold lies
/// in a range the balance fell through, no charge of theirs is still due, and fewer than the monthly limit were written
/// this month. The row's ordinal is the month's count + 1, unique per customer and month: a writer that somehow got
/// past the count (it cannot, under the lock) fails to insert rather than charging once more.
/// </summary>
internal static class TopupSql
{
    /// <summary>The statement and its values for one crossing; <paramref name="placeholder"/> names the i-th value
    /// (<c>$1</c> for an Npgsql batch, <c>@p1</c> for a plain command).</summary>
    public static (string Sql, object[] Values) Trigger(AutoTopupTrigger.Crossing crossing, string chargeId, DateTimeOffset now, Dialect dialect,
        Func<int, string> placeholder)
    {
        var values = new List<object> { chargeId, crossing.CustomerId, crossing.Month, crossing.Feature, dialect.Time(now) };
        var ranges = new StringBuilder();
        foreach (var (after, before) in crossing.Ranges)
        {
            values.Add(after);
            values.Add(before);
            ranges.Append(ranges.Length == 0 ? "" : " OR ")
                .Append("(a.below > ").Append(placeholder(values.Count - 1)).Append(" AND a.below <= ").Append(placeholder(values.Count)).Append(')');
        }

        var (id, customer, month, feature, at) = (placeholder(1), placeholder(2), placeholder(3), placeholder(4), placeholder(5));
        var sql =
            $"""
            INSERT INTO topup_charges (charge_id, customer_id, month, ordinal, feature, pack, provider, status, attempts, next_attempt_at, created_at, updated_at)
            SELECT {id}, a.customer_id, {month}, (SELECT count(*) FROM topup_charges t WHERE t.customer_id = a.customer_id AND t.month = {month}) + 1,
                a.feature, a.pack, a.provider, 'due', 0, {at}, {at}, {at}
            FROM auto_topups a
            WHERE a.customer_id = {customer} AND a.feature = {feature} AND a.status = 'enabled' AND ({ranges})
              AND (SELECT count(*) FROM topup_charges t WHERE t.customer_id = a.customer_id AND t.month = {month}) < a.monthly_limit
              AND NOT EXISTS (SELECT 1 FROM topup_charges t WHERE t.customer_id = a.customer_id AND t.status = 'due')
            ON CONFLICT DO NOTHING
            """;
        return (sql, values.ToArray());
    }

    /// <summary>
    /// PostgreSQL: the same for every crossing of a ledger batch, in one statement with the crossings as arrays. A batch
    /// spread over many customers lowers every one's balance, and a statement per customer cost PostgreSQL and the server
    /// more in parse, bind and execution set-up than the rows cost: skipping them all saved 22–26 µs of PostgreSQL CPU per
    /// spread usage (docs/benchmarks.md, issue 10). Each crossing is one customer (<see cref="AutoTopupTrigger.Crossings"/>
    /// groups by customer), so a statement writes at most one charge per customer, exactly as the statement per crossing
    /// did; its ranges travel flattened, each tagged with its customer. The customer's settings are read in a lateral
    /// subquery kept from being flattened (OFFSET 0), so each is looked up by its key whatever plan is cached. Its checks
    /// must stay those of <see cref="Trigger"/> (SQLite's, which has no arrays): the auto top-up tests run both databases.
    /// </summary>
    public static (string Sql, object[] Values) TriggerAll(IReadOnlyList<AutoTopupTrigger.Crossing> crossings, Func<string> newChargeId,
        DateTimeOffset now)
    {
        const string sql =
            """
            INSERT INTO topup_charges (charge_id, customer_id, month, ordinal, feature, pack, provider, status, attempts, next_attempt_at, created_at, updated_at)
            SELECT x.charge_id, a.customer_id, x.month, a.charges + 1, a.feature, a.pack, a.provider, 'due', 0, $8, $8, $8
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS x(charge_id, customer_id, month, feature)
            CROSS JOIN LATERAL (
                SELECT a.customer_id, a.feature, a.pack, a.provider, a.monthly_limit,
                    (SELECT count(*) FROM topup_charges t WHERE t.customer_id = a.customer_id AND t.month = x.month) AS charges
                FROM auto_topups a
                WHERE a.customer_id = x.customer_id AND a.feature = x.feature AND a.status = 'enabled'
                  AND EXISTS (SELECT 1 FROM unnest($5::text[], $6::bigint[], $7::bigint[]) AS r(customer_id, after, before)
                              WHERE r.customer_id = x.customer_id AND a.below > r.after AND a.below <= r.before)
                  AND NOT EXISTS (SELECT 1 FROM topup_charges t WHERE t.customer_id = a.customer_id AND t.status = 'due')
                OFFSET 0
            ) AS a
            WHERE a.charges < a.monthly_limit
            ON CONFLICT DO NOTHING
            """;
        var ranges = crossings.SelectMany(c => c.Ranges.Select(r => (c.CustomerId, r.After, r.Before))).ToList();
        return (sql,
        [
            crossings.Select(_ => newChargeId()).ToArray(),
            crossings.Select(c => c.CustomerId).ToArray(),
            crossings.Select(c => c.Month).ToArray(),
            crossings.Select(c => c.Feature).ToArray(),
            ranges.Select(r => r.CustomerId).ToArray(),
            ranges.Select(r => r.After).ToArray(),
            ranges.Select(r => r.Before).ToArray(),
            Dialect.Postgres.Time(now),
        ]);
    }
}
