using System.Data.Common;
using System.Text.Json;
using Tollgate.Core.Common;
using Tollgate.Core.Payments;
using Tollgate.Storage.Common;

namespace Tollgate.Storage.Stores;

internal sealed class PaymentStore(Sql sql) : IPaymentStore
{
    private const string CheckoutColumns =
        "customer_id, checkout_id, product, provider, provider_checkout_id, url, status, success_url, cancel_url, metadata, failure, created_at, updated_at, completed_at";

    private const string PaymentColumns =
        "customer_id, payment_id, provider, kind, product, status, amount, currency, checkout_id, provider_checkout_id, provider_payment_id, "
        + "provider_subscription_id, subscription_id, ledger_ref, credits, refunded_amount, credits_clawed, flag, payload, created_at, updated_at";

    private const string InsertColumns = PaymentColumns + ", reversals";

    // A checkout is named by its id (API, pages) and by the provider's session id (webhooks) without its customer: both go
    // to customer_keys in the checkout's transaction. Plain inserts: a duplicate id fails the checkout, as the unique
    // indexes these keys replace did.
    public Task InsertCheckoutAsync(Checkout c, CancellationToken cancellationToken) =>
        sql.ExecuteAllAsync(
            [
                (CustomerKeys.InsertSql, CustomerKeys.Args(c.Id, CustomerKeys.Checkout, "", c.CustomerId)),
                (CustomerKeys.InsertSql, CustomerKeys.Args(c.ProviderCheckoutId, CustomerKeys.CheckoutSession, c.Provider, c.CustomerId)),
                ($"""
                  INSERT INTO checkouts ({CheckoutColumns})
                  VALUES (@c, @id, @product, @provider, @pcid, @url, @status, @success, @cancel, @metadata, @failure, @created, @updated, @completed)
                  """, CheckoutArgs(c)),
            ], (_, _) => true, cancellationToken);

    // A checkout's row is updated by the webhook that completes it, which reads no count: in its flow, deferred.
    public Task UpdateCheckoutAsync(Checkout c, CancellationToken cancellationToken) =>
        sql.ExecuteOrDeferAsync(UpdateCheckoutSql, cancellationToken, CheckoutArgs(c));

    /// <summary>A checkout's new status, by <see cref="CheckoutArgs"/>'s names.</summary>
    internal const string UpdateCheckoutSql =
        "UPDATE checkouts SET status = @status, failure = @failure, updated_at = @updated, completed_at = @completed WHERE customer_id = @c AND checkout_id = @id";

    public async Task<Checkout?> GetCheckoutAsync(string checkoutId, CancellationToken cancellationToken) =>
        await CustomerKeys.OwnerAsync(sql, checkoutId, CustomerKeys.Checkout, "", cancellationToken).ConfigureAwait(false) is { } owner
            ? await CheckoutByIdAsync(owner, checkoutId, cancellationToken).ConfigureAwait(false)
            : null;

    // The rows of the two lookups, once their key's owner is known.
    private Task<Checkout?> CheckoutByIdAsync(string owner, string checkoutId, CancellationToken cancellationToken) =>
        sql.QuerySingleAsync($"SELECT {CheckoutColumns} FROM checkouts WHERE customer_id = @c AND checkout_id = @id", ReadCheckout,
            cancellationToken, ("@c", owner), ("@id", checkoutId));

    private Task<Checkout?> CheckoutByProviderIdAsync(string owner, string provider, string providerCheckoutId, CancellationToken cancellationToken) =>
        sql.QuerySingleAsync($"SELECT {CheckoutColumns} FROM checkouts WHERE customer_id = @c AND provider = @p AND provider_checkout_id = @pcid",
            ReadCheckout, cancellationToken, ("@c", owner), ("@p", provider), ("@pcid", providerCheckoutId));

    // The status is checked again in the outer WHERE: on PostgreSQL a row another server expired meanwhile is re-read
    // and skipped, so each checkout is expired (and reported) once.
    public async Task<IReadOnlyList<Checkout>> ExpireCheckoutsAsync(DateTimeOffset createdBefore, DateTimeOffset now, int limit, CancellationToken cancellationToken) =>
        await sql.QueryAsync(
            $"""
            UPDATE checkouts SET status = 'expired', updated_at = @now
            WHERE status IN ('open', 'failed') AND checkout_id IN (
                SELECT checkout_id FROM checkouts WHERE status IN ('open', 'failed') AND created_at < @before ORDER BY created_at LIMIT @limit)
            RETURNING {CheckoutColumns}
            """, ReadCheckout, cancellationToken, ("@now", now), ("@before", createdBefore), ("@limit", limit)).ConfigureAwait(false);

