using Tollgate.Core.Subscriptions;

namespace Tollgate.Core.Payments;

/// <summary>
/// The port every payment provider implements (Sandbox, Creem, Stripe, App Store). Providers know HTTP and their own wire
/// formats; they know nothing of storage. Calls that reach the provider throw <see cref="ProviderException"/> on
/// failure, with the provider's own message and never a secret.
/// </summary>
public interface IPaymentProvider
{
    /// <summary><c>sandbox</c>, <c>creem</c>, <c>stripe</c> or <c>apple</c>.</summary>
    string Id { get; }

    /// <summary>What this provider can do when a server asks. The App Store sells only inside the app: it has no
    /// hosted checkout, no price lookup and no subscription actions for a server.</summary>
    ProviderCapabilities Capabilities => ProviderCapabilities.All;

    /// <summary>Whether the provider has a customer portal of its own (<see cref="GetCustomerPortalUrlAsync"/>) for
    /// Tollgate's portal to link to; the Sandbox has none.</summary>
    bool HasCustomerPortal => true;

    /// <summary>The live price of a catalog product's provider mapping (Creem product id, Stripe price id).</summary>
    Task<ProviderPrice> GetPriceAsync(string providerProductRef, CancellationToken cancellationToken);

    /// <summary>Creates a hosted checkout carrying Tollgate's checkout id and customer id.</summary>
    Task<ProviderCheckout> CreateCheckoutAsync(CheckoutRequest request, CancellationToken cancellationToken);

    /// <summary>Cancels now, or at the end of the current period.</summary>
    Task CancelSubscriptionAsync(string providerSubscriptionId, bool atPeriodEnd, CancellationToken cancellationToken);

    /// <summary>Undoes a cancellation scheduled for the period end.</summary>
    Task ResumeSubscriptionAsync(string providerSubscriptionId, CancellationToken cancellationToken);

    /// <summary>Moves a subscription to another product/price. <see cref="PlanChangePolicy.Immediate"/> charges the
    /// prorated difference now; <see cref="PlanChangePolicy.NextCycle"/> switches without proration.</summary>
    Task ChangeSubscriptionAsync(string providerSubscriptionId, string newProviderProductRef, PlanChangePolicy policy, CancellationToken cancellationToken);

    /// <summary>Sets how many units (seats) the subscription bills. <see cref="PlanChangePolicy.Immediate"/> charges (or
    /// credits) the prorated difference now; <see cref="PlanChangePolicy.NextCycle"/> changes it without proration. A
    /// provider that cannot throws <see cref="NotSupportedException"/>.</summary>
    Task ChangeQuantityAsync(string providerSubscriptionId, long quantity, PlanChangePolicy policy, CancellationToken cancellationToken) =>
        throw new NotSupportedException($"{Id} cannot change a subscription's quantity.");

    /// <summary>The provider's own customer portal (payment methods, invoices), or null when it has none.</summary>
    Task<string?> GetCustomerPortalUrlAsync(string providerCustomerId, string returnUrl, CancellationToken cancellationToken);

    /// <summary>Checks a webhook's signature over the exact raw body. Never parses the body first.</summary>
    WebhookVerification VerifyWebhook(IReadOnlyDictionary<string, string> headers, ReadOnlySpan<byte> body, DateTimeOffset now);

    /// <summary>Reads a verified webhook body into a normalized event. Throws <see cref="FormatException"/> when the
    /// body is not the JSON the provider sends (not JSON, or no event id/type).</summary>
    ProviderEvent ParseWebhook(ReadOnlySpan<byte> body);
}

/// <summary>The server-side calls a provider supports; what it lacks is refused with a clear answer, never tried.</summary>
[Flags]
public enum ProviderCapabilities
{
    /// <summary>No server-side calls (a provider that only sends webhooks).</summary>
    None = 0,

    /// <summary><see cref="IPaymentProvider.CreateCheckoutAsync"/>: web payments on a hosted page.</summary>
    Checkout = 1,

    /// <summary><see cref="IPaymentProvider.GetPriceAsync"/>; without it the catalog's price is shown.</summary>
    PriceLookup = 2,

