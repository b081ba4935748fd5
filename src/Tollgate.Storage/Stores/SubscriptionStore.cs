using System.Data.Common;
using Tollgate.Core.Common;
using Tollgate.Core.Subscriptions;
using Tollgate.Storage.Common;

namespace Tollgate.Storage.Stores;

/// <param name="notify">Tells other servers a customer changed (PostgreSQL); null on SQLite.</param>
internal sealed class SubscriptionStore(Sql sql, Func<string, CancellationToken, Task<int>>? notify) : ISubscriptionStore
{
    private const string Columns =
        "customer_id, subscription_id, plan_id, provider, provider_subscription_id, provider_customer_id, status, current_period_start, "
        + "current_period_end, cancel_at_period_end, pending_plan_id, canceled_at, provider_updated_at, created_at, updated_at, "
        + "access_ends_at, quantity, plan_version";

    // Both ids are named without their customer (API and portal; webhooks): whose each is comes from customer_keys, then
    // the row is read within that customer (docs/scaling.md).
    public async Task<Subscription?> GetAsync(string subscriptionId, CancellationToken cancellationToken) =>
        await CustomerKeys.OwnerAsync(sql, subscriptionId, CustomerKeys.Subscription, "", cancellationToken).ConfigureAwait(false) is { } owner
            ? await sql.QuerySingleAsync($"SELECT {Columns} FROM subscriptions WHERE customer_id = @c AND subscription_id = @id", Read, cancellationToken,
                ("@c", owner), ("@id", subscriptionId)).ConfigureAwait(false)
            : null;

    public async Task<Subscription?> FindByProviderIdAsync(string provider, string providerSubscriptionId, CancellationToken cancellationToken) =>
        await CustomerKeys.OwnerAsync(sql, providerSubscriptionId, CustomerKeys.ProviderSubscription, provider, cancellationToken).ConfigureAwait(false) is { } owner
            ? await sql.QuerySingleAsync(
                $"SELECT {Columns} FROM subscriptions WHERE customer_id = @c AND provider = @provider AND provider_subscription_id = @pid", Read,
                cancellationToken, ("@c", owner), ("@provider", provider), ("@pid", providerSubscriptionId)).ConfigureAwait(false)
            : null;

    public async Task<IReadOnlyList<Subscription>> ListByCustomerAsync(string customerId, CancellationToken cancellationToken) =>
        await sql.QueryAsync($"SELECT {Columns} FROM subscriptions WHERE customer_id = @c ORDER BY created_at, subscription_id", Read,
            cancellationToken, ("@c", customerId)).ConfigureAwait(false);

    public async Task<IReadOnlyList<Subscription>> ListByStatusAsync(SubscriptionStatus status, int limit, CancellationToken cancellationToken) =>
        await sql.QueryAsync($"SELECT {Columns} FROM subscriptions WHERE status = @s ORDER BY current_period_end, subscription_id LIMIT @limit", Read,
            cancellationToken, ("@s", SnakeCase<SubscriptionStatus>.Name(status)), ("@limit", limit)).ConfigureAwait(false);

    public async Task<IReadOnlyList<(string PlanId, SubscriptionStatus Status, int Count)>> CountByPlanAsync(
        IReadOnlyCollection<SubscriptionStatus> statuses, CancellationToken cancellationToken)
    {
        // Kept counts plus the changes not yet folded (SubscriptionCounts): as many rows as plans and statuses, however many
        // subscriptions there are (counting 40,000 active ones took the dashboard 4 ms more each view).
        if (statuses.Count == 0)
        {
            return [];
        }

        return await sql.QueryAsync(SubscriptionCounts.ReadSql(statuses.Select(SnakeCase<SubscriptionStatus>.Name)),
            r => (r.GetString(0), SnakeCase<SubscriptionStatus>.Parse(r.GetString(1)), Convert.ToInt32(r.GetValue(2), System.Globalization.CultureInfo.InvariantCulture)),
            cancellationToken).ConfigureAwait(false);
    }

