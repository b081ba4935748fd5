using System.Text.Json;
using Tollgate.Core.Payments;
using Tollgate.Providers.Http;

namespace Tollgate.Providers.Creem;

/// <summary>Creem webhook signatures and payloads (creem.md §2).</summary>
internal static class CreemWebhook
{
    public const string SignatureHeader = "creem-signature";

    private const string SubscriptionPrefix = "subscription.";

    /// <summary><c>creem-signature</c> is the lower-case hex HMAC-SHA256 of the raw body; there is no timestamp.</summary>
    public static WebhookVerification Verify(string? secret, IReadOnlyDictionary<string, string> headers, ReadOnlySpan<byte> body)
    {
        if (string.IsNullOrEmpty(secret))
        {
            return WebhookVerification.NotConfigured;
        }

        var signature = WebhookSignature.FindHeader(headers, SignatureHeader);
        if (string.IsNullOrWhiteSpace(signature))
        {
            return WebhookVerification.MissingSignature;
        }

        var mac = WebhookSignature.Compute(secret, string.Empty, body);
        return WebhookSignature.Matches(mac, signature.AsSpan().Trim())
            ? WebhookVerification.Valid
            : WebhookVerification.InvalidSignature;
    }

    public static ProviderEvent Parse(ReadOnlySpan<byte> body)
    {
        using var document = JsonRead.ParseObject(body, "Creem");
        var root = document.RootElement;
        var id = root.Str("id");
        var type = root.Str("eventType");
        if (string.IsNullOrEmpty(id) || string.IsNullOrEmpty(type))
        {
            throw new FormatException("The Creem webhook body has no event id or eventType.");
        }

        var createdAt = root.Long("created_at") ?? throw new FormatException("The Creem webhook body has no created_at.");
        var facts = root.Obj("object") is { } obj ? Facts(type, obj) : [];
        return new ProviderEvent("creem", id, type, JsonRead.FromUnixMilliseconds(createdAt, "created_at"), facts);
    }

    private static List<PaymentFact> Facts(string type, JsonElement obj)
    {
        switch (type)
        {
            case "checkout.completed":
                return CheckoutCompleted(obj);
            case "subscription.paid":
                return SubscriptionPaid(obj);
            case "refund.created":
                return Refund(obj);
            case "dispute.created":
                return Dispute(obj);
            case "subscription.active" or "subscription.update":
                return Snapshot(obj, SubscriptionLink(obj), StateOf(obj.Str("status"))
                    ?? (type == "subscription.active" ? (ProviderSubscriptionStatus.Active, false) : null));
            case "subscription.trialing" or "subscription.scheduled_cancel" or "subscription.past_due" or "subscription.paused"
                or "subscription.canceled" or "subscription.expired" or "subscription.unpaid":
                // The event names the state; the object's status can lag behind it (the documented
                // subscription.expired sample still says "active").
                return Snapshot(obj, SubscriptionLink(obj), StateOf(type[SubscriptionPrefix.Length..]));
            default:
                return [];
        }
    }

    private static (ProviderSubscriptionStatus Status, bool CancelAtPeriodEnd)? StateOf(string? status) => status switch
    {
        "active" => (ProviderSubscriptionStatus.Active, false),
        "scheduled_cancel" => (ProviderSubscriptionStatus.Active, true),
        "trialing" => (ProviderSubscriptionStatus.Trialing, false),
        "past_due" => (ProviderSubscriptionStatus.PastDue, false),
        "paused" => (ProviderSubscriptionStatus.Paused, false),
        "canceled" => (ProviderSubscriptionStatus.Canceled, false),
        "expired" or "unpaid" => (ProviderSubscriptionStatus.Expired, false),
        "incomplete" => (ProviderSubscriptionStatus.Incomplete, false),
        _ => null,
    };

    private static List<PaymentFact> CheckoutCompleted(JsonElement checkout)
    {
        if (checkout.Str("id") is not { } checkoutId)
        {
            return [];
        }

        var order = checkout.Obj("order");
        var subscription = checkout.Obj("subscription");
        var subscriptionId = checkout.IdOf("subscription");
        var (customerId, product) = TollgateMetadata.Read(checkout.Obj("metadata"), subscription.Obj("metadata"));
        var link = new PaymentLink(
            checkout.Str("request_id"),
            customerId,
            product,
            checkout.IdOf("customer") ?? order.IdOf("customer"),
            checkout.IdOf("product") ?? order.IdOf("product"),
            checkout.Obj("customer").Str("email"));

        List<PaymentFact> facts =
        [
            new CheckoutCompleted(
                link,
                checkoutId,
                order.Str("id"),
                subscriptionId,
                subscriptionId is null ? CheckoutMode.Payment : CheckoutMode.Subscription,
                order.Str("status") == "paid",
                order.Long("amount_paid") ?? order.Long("amount"),
                order.UpperCurrency("currency")),
        ];
        if (subscription is { } sub)
        {
            facts.AddRange(Snapshot(sub, link, StateOf(sub.Str("status"))));
        }

        return facts;
    }