    public async Task<Checkout?> FindCheckoutByProviderIdAsync(string provider, string providerCheckoutId, CancellationToken cancellationToken) =>
        await CustomerKeys.OwnerAsync(sql, providerCheckoutId, CustomerKeys.CheckoutSession, provider, cancellationToken).ConfigureAwait(false) is { } owner
            ? await CheckoutByProviderIdAsync(owner, provider, providerCheckoutId, cancellationToken).ConfigureAwait(false)
            : null;

    // A checkout event's two lookups (PaymentApplier): the owners of both keys in one statement, then the rows, in one
    // statement when both keys are one customer's (the usual case: a checkout Tollgate started, named both ways). Apart,
    // they took a round trip each for the owners and one each for the rows.
    public async Task<(Checkout? ByProviderId, Checkout? ById)> FindCheckoutsAsync(string provider, string providerCheckoutId, string? checkoutId,
        CancellationToken cancellationToken)
    {
        if (checkoutId is null)
        {
            return (await FindCheckoutByProviderIdAsync(provider, providerCheckoutId, cancellationToken).ConfigureAwait(false), null);
        }

        var (byProviderId, byId, _) = await LookUpCheckoutsAsync(provider, providerCheckoutId, checkoutId, null, cancellationToken).ConfigureAwait(false);
        return (byProviderId, byId);
    }

    // A pack's delivery decided ahead of its write (PaymentApplier.PlanPackDeliveryAsync): the payment's guard is one more
    // key of the same statement.
    public Task<(Checkout? ByProviderId, Checkout? ById, bool PaymentRecorded)> FindCheckoutsAndPaymentAsync(string provider, string providerCheckoutId,
        string? checkoutId, string providerPaymentId, CancellationToken cancellationToken) =>
        LookUpCheckoutsAsync(provider, providerCheckoutId, checkoutId, providerPaymentId, cancellationToken);

    // The owners of the keys in one statement (a null id matches nothing), then the rows, in one statement when both
    // checkout keys are one customer's.
    private async Task<(Checkout? ByProviderId, Checkout? ById, bool PaymentRecorded)> LookUpCheckoutsAsync(string provider, string providerCheckoutId,
        string? checkoutId, string? providerPaymentId, CancellationToken cancellationToken)
    {
        var owners = await sql.QueryAsync(
            $"""
             SELECT kind, customer_id FROM customer_keys
             WHERE (key = @pcid AND kind = '{CustomerKeys.CheckoutSession}' AND provider = @p) OR (key = @id AND kind = '{CustomerKeys.Checkout}' AND provider = '')
                OR (key = @ppid AND kind = '{CustomerKeys.Payment}' AND provider = @p)
             """,
            r => (Kind: r.GetString(0), Customer: r.GetString(1)), cancellationToken, ("@pcid", providerCheckoutId), ("@p", provider), ("@id", checkoutId),
            ("@ppid", providerPaymentId))
            .ConfigureAwait(false);
        var sessionOwner = owners.Find(o => o.Kind == CustomerKeys.CheckoutSession).Customer;
        var idOwner = owners.Find(o => o.Kind == CustomerKeys.Checkout).Customer;
        var recorded = owners.Exists(o => o.Kind == CustomerKeys.Payment);
        if (sessionOwner is not null && sessionOwner == idOwner)
        {
            var rows = await sql.QueryAsync(
                $"SELECT {CheckoutColumns} FROM checkouts WHERE customer_id = @c AND (checkout_id = @id OR (provider = @p AND provider_checkout_id = @pcid))",
                ReadCheckout, cancellationToken, ("@c", sessionOwner), ("@id", checkoutId), ("@p", provider), ("@pcid", providerCheckoutId))
                .ConfigureAwait(false);
            return (rows.Find(c => c.Provider == provider && c.ProviderCheckoutId == providerCheckoutId), rows.Find(c => c.Id == checkoutId), recorded);
        }

        var byProviderId = sessionOwner is null ? null : await CheckoutByProviderIdAsync(sessionOwner, provider, providerCheckoutId, cancellationToken).ConfigureAwait(false);
        var byId = idOwner is null ? null : await CheckoutByIdAsync(idOwner, checkoutId!, cancellationToken).ConfigureAwait(false);
        return (byProviderId, byId, recorded);
    }

