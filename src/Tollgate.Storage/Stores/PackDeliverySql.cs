using System.Data.Common;
using Npgsql;
using Tollgate.Core.Common;
using Tollgate.Core.Events;
using Tollgate.Core.Ledger;
using Tollgate.Core.Payments;
using Tollgate.Storage.Common;

namespace Tollgate.Storage.Stores;

/// <summary>
/// The rows of webhook deliveries that a ledger batch carries (<see cref="PackDelivery"/>), written by the ledger stores
/// in the batch's transaction: the same rows <see cref="PaymentStore"/> and <see cref="WebhookInbox"/> write for a
/// delivery applied in a transaction of its own, with one difference that makes them safe to write blind. The inbox row
/// and the payment's guard key are plain inserts, where the other path checks first: a delivery stored, or a payment
/// recorded, by anyone since the delivery was decided fails the batch on the key, and the engine runs the batch's
/// requests one by one, so that delivery fails alone and is applied again by the other path.
/// </summary>
internal static class PackDeliverySql
{
    /// <summary>A write's attachments, in the batch's order: deliveries, the one kind the stores write (an attachment they
    /// did not know would otherwise be committed without its rows).</summary>
    public static IReadOnlyList<PackDelivery> Of(LedgerChanges changes) =>
        changes.Attachments.Select(a => a as PackDelivery ?? throw new NotSupportedException($"No ledger store writes a {a.GetType().Name}.")).ToList();

    /// <summary>The events of a write: its attachments' that come first, the ledger's own, then the attachments' that
    /// follow (for a pack: <c>payment.succeeded</c>, <c>credits.granted</c>, <c>checkout.completed</c>, as the other path
    /// emits them).</summary>
    public static List<OutboundEvent> Events(LedgerChanges changes, IEnumerable<OutboundEvent> ledgerEvents) =>
    [
        .. changes.Attachments.SelectMany(a => a.EventsBefore),
        .. ledgerEvents,
        .. changes.Attachments.SelectMany(a => a.EventsAfter),
    ];

