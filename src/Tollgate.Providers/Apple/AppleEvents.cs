using System.Globalization;
using Tollgate.Core.Common;
using Tollgate.Core.Payments;

namespace Tollgate.Providers.Apple;

/// <summary>
/// App Store facts in Tollgate's normalized terms, so the applier's exactly-once keys, clawback and ordering are the same
/// as for Creem and Stripe: a consumable or non-consumable is a completed one-time payment keyed by
/// <c>transactionId</c>; an auto-renewable subscription is keyed by <c>originalTransactionId</c>, each of its periods a
/// payment keyed by its <c>transactionId</c>; a refund names the transaction it reverses; events apply in the order of
/// Apple's <c>signedDate</c>.
/// </summary>
internal static class AppleEvents
{
    public const string Provider = "apple";

    /// <summary>The event type of a transaction the app's backend forwarded (not a notification type Apple uses).</summary>
    public const string TransactionEventType = "TRANSACTION";

    /// <summary>A notification whose signed parts were all verified.</summary>
    public static ProviderEvent FromNotification(AppleNotification n, AppleTransaction? t, AppleRenewalInfo? r) =>
        new(Provider, n.NotificationUuid, n.EventType, n.SignedDate, t is null ? [] : NotificationFacts(n, t, r));

    /// <summary>A verified transaction the app's backend forwarded for <paramref name="customerId"/>. It states the
    /// subscription as of its purchase: any notification Apple signed later about the same subscription is newer and
    /// wins, so forwarding a transaction late never undoes a cancellation.</summary>
    public static ProviderEvent FromTransaction(AppleTransaction t, string customerId)
    {
        var link = Link(t, null, customerId);
        var facts = new List<PaymentFact>();
        if (t.IsSubscription)
        {
            var current = t.RevocationDate is null && t.ExpiresDate is { } expires && expires > t.SignedDate;
            facts.Add(Snapshot(link, t, null, current ? ProviderSubscriptionStatus.Active : ProviderSubscriptionStatus.Expired));
            facts.Add(PeriodPaid(link, t, current));
        }
        else
        {
            facts.Add(OneTimePurchase(link, t));
        }

        if (t.RevocationDate is not null)
        {
            facts.Add(Refund(link, t));
        }

        return new ProviderEvent(Provider, TransactionEventId(t), TransactionEventType, t.PurchaseDate, facts);
    }

    /// <summary>The inbox id of a forwarded transaction: once per transaction, and once more if it comes back revoked.</summary>
    public static string TransactionEventId(AppleTransaction t) =>
        "transaction:" + t.TransactionId + (t.RevocationDate is { } at ? ":revoked:" + Ms(at) : "");

    private static List<PaymentFact> NotificationFacts(AppleNotification n, AppleTransaction t, AppleRenewalInfo? r)
    {
        var link = Link(t, r, null);
        switch (n.NotificationType)
        {
            case "REFUND" or "REVOKE":
                // REVOKE: a purchase shared through Family Sharing is no longer shared; for the member it is a full reversal.
                return [Refund(link, t)];
            case "REFUND_REVERSED":
                List<PaymentFact> restored = [new RefundReversed(link, "refund_reversed:" + n.NotificationUuid, [t.TransactionId])];
                if (t.IsSubscription)
                {
                    restored.Add(Snapshot(link, t, r, StatusOf(n, t)));
                }

                return restored;
            case "CONSUMPTION_REQUEST":
                return [new ConsumptionRequested(link, [t.TransactionId], n.ConsumptionRequestReason)];
            case "REFUND_DECLINED" or "TEST":
                return [];
        }

        if (!t.IsSubscription)
        {
            // ONE_TIME_CHARGE: a consumable or non-consumable bought in the app, for an app whose backend does not forward it.
            return n.NotificationType == "ONE_TIME_CHARGE" ? [OneTimePurchase(link, t)] : [];
        }

        var status = StatusOf(n, t);
        List<PaymentFact> facts = [Snapshot(link, t, r, status)];
        if (IsNewPeriod(n))
        {
            facts.Add(PeriodPaid(link, t, current: t.RevocationDate is null));
        }

        if (n.NotificationType == "DID_CHANGE_RENEWAL_PREF" && n.Subtype != "UPGRADE" && r?.AutoRenewProductId is { } next)
        {
            // A downgrade (or its cancellation, with no subtype) takes effect at the next renewal.
            facts.Add(new PlanChangeScheduled(link, t.OriginalTransactionId, next));
        }

        return facts;
    }

