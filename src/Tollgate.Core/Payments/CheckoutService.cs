using System.Globalization;
using Tollgate.Core.Catalog;
using Tollgate.Core.Common;
using Tollgate.Core.Customers;
using Tollgate.Core.Usage;

namespace Tollgate.Core.Payments;

/// <summary>What to start a checkout for.
/// <param name="CustomerId">The buyer (created when unknown).</param>
/// <param name="Product">The plan or pack id.</param></summary>
public sealed record CheckoutCommand(string CustomerId, string Product)
{
    /// <summary>The provider to pay through; null: the default provider.</summary>
    public string? Provider { get; init; }
    /// <summary>Where the provider sends the buyer after paying; null: the configured default.</summary>
    public string? SuccessUrl { get; init; }
    /// <summary>Where the provider sends a buyer who gives up; null: the configured default.</summary>
    public string? CancelUrl { get; init; }
    /// <summary>The app's own key-value pairs, kept on the checkout and sent back in its events.</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }
    /// <summary>Seats bought with a plan that counts seats; null: 1.</summary>
    public long? Quantity { get; init; }
}

/// <summary>A started checkout, or why not.
/// <param name="Checkout">The checkout; null when refused.</param>
/// <param name="Refusal">Why it was refused; null when started.</param>
/// <param name="Message">The refusal explained, for the API's problem detail.</param></summary>
public sealed record CheckoutOutcome(Checkout? Checkout, TollgateRefusal? Refusal, string? Message);

