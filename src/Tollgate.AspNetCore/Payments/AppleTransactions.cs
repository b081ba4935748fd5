using Tollgate.Core.Catalog;
using Tollgate.Core.Common;
using Tollgate.Core.Payments;
using Tollgate.Core.Subscriptions;
using Tollgate.Providers.Apple;

namespace Tollgate.Server.Payments;

internal enum ForwardResult
{
    Applied,

    /// <summary>Tollgate had recorded this transaction already (an earlier call, or Apple's notification); nothing
    /// happened twice, though a revocation it now carries is applied.</summary>
    Duplicate,

    /// <summary>Stored, but applying it failed; the webhook retry worker applies it (visible in the admin console).</summary>
    Pending,
    NotEnabled,
    InvalidSignature,
    UnknownProduct,
    CustomerMismatch,
}

internal sealed record ForwardOutcome(ForwardResult Result, string? TransactionId, string? Product, string? Detail);

/// <summary>
/// The App Store's side of the API (API.md §6.4): the <c>appAccountToken</c> Tollgate issues per customer, and StoreKit 2
/// transactions an app's backend forwards. A forwarded transaction goes through the same inbox as Apple's notifications
/// (once per transaction id, retried when applying fails), keyed so that whichever of the two arrives first applies it.
/// Who it is for is checked before anything is stored: the token's customer, and whoever a transaction or subscription
/// was already recorded for.
/// </summary>
internal sealed class AppleTransactions(ProviderRegistry providers, IPaymentStore payments, ISubscriptionStore subscriptions, IWebhookInbox inbox,
    WebhookProcessor processor, ProductCatalog catalog, TimeProvider time)
{
    private const string Apple = ApplePlugin.ProviderId;

    public bool Enabled => providers.Find(Apple) is AppleAppStore;

    /// <summary>The customer's account token, created on first ask: a UUID the app passes to StoreKit as
    /// <c>appAccountToken</c>, which comes back in every transaction and notification. Stable: if two first asks race,
    /// both tokens are linked to the customer and the earliest is the one answered from then on.</summary>
    public async Task<string> AccountTokenAsync(string customerId, CancellationToken ct)
    {
        if (await payments.FindProviderCustomerAsync(Apple, customerId, ct) is { } existing)
        {
            return existing;
        }

        await payments.LinkProviderCustomerAsync(Apple, Guid.NewGuid().ToString("D"), customerId, Instants.Now(time), ct);
        return (await payments.FindProviderCustomerAsync(Apple, customerId, ct))!;
    }

    public async Task<ForwardOutcome> ForwardAsync(string customerId, string signedTransaction, CancellationToken ct)
    {
        if (providers.Find(Apple) is not AppleAppStore store)
        {
            return new ForwardOutcome(ForwardResult.NotEnabled, null, null, "The App Store is not configured (Tollgate__Providers__Apple__BundleId).");
        }

        var check = store.CheckTransaction(signedTransaction, customerId);
        if (check.Failure != AppleVerificationFailure.None)
        {
            return new ForwardOutcome(ForwardResult.InvalidSignature, null, null, $"{check.Failure}: {check.Detail}");
        }

        var (plan, pack) = catalog.FindByProviderRef(Apple, check.ProductId!);
        var product = plan?.Id ?? pack?.Id;
        if (product is null)
        {
            return new ForwardOutcome(ForwardResult.UnknownProduct, check.TransactionId, null,
                $"No plan or pack of the catalog has providers.apple.product '{check.ProductId}'.");
        }

        var recurring = plan?.Interval is BillingInterval.Month or BillingInterval.Year;
        if (check.IsSubscription != recurring)
        {
            return new ForwardOutcome(ForwardResult.UnknownProduct, check.TransactionId, product,
                $"'{check.ProductId}' is {(check.IsSubscription ? "an auto-renewable subscription" : "a one-time purchase")} in the App Store, but the catalog's "
                + $"'{product}' is {(recurring ? "a recurring plan" : "a pack or lifetime plan")}.");
        }

        if (await OwnerAsync(check, ct) is { } owner && owner != customerId)
        {
            return Mismatch(check, product, $"transaction {check.TransactionId} was recorded for another customer");
        }

        if (check.AppAccountToken is { } token)
        {
            // Linking first, under the (provider, token) key, makes the first customer to present a token its owner.
            await payments.LinkProviderCustomerAsync(Apple, token, customerId, Instants.Now(time), ct);
            if (await payments.FindCustomerByProviderIdAsync(Apple, token, ct) != customerId)
            {
                return Mismatch(check, product, "its appAccountToken belongs to another customer");
            }
        }

        var known = await payments.FindPaymentAsync(Apple, [check.TransactionId!], ct) is not null;
        var (receipt, stored) = await processor.ReceiveVerifiedAsync(check.Event!, check.Payload!, ct);
        var result = receipt == WebhookReceipt.Duplicate || known ? ForwardResult.Duplicate
            : stored?.Status == WebhookStatus.Applied ? ForwardResult.Applied
            : ForwardResult.Pending;
        return new ForwardOutcome(result, check.TransactionId, product, stored?.LastError);
    }

    /// <summary>The customer this transaction (or its subscription) was already recorded for, if any.</summary>
    private async Task<string?> OwnerAsync(AppleTransactionCheck check, CancellationToken ct)
    {
        if (await payments.FindPaymentAsync(Apple, [check.TransactionId!], ct) is { } payment)
        {
            return payment.CustomerId;
        }

        if (check.SubscriptionId is { } original && await subscriptions.FindByProviderIdAsync(Apple, original, ct) is { } subscription)
        {
            return subscription.CustomerId;
        }

        return (await inbox.GetAsync(Apple, check.Event!.EventId, ct))?.CustomerId;
    }

    private static ForwardOutcome Mismatch(AppleTransactionCheck check, string product, string why) =>
        new(ForwardResult.CustomerMismatch, check.TransactionId, product, $"Transaction {check.TransactionId} cannot be applied to this customer: {why}.");
}
