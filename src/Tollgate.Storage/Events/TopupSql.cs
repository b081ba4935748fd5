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
}
