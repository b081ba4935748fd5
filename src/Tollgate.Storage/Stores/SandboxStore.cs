using System.Data.Common;
using System.Text.Json;
using Tollgate.Core.Common;
using Tollgate.Core.Payments;
using Tollgate.Core.Payments.Sandbox;
using Tollgate.Storage.Common;

namespace Tollgate.Storage.Stores;

internal sealed class SandboxStore(Sql sql) : ISandboxStore
{
    private const string CheckoutColumns =
        "session_id, checkout_id, customer_id, product, mode, amount, currency, customer_email, metadata, success_url, cancel_url, status, order_id, created_at";

    private const string SubscriptionColumns =
        "subscription_id, customer_id, product, status, period_start, period_end, cancel_at_period_end, pending_product, metadata, created_at";

    public Task InsertCheckoutAsync(SandboxCheckout c, CancellationToken cancellationToken) =>
        sql.ExecuteAsync(
            $"INSERT INTO sandbox_checkouts ({CheckoutColumns}) VALUES (@s, @ch, @c, @p, @mode, @amount, @cur, @email, @meta, @success, @cancel, @status, @order, @created)",
            cancellationToken, ("@s", c.SessionId), ("@ch", c.CheckoutId), ("@c", c.CustomerId), ("@p", c.Product), ("@mode", SnakeCase<CheckoutMode>.Name(c.Mode)),
            ("@amount", c.Amount), ("@cur", c.Currency), ("@email", c.CustomerEmail), ("@meta", JsonSerializer.Serialize(c.Metadata)),
            ("@success", c.SuccessUrl), ("@cancel", c.CancelUrl), ("@status", c.Status), ("@order", c.OrderId), ("@created", c.CreatedAt));

    public Task<SandboxCheckout?> GetCheckoutAsync(string sessionId, CancellationToken cancellationToken) =>
        sql.QuerySingleAsync($"SELECT {CheckoutColumns} FROM sandbox_checkouts WHERE session_id = @s", ReadCheckout, cancellationToken, ("@s", sessionId));

    public async Task<bool> TryCloseCheckoutAsync(string sessionId, string status, string? orderId, CancellationToken cancellationToken) =>
        await sql.ExecuteAsync("UPDATE sandbox_checkouts SET status = @status, order_id = @order WHERE session_id = @s AND status = 'open'",
            cancellationToken, ("@s", sessionId), ("@status", status), ("@order", orderId)).ConfigureAwait(false) == 1;

    public Task SaveSubscriptionAsync(SandboxSubscription s, CancellationToken cancellationToken) =>
        sql.ExecuteAsync(
            $"""
            INSERT INTO sandbox_subscriptions ({SubscriptionColumns}) VALUES (@id, @c, @p, @status, @start, @end, @cancel, @pending, @meta, @created)
            ON CONFLICT (subscription_id) DO UPDATE SET product = excluded.product, status = excluded.status, period_start = excluded.period_start,
                period_end = excluded.period_end, cancel_at_period_end = excluded.cancel_at_period_end, pending_product = excluded.pending_product
            """,
            cancellationToken, ("@id", s.SubscriptionId), ("@c", s.CustomerId), ("@p", s.Product), ("@status", s.Status), ("@start", s.PeriodStart),
            ("@end", s.PeriodEnd), ("@cancel", s.CancelAtPeriodEnd), ("@pending", s.PendingProduct), ("@meta", JsonSerializer.Serialize(s.Metadata)),
            ("@created", s.CreatedAt));

    public Task<SandboxSubscription?> GetSubscriptionAsync(string subscriptionId, CancellationToken cancellationToken) =>
        sql.QuerySingleAsync($"SELECT {SubscriptionColumns} FROM sandbox_subscriptions WHERE subscription_id = @id", ReadSubscription,
            cancellationToken, ("@id", subscriptionId));

    public async Task<IReadOnlyList<SandboxSubscription>> DueAsync(DateTimeOffset now, CancellationToken cancellationToken) =>
        await sql.QueryAsync($"SELECT {SubscriptionColumns} FROM sandbox_subscriptions WHERE status = 'active' AND period_end <= @now ORDER BY period_end",
            ReadSubscription, cancellationToken, ("@now", now)).ConfigureAwait(false);

    public async Task<IReadOnlyList<SandboxSubscription>> ListByCustomerAsync(string customerId, CancellationToken cancellationToken) =>
        await sql.QueryAsync($"SELECT {SubscriptionColumns} FROM sandbox_subscriptions WHERE customer_id = @c ORDER BY created_at", ReadSubscription,
            cancellationToken, ("@c", customerId)).ConfigureAwait(false);

    private SandboxCheckout ReadCheckout(DbDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), SnakeCase<CheckoutMode>.Parse(r.GetString(4)), r.GetInt64(5), r.GetString(6),
        r.IsDBNull(7) ? null : r.GetString(7), JsonSerializer.Deserialize<Dictionary<string, string>>(r.GetString(8)) ?? [], r.GetString(9),
        r.IsDBNull(10) ? null : r.GetString(10), r.GetString(11), r.IsDBNull(12) ? null : r.GetString(12), sql.Dialect.ReadTime(r, 13));

    private SandboxSubscription ReadSubscription(DbDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), sql.Dialect.ReadTime(r, 4), sql.Dialect.ReadTime(r, 5), r.GetBoolean(6),
        r.IsDBNull(7) ? null : r.GetString(7), JsonSerializer.Deserialize<Dictionary<string, string>>(r.GetString(8)) ?? [], sql.Dialect.ReadTime(r, 9));

    public Task SaveCardAsync(string customerId, string card, DateTimeOffset now, CancellationToken cancellationToken) =>
        sql.ExecuteAsync(
            "INSERT INTO sandbox_saved_cards (customer_id, card, updated_at) VALUES (@c, @card, @at) ON CONFLICT (customer_id) DO UPDATE SET card = @card, updated_at = @at",
            cancellationToken, ("@c", customerId), ("@card", card), ("@at", now));

    public async Task<string?> GetCardAsync(string customerId, CancellationToken cancellationToken) =>
        (await sql.QueryAsync("SELECT card FROM sandbox_saved_cards WHERE customer_id = @c", r => r.GetString(0), cancellationToken, ("@c", customerId))
            .ConfigureAwait(false)).FirstOrDefault();
}