    /// <summary>A payment's row, by <see cref="PaymentArgs"/>'s names (also written by a ledger batch: PackDeliverySql).</summary>
    internal const string InsertPaymentSql =
        $"""
         INSERT INTO payments ({InsertColumns})
         VALUES (@c, @id, @provider, @kind, @product, @status, @amount, @currency, @checkout, @pcheckout, @ppid, @psub, @sub, @ref,
                 @credits, @refunded, @clawed, @flag, @payload, @created, @updated, '|')
         """;

    // The provider's payment id is unique per provider: its customer_keys row is the exactly-once guard (in place of the
    // unique index on payments, which a table distributed by customer cannot have). Taken first, in the payment's
    // transaction: a payment already recorded, or being recorded by a concurrent delivery (which the insert waits for),
    // leaves the key taken and nothing is inserted. The provider's checkout id is recorded too (several payments may
    // share it, all of one customer), so that a refund naming only the checkout finds its payment.
    public async Task<bool> TryInsertPaymentAsync(Payment p, CancellationToken cancellationToken)
    {
        // Only the guard is answered; the payment's rows follow it, written only when it was taken (in a PostgreSQL flow,
        // a webhook's, they go with the flow's next statement).
        List<SqlWrite> writes =
        [
            SqlWrite.Answered(CustomerKeys.InsertSql + " ON CONFLICT (key, kind, provider) DO NOTHING",
                CustomerKeys.Args(p.ProviderPaymentId, CustomerKeys.Payment, p.Provider, p.CustomerId)),
            SqlWrite.FollowUp(InsertPaymentSql, PaymentArgs(p)),
            // The revenue rollup's marker of the payment's day (RevenueRollup): written only with the row (after the guard).
            SqlWrite.FollowUp(RevenueRollup.MarkerSql(sql.Dialect), MarkerArgs(p.CustomerId, p.Id)),
        ];
        if (!string.IsNullOrEmpty(p.ProviderCheckoutId))
        {
            writes.Add(SqlWrite.FollowUp(CustomerKeys.InsertSql + " ON CONFLICT (key, kind, provider) DO NOTHING",
                CustomerKeys.Args(p.ProviderCheckoutId, CustomerKeys.PaymentCheckout, p.Provider, p.CustomerId)));
        }

        return (await sql.ExecuteWithFollowUpsAsync(writes, (_, rows) => rows == 1, cancellationToken).ConfigureAwait(false))[0] == 1;
    }

    public Task UpdatePaymentAsync(Payment p, CancellationToken cancellationToken) =>
        WriteMarkedAsync(
            """
            UPDATE payments SET status = @status, subscription_id = @sub, ledger_ref = @ref, credits = @credits, refunded_amount = @refunded,
                credits_clawed = @clawed, flag = @flag, updated_at = @updated
            WHERE customer_id = @c AND payment_id = @id
            """,
            PaymentArgs(p), p.CustomerId, p.Id, cancellationToken);

    public async Task<bool> RecordReversalAsync(Payment payment, string reversalId, long? refundedDelta, long? refundedTotal, long creditsClawed,
        PaymentStatus status, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var pattern = "%" + Like("|" + reversalId + "|") + "%";
        return await WriteMarkedAsync(
            """
            UPDATE payments SET
                refunded_amount = CASE WHEN CAST(@total AS BIGINT) IS NULL THEN refunded_amount + @delta
                                       WHEN refunded_amount < CAST(@total AS BIGINT) THEN CAST(@total AS BIGINT)
                                       ELSE refunded_amount END,
                credits_clawed = credits_clawed + @clawed,
                status = @status,
                updated_at = @now,
                reversals = reversals || @append
            WHERE customer_id = @c AND payment_id = @id AND reversals NOT LIKE @pattern ESCAPE '\'
            """,
            [("@total", refundedTotal), ("@delta", refundedDelta ?? 0), ("@clawed", creditsClawed),
            ("@status", SnakeCase<PaymentStatus>.Name(status)), ("@now", now), ("@append", reversalId + "|"), ("@c", payment.CustomerId),
            ("@id", payment.Id), ("@pattern", pattern)], payment.CustomerId, payment.Id, cancellationToken).ConfigureAwait(false) == 1;
    }