    /// <summary>PostgreSQL: one statement per kind of row for all of the batch's deliveries, added to the commit's batch
    /// (they need no answer: a taken key fails the batch).</summary>
    public static void AddTo(NpgsqlBatch batch, IReadOnlyList<PackDelivery> deliveries)
    {
        if (deliveries.Count == 0)
        {
            return;
        }

        var payments = deliveries.Select(d => d.Payment).ToList();
        // In the other path's order (the provider link, then the payment's guard), each statement's keys sorted: two
        // transactions taking some of the same keys wait for each other rather than each holding what the other wants.
        // The keys another payment or customer may hold already, where the first stands.
        var keys = deliveries.Where(d => d.Link is not null)
            .Select(d => (Key: d.Link!.ProviderCustomerId, Kind: CustomerKeys.ProviderCustomer, d.Link.Provider, Customer: d.Link.CustomerId))
            .Concat(payments.Where(p => !string.IsNullOrEmpty(p.ProviderCheckoutId))
                .Select(p => (Key: p.ProviderCheckoutId!, Kind: CustomerKeys.PaymentCheckout, p.Provider, Customer: p.CustomerId)))
            .OrderBy(k => k.Key, StringComparer.Ordinal).ThenBy(k => k.Kind, StringComparer.Ordinal).ThenBy(k => k.Provider, StringComparer.Ordinal)
            .ToList();
        if (keys.Count > 0)
        {
            Add(batch,
                """
                INSERT INTO customer_keys (key, kind, provider, customer_id) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
                ON CONFLICT (key, kind, provider) DO NOTHING
                """,
                Col(keys, k => k.Key), Col(keys, k => k.Kind), Col(keys, k => k.Provider), Col(keys, k => k.Customer));
        }

        if (deliveries.Where(d => d.Link is not null).Select(d => d.Link!).ToList() is { Count: > 0 } links)
        {
            // Where the key, taken by the statement above or long before, is this customer's (PaymentStore.LinkRowSql).
            Add(batch,
                """
                INSERT INTO provider_customers (customer_id, provider, provider_customer_id, created_at)
                SELECT t.c, t.p, t.pcid, t.at FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS t(c, p, pcid, at)
                WHERE EXISTS (SELECT 1 FROM customer_keys k WHERE k.key = t.pcid AND k.kind = $5 AND k.provider = t.p AND k.customer_id = t.c)
                ON CONFLICT DO NOTHING
                """,
                Col(links, l => l.CustomerId), Col(links, l => l.Provider), Col(links, l => l.ProviderCustomerId), Times(links, l => l.At),
                CustomerKeys.ProviderCustomer);
        }

        // The guards: plain, so a payment recorded meanwhile (or being recorded: the insert waits for it) fails here.
        var guards = payments.OrderBy(p => p.ProviderPaymentId, StringComparer.Ordinal).ThenBy(p => p.Provider, StringComparer.Ordinal).ToList();
        Add(batch,
            "INSERT INTO customer_keys (key, kind, provider, customer_id) SELECT k, $2, p, c FROM unnest($1::text[], $3::text[], $4::text[]) AS t(k, p, c)",
            Col(guards, p => p.ProviderPaymentId), CustomerKeys.Payment, Col(guards, p => p.Provider), Col(guards, p => p.CustomerId));

        Add(batch,
            """
            INSERT INTO payments (customer_id, payment_id, provider, kind, product, status, amount, currency, checkout_id, provider_checkout_id,
                provider_payment_id, provider_subscription_id, subscription_id, ledger_ref, credits, refunded_amount, credits_clawed, flag, payload,
                created_at, updated_at, reversals)
            SELECT *, '|' FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::text[],
                $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::bigint[], $16::bigint[], $17::bigint[], $18::text[], $19::text[],
                $20::timestamptz[], $21::timestamptz[])
            """,
            Col(payments, p => p.CustomerId), Col(payments, p => p.Id), Col(payments, p => p.Provider), Col(payments, p => SnakeCase<PaymentKind>.Name(p.Kind)),
            Col(payments, p => p.Product), Col(payments, p => SnakeCase<PaymentStatus>.Name(p.Status)),
            new NpgsqlParameter { Value = payments.Select(p => p.Amount).ToArray(), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Bigint },
            Col(payments, p => p.Currency), Col(payments, p => p.CheckoutId), Col(payments, p => p.ProviderCheckoutId), Col(payments, p => p.ProviderPaymentId),
            Col(payments, p => p.ProviderSubscriptionId), Col(payments, p => p.SubscriptionId), Col(payments, p => p.LedgerRef),
            payments.Select(p => p.Credits).ToArray(), payments.Select(p => p.RefundedAmount).ToArray(), payments.Select(p => p.CreditsClawed).ToArray(),
            Col(payments, p => p.Flag), Col(payments, p => p.Payload), Times(payments, p => p.CreatedAt), Times(payments, p => p.UpdatedAt));

        // The revenue rollup's marker of each payment's day (RevenueRollup.MarkerSql), from the rows just written.
        Add(batch,
            $"""
             INSERT INTO payment_changes (customer_id, day)
             SELECT p.customer_id, {RevenueRollup.DayOf(Dialect.Postgres, "p.created_at")}
             FROM unnest($1::text[], $2::text[]) AS t(c, id) JOIN payments p ON p.customer_id = t.c AND p.payment_id = t.id
             """,
            Col(payments, p => p.CustomerId), Col(payments, p => p.Id));

        // A statement per checkout, by its customer and id (as the ledger updates holds): each names one customer, so on a
        // database distributed by customer each is a single-shard statement (docs/scaling.md).
        foreach (var checkout in deliveries.Select(d => d.CompletedCheckout).OfType<Checkout>())
        {
            Add(batch, "UPDATE checkouts SET status = $3, failure = NULL, updated_at = $4, completed_at = $5 WHERE customer_id = $1 AND checkout_id = $2",
                checkout.CustomerId, checkout.Id, SnakeCase<CheckoutStatus>.Name(checkout.Status), Time(checkout.UpdatedAt), Time(checkout.CompletedAt));
        }

        // Plain, as a flow's outcome insert is: an event stored meanwhile fails the batch here.
        var inbox = deliveries.Select(d => d.Inbox).OrderBy(e => e.Provider, StringComparer.Ordinal).ThenBy(e => e.EventId, StringComparer.Ordinal).ToList();
        Add(batch,
            $"""
             INSERT INTO webhook_events ({WebhookInbox.Columns})
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::text[], $7::text[], $8::integer[],
                 $9::timestamptz[], $10::text[], $11::timestamptz[], $12::text[])
             """,
            Col(inbox, e => e.Provider), Col(inbox, e => e.EventId), Col(inbox, e => e.EventType), Times(inbox, e => e.OccurredAt),
            Times(inbox, e => e.ReceivedAt), Col(inbox, e => e.Payload), Col(inbox, e => SnakeCase<WebhookStatus>.Name(e.Status)),
            inbox.Select(e => e.Attempts).ToArray(), Times(inbox, e => e.NextAttemptAt), Col(inbox, e => e.LastError), Times(inbox, e => e.AppliedAt),
            Col(inbox, e => e.CustomerId));
    }

