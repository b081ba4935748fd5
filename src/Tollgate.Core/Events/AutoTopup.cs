using System.Globalization;
using Tollgate.Core.Ledger;

namespace Tollgate.Core.Events;

/// <summary>A customer's auto top-up (API.md §6.3): when <see cref="Feature"/>'s available balance falls below
/// <see cref="Below"/>, <see cref="Pack"/> is charged off-session through <see cref="Provider"/>, at most
/// <see cref="MonthlyLimit"/> times per calendar month (UTC).</summary>
public sealed record AutoTopupSettings(
    string CustomerId,
    string Feature,
    long Below,
    string Pack,
    int MonthlyLimit,
    string Provider,
    bool Enabled,
    string? DisabledReason,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

/// <summary>Where an automatic top-up charge stands.</summary>
public enum TopupChargeStatus
{
    /// <summary>Written by the ledger write that crossed the threshold; waiting for (or retrying) its charge.</summary>
    Due,

    /// <summary>The provider took the payment; the credits come with its webhook.</summary>
    Succeeded,

    /// <summary>Declined, or the provider refused for good: auto top-up is disabled for the customer.</summary>
    Failed,
}

/// <summary>One top-up charge: the <see cref="Ordinal"/>-th of the customer's <see cref="Month"/>.</summary>
public sealed record TopupCharge(
    string ChargeId,
    string CustomerId,
    string Month,
    int Ordinal,
    string Feature,
    string Pack,
    string Provider,
    TopupChargeStatus Status,
    string? ProviderPaymentId,
    string? Error,
    int Attempts,
    DateTimeOffset NextAttemptAt,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

/// <summary>A charge a worker claimed: charge it, then report under <see cref="Claim"/>.</summary>
public sealed record ClaimedTopup(TopupCharge Charge, string Claim);

/// <summary>Storage port of auto top-up settings and charges. The charges themselves are written by the ledger write
/// that crossed the threshold (see <see cref="AutoTopupTrigger"/>), never here.</summary>
public interface IAutoTopupStore
{
    /// <summary>The customer's automatic top-up settings, or null when none were saved (top-up off).</summary>
    Task<AutoTopupSettings?> GetAsync(string customerId, CancellationToken cancellationToken);

    /// <summary>Creates or replaces the customer's settings, enabled.</summary>
    Task PutAsync(AutoTopupSettings settings, CancellationToken cancellationToken);

    /// <summary>False when the customer had none.</summary>
    Task<bool> DeleteAsync(string customerId, CancellationToken cancellationToken);

    /// <summary>Turns it on or off (the portal's toggle; a declined charge turns it off with a reason). False when the
    /// customer has none.</summary>
    Task<bool> SetEnabledAsync(string customerId, bool enabled, string? reason, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>The customer's charges of <paramref name="month"/> (<c>yyyy-MM</c>), oldest first.</summary>
    Task<IReadOnlyList<TopupCharge>> ChargesAsync(string customerId, string month, CancellationToken cancellationToken);

    /// <summary>One of the customer's charges by id, or null (named with its customer: the table is keyed by customer).</summary>
    Task<TopupCharge?> GetChargeAsync(string customerId, string chargeId, CancellationToken cancellationToken);

    /// <summary>Claims up to <paramref name="limit"/> due charges until <paramref name="leaseUntil"/>; other servers skip
    /// them (PostgreSQL: <c>FOR UPDATE SKIP LOCKED</c>), and an unreported claim comes back when its lease ends.</summary>
    Task<IReadOnlyList<ClaimedTopup>> ClaimAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int limit, CancellationToken cancellationToken);

    /// <summary>Records a charge's outcome if the claim is still this worker's; <paramref name="status"/>
    /// <see cref="TopupChargeStatus.Due"/> with <paramref name="next"/> means try again then. Runs in the caller's
    /// transaction when there is one (the outcome's event and the disabling go with it). Returns whether it was recorded.
    /// The charge is named with its customer (<see cref="TopupCharge.CustomerId"/> of the claimed charge): the table is
    /// keyed by customer (docs/scaling.md).</summary>
    Task<bool> CompleteAsync(string customerId, string chargeId, string claim, TopupChargeStatus status, string? providerPaymentId, string? error, int attempts,
        DateTimeOffset? next, DateTimeOffset now, CancellationToken cancellationToken);
}

/// <summary>
/// Where a ledger write's balance crossed an auto top-up threshold: for each customer, the ranges (after, before] its
/// credits balance went down through, entry by entry. A threshold <c>below</c> inside one of them was crossed
/// (before ≥ below &gt; after). The storage turns them into a charge row in the same transaction, under the customer's
/// lock, against the settings, the month's count and any charge still due — so the monthly limit holds however many
/// writers race, and nothing re-derives it later.
/// </summary>
public static class AutoTopupTrigger
{
    /// <summary>A balance of a feature fell through one or more ranges in one write: each range is the balance after and before it.
    /// <param name="CustomerId">The customer whose balance fell.</param>
    /// <param name="Feature">The credits feature.</param>
    /// <param name="Ranges">(after, before) balances of each fall in the write, in order.</param>
    /// <param name="At">When the write happened; it decides the month whose cap applies.</param></summary>
    public sealed record Crossing(string CustomerId, string Feature, IReadOnlyList<(long After, long Before)> Ranges, DateTimeOffset At)
    {
        /// <summary>The calendar month (UTC) of the write, <c>yyyy-MM</c>: the monthly limit's period.</summary>
        public string Month => MonthOf(At);
    }

    /// <summary>The UTC month of <paramref name="at"/> as <c>yyyy-MM</c>: the key of a monthly top-up cap.</summary>
    public static string MonthOf(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM", CultureInfo.InvariantCulture);

    /// <summary>The ranges each customer's <paramref name="feature"/> balance fell through in <paramref name="changes"/>,
    /// merged where they touch (a run of usages is one range); empty when no entry lowered it.</summary>
    public static IReadOnlyList<Crossing> Crossings(LedgerChanges changes, string? feature)
    {
        ArgumentNullException.ThrowIfNull(changes);
        if (feature is null || changes.Entries.Count == 0)
        {
            return [];
        }

        List<Crossing>? result = null;
        foreach (var group in changes.Entries.Where(e => e.Feature == feature && e.Amount < 0).OrderBy(e => e.Seq).GroupBy(e => e.CustomerId))
        {
            var ranges = new List<(long After, long Before)>();
            foreach (var entry in group)
            {
                var (after, before) = (entry.BalanceAfter, entry.BalanceAfter - entry.Amount);
                var merged = false;
                for (var i = 0; i < ranges.Count; i++)
                {
                    if (after <= ranges[i].Before && before >= ranges[i].After)
                    {
                        ranges[i] = (Math.Min(after, ranges[i].After), Math.Max(before, ranges[i].Before));
                        merged = true;
                        break;
                    }
                }

                if (!merged)
                {
                    ranges.Add((after, before));
                }
            }

            (result ??= []).Add(new Crossing(group.Key, feature, ranges, group.Last().At));
        }

        return result ?? (IReadOnlyList<Crossing>)[];
    }
}

/// <summary>An off-session charge of a credit pack on the customer's saved payment method.</summary>
/// <param name="ChargeId">Tollgate's charge id: the seed of the provider's idempotency key, so a retry (or a server
/// that died between charging and recording) never charges twice.</param>
/// <param name="ProviderCustomerId">The customer at the provider, where the payment method was saved.</param>
/// <param name="ProviderProductRef">The pack's mapping for the provider (Stripe price id; the pack id in the Sandbox).</param>
public sealed record OffSessionChargeRequest(string ChargeId, string CustomerId, string? ProviderCustomerId, string Pack, string ProviderProductRef);

/// <summary>How an off-session charge ended: the provider's payment id, or a refusal that will not change on a retry
/// (a decline, authentication required, no saved payment method).</summary>
public sealed record OffSessionChargeResult(string? ProviderPaymentId, string? FailureCode, string? FailureMessage)
{
    /// <summary>True when the provider took the payment.</summary>
    public bool Succeeded => ProviderPaymentId is not null;

    /// <summary>A charge the provider took, with its payment id.</summary>
    public static OffSessionChargeResult Paid(string providerPaymentId) => new(providerPaymentId, null, null);

    /// <summary>A charge the provider declined, with its failure code and message (shown to the operator, sent to the app).</summary>
    public static OffSessionChargeResult Refused(string code, string message) => new(null, code, message);
}

/// <summary>A provider that can charge a saved payment method without the customer present (Stripe, Sandbox). Its
/// payment's credits arrive from its own signed webhook, like any purchase. Transient failures throw
/// <see cref="Payments.ProviderException"/> with <c>Transient</c> set.</summary>
public interface IOffSessionCharges
{
    /// <summary>Charges the customer's saved payment method without them present. A decline is a result; a provider that could not be reached throws <see cref="Payments.ProviderException"/>.</summary>
    Task<OffSessionChargeResult> ChargeOffSessionAsync(OffSessionChargeRequest request, CancellationToken cancellationToken);
}