/// <summary>
/// Starts hosted checkouts. The provider call comes first: if it fails, nothing is recorded (502). The checkout
/// carries Tollgate's checkout id and customer id to the provider; only the provider's webhook completes it.
/// </summary>
public sealed class CheckoutService(
    ProductCatalog catalog,
    ProviderRegistry providers,
    IPaymentStore payments,
    ICustomerStore customers,
    Gate gate,
    TimeProvider time,
    Func<Uri> publicBaseUrl,
    IDatabaseTransactions? transactions = null,
    Events.IEventOutbox? outbox = null,
    Subscriptions.ITrialStore? trials = null)
{
    /// <summary>Starts a checkout with the provider and records it as open; only a verified webhook completes it.</summary>
    public async Task<CheckoutOutcome> CreateAsync(CheckoutCommand command, CancellationToken cancellationToken = default)
    {
        var plan = catalog.PlansById.GetValueOrDefault(command.Product);
        var pack = plan is null ? catalog.PacksById.GetValueOrDefault(command.Product) : null;
        if (plan is null && pack is null)
        {
            return Refused(TollgateRefusal.UnknownProduct, $"'{command.Product}' is not a plan or pack of the catalog.");
        }

        if (plan is { IsDefault: true })
        {
            return Refused(TollgateRefusal.InvalidRequest, $"'{plan.Id}' is the free default plan; it is not bought.");
        }

        // A member's usage is charged on its organization (billing_customer_id), so credits or allowances bought for the
        // member itself could never be spent while it stays a member: refuse before anything is sold. A plan that only
        // switches features on stays buyable (a member's capabilities are its own and its organization's).
        if ((pack is not null || plan!.Features.Values.Any(f => f.Grant is not null || (f.Limit is not null && catalog.Feature(f.FeatureId)?.Type == FeatureType.Metered)))
            && await customers.BillingCustomerIdAsync(command.CustomerId, cancellationToken).ConfigureAwait(false) is { } payer)
        {
            return Refused(TollgateRefusal.NotEligible,
                $"'{command.CustomerId}' is a member of '{payer}', which pays for its usage: credits and allowances for it are bought by '{payer}'.");
        }

        var providerId = command.Provider ?? providers.Default;
        if (providers.Find(providerId) is not { } provider)
        {
            return Refused(TollgateRefusal.InvalidRequest,
                $"provider '{providerId}' is not enabled here (enabled: {string.Join(", ", providers.Enabled.Order(StringComparer.Ordinal))}).");
        }

        if (!provider.Capabilities.HasFlag(ProviderCapabilities.Checkout))
        {
            return Refused(TollgateRefusal.NotSupported,
                $"{providerId} has no web checkout: '{command.Product}' is bought inside the app, and the provider reports the purchase to Tollgate.");
        }

        if (command.Quantity is { } quantity && quantity != 1)
        {
            if (quantity < 1 || plan is null || catalog.SeatsFeature is not { } seats || plan.Feature(seats.Id) is null || plan.Interval == BillingInterval.Once)
            {
                return Refused(TollgateRefusal.InvalidRequest,
                    quantity < 1 ? "quantity must be at least 1." : $"quantity is the seats of a recurring plan with seats; '{command.Product}' has none.");
            }

            if (!provider.Capabilities.HasFlag(ProviderCapabilities.CheckoutQuantity))
            {
                return Refused(TollgateRefusal.NotSupported,
                    $"{providerId} sells one seat per checkout; buy one, then raise it with POST /v1/subscriptions/{{id}}/quantity.");
            }
        }

        var reference = (plan?.Providers ?? pack!.Providers).For(providerId);
        if (reference is null)
        {
            return Refused(TollgateRefusal.InvalidRequest, $"'{command.Product}' is not sold through {providerId}: the catalog has no {providerId} mapping for it.");
        }

        if (await IneligibleAsync(command.CustomerId, plan, pack, cancellationToken).ConfigureAwait(false) is { } why)
        {
            return Refused(TollgateRefusal.NotEligible, why);
        }

        var checkoutId = Ids.New("chk", time);
        var successUrl = command.SuccessUrl
            ?? new Uri(publicBaseUrl(), "/checkout/return?checkout_id=" + Uri.EscapeDataString(checkoutId)).ToString();
        var cancelUrl = command.CancelUrl ?? new Uri(publicBaseUrl(), "/pricing").ToString();
        var customer = await customers.GetAsync(command.CustomerId, cancellationToken).ConfigureAwait(false);
        var providerCustomer = await payments.FindProviderCustomerAsync(providerId, command.CustomerId, cancellationToken).ConfigureAwait(false);
        var metadata = new Dictionary<string, string>(command.Metadata ?? new Dictionary<string, string>(), StringComparer.Ordinal)
        {
            ["tollgate_customer_id"] = command.CustomerId,
            ["tollgate_product"] = command.Product,
            ["tollgate_checkout_id"] = checkoutId,
        };
        var mode = pack is not null || plan!.Interval == BillingInterval.Once ? CheckoutMode.Payment : CheckoutMode.Subscription;

        // A plan's trial goes with its checkout only to a customer who has not had one of that plan (issue 15); a trial
        // the provider gives anyway is recorded and gives nothing until paid (SubscriptionService).
        var trialDays = mode == CheckoutMode.Subscription && plan!.TrialDays is { } days && trials is not null
            && await trials.FindAsync(command.CustomerId, plan.Id, cancellationToken).ConfigureAwait(false) is null
                ? days
                : (int?)null;

        ProviderCheckout created;
        try
        {
            created = await provider.CreateCheckoutAsync(new CheckoutRequest(checkoutId, command.CustomerId, command.Product, reference, mode, successUrl,
                cancelUrl, customer?.Email, providerCustomer, metadata) { Quantity = command.Quantity ?? 1, TrialDays = trialDays }, cancellationToken).ConfigureAwait(false);
        }
        catch (ProviderException ex)
        {
            return Refused(TollgateRefusal.ProviderError, $"{providerId}: {ex.Message}");
        }

        var now = Instants.Now(time);
        var checkout = new Checkout(checkoutId, command.CustomerId, command.Product, providerId, created.ProviderCheckoutId, created.Url,
            CheckoutStatus.Open, successUrl, cancelUrl, metadata, null, now, now, null);
        await payments.InsertCheckoutAsync(checkout, cancellationToken).ConfigureAwait(false);
        return new CheckoutOutcome(checkout, null, null);
    }

    /// <summary>A checkout by id, or null.</summary>
    public Task<Checkout?> GetAsync(string checkoutId, CancellationToken cancellationToken = default) =>
        payments.GetCheckoutAsync(checkoutId, cancellationToken);

    /// <summary>How long a checkout stays open: the providers' hosted pages expire after a day (Stripe's default).</summary>
    public static readonly TimeSpan OpenFor = TimeSpan.FromHours(24);

    /// <summary>Marks checkouts nobody completed within <see cref="OpenFor"/> expired. A payment arriving later still
    /// completes one (the customer paid).</summary>
    /// <remarks>Each expired checkout's <c>checkout.expired</c> is written in the transaction that expires it, in
    /// batches of <see cref="ExpireBatch"/>.</remarks>
    public async Task<int> ExpireStaleAsync(CancellationToken cancellationToken = default)
    {
        var total = 0;
        while (true)
        {
            var now = Instants.Now(time);
            IReadOnlyList<Checkout> expired;
            if (transactions is null || outbox is null)
            {
                expired = await payments.ExpireCheckoutsAsync(now - OpenFor, now, ExpireBatch, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await using var transaction = transactions.Begin();
                expired = await payments.ExpireCheckoutsAsync(now - OpenFor, now, ExpireBatch, cancellationToken).ConfigureAwait(false);
                foreach (var checkout in expired)
                {
                    outbox.Add(Events.OutboundEvent.Create(Events.EventTypes.CheckoutExpired, checkout.CustomerId, new System.Text.Json.Nodes.JsonObject
                    {
                        ["checkout_id"] = checkout.Id,
                        ["product"] = checkout.Product,
                        ["provider"] = checkout.Provider,
                    }, time));
                }

                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            }

            total += expired.Count;
            if (expired.Count < ExpireBatch)
            {
                return total;
            }
        }
    }

    /// <summary>Checkouts expired per transaction.</summary>
    public const int ExpireBatch = 100;

    /// <summary>Why the customer may not buy this now, or null: a once-per-customer pack already bought, or the plan
    /// already held.</summary>
    public async Task<string?> IneligibleAsync(string customerId, Plan? plan, Pack? pack, CancellationToken cancellationToken)
    {
        if (pack is { OncePerCustomer: true } && await payments.HasCompletedPaymentAsync(customerId, pack.Id, cancellationToken).ConfigureAwait(false))
        {
            return $"'{pack.Id}' can be bought once per customer, and this customer has bought it.";
        }

        if (plan is not null)
        {
            var held = await gate.SubscriptionsAsync(customerId, cancellationToken).ConfigureAwait(false);
            var now = time.GetUtcNow();
            // A running card-less trial of the plan does not count: buying the plan is how it converts.
            if (held.Any(s => s.PlanId == plan.Id && !Subscriptions.TrialService.IsOwnTrial(s) && s.GrantsAccess(now, pastDueKeepsAccess: true)
                    && !s.CancelAtPeriodEnd))
            {
                return $"the customer already has '{plan.Id}'.";
            }
        }

        return null;
    }

    private static CheckoutOutcome Refused(TollgateRefusal refusal, string message) => new(null, refusal, message);

    internal static string Micros(DateTimeOffset at) => Instants.ToUnixMicroseconds(at).ToString(CultureInfo.InvariantCulture);
}