    public async Task<bool> SaveAsync(Subscription s, CancellationToken cancellationToken)
    {
        // The ordering rule is in the upsert, not in a read before it: of two events applied at the same moment, the
        // older one's write changes nothing, whichever commits last (issue 9, item 8). Equal times pass, so the
        // facts of one event (a snapshot, then its payment's renewal) and local changes made on a fresh read apply.
        // The plan version is the database's, never the caller's: a new subscription, or one moved to another plan,
        // records that plan's newest version; otherwise the stored one stays (a save made on a read from before an
        // operator's migration does not undo it).
        // The subscription's keys first, in the save's transaction (migration 0017): its id, and the provider's id from the
        // first save that carries it. One provider subscription belongs to one customer — what the unique index across
        // customers said before, which a table distributed by customer cannot have: a key another customer holds refuses
        // the save (nothing written), as that index's violation did. Within the customer, the unique index on
        // (customer_id, provider, provider_subscription_id) keeps one row per provider id.
        List<(string, string, string)> keys = [(s.Id, CustomerKeys.Subscription, "")];
        if (s.ProviderSubscriptionId is { } providerId)
        {
            keys.Add((providerId, CustomerKeys.ProviderSubscription, s.Provider));
        }

        var claim = CustomerKeys.Claim(s.CustomerId, keys);
        var upsert = SqlWrite.Answered(
            $"""
            INSERT INTO subscriptions ({Columns})
            VALUES (@c, @id, @plan, @provider, @pid, @pcid, @status, @start, @end, @cancel, @pending, @canceled, @pupdated, @created, @updated, @access, @quantity,
                (SELECT max(version) FROM plan_versions WHERE plan_id = @plan))
            ON CONFLICT (customer_id, subscription_id) DO UPDATE SET
                plan_id = excluded.plan_id, provider_subscription_id = excluded.provider_subscription_id,
                provider_customer_id = excluded.provider_customer_id, status = excluded.status,
                current_period_start = excluded.current_period_start, current_period_end = excluded.current_period_end,
                cancel_at_period_end = excluded.cancel_at_period_end, pending_plan_id = excluded.pending_plan_id,
                canceled_at = excluded.canceled_at, provider_updated_at = excluded.provider_updated_at, updated_at = excluded.updated_at,
                access_ends_at = excluded.access_ends_at, quantity = excluded.quantity,
                plan_version = CASE WHEN subscriptions.plan_id = excluded.plan_id THEN subscriptions.plan_version ELSE excluded.plan_version END
            WHERE subscriptions.provider_updated_at IS NULL OR subscriptions.provider_updated_at <= excluded.provider_updated_at
            """,
            [
                ("@c", s.CustomerId), ("@id", s.Id), ("@plan", s.PlanId), ("@provider", s.Provider), ("@pid", s.ProviderSubscriptionId),
                ("@pcid", s.ProviderCustomerId), ("@status", SnakeCase<SubscriptionStatus>.Name(s.Status)), ("@start", s.CurrentPeriodStart),
                ("@end", s.CurrentPeriodEnd), ("@cancel", s.CancelAtPeriodEnd), ("@pending", s.PendingPlanId), ("@canceled", s.CanceledAt),
                ("@pupdated", s.ProviderUpdatedAt), ("@created", s.CreatedAt), ("@updated", s.UpdatedAt), ("@access", s.AccessEndsAt), ("@quantity", s.Quantity),
            ]);
        // The dashboard's counts per plan and status (SubscriptionCounts), follow-ups of the save: the row as it was taken
        // away, under its lock, before the upsert; the row as it is added after it. In a PostgreSQL flow (a webhook's)
        // they travel with the statements after them: no round trip more than the claim and the upsert. A key taken by
        // another customer throws inside the save's transaction, not after it: the keys the claim did take (the
        // subscription's own id) must go with it, where stopping would commit them.
        (string, object?)[] row = [("@c", s.CustomerId), ("@id", s.Id)];
        var counts = await sql.ExecuteWithFollowUpsAsync(
            [SqlWrite.Answered(claim.Sql, claim.Args), SqlWrite.FollowUp(SubscriptionCounts.ChangeSql(sql.Dialect, -1), row), upsert,
                SqlWrite.FollowUp(SubscriptionCounts.ChangeSql(sql.Dialect, +1), row)],
            (i, rows) => i > 0 || rows == keys.Count ? true : throw KeyTaken(s, keys.Count), cancellationToken).ConfigureAwait(false);
        var saved = counts[1] == 1;
        if (saved && notify is not null)
        {
            await notify(s.CustomerId, cancellationToken).ConfigureAwait(false);
        }

        return saved;
    }

    private static CustomerKeyTakenException KeyTaken(Subscription s, int keys) => new(
        $"subscription {s.Id} ({s.Provider} {s.ProviderSubscriptionId}) is another customer's; not saved for {s.CustomerId}",
        keys > 1 ? CustomerKeys.ProviderSubscription : CustomerKeys.Subscription);

    private Subscription Read(DbDataReader r) => new(
        r.GetString(1), r.GetString(0), r.GetString(2), r.GetString(3), r.IsDBNull(4) ? null : r.GetString(4),
        r.IsDBNull(5) ? null : r.GetString(5), SnakeCase<SubscriptionStatus>.Parse(r.GetString(6)), sql.Dialect.ReadNullableTime(r, 7),
        sql.Dialect.ReadNullableTime(r, 8), r.GetBoolean(9), r.IsDBNull(10) ? null : r.GetString(10), sql.Dialect.ReadNullableTime(r, 11),
        sql.Dialect.ReadNullableTime(r, 12), sql.Dialect.ReadTime(r, 13), sql.Dialect.ReadTime(r, 14), sql.Dialect.ReadNullableTime(r, 15), r.GetInt64(16))
    {
        PlanVersion = r.IsDBNull(17) ? null : Convert.ToInt32(r.GetValue(17), System.Globalization.CultureInfo.InvariantCulture),
    };
}
