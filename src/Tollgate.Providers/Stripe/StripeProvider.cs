using Tollgate.Core.Events;
using Tollgate.Core.Payments;
using Tollgate.Core.Subscriptions;
using Tollgate.Providers.Http;

namespace Tollgate.Providers.Stripe;

/// <summary>Stripe behind the payments port.</summary>
/// <remarks>
/// Idempotency keys: a checkout's key comes from Tollgate's checkout id, so a repeated create (a retry here, or the
/// server's own retry) returns the same session. Subscription changes and portal sessions get a fresh key per call,
/// reused by that call's retries only: their arguments do not name one intent (cancel, resume, cancel again within
/// Stripe's 24-hour key window would replay the first answer), and a portal session must be new each time.
/// </remarks>
internal sealed class StripeProvider(StripeClient client, StripeOptions options) : IPaymentProvider, IOffSessionCharges
{
    public string Id => "stripe";

    // An immediate change is sent with proration_behavior=always_invoice (ChangeSubscriptionAsync): charged at once.
    public ProviderCapabilities Capabilities => ProviderCapabilities.All | ProviderCapabilities.ProratesImmediateChanges | ProviderCapabilities.CheckoutQuantity;

    public async Task<ProviderPrice> GetPriceAsync(string providerProductRef, CancellationToken cancellationToken)
    {
        var price = await client.GetPriceAsync(providerProductRef, cancellationToken);
        return new ProviderPrice(providerProductRef, price.UnitAmount, price.Currency, IntervalOf(price.Interval, price.IntervalCount));
    }

    public async Task<ProviderCheckout> CreateCheckoutAsync(CheckoutRequest request, CancellationToken cancellationToken)
    {
        var session = await client.CreateCheckoutSessionAsync(
            new StripeCheckoutRequest(
                request.Mode == CheckoutMode.Subscription ? "subscription" : "payment",
                request.ProviderProductRef,
                request.SuccessUrl,
                request.CancelUrl,
                request.CheckoutId,
                TollgateMetadata.For(request),
                request.ProviderCustomerId,
                request.CustomerEmail,
                request.Quantity)
            {
                TrialDays = request.Mode == CheckoutMode.Subscription ? request.TrialDays : null,
            },
            cancellationToken);
        return new ProviderCheckout(session.Id, session.Url);
    }

    public Task CancelSubscriptionAsync(string providerSubscriptionId, bool atPeriodEnd, CancellationToken cancellationToken) =>
        atPeriodEnd
            ? client.SetCancelAtPeriodEndAsync(providerSubscriptionId, true, CallKey("cancel", providerSubscriptionId), cancellationToken)
            : client.CancelNowAsync(providerSubscriptionId, cancellationToken);

    public Task ResumeSubscriptionAsync(string providerSubscriptionId, CancellationToken cancellationToken) =>
        client.SetCancelAtPeriodEndAsync(providerSubscriptionId, false, CallKey("resume", providerSubscriptionId), cancellationToken);

    public async Task ChangeSubscriptionAsync(string providerSubscriptionId, string newProviderProductRef, PlanChangePolicy policy, CancellationToken cancellationToken)
    {
        var itemId = await client.GetFirstSubscriptionItemIdAsync(providerSubscriptionId, cancellationToken);
        await client.ChangePriceAsync(
            providerSubscriptionId,
            itemId,
            newProviderProductRef,
            policy == PlanChangePolicy.Immediate ? "always_invoice" : "none",
            CallKey("change", providerSubscriptionId),
            cancellationToken);
    }

    /// <summary>Stripe bills seats as the quantity of the subscription's (first) item: <c>items[0][quantity]</c>, prorated
    /// as a plan change is (<c>always_invoice</c> for an immediate change, <c>none</c> for the next cycle).</summary>
    public async Task ChangeQuantityAsync(string providerSubscriptionId, long quantity, PlanChangePolicy policy, CancellationToken cancellationToken)
    {
        var itemId = await client.GetFirstSubscriptionItemIdAsync(providerSubscriptionId, cancellationToken);
        await client.ChangeQuantityAsync(
            providerSubscriptionId,
            itemId,
            quantity,
            policy == PlanChangePolicy.Immediate ? "always_invoice" : "none",
            CallKey("quantity", providerSubscriptionId),
            cancellationToken);
    }

    public async Task<string?> GetCustomerPortalUrlAsync(string providerCustomerId, string returnUrl, CancellationToken cancellationToken) =>
        await client.CreatePortalSessionAsync(providerCustomerId, returnUrl, CallKey("portal", providerCustomerId), cancellationToken);

    /// <summary>Auto top-up: the pack's price charged on the customer's most recently saved payment method, keyed by
    /// Tollgate's charge id (a retry, or a server that died between charging and recording, gets the same PaymentIntent).
    /// The credits come with <c>payment_intent.succeeded</c>, whose metadata names the customer, the pack and the charge.</summary>
    public async Task<OffSessionChargeResult> ChargeOffSessionAsync(OffSessionChargeRequest request, CancellationToken cancellationToken)
    {
        if (request.ProviderCustomerId is null
            || await client.GetSavedPaymentMethodAsync(request.ProviderCustomerId, cancellationToken) is not { } paymentMethod)
        {
            return OffSessionChargeResult.Refused("no_payment_method", "The customer has no payment method saved at Stripe.");
        }

        var price = await client.GetPriceAsync(request.ProviderProductRef, cancellationToken);
        var result = await client.CreateOffSessionPaymentAsync(price.UnitAmount, price.Currency, request.ProviderCustomerId, paymentMethod,
            [new(TollgateMetadata.CustomerId, request.CustomerId), new(TollgateMetadata.Product, request.Pack), new(TollgateMetadata.TopupCharge, request.ChargeId)],
            StripeClient.IdempotencyKey("topup", request.ChargeId), cancellationToken);
        return result.FailureCode is null
            ? OffSessionChargeResult.Paid(result.PaymentIntentId!)
            : OffSessionChargeResult.Refused(result.FailureCode, result.FailureMessage!);
    }

    public WebhookVerification VerifyWebhook(IReadOnlyDictionary<string, string> headers, ReadOnlySpan<byte> body, DateTimeOffset now) =>
        StripeWebhook.Verify(options.WebhookSecrets, options.SignatureToleranceSeconds, headers, body, now);

    public ProviderEvent ParseWebhook(ReadOnlySpan<byte> body) => StripeWebhook.Parse(body);

    /// <summary>Catalog intervals are month, year or once (null). Any other cadence (weekly, every three months)
    /// comes through as e.g. <c>3 month</c>, so that a comparison with the catalog fails visibly.</summary>
    internal static string? IntervalOf(string? interval, long count) =>
        interval is null ? null
        : count == 1 ? interval
        : $"{count} {interval}";

    private static string CallKey(string operation, string id) =>
        StripeClient.IdempotencyKey(operation, $"{id}-{Guid.NewGuid():N}");
}