    private static List<PaymentFact> SubscriptionPaid(JsonElement subscription)
    {
        var link = SubscriptionLink(subscription);
        var cancelAtPeriodEnd = StateOf(subscription.Str("status"))?.CancelAtPeriodEnd ?? false;
        var facts = Snapshot(subscription, link, (ProviderSubscriptionStatus.Active, cancelAtPeriodEnd));
        var transaction = subscription.Obj("last_transaction");
        if (subscription.Str("id") is { } subscriptionId
            && (subscription.Str("last_transaction_id") ?? transaction.Str("id")) is { } transactionId)
        {
            facts.Add(new SubscriptionPaymentSucceeded(
                link,
                subscriptionId,
                transactionId,
                transaction.Long("amount_paid") ?? transaction.Long("amount"),
                transaction.UpperCurrency("currency"),
                subscription.MillisOrIso("current_period_start_date"),
                subscription.MillisOrIso("current_period_end_date")));
        }

        return facts;
    }

    private static List<PaymentFact> Snapshot(
        JsonElement subscription,
        PaymentLink link,
        (ProviderSubscriptionStatus Status, bool CancelAtPeriodEnd)? state)
    {
        if (subscription.Str("id") is not { } subscriptionId || state is not { } known)
        {
            // An unknown status is left to the stored event rather than guessed.
            return [];
        }

        var (status, cancelAtPeriodEnd) = known;
        return
        [
            new SubscriptionSnapshot(
                link,
                subscriptionId,
                status,
                subscription.MillisOrIso("current_period_start_date"),
                subscription.MillisOrIso("current_period_end_date"),
                cancelAtPeriodEnd,
                // Only meaningful once a cancellation exists: the documented subscription.active sample carries a
                // canceled_at on a live subscription.
                status == ProviderSubscriptionStatus.Canceled || cancelAtPeriodEnd ? subscription.MillisOrIso("canceled_at") : null)
            {
                // Seats are the first item's units.
                Quantity = subscription.First("items").Long("units") is { } units && units >= 1 ? units : null,
            },
        ];
    }

    private static PaymentLink SubscriptionLink(JsonElement subscription)
    {
        var (customerId, product) = TollgateMetadata.Read(subscription.Obj("metadata"));
        return new PaymentLink(
            null,
            customerId,
            product,
            subscription.IdOf("customer"),
            subscription.IdOf("product"),
            subscription.Obj("customer").Str("email"));
    }

    private static List<PaymentFact> Refund(JsonElement refund)
    {
        if (refund.Str("id") is not { } refundId)
        {
            return [];
        }

        var transaction = refund.Obj("transaction");
        var amount = refund.Long("refund_amount");
        var fully = transaction.Str("status") == "refunded"
            || (amount is { } refunded && transaction.Long("amount_paid") is { } paid && refunded >= paid);
        return [new RefundIssued(PaymentContextLink(refund), refundId, PaymentIds(refund), amount, refund.UpperCurrency("refund_currency"), fully)];
    }

    private static List<PaymentFact> Dispute(JsonElement dispute) =>
        dispute.Str("id") is { } disputeId
            ? [new DisputeOpened(PaymentContextLink(dispute), disputeId, PaymentIds(dispute), dispute.Long("amount"), dispute.UpperCurrency("currency"))]
            : [];

    /// <summary>Every id of the payment a refund or dispute names: transaction, order, checkout.</summary>
    private static List<string> PaymentIds(JsonElement obj)
    {
        var transaction = obj.Obj("transaction");
        return JsonRead.Ids(obj.IdOf("transaction"), obj.IdOf("order") ?? transaction.IdOf("order"), obj.IdOf("checkout"));
    }

    private static PaymentLink PaymentContextLink(JsonElement obj)
    {
        var transaction = obj.Obj("transaction");
        var checkout = obj.Obj("checkout");
        var order = obj.Obj("order");
        var subscription = obj.Obj("subscription");
        var (customerId, product) = TollgateMetadata.Read(checkout.Obj("metadata"), subscription.Obj("metadata"), obj.Obj("metadata"));
        return new PaymentLink(
            checkout.Str("request_id"),
            customerId,
            product,
            obj.IdOf("customer") ?? transaction.IdOf("customer") ?? order.IdOf("customer") ?? subscription.IdOf("customer"),
            order.IdOf("product") ?? checkout.IdOf("product") ?? subscription.IdOf("product"),
            obj.Obj("customer").Str("email"));
    }
}