    /// <summary>Cancel, resume and change subscriptions on request.</summary>
    ManageSubscriptions = 4,

    /// <summary>Checkout, price lookup and subscription management.</summary>
    All = Checkout | PriceLookup | ManageSubscriptions,

    /// <summary>A plan change that takes effect at once is charged (or credited) the prorated difference at once, as
    /// Stripe's <c>always_invoice</c> and Creem's <c>proration-charge-immediately</c> do; the portal says so before the
    /// customer confirms. Without it the new price starts at the renewal (the Sandbox).</summary>
    ProratesImmediateChanges = 8,

    /// <summary>A checkout may sell several units of a plan (seats): <see cref="CheckoutRequest.Quantity"/>, reported back
    /// on the subscription's events. Without it a checkout sells one (the Sandbox); the quantity is raised afterwards.</summary>
    CheckoutQuantity = 16,
}

/// <summary>What a checkout sells.</summary>
public enum CheckoutMode
{
    /// <summary>A one-time purchase (a credit pack, a lifetime plan).</summary>
    Payment,

    /// <summary>A recurring subscription.</summary>
    Subscription,
}

/// <summary>A price as the provider states it, in minor units.</summary>
public sealed record ProviderPrice(string ProviderProductRef, long Amount, string Currency, string? Interval);

/// <param name="CheckoutId">Tollgate's checkout id: Creem <c>request_id</c>, Stripe <c>client_reference_id</c>.</param>
/// <param name="Product">Tollgate's product id (plan or pack), sent as metadata <c>tollgate_product</c>.</param>
/// <param name="ProviderProductRef">The catalog's mapping for this provider: Creem product id or Stripe price id.</param>
/// <param name="Metadata">Extra metadata from the app; <c>tollgate_customer_id</c> and <c>tollgate_product</c> are always added.</param>
public sealed record CheckoutRequest(
    string CheckoutId,
    string CustomerId,
    string Product,
    string ProviderProductRef,
    CheckoutMode Mode,
    string SuccessUrl,
    string? CancelUrl,
    string? CustomerEmail,
    string? ProviderCustomerId,
    IReadOnlyDictionary<string, string> Metadata)
{
    /// <summary>Units bought: a plan's seats (Stripe <c>line_items[0][quantity]</c>, Creem <c>units</c>); 1 otherwise.</summary>
    public long Quantity { get; init; } = 1;

    /// <summary>A subscription checkout of a plan with <c>trial_days</c>, for a customer who has not had a trial of it:
    /// the days of free trial to start the subscription with (Stripe <c>subscription_data[trial_period_days]</c>). Null:
    /// no trial. A provider whose trials are set on its product (Creem) cannot honour or refuse it per checkout.</summary>
    public int? TrialDays { get; init; }
}

/// <summary>What a provider returns for a new checkout: its id and the page to send the user to.</summary>
public sealed record ProviderCheckout(string ProviderCheckoutId, string Url);

/// <summary>The result of checking a webhook's signature.</summary>
public enum WebhookVerification
{
    /// <summary>Signed by the provider.</summary>
    Valid,
    /// <summary>No signature header.</summary>
    MissingSignature,
    /// <summary>The signature does not match the body.</summary>
    InvalidSignature,

    /// <summary>Signed, but older (or newer) than the accepted tolerance.</summary>
    OutsideTolerance,

    /// <summary>The provider has no webhook secret configured.</summary>
    NotConfigured,
}

/// <summary>A failed provider call. Its message is the provider's own explanation, safe to show (never a key).</summary>
public sealed class ProviderException(string provider, string message, int? statusCode = null, bool transient = false, Exception? inner = null)
    : Exception(message, inner)
{
    /// <summary>The provider id (<c>stripe</c>, <c>creem</c>, …).</summary>
    public string Provider { get; } = provider;

    /// <summary>The provider's HTTP status, or null when there was no answer.</summary>
    public int? StatusCode { get; } = statusCode;

    /// <summary>True for timeouts, 429 and 5xx: worth retrying later.</summary>
    public bool Transient { get; } = transient;
}
