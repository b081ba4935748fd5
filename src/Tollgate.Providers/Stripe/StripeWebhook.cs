using System.Globalization;
using System.Text.Json;
using Tollgate.Core.Payments;
using Tollgate.Providers.Http;

namespace Tollgate.Providers.Stripe;

/// <summary>Stripe webhook signatures and payloads (stripe.md §1, §2), basil and pre-basil shapes alike.</summary>
internal static class StripeWebhook
{
    public const string SignatureHeader = "Stripe-Signature";

    /// <summary>
    /// <c>Stripe-Signature: t=…,v1=…[,v1=…][,v0=…]</c>; each v1 is HMAC-SHA256 of <c>"{t}.{raw body}"</c> under one
    /// active secret. Any v1 under any configured secret is enough; other schemes are ignored (v0 would allow a
    /// downgrade). The signature is checked before the time, and the time both ways, as stripe-dotnet does.
    /// </summary>
    public static WebhookVerification Verify(
        IReadOnlyList<string> secrets,
        int toleranceSeconds,
        IReadOnlyDictionary<string, string> headers,
        ReadOnlySpan<byte> body,
        DateTimeOffset now)
    {
        if (!secrets.Any(s => !string.IsNullOrEmpty(s)))
        {
            return WebhookVerification.NotConfigured;
        }

        var header = WebhookSignature.FindHeader(headers, SignatureHeader);
        if (string.IsNullOrWhiteSpace(header))
        {
            return WebhookVerification.MissingSignature;
        }

        string? timestamp = null;
        var signatures = new List<string>();
        foreach (var item in header.Split(','))
        {
            var part = item.Trim();
            var equals = part.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                return WebhookVerification.InvalidSignature;
            }

            var value = part[(equals + 1)..];
            switch (part[..equals])
            {
                case "t":
                    timestamp ??= value;
                    break;
                case "v1":
                    signatures.Add(value);
                    break;
            }
        }