    /// <summary>Notifications whose transaction is a newly paid period (a purchase, a renewal, an immediate upgrade).</summary>
    private static bool IsNewPeriod(AppleNotification n) => (n.NotificationType, n.Subtype) switch
    {
        ("SUBSCRIBED" or "DID_RENEW", _) => true,
        ("DID_CHANGE_RENEWAL_PREF", "UPGRADE") => true,
        ("OFFER_REDEEMED", "INITIAL_BUY" or "RESUBSCRIBE" or "UPGRADE") => true,
        _ => false,
    };

    /// <summary>Apple's own subscription status (data.status) when the notification has one; else what its type implies.</summary>
    private static ProviderSubscriptionStatus StatusOf(AppleNotification n, AppleTransaction t) => n.Status switch
    {
        1 => ProviderSubscriptionStatus.Active,
        2 => ProviderSubscriptionStatus.Expired,
        3 or 4 => ProviderSubscriptionStatus.PastDue,
        5 => ProviderSubscriptionStatus.Canceled,
        _ => n.NotificationType switch
        {
            "EXPIRED" or "GRACE_PERIOD_EXPIRED" => ProviderSubscriptionStatus.Expired,
            "DID_FAIL_TO_RENEW" => ProviderSubscriptionStatus.PastDue,
            _ when t.RevocationDate is not null => ProviderSubscriptionStatus.Canceled,
            _ => ProviderSubscriptionStatus.Active,
        },
    };

    private static SubscriptionSnapshot Snapshot(PaymentLink link, AppleTransaction t, AppleRenewalInfo? r, ProviderSubscriptionStatus status)
    {
        // Access lasts until the period's expiresDate, or in a billing grace period until the grace ends; a renewal moves it.
        var accessEnds = t.ExpiresDate;
        if (status == ProviderSubscriptionStatus.PastDue && r?.GracePeriodExpiresDate is { } grace && (accessEnds is null || grace > accessEnds))
        {
            accessEnds = grace;
        }

        return new SubscriptionSnapshot(link, t.OriginalTransactionId, status, t.PurchaseDate, t.ExpiresDate,
            CancelAtPeriodEnd: r?.AutoRenewEnabled == false, CanceledAt: null, AccessEndsAt: accessEnds);
    }

    /// <param name="current">False for a period that had already ended when it was signed: it is recorded as paid, but
    /// does not make the subscription current again.</param>
    private static SubscriptionPaymentSucceeded PeriodPaid(PaymentLink link, AppleTransaction t, bool current) =>
        new(link, t.OriginalTransactionId, t.TransactionId, Amount(t), t.Currency, t.PurchaseDate, current ? t.ExpiresDate : null);

    private static CheckoutCompleted OneTimePurchase(PaymentLink link, AppleTransaction t) =>
        new(link, t.TransactionId, t.TransactionId, null, CheckoutMode.Payment, Paid: true, Amount(t), t.Currency, t.Quantity);

    /// <summary>Apple refunds a transaction whole; the id includes the revocation date, so a purchase refunded, restored
    /// (REFUND_REVERSED) and refunded again is reversed twice.</summary>
    private static RefundIssued Refund(PaymentLink link, AppleTransaction t) =>
        new(link, $"refund:{t.TransactionId}:{(t.RevocationDate is { } at ? Ms(at) : "?")}", [t.TransactionId], Amount(t), t.Currency,
            FullyRefunded: true);

    /// <summary>Who a transaction is about: the customer the app's backend named, and the <c>appAccountToken</c> Tollgate
    /// issued (kept as the provider customer id, so notifications find the customer by it); what: the product id.</summary>
    private static PaymentLink Link(AppleTransaction t, AppleRenewalInfo? r, string? customerId) =>
        new(null, customerId, null, NormalizeToken(t.AppAccountToken ?? r?.AppAccountToken), t.ProductId);

    /// <summary>The canonical (lower-case, hyphenated) form of an account token, or null when it is not a UUID.</summary>
    public static string? NormalizeToken(string? token) => Guid.TryParseExact(token, "D", out var uuid) ? uuid.ToString("D") : null;

    /// <summary>Apple states prices in milliunits (4990 = 4.99 USD); Tollgate in minor units of the currency, rounded
    /// half away from zero where the currency has fewer than three decimals. A one-time purchase's price is per unit.</summary>
    public static long? Amount(AppleTransaction t)
    {
        if (t.Price is not { } milli || t.Currency is not { } currency)
        {
            return null;
        }

        var total = checked(milli * (t.IsSubscription ? 1 : t.Quantity));
        var scale = (decimal)Math.Pow(10, 3 - Currencies.MinorDigits(currency));
        return (long)Math.Round(total / scale, MidpointRounding.AwayFromZero);
    }

    private static string Ms(DateTimeOffset at) => at.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
}