    /// <summary>A payment update that can change revenue, and — only when it changed the row — the revenue rollup's
    /// marker of the payment's day, a follow-up in the update's own transaction (<see cref="Sql.ExecuteWithFollowUpsAsync"/>).</summary>
    /// <returns>The rows the update changed.</returns>
    private async Task<int> WriteMarkedAsync(string update, (string, object?)[] args, string customerId, string paymentId,
        CancellationToken cancellationToken) =>
        (await sql.ExecuteWithFollowUpsAsync(
            [SqlWrite.Answered(update, args), SqlWrite.FollowUp(RevenueRollup.MarkerSql(sql.Dialect), MarkerArgs(customerId, paymentId))],
            (_, rows) => rows == 1, cancellationToken).ConfigureAwait(false))[0];

    internal static (string, object?)[] MarkerArgs(string customerId, string paymentId) => [("@c", customerId), ("@id", paymentId)];

    public Task AddFlagAsync(Payment payment, string note, string marker, DateTimeOffset now, CancellationToken cancellationToken) =>
        sql.ExecuteAsync(
            """
            UPDATE payments SET flag = CASE WHEN flag IS NULL THEN @note ELSE flag || '; ' || @note END, updated_at = @now
            WHERE customer_id = @c AND payment_id = @id AND (flag IS NULL OR flag NOT LIKE @pattern ESCAPE '\')
            """,
            cancellationToken, ("@note", note), ("@now", now), ("@c", payment.CustomerId), ("@id", payment.Id), ("@pattern", "%" + Like(marker) + "%"));

    private static string Like(string text) =>
        text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("%", "\\%", StringComparison.Ordinal).Replace("_", "\\_", StringComparison.Ordinal);

    public async Task<Payment?> FindPaymentAsync(string provider, IReadOnlyCollection<string> ids, CancellationToken cancellationToken)
    {
        foreach (var id in ids.Where(i => !string.IsNullOrEmpty(i)).Distinct(StringComparer.Ordinal))
        {
            // Whose the id is (as a payment id or a checkout id of this provider), then that customer's payment: the
            // payment id first. Two indexed lookups in one statement (an OR of the two columns may be planned as a scan).
            var owner = await sql.QuerySingleAsync(
                "SELECT customer_id FROM customer_keys WHERE key = @id AND provider = @p AND kind IN (@k1, @k2) ORDER BY kind LIMIT 1",
                r => r.GetString(0), cancellationToken, ("@id", id), ("@p", provider), ("@k1", CustomerKeys.Payment),
                ("@k2", CustomerKeys.PaymentCheckout)).ConfigureAwait(false);
            if (owner is null)
            {
                continue;
            }

            var payment = await sql.QuerySingleAsync(
                $"""
                 SELECT {PaymentColumns} FROM (
                     SELECT {PaymentColumns}, 0 AS preference FROM payments WHERE customer_id = @c AND provider = @p AND provider_payment_id = @id
                     UNION ALL
                     SELECT {PaymentColumns}, 1 AS preference FROM payments WHERE customer_id = @c AND provider = @p AND provider_checkout_id = @id
                 ) found ORDER BY preference LIMIT 1
                 """,
                ReadPayment, cancellationToken, ("@c", owner), ("@p", provider), ("@id", id)).ConfigureAwait(false);
            if (payment is not null)
            {
                return payment;
            }
        }

        return null;
    }

    public async Task<IReadOnlyList<Payment>> ListPaymentsAsync(string customerId, CancellationToken cancellationToken) =>
        await sql.QueryAsync($"SELECT {PaymentColumns} FROM payments WHERE customer_id = @c ORDER BY created_at DESC, payment_id", ReadPayment,
            cancellationToken, ("@c", customerId)).ConfigureAwait(false);

