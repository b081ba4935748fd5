using Tollgate.Core.Payments;
using Tollgate.Core.Subscriptions;
using Tollgate.Providers.Http;

namespace Tollgate.Providers.Creem;

/// <summary>Creem behind the payments port. Creem products carry their own billing type, so
/// <see cref="CheckoutRequest.Mode"/> needs no translation.</summary>
internal sealed class CreemProvider(CreemClient client, string? webhookSecret) : IPaymentProvider
{
    public string Id => "creem";

    // An immediate change is sent with update_behavior=proration-charge-immediately (ChangeSubscriptionAsync).
    public ProviderCapabilities Capabilities => ProviderCapabilities.All | ProviderCapabilities.ProratesImmediateChanges | ProviderCapabilities.CheckoutQuantity;

    public async Task<ProviderPrice> GetPriceAsync(string providerProductRef, CancellationToken cancellationToken)
    {
        var product = await client.GetProductAsync(providerProductRef, cancellationToken);
        return new ProviderPrice(providerProductRef, product.Price, product.Currency, IntervalOf(product.BillingPeriod));
    }

    public async Task<ProviderCheckout> CreateCheckoutAsync(CheckoutRequest request, CancellationToken cancellationToken)
    {
        var checkout = await client.CreateCheckoutAsync(
            new CreemCheckoutRequest(
                request.ProviderProductRef,
                request.CheckoutId,
                request.SuccessUrl,
                TollgateMetadata.For(request),
                request.ProviderCustomerId,
                request.CustomerEmail,
                request.Quantity),
            cancellationToken);
        return new ProviderCheckout(checkout.Id, checkout.CheckoutUrl);
    }

    public Task CancelSubscriptionAsync(string providerSubscriptionId, bool atPeriodEnd, CancellationToken cancellationToken) =>
        client.CancelSubscriptionAsync(providerSubscriptionId, atPeriodEnd ? "scheduled" : "immediate", cancellationToken);

    public Task ResumeSubscriptionAsync(string providerSubscriptionId, CancellationToken cancellationToken) =>
        client.ResumeSubscriptionAsync(providerSubscriptionId, cancellationToken);

    public Task ChangeSubscriptionAsync(string providerSubscriptionId, string newProviderProductRef, PlanChangePolicy policy, CancellationToken cancellationToken) =>
        client.UpgradeSubscriptionAsync(
            providerSubscriptionId,
            newProviderProductRef,
            policy == PlanChangePolicy.Immediate ? "proration-charge-immediately" : "proration-none",
            cancellationToken);

    /// <summary>Creem bills seats as the <c>units</c> of the subscription's (first) item: <c>POST /v1/subscriptions/{id}</c>
    /// with <c>items[{id, units}]</c>, prorated as a plan change is.</summary>
    public async Task ChangeQuantityAsync(string providerSubscriptionId, long quantity, PlanChangePolicy policy, CancellationToken cancellationToken)
    {
        var itemId = await client.GetFirstSubscriptionItemIdAsync(providerSubscriptionId, cancellationToken);
        await client.UpdateUnitsAsync(providerSubscriptionId, itemId, quantity,
            policy == PlanChangePolicy.Immediate ? "proration-charge-immediately" : "proration-none", cancellationToken);
    }

    /// <remarks>Creem's portal link has no return URL; <paramref name="returnUrl"/> is not sent.</remarks>
    public async Task<string?> GetCustomerPortalUrlAsync(string providerCustomerId, string returnUrl, CancellationToken cancellationToken) =>
        await client.GetBillingPortalLinkAsync(providerCustomerId, cancellationToken);

    public WebhookVerification VerifyWebhook(IReadOnlyDictionary<string, string> headers, ReadOnlySpan<byte> body, DateTimeOffset now) =>
        CreemWebhook.Verify(webhookSecret, headers, body);

    public ProviderEvent ParseWebhook(ReadOnlySpan<byte> body) => CreemWebhook.Parse(body);

    /// <summary>Catalog intervals are month, year or once (null). A period the catalog cannot express (every three
    /// or six months) comes through as Creem spells it, so that a comparison with the catalog fails visibly.</summary>
    internal static string? IntervalOf(string? billingPeriod) => billingPeriod switch
    {
        "every-month" => "month",
        "every-year" => "year",
        "once" or null => null,
        _ => billingPeriod,
    };
}
