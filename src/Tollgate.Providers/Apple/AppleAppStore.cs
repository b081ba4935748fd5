using System.Text.Json.Nodes;
using Tollgate.Core.Payments;
using Tollgate.Core.Subscriptions;
using Tollgate.Providers.Http;

namespace Tollgate.Providers.Apple;

/// <summary>A transaction the app's backend forwarded, once verified: what it is, and the event to apply.</summary>
/// <param name="Failure"><see cref="AppleVerificationFailure.None"/> when verified; then the other fields are set.</param>
/// <param name="ProductId">Apple's product id, which the catalog maps to a pack or plan.</param>
/// <param name="AppAccountToken">The token the app passed to StoreKit, canonical form; null when there was none.</param>
/// <param name="IsSubscription">An auto-renewable subscription (else consumable, non-consumable or non-renewing).</param>
/// <param name="SubscriptionId">The subscription's <c>originalTransactionId</c>, for an auto-renewable subscription.</param>
/// <param name="Event">The normalized event; <paramref name="Payload"/> is what the inbox stores to apply it again.</param>
public sealed record AppleTransactionCheck(
    AppleVerificationFailure Failure,
    string? Detail,
    string? TransactionId,
    string? ProductId,
    string? AppAccountToken,
    bool IsSubscription,
    string? SubscriptionId,
    ProviderEvent? Event,
    string? Payload);

/// <summary>
/// The App Store behind the payments port (<c>apple</c>). It verifies and normalizes App Store Server Notifications V2
/// (<c>POST /webhooks/apple</c>, body <c>{"signedPayload": …}</c>) for the same inbox as the other providers, and the
/// StoreKit 2 transactions an app's backend forwards (<see cref="CheckTransaction"/>). Everything else a server might
/// ask a provider for does not exist at Apple: purchases, prices and subscription management live in the app and the
/// App Store, so <see cref="Capabilities"/> is none of them and those calls throw <see cref="ProviderException"/>.
/// </summary>
public sealed class AppleAppStore : IPaymentProvider
{
    /// <summary>Where a customer manages App Store subscriptions (Apple's documented link to the system settings).</summary>
    public const string ManageSubscriptionsUrl = "https://apps.apple.com/account/subscriptions";

    private const string SignedPayload = "signedPayload";

    // The shape the inbox stores for a forwarded transaction. Only CheckTransaction (behind the API key) produces it:
    // VerifyWebhook accepts nothing but a signed notification, so it can never arrive at /webhooks/apple.
    private const string ForwardedTransaction = "signedTransaction";
    private const string ForwardedCustomer = "customer_id";

    private readonly AppleVerifier _verifier;

    internal AppleAppStore(AppleVerifier verifier) => _verifier = verifier;

    /// <inheritdoc/>
    public string Id => AppleEvents.Provider;

    /// <inheritdoc/>
    public ProviderCapabilities Capabilities => ProviderCapabilities.None;

    /// <summary>Verifies a StoreKit 2 transaction (JWS) forwarded for <paramref name="customerId"/> and normalizes it.</summary>
    public AppleTransactionCheck CheckTransaction(string signedTransaction, string customerId)
    {
        var verified = _verifier.VerifyTransaction(signedTransaction);
        if (verified.Value is not { } t)
        {
            return new AppleTransactionCheck(verified.Failure, verified.Detail, null, null, null, false, null, null, null);
        }

        var payload = new JsonObject { [ForwardedTransaction] = signedTransaction, [ForwardedCustomer] = customerId }.ToJsonString();
        return new AppleTransactionCheck(AppleVerificationFailure.None, null, t.TransactionId, t.ProductId, AppleEvents.NormalizeToken(t.AppAccountToken),
            t.IsSubscription, t.IsSubscription ? t.OriginalTransactionId : null, AppleEvents.FromTransaction(t, customerId), payload);
    }

    /// <inheritdoc/>
    public Task<ProviderPrice> GetPriceAsync(string providerProductRef, CancellationToken cancellationToken) =>
        throw new ProviderException(Id, "The App Store has no price lookup for a server; the catalog's price is shown.");

    /// <inheritdoc/>
    public Task<ProviderCheckout> CreateCheckoutAsync(CheckoutRequest request, CancellationToken cancellationToken) =>
        throw new ProviderException(Id, "App Store products are bought inside the app with StoreKit, not through a web checkout.");

    /// <inheritdoc/>
    public Task CancelSubscriptionAsync(string providerSubscriptionId, bool atPeriodEnd, CancellationToken cancellationToken) =>
        throw NotHere();

    /// <inheritdoc/>
    public Task ResumeSubscriptionAsync(string providerSubscriptionId, CancellationToken cancellationToken) => throw NotHere();

    /// <inheritdoc/>
    public Task ChangeSubscriptionAsync(string providerSubscriptionId, string newProviderProductRef, PlanChangePolicy policy,
        CancellationToken cancellationToken) => throw NotHere();

    /// <summary>The App Store's subscription settings: there is no per-customer portal to create.</summary>
    public Task<string?> GetCustomerPortalUrlAsync(string providerCustomerId, string returnUrl, CancellationToken cancellationToken) =>
        Task.FromResult<string?>(ManageSubscriptionsUrl);

    /// <summary>The signature is inside the body: <c>signedPayload</c>, a JWS verified with its certificate chain, as are the
    /// signed transaction and renewal info in it. Headers carry nothing.</summary>
    public WebhookVerification VerifyWebhook(IReadOnlyDictionary<string, string> headers, ReadOnlySpan<byte> body, DateTimeOffset now)
    {
        string? signed;
        try
        {
            using var document = JsonRead.ParseObject(body, "App Store");
            signed = document.RootElement.Str(SignedPayload);
        }
        catch (FormatException)
        {
            return WebhookVerification.MissingSignature;
        }

        if (string.IsNullOrEmpty(signed))
        {
            return WebhookVerification.MissingSignature;
        }

        return _verifier.VerifyNotification(signed).Value is null ? WebhookVerification.InvalidSignature : WebhookVerification.Valid;
    }

    /// <summary>Reads a body already verified: a notification, or a forwarded transaction the inbox stored.</summary>
    public ProviderEvent ParseWebhook(ReadOnlySpan<byte> body)
    {
        using var document = JsonRead.ParseObject(body, "App Store");
        var root = document.RootElement;
        if (root.Str(SignedPayload) is { } signedPayload)
        {
            var notification = AppleNotification.Read(AppleJwsVerifier.ReadPayload(signedPayload));
            var transaction = notification.SignedTransactionInfo is { } t ? AppleTransaction.Read(AppleJwsVerifier.ReadPayload(t)) : null;
            var renewal = notification.SignedRenewalInfo is { } r ? AppleRenewalInfo.Read(AppleJwsVerifier.ReadPayload(r)) : null;
            return AppleEvents.FromNotification(notification, transaction, renewal);
        }

        if (root.Str(ForwardedTransaction) is { } signedTransaction && root.Str(ForwardedCustomer) is { } customer)
        {
            return AppleEvents.FromTransaction(AppleTransaction.Read(AppleJwsVerifier.ReadPayload(signedTransaction)), customer);
        }

        throw new FormatException("The App Store body has no signedPayload.");
    }

    private ProviderException NotHere() =>
        new(Id, "App Store subscriptions are managed by the customer in the App Store (" + ManageSubscriptionsUrl + "), not by a server.");
}