    public async Task<IReadOnlyList<Payment>> ListFlaggedPaymentsAsync(int limit, CancellationToken cancellationToken) =>
        await sql.QueryAsync($"SELECT {PaymentColumns} FROM payments WHERE flag IS NOT NULL ORDER BY created_at DESC LIMIT @limit", ReadPayment,
            cancellationToken, ("@limit", limit)).ConfigureAwait(false);

    public async Task<int> CountFlaggedPaymentsAsync(int cap, CancellationToken cancellationToken) =>
        (await sql.QueryAsync("SELECT count(*) FROM (SELECT 1 FROM payments WHERE flag IS NOT NULL LIMIT @cap) capped",
            r => Convert.ToInt32(r.GetValue(0), System.Globalization.CultureInfo.InvariantCulture), cancellationToken, ("@cap", cap)).ConfigureAwait(false))[0];

    public async Task<IReadOnlyList<Payment>> ListPaymentsByProviderAsync(string provider, int limit, CancellationToken cancellationToken) =>
        await sql.QueryAsync($"SELECT {PaymentColumns} FROM payments WHERE provider = @p ORDER BY created_at DESC, payment_id LIMIT @limit", ReadPayment,
            cancellationToken, ("@p", provider), ("@limit", limit)).ConfigureAwait(false);

