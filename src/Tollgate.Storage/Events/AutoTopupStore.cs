using System.Data.Common;
using Tollgate.Core.Common;
using Tollgate.Core.Events;
using Tollgate.Storage.Common;

namespace Tollgate.Storage.Events;

/// <param name="skipLocked">PostgreSQL: workers claiming at once skip each other's rows. SQLite has one writer.</param>
internal sealed class AutoTopupStore(Sql sql, bool skipLocked) : IAutoTopupStore
{
    private const string SettingsColumns = "customer_id, feature, below, pack, monthly_limit, provider, status, disabled_reason, created_at, updated_at";

    private const string ChargeColumns =
        "charge_id, customer_id, month, ordinal, feature, pack, provider, status, provider_payment_id, error, attempts, next_attempt_at, created_at, updated_at";

    public Task<AutoTopupSettings?> GetAsync(string customerId, CancellationToken cancellationToken) =>
        sql.QuerySingleAsync($"SELECT {SettingsColumns} FROM auto_topups WHERE customer_id = @c", Settings, cancellationToken, ("@c", customerId));

    public Task PutAsync(AutoTopupSettings s, CancellationToken cancellationToken) =>
        sql.ExecuteAsync(
            $"""
            INSERT INTO auto_topups ({SettingsColumns}) VALUES (@c, @f, @below, @pack, @limit, @provider, 'enabled', NULL, @at, @at)
            ON CONFLICT (customer_id) DO UPDATE SET feature = @f, below = @below, pack = @pack, monthly_limit = @limit, provider = @provider,
                status = 'enabled', disabled_reason = NULL, updated_at = @at
            """, cancellationToken,
            ("@c", s.CustomerId), ("@f", s.Feature), ("@below", s.Below), ("@pack", s.Pack), ("@limit", s.MonthlyLimit), ("@provider", s.Provider),
            ("@at", s.UpdatedAt));

    public async Task<bool> DeleteAsync(string customerId, CancellationToken cancellationToken) =>
        await sql.ExecuteAsync("DELETE FROM auto_topups WHERE customer_id = @c", cancellationToken, ("@c", customerId)).ConfigureAwait(false) == 1;

    public async Task<bool> SetEnabledAsync(string customerId, bool enabled, string? reason, DateTimeOffset now, CancellationToken cancellationToken) =>
        await sql.ExecuteAsync("UPDATE auto_topups SET status = @status, disabled_reason = @reason, updated_at = @at WHERE customer_id = @c",
            cancellationToken, ("@c", customerId), ("@status", enabled ? "enabled" : "disabled"), ("@reason", enabled ? null : reason), ("@at", now))
            .ConfigureAwait(false) == 1;

    public async Task<IReadOnlyList<TopupCharge>> ChargesAsync(string customerId, string month, CancellationToken cancellationToken) =>
        await sql.QueryAsync($"SELECT {ChargeColumns} FROM topup_charges WHERE customer_id = @c AND month = @m ORDER BY ordinal", Charge, cancellationToken,
            ("@c", customerId), ("@m", month)).ConfigureAwait(false);

    public Task<TopupCharge?> GetChargeAsync(string customerId, string chargeId, CancellationToken cancellationToken) =>
        sql.QuerySingleAsync($"SELECT {ChargeColumns} FROM topup_charges WHERE customer_id = @c AND charge_id = @id", Charge, cancellationToken,
            ("@c", customerId), ("@id", chargeId));

    public async Task<IReadOnlyList<ClaimedTopup>> ClaimAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int limit, CancellationToken cancellationToken)
    {
        var claim = Guid.NewGuid().ToString("N");
        var claimed = await sql.ExecuteAsync(
            $"""
            UPDATE topup_charges SET claim = @claim, claimed_until = @until
            WHERE (customer_id, charge_id) IN (
                SELECT customer_id, charge_id FROM topup_charges
                WHERE status = 'due' AND next_attempt_at <= @now AND (claimed_until IS NULL OR claimed_until < @now)
                ORDER BY next_attempt_at LIMIT @limit{(skipLocked ? " FOR UPDATE SKIP LOCKED" : "")})
            """, cancellationToken, ("@claim", claim), ("@until", leaseUntil), ("@now", now), ("@limit", limit)).ConfigureAwait(false);
        if (claimed == 0)
        {
            return [];
        }

        return await sql.QueryAsync($"SELECT {ChargeColumns} FROM topup_charges WHERE claim = @claim", r => new ClaimedTopup(Charge(r), claim),
            cancellationToken, ("@claim", claim)).ConfigureAwait(false);
    }

    public async Task<bool> CompleteAsync(string customerId, string chargeId, string claim, TopupChargeStatus status, string? providerPaymentId, string? error, int attempts,
        DateTimeOffset? next, DateTimeOffset now, CancellationToken cancellationToken) =>
        await sql.ExecuteAsync(
            """
            UPDATE topup_charges SET status = @status, provider_payment_id = COALESCE(@payment, provider_payment_id), error = @error, attempts = @attempts,
                next_attempt_at = COALESCE(@next, next_attempt_at), claim = NULL, claimed_until = NULL, updated_at = @now
            WHERE customer_id = @c AND charge_id = @id AND claim = @claim AND status = 'due'
            """, cancellationToken, ("@c", customerId),
            ("@status", SnakeCase<TopupChargeStatus>.Name(status)), ("@payment", providerPaymentId), ("@error", error), ("@attempts", attempts),
            ("@next", next), ("@now", now), ("@id", chargeId), ("@claim", claim)).ConfigureAwait(false) == 1;

    private AutoTopupSettings Settings(DbDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetInt64(2), r.GetString(3), r.GetInt32(4), r.GetString(5), r.GetString(6) == "enabled",
        r.IsDBNull(7) ? null : r.GetString(7), sql.Dialect.ReadTime(r, 8), sql.Dialect.ReadTime(r, 9));

    private TopupCharge Charge(DbDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), r.GetInt32(3), r.GetString(4), r.GetString(5), r.GetString(6),
        SnakeCase<TopupChargeStatus>.Parse(r.GetString(7)), r.IsDBNull(8) ? null : r.GetString(8), r.IsDBNull(9) ? null : r.GetString(9),
        r.GetInt32(10), sql.Dialect.ReadTime(r, 11), sql.Dialect.ReadTime(r, 12), sql.Dialect.ReadTime(r, 13));
}