        if (timestamp is null
            || !long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var signedAt)
            || signatures.Count == 0)
        {
            return WebhookVerification.InvalidSignature;
        }

        var matched = false;
        foreach (var secret in secrets)
        {
            if (string.IsNullOrEmpty(secret))
            {
                continue;
            }

            var mac = WebhookSignature.Compute(secret, timestamp + ".", body);
            foreach (var signature in signatures)
            {
                matched |= WebhookSignature.Matches(mac, signature);
            }
        }

        if (!matched)
        {
            return WebhookVerification.InvalidSignature;
        }

        return Math.Abs(now.ToUnixTimeSeconds() - signedAt) > toleranceSeconds
            ? WebhookVerification.OutsideTolerance
            : WebhookVerification.Valid;
    }

    public static ProviderEvent Parse(ReadOnlySpan<byte> body)
    {
        using var document = JsonRead.ParseObject(body, "Stripe");
        var root = document.RootElement;
        var id = root.Str("id");
        var type = root.Str("type");
        if (string.IsNullOrEmpty(id) || string.IsNullOrEmpty(type))
        {
            throw new FormatException("The Stripe webhook body has no event id or type.");
        }

        var created = root.Long("created") ?? throw new FormatException("The Stripe webhook body has no created time.");
        var facts = root.Obj("data").Obj("object") is { } obj ? Facts(type, obj) : [];
        return new ProviderEvent("stripe", id, type, JsonRead.FromUnixSeconds(created, "created"), facts);
    }

    private static List<PaymentFact> Facts(string type, JsonElement obj) => type switch
    {
        // async_payment_succeeded completes a session that first arrived unpaid (a bank debit, say).
        "checkout.session.completed" or "checkout.session.async_payment_succeeded" => CheckoutCompleted(obj),
        "customer.subscription.created" or "customer.subscription.updated" or "customer.subscription.paused"
            or "customer.subscription.resumed" => Snapshot(obj, deleted: false),
        "customer.subscription.deleted" => Snapshot(obj, deleted: true),
        "invoice.paid" or "invoice.payment_succeeded" => Invoice(obj, paid: true),
        "invoice.payment_failed" => Invoice(obj, paid: false),
        "payment_intent.succeeded" => TopupPayment(obj),
        "charge.refunded" => Refund(obj),
        "charge.dispute.created" => Dispute(obj),
        _ => [],
    };

    private static List<PaymentFact> CheckoutCompleted(JsonElement session)
    {
        CheckoutMode? mode = session.Str("mode") switch
        {
            "payment" => CheckoutMode.Payment,
            "subscription" => CheckoutMode.Subscription,
            _ => null,
        };
        if (session.Str("id") is not { } sessionId || mode is not { } checkoutMode)
        {
            return [];
        }

        var (customerId, product) = TollgateMetadata.Read(session.Obj("metadata"));
        var link = new PaymentLink(
            session.Str("client_reference_id"),
            customerId,
            product,
            session.IdOf("customer"),
            null,
            session.Obj("customer_details").Str("email") ?? session.Str("customer_email"));
        return
        [
            new CheckoutCompleted(
                link,
                sessionId,
                checkoutMode == CheckoutMode.Payment ? session.IdOf("payment_intent") : null,
                session.IdOf("subscription"),
                checkoutMode,
                session.Str("payment_status") is "paid" or "no_payment_required",
                session.Long("amount_total"),
                session.UpperCurrency("currency")),
        ];
    }

    /// <summary>An auto top-up's off-session payment (only those: a checkout's own PaymentIntent is reported by its
    /// session): read as a completed pack purchase keyed by the PaymentIntent, so its credits arrive like any purchase's.</summary>
    private static List<PaymentFact> TopupPayment(JsonElement intent)
    {
        var metadata = intent.Obj("metadata");
        if (intent.Str("id") is not { } intentId || metadata.Str(TollgateMetadata.TopupCharge) is null)
        {
            return [];
        }

        var (customerId, product) = TollgateMetadata.Read(metadata);
        var link = new PaymentLink(null, customerId, product, intent.IdOf("customer"), null);
        return
        [
            new CheckoutCompleted(link, intentId, intentId, null, CheckoutMode.Payment, true, intent.Long("amount_received") ?? intent.Long("amount"),
                intent.UpperCurrency("currency")),
        ];
    }

    private static List<PaymentFact> Snapshot(JsonElement subscription, bool deleted)
    {
        ProviderSubscriptionStatus? status = deleted ? ProviderSubscriptionStatus.Canceled : subscription.Str("status") switch
        {
            "incomplete" => ProviderSubscriptionStatus.Incomplete,
            "incomplete_expired" or "unpaid" => ProviderSubscriptionStatus.Expired,
            "trialing" => ProviderSubscriptionStatus.Trialing,
            "active" => ProviderSubscriptionStatus.Active,
            "past_due" => ProviderSubscriptionStatus.PastDue,
            "canceled" => ProviderSubscriptionStatus.Canceled,
            "paused" => ProviderSubscriptionStatus.Paused,
            _ => null,
        };
        if (subscription.Str("id") is not { } subscriptionId || status is not { } known)
        {
            // An unknown status is left to the stored event rather than guessed.
            return [];
        }

        var item = subscription.First("items");
        var (customerId, product) = TollgateMetadata.Read(subscription.Obj("metadata"));
        var link = new PaymentLink(
            null,
            customerId,
            product,
            subscription.IdOf("customer"),
            item.IdOf("price") ?? subscription.Obj("plan").Str("id"));
        var cancelAtPeriodEnd = subscription.Bool("cancel_at_period_end") ?? false;
        return
        [
            new SubscriptionSnapshot(
                link,
                subscriptionId,
                known,
                // Basil moved the period from the subscription onto each item.
                subscription.UnixSeconds("current_period_start") ?? item.UnixSeconds("current_period_start"),
                subscription.UnixSeconds("current_period_end") ?? item.UnixSeconds("current_period_end"),
                cancelAtPeriodEnd,
                known == ProviderSubscriptionStatus.Canceled || cancelAtPeriodEnd ? subscription.UnixSeconds("canceled_at") : null)
            {
                // Seats are the first item's quantity (older API versions also repeat it on the subscription).
                Quantity = (item.Long("quantity") ?? subscription.Long("quantity")) is { } quantity && quantity >= 1 ? quantity : null,
            },
        ];
    }

    private static List<PaymentFact> Invoice(JsonElement inv, bool paid)
    {
        var details = inv.Obj("parent").Obj("subscription_details");
        // Basil moved the subscription link under parent.subscription_details.
        var subscriptionId = inv.IdOf("subscription") ?? details.IdOf("subscription");
        if (inv.Str("id") is not { } invoiceId || subscriptionId is null)
        {
            return [];
        }

        var (customerId, product) = TollgateMetadata.Read(details.Obj("metadata"), inv.Obj("subscription_details").Obj("metadata"));
        var line = SubscriptionLine(inv);
        var link = new PaymentLink(
            null,
            customerId,
            product,
            inv.IdOf("customer"),
            line.IdOf("price") ?? line.Obj("pricing").Obj("price_details").Str("price") ?? line.Obj("plan").Str("id"),
            inv.Str("customer_email"));
        var currency = inv.UpperCurrency("currency");
        if (!paid)
        {
            return [new SubscriptionPaymentFailed(link, subscriptionId, invoiceId, inv.Long("amount_due"), currency)];
        }

        var period = line.Obj("period");
        return
        [
            new SubscriptionPaymentSucceeded(
                link,
                subscriptionId,
                invoiceId,
                inv.Long("amount_paid"),
                currency,
                period is null ? inv.UnixSeconds("period_start") : period.UnixSeconds("start"),
                period is null ? inv.UnixSeconds("period_end") : period.UnixSeconds("end")),
        ];
    }

    /// <summary>The line for the period being paid: the first non-proration line with a period. An invoice's own
    /// period_start/end describe the previous period for subscription invoices, so lines are preferred.</summary>
    private static JsonElement? SubscriptionLine(JsonElement invoice)
    {
        JsonElement? fallback = null;
        foreach (var line in invoice.Items("lines"))
        {
            if (line.Obj("period") is null)
            {
                continue;
            }

            var proration = line.Bool("proration")
                ?? line.Obj("parent").Obj("subscription_item_details").Bool("proration")
                ?? false;
            if (!proration)
            {
                return line;
            }

            fallback ??= line;
        }

        return fallback;
    }

    private static List<PaymentFact> Refund(JsonElement c)
    {
        if (c.Str("id") is not { } chargeId)
        {
            return [];
        }

        var amountRefunded = c.Long("amount_refunded");
        // charge.refunded names no refund unless the refunds list is expanded; the charge id with its cumulative
        // refunded amount then identifies this refund (a later partial refund raises the amount).
        var refundId = c.First("refunds").Str("id")
            ?? $"{chargeId}:{amountRefunded?.ToString(CultureInfo.InvariantCulture) ?? "?"}";
        var (customerId, product) = TollgateMetadata.Read(c.Obj("metadata"));
        var link = new PaymentLink(null, customerId, product, c.IdOf("customer"), null);
        return
        [
            new RefundIssued(
                link,
                refundId,
                JsonRead.Ids(chargeId, c.IdOf("payment_intent"), c.IdOf("invoice")),
                amountRefunded,
                c.UpperCurrency("currency"),
                c.Bool("refunded") ?? false,
                AmountIsCumulative: true),
        ];
    }

    private static List<PaymentFact> Dispute(JsonElement d)
    {
        if (d.Str("id") is not { } disputeId)
        {
            return [];
        }

        var (customerId, product) = TollgateMetadata.Read(d.Obj("metadata"));
        var link = new PaymentLink(null, customerId, product, null, null);
        return
        [
            new DisputeOpened(
                link,
                disputeId,
                JsonRead.Ids(d.IdOf("charge"), d.IdOf("payment_intent")),
                d.Long("amount"),
                d.UpperCurrency("currency")),
        ];
    }
}
