using Tollgate.Core.Catalog;
using Tollgate.Core.Common;
using Tollgate.Core.Events;
using Tollgate.Core.Payments;
using Tollgate.Core.Payments.Sandbox;
using Tollgate.Core.Subscriptions;

namespace Tollgate.Providers.Sandbox;

/// <summary>The built-in provider for development: no account anywhere, checkout pages served by Tollgate itself,
/// catalog prices, test cards, and webhooks signed and delivered like a real provider's.</summary>
public sealed class SandboxProvider(ISandboxStore store, ProductCatalog catalog, ISandboxHost urls, SandboxBilling billing, TimeProvider time,
    Func<Task<string>> secret) : IPaymentProvider, IOffSessionCharges
{
    /// <inheritdoc/>
    public string Id => "sandbox";

    /// <inheritdoc/>
    public Task<ProviderPrice> GetPriceAsync(string providerProductRef, CancellationToken cancellationToken)
    {
        var price = PriceOf(providerProductRef);
        return Task.FromResult(new ProviderPrice(providerProductRef, price.Amount, price.Currency,
            catalog.PlansById.GetValueOrDefault(providerProductRef)?.Interval is { } i and not BillingInterval.Once ? SnakeCase<BillingInterval>.Name(i) : null));
    }

    /// <inheritdoc/>
    public async Task<ProviderCheckout> CreateCheckoutAsync(CheckoutRequest request, CancellationToken cancellationToken)
    {
        var price = PriceOf(request.ProviderProductRef);
        var session = new SandboxCheckout(Ids.New("sbx_cs", time), request.CheckoutId, request.CustomerId, request.ProviderProductRef, request.Mode,
            price.Amount, price.Currency, request.CustomerEmail, request.Metadata, request.SuccessUrl, request.CancelUrl, "open", null, Instants.Now(time));
        await store.InsertCheckoutAsync(session, cancellationToken);
        return new ProviderCheckout(session.SessionId, new Uri(urls.Base, "sandbox/checkout/" + session.SessionId).ToString());
    }

    /// <inheritdoc/>
    public Task CancelSubscriptionAsync(string providerSubscriptionId, bool atPeriodEnd, CancellationToken cancellationToken) =>
        billing.CancelAsync(providerSubscriptionId, atPeriodEnd, cancellationToken);

    /// <inheritdoc/>
    public Task ResumeSubscriptionAsync(string providerSubscriptionId, CancellationToken cancellationToken) =>
        billing.ResumeAsync(providerSubscriptionId, cancellationToken);

    /// <inheritdoc/>
    public Task ChangeSubscriptionAsync(string providerSubscriptionId, string newProviderProductRef, PlanChangePolicy policy, CancellationToken cancellationToken) =>
        billing.ChangeAsync(providerSubscriptionId, newProviderProductRef, policy, cancellationToken);

    /// <summary>The Sandbox bills no seats: the new quantity is recorded by Tollgate directly (no webhook follows).</summary>
    public Task ChangeQuantityAsync(string providerSubscriptionId, long quantity, PlanChangePolicy policy, CancellationToken cancellationToken) =>
        Task.CompletedTask;

    /// <inheritdoc/>
    public bool HasCustomerPortal => false;

    /// <summary>The Sandbox has no portal of its own; Tollgate's portal is the whole story.</summary>
    public Task<string?> GetCustomerPortalUrlAsync(string providerCustomerId, string returnUrl, CancellationToken cancellationToken) =>
        Task.FromResult<string?>(null);

    /// <inheritdoc/>
    public WebhookVerification VerifyWebhook(IReadOnlyDictionary<string, string> headers, ReadOnlySpan<byte> body, DateTimeOffset now)
    {
        var header = headers.FirstOrDefault(h => string.Equals(h.Key, SandboxSignature.Header, StringComparison.OrdinalIgnoreCase)).Value;
        // The secret is created at start-up, so this completes at once.
        return SandboxSignature.Problem(secret().GetAwaiter().GetResult(), header, body, now) switch
        {
            null => WebhookVerification.Valid,
            "missing" => WebhookVerification.MissingSignature,
            "outside tolerance" => WebhookVerification.OutsideTolerance,
            _ => WebhookVerification.InvalidSignature,
        };
    }

    /// <inheritdoc/>
    public ProviderEvent ParseWebhook(ReadOnlySpan<byte> body) => SandboxEvents.Parse(body);

    /// <inheritdoc/>
    public Task<OffSessionChargeResult> ChargeOffSessionAsync(OffSessionChargeRequest request, CancellationToken cancellationToken) =>
        billing.ChargeOffSessionAsync(request, cancellationToken);

    private Money PriceOf(string product) =>
        (catalog.PlansById.GetValueOrDefault(product)?.Price ?? catalog.PacksById.GetValueOrDefault(product)?.Price)
        ?? throw new ProviderException("sandbox", $"'{product}' has no catalog price for the Sandbox to charge.", 400);
}