    /// <summary>SQLite: each delivery's rows by the statements the other path sends, in the batch's transaction (SQLite
    /// has one writer and no round trips: a statement per row costs what the rows cost).</summary>
    public static async Task WriteAsync(DbConnection connection, DbTransaction transaction, IReadOnlyList<PackDelivery> deliveries,
        CancellationToken cancellationToken)
    {
        foreach (var d in deliveries)
        {
            var p = d.Payment;
            if (d.Link is { } link)
            {
                await ExecuteAsync(CustomerKeys.InsertSql + " ON CONFLICT (key, kind, provider) DO NOTHING",
                    CustomerKeys.Args(link.ProviderCustomerId, CustomerKeys.ProviderCustomer, link.Provider, link.CustomerId)).ConfigureAwait(false);
                await ExecuteAsync(PaymentStore.LinkRowSql, PaymentStore.LinkArgs(link.Provider, link.ProviderCustomerId, link.CustomerId, link.At))
                    .ConfigureAwait(false);
            }

            await ExecuteAsync(CustomerKeys.InsertSql, CustomerKeys.Args(p.ProviderPaymentId, CustomerKeys.Payment, p.Provider, p.CustomerId)).ConfigureAwait(false);

            await ExecuteAsync(PaymentStore.InsertPaymentSql, PaymentStore.PaymentArgs(p)).ConfigureAwait(false);
            await ExecuteAsync(RevenueRollup.MarkerSql(Dialect.Sqlite), PaymentStore.MarkerArgs(p.CustomerId, p.Id)).ConfigureAwait(false);
            if (!string.IsNullOrEmpty(p.ProviderCheckoutId))
            {
                await ExecuteAsync(CustomerKeys.InsertSql + " ON CONFLICT (key, kind, provider) DO NOTHING",
                    CustomerKeys.Args(p.ProviderCheckoutId, CustomerKeys.PaymentCheckout, p.Provider, p.CustomerId)).ConfigureAwait(false);
            }

            if (d.CompletedCheckout is { } checkout)
            {
                await ExecuteAsync(PaymentStore.UpdateCheckoutSql, PaymentStore.CheckoutArgs(checkout)).ConfigureAwait(false);
            }

            await ExecuteAsync(WebhookInbox.InsertSql, WebhookInbox.Args(d.Inbox)).ConfigureAwait(false);
        }

        async Task ExecuteAsync(string sql, (string Name, object? Value)[] args)
        {
            await using var command = Sql.Command(Dialect.Sqlite, connection, transaction, sql, args);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static void Add(NpgsqlBatch batch, string sql, params object[] values)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var value in values)
        {
            command.Parameters.Add(value as NpgsqlParameter ?? new NpgsqlParameter { Value = value });
        }

        batch.BatchCommands.Add(command);
    }

    private static string?[] Col<T>(IReadOnlyList<T> rows, Func<T, string?> value) => rows.Select(value).ToArray();

    private static NpgsqlParameter Time(DateTimeOffset? value) => new()
    {
        Value = value is { } v ? Instants.Normalize(v).UtcDateTime : DBNull.Value,
        NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz,
    };

    // Typed as timestamptz[]: an array of nothing but nulls says no type of its own (as PostgresLedgerStore's Col).
    private static NpgsqlParameter Times<T>(IReadOnlyList<T> rows, Func<T, DateTimeOffset?> value) => new()
    {
        Value = rows.Select(r => value(r) is { } v ? Instants.Normalize(v).UtcDateTime : (DateTime?)null).ToArray(),
        NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.TimestampTz,
    };
}