    /// <summary>
    /// The closed days the rollup computed (RevenueRollup) are read from revenue_days, one row a day and currency; every
    /// other part of the range — today, a day with markers (a payment of it changed since it was computed), a day never
    /// computed, a partial day at either end — is summed live from payments, as it always was. A day's computed rows are
    /// used only while it has no marker, and a marker commits with its payment change: the answer includes every change
    /// committed before the call, as the live sum did. The two statements read one snapshot: a change committing between
    /// them (one transaction's payments of a computed day and of today) would otherwise show in the days the second reads
    /// only, an answer no state of the database ever had. They stay two because the live ranges follow from what the first
    /// finds; one statement would have to sum every payment of the range and drop the computed days' (the scan the rollup
    /// exists to avoid), or build the ranges from a day series in each dialect's own SQL.
    /// </summary>
    public Task<IReadOnlyList<DailyRevenue>> RevenueByDayAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken) =>
        sql.ReadOneSnapshotAsync(() => ReadRevenueByDayAsync(from, to, cancellationToken), cancellationToken);

    private async Task<IReadOnlyList<DailyRevenue>> ReadRevenueByDayAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
    {
        var oneDay = TimeSpan.FromDays(1);
        // The whole days inside [from, to): only those can be read computed.
        var first = RevenueRollup.Midnight(DateOnly.FromDateTime(from.UtcDateTime));
        if (first < from)
        {
            first += oneDay;
        }

        var end = RevenueRollup.Midnight(DateOnly.FromDateTime(to.UtcDateTime));
        var result = new List<DailyRevenue>();
        var computed = new List<DateTimeOffset>();
        if (first < end)
        {
            // One statement: the computed days with their rows (a day without revenue has none: null currency), and the
            // days with markers.
            var found = await sql.QueryAsync(
                """
                SELECT r.day, d.currency, d.amount, d.payments, 0 FROM revenue_rollup r LEFT JOIN revenue_days d ON d.day = r.day
                WHERE r.day >= @first AND r.day < @end
                UNION ALL
                SELECT day, NULL, NULL, NULL, 1 FROM payment_changes WHERE day >= @first AND day < @end GROUP BY day
                """,
                r => (Day: sql.Dialect.ReadTime(r, 0), Currency: r.IsDBNull(1) ? null : r.GetString(1), Amount: r.IsDBNull(2) ? 0 : r.GetInt64(2),
                    Payments: r.IsDBNull(3) ? 0 : Convert.ToInt32(r.GetValue(3), System.Globalization.CultureInfo.InvariantCulture),
                    Marked: Convert.ToInt32(r.GetValue(4), System.Globalization.CultureInfo.InvariantCulture) == 1),
                cancellationToken, ("@first", first), ("@end", end)).ConfigureAwait(false);
            var marked = found.Where(f => f.Marked).Select(f => f.Day).ToHashSet();
            foreach (var f in found.Where(f => !f.Marked && !marked.Contains(f.Day)))
            {
                if (f.Currency is not null)
                {
                    result.Add(new DailyRevenue(DateOnly.FromDateTime(f.Day.UtcDateTime), f.Currency, f.Amount, f.Payments));
                }
            }

            computed = found.Where(f => !f.Marked && !marked.Contains(f.Day)).Select(f => f.Day).Distinct().Order().ToList();
        }

        // The rest of [from, to), as ranges between the computed days: summed live, each range read from the index.
        var ranges = new List<(DateTimeOffset From, DateTimeOffset To)>();
        var cursor = from;
        foreach (var day in computed)
        {
            if (day > cursor)
            {
                ranges.Add((cursor, day));
            }

            cursor = day + oneDay;
        }

        if (cursor < to)
        {
            ranges.Add((cursor, to));
        }

        if (ranges.Count > 0)
        {
            var day = RevenueRollup.DayOf(sql.Dialect, "created_at");
            var parts = ranges.Select((_, i) => $"SELECT created_at, currency, status, amount, refunded_amount FROM payments WHERE created_at >= @f{i} AND created_at < @t{i}");
            var args = ranges.SelectMany((r, i) => new (string, object?)[] { ($"@f{i}", r.From), ($"@t{i}", r.To) }).ToArray();
            result.AddRange(await sql.QueryAsync(
                $"""
                 SELECT {day}, {RevenueRollup.Sums}
                 FROM ({string.Join(" UNION ALL ", parts)}) live
                 WHERE {RevenueRollup.Counted}
                 GROUP BY {day}, coalesce(currency, '?')
                 """,
                r => new DailyRevenue(DateOnly.FromDateTime(sql.Dialect.ReadTime(r, 0).UtcDateTime), r.GetString(1), r.GetInt64(2),
                    Convert.ToInt32(r.GetValue(3), System.Globalization.CultureInfo.InvariantCulture)),
                cancellationToken, args).ConfigureAwait(false));
        }

        return result.OrderBy(r => r.Day).ThenBy(r => r.Currency, StringComparer.Ordinal).ToList();
    }

    public async Task<bool> HasCompletedPaymentAsync(string customerId, string product, CancellationToken cancellationToken) =>
        (await sql.QueryAsync("SELECT 1 FROM payments WHERE customer_id = @c AND product = @p AND status = 'completed' LIMIT 1", r => 1,
            cancellationToken, ("@c", customerId), ("@p", product)).ConfigureAwait(false)).Count > 0;

    // One provider customer belongs to one Tollgate customer: its customer_keys row is the link's exactly-once guard (in
    // place of the table's old primary key across customers, migration 0017), taken first in the link's transaction as a
    // payment's is. Taken already — by this customer or another, or by a concurrent link the insert waits for — and
    // nothing more is written; the first link stands, as before.
    // Both statements are answerless (in a webhook's flow they travel with the flow's next statement): the key first, then
    // the row only where the key is this customer's, so a key another customer holds links nothing.
    public async Task LinkProviderCustomerAsync(string provider, string providerCustomerId, string customerId, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        await sql.ExecuteOrDeferAsync(CustomerKeys.InsertSql + " ON CONFLICT (key, kind, provider) DO NOTHING", cancellationToken,
            CustomerKeys.Args(providerCustomerId, CustomerKeys.ProviderCustomer, provider, customerId)).ConfigureAwait(false);
        await sql.ExecuteOrDeferAsync(LinkRowSql, cancellationToken, LinkArgs(provider, providerCustomerId, customerId, now)).ConfigureAwait(false);
    }

    /// <summary>A link's row, where its key (taken just before) is this customer's.</summary>
    internal const string LinkRowSql =
        """
        INSERT INTO provider_customers (customer_id, provider, provider_customer_id, created_at)
        SELECT @c, @p, @pcid, @now WHERE EXISTS (
            SELECT 1 FROM customer_keys WHERE key = @pcid AND kind = @kind AND provider = @p AND customer_id = @c)
        ON CONFLICT DO NOTHING
        """;

    internal static (string, object?)[] LinkArgs(string provider, string providerCustomerId, string customerId, DateTimeOffset now) =>
        [("@c", customerId), ("@p", provider), ("@pcid", providerCustomerId), ("@now", now), ("@kind", CustomerKeys.ProviderCustomer)];

    // The key row is the answer: whose the provider's customer is.
    public Task<string?> FindCustomerByProviderIdAsync(string provider, string providerCustomerId, CancellationToken cancellationToken) =>
        CustomerKeys.OwnerAsync(sql, providerCustomerId, CustomerKeys.ProviderCustomer, provider, cancellationToken);

    public async Task<string?> FindProviderCustomerAsync(string provider, string customerId, CancellationToken cancellationToken) =>
        (await sql.QueryAsync("SELECT provider_customer_id FROM provider_customers WHERE provider = @p AND customer_id = @c ORDER BY created_at, provider_customer_id LIMIT 1",
            r => r.GetString(0), cancellationToken, ("@p", provider), ("@c", customerId)).ConfigureAwait(false)).FirstOrDefault();

    internal static (string, object?)[] CheckoutArgs(Checkout c) =>
    [
        ("@c", c.CustomerId), ("@id", c.Id), ("@product", c.Product), ("@provider", c.Provider), ("@pcid", c.ProviderCheckoutId), ("@url", c.Url),
        ("@status", SnakeCase<CheckoutStatus>.Name(c.Status)), ("@success", c.SuccessUrl), ("@cancel", c.CancelUrl),
        ("@metadata", JsonSerializer.Serialize(c.Metadata)), ("@failure", c.Failure), ("@created", c.CreatedAt), ("@updated", c.UpdatedAt),
        ("@completed", c.CompletedAt),
    ];

    internal static (string, object?)[] PaymentArgs(Payment p) =>
    [
        ("@c", p.CustomerId), ("@id", p.Id), ("@provider", p.Provider), ("@kind", SnakeCase<PaymentKind>.Name(p.Kind)), ("@product", p.Product),
        ("@status", SnakeCase<PaymentStatus>.Name(p.Status)), ("@amount", p.Amount), ("@currency", p.Currency), ("@checkout", p.CheckoutId),
        ("@pcheckout", p.ProviderCheckoutId), ("@ppid", p.ProviderPaymentId), ("@psub", p.ProviderSubscriptionId), ("@sub", p.SubscriptionId),
        ("@ref", p.LedgerRef), ("@credits", p.Credits), ("@refunded", p.RefundedAmount), ("@clawed", p.CreditsClawed), ("@flag", p.Flag),
        ("@payload", p.Payload), ("@created", p.CreatedAt), ("@updated", p.UpdatedAt),
    ];

    private Checkout ReadCheckout(DbDataReader r) => new(
        r.GetString(1), r.GetString(0), r.GetString(2), r.GetString(3), r.GetString(4), r.GetString(5), SnakeCase<CheckoutStatus>.Parse(r.GetString(6)),
        r.IsDBNull(7) ? null : r.GetString(7), r.IsDBNull(8) ? null : r.GetString(8),
        r.IsDBNull(9) ? new Dictionary<string, string>() : JsonSerializer.Deserialize<Dictionary<string, string>>(r.GetString(9)) ?? [],
        r.IsDBNull(10) ? null : r.GetString(10), sql.Dialect.ReadTime(r, 11), sql.Dialect.ReadTime(r, 12), sql.Dialect.ReadNullableTime(r, 13));

    private Payment ReadPayment(DbDataReader r) => new(
        r.GetString(1), r.GetString(0), r.GetString(2), SnakeCase<PaymentKind>.Parse(r.GetString(3)), r.GetString(4),
        SnakeCase<PaymentStatus>.Parse(r.GetString(5)), r.IsDBNull(6) ? null : r.GetInt64(6), r.IsDBNull(7) ? null : r.GetString(7),
        r.IsDBNull(8) ? null : r.GetString(8), r.IsDBNull(9) ? null : r.GetString(9), r.GetString(10), r.IsDBNull(11) ? null : r.GetString(11),
        r.IsDBNull(12) ? null : r.GetString(12), r.IsDBNull(13) ? null : r.GetString(13), r.GetInt64(14), r.GetInt64(15), r.GetInt64(16),
        r.IsDBNull(17) ? null : r.GetString(17), r.GetString(18), sql.Dialect.ReadTime(r, 19), sql.Dialect.ReadTime(r, 20));
}
