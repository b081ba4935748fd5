using Microsoft.Extensions.Logging;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tollgate.Core.Catalog;
using Tollgate.Core.Common;
using Tollgate.Core.Payments;
using Tollgate.Core.Payments.Sandbox;
using Tollgate.Core.Subscriptions;

namespace Tollgate.Providers.Sandbox;

/// <summary>What became of a test-card payment on the Sandbox's checkout page.</summary>
public enum SandboxPayment
{
    /// <summary>The success card: the checkout completes and its webhooks are sent.</summary>
    Paid,
    /// <summary>The declined card: the page shows the decline and the checkout stays open.</summary>
    Declined,
    /// <summary>The insufficient-funds card: declined like <see cref="Declined"/>, with its own message.</summary>
    InsufficientFunds,

    /// <summary>Not one of the test cards: nothing happens.</summary>
    UnknownCard,

    /// <summary>The checkout is no longer open.</summary>
    Closed,
}

/// <summary>
/// The Sandbox provider's side of the world: it takes test cards, keeps subscriptions that renew (by the clock or by
/// an operator's "renew now") and tells Tollgate what happened the way a real provider does — with signed webhooks
/// posted to <c>/webhooks/sandbox</c>, through the same pipeline as Creem and Stripe.
/// </summary>
public sealed class SandboxBilling(ISandboxStore store, ProductCatalog catalog, ISandboxHost urls, TimeProvider time, Func<Task<string>> secret,
    ILogger<SandboxBilling> logger)
{
    /// <summary>The test card that pays (Stripe's well-known number).</summary>
    public const string SuccessCard = "4242424242424242";
    /// <summary>The test card that is declined.</summary>
    public const string DeclinedCard = "4000000000000002";
    /// <summary>The test card that is declined for insufficient funds.</summary>
    public const string InsufficientFundsCard = "4000000000009995";

    /// <summary>Pays an open Sandbox checkout with a test card; on success records the payment (and the subscription for a
    /// plan) and posts the checkout's webhooks. Returns the checkout as it then is (null when there is none).</summary>
    public async Task<(SandboxPayment Result, SandboxCheckout? Checkout)> PayAsync(string sessionId, string card, CancellationToken ct)
    {
        var checkout = await store.GetCheckoutAsync(sessionId, ct);
        if (checkout is null || checkout.Status != "open")
        {
            return (SandboxPayment.Closed, checkout);
        }

        // A provider's hosted page expires with its session (Stripe's after 24 hours); so does the Sandbox's, when
        // Tollgate's own checkout expires: nobody pays for a checkout the app already reported as expired.
        if (Instants.Now(time) >= checkout.CreatedAt + CheckoutService.OpenFor)
        {
            await store.TryCloseCheckoutAsync(sessionId, "expired", null, ct);
            return (SandboxPayment.Closed, checkout with { Status = "expired" });
        }

        var digits = new string(card.Where(char.IsDigit).ToArray());
        var result = digits switch
        {
            SuccessCard => SandboxPayment.Paid,
            DeclinedCard => SandboxPayment.Declined,
            InsufficientFundsCard => SandboxPayment.InsufficientFunds,
            _ => SandboxPayment.UnknownCard,
        };
        if (result is SandboxPayment.Declined or SandboxPayment.InsufficientFunds)
        {
            await SendAsync("checkout.failed", CheckoutData(checkout, null, null, result == SandboxPayment.Declined ? "card_declined" : "insufficient_funds"), ct);
            return (result, checkout);
        }

        if (result != SandboxPayment.Paid)
        {
            return (result, checkout);
        }

        var orderId = Ids.New("sbx_ord", time);
        if (!await store.TryCloseCheckoutAsync(sessionId, "paid", orderId, ct))
        {
            return (SandboxPayment.Closed, checkout);
        }

        SandboxSubscription? subscription = null;
        var now = Instants.Now(time);
        if (checkout.Mode == CheckoutMode.Subscription)
        {
            var plan = catalog.PlansById[checkout.Product];
            subscription = new SandboxSubscription(Ids.New("sbx_sub", time), checkout.CustomerId, plan.Id, "active", now,
                Periods.Add(now, plan.Interval!.Value, 1), false, null, checkout.Metadata, now);
            await store.SaveSubscriptionAsync(subscription, ct);
        }

        await SendAsync("checkout.completed", CheckoutData(checkout, orderId, subscription, null), ct);
        if (subscription is not null)
        {
            await SendPaidAsync(subscription, checkout.Amount, checkout.Currency, ct);
        }

        return (SandboxPayment.Paid, checkout with { Status = "paid", OrderId = orderId });
    }

    /// <summary>The customer gave up on the checkout page ("Cancel and go back"): the session closes, so going back to
    /// the page (or a second tab) cannot pay it any more. Returns the checkout as it now stands.</summary>
    public async Task<SandboxCheckout?> CancelAsync(string sessionId, CancellationToken ct)
    {
        var checkout = await store.GetCheckoutAsync(sessionId, ct);
        if (checkout is null || checkout.Status != "open")
        {
            return checkout;
        }

        return await store.TryCloseCheckoutAsync(sessionId, "canceled", null, ct)
            ? checkout with { Status = "canceled" }
            : await store.GetCheckoutAsync(sessionId, ct);
    }

    /// <summary>Renews every active subscription whose period has ended (or ends it, if it was to cancel then).</summary>
    public async Task<int> RenewDueAsync(CancellationToken ct)
    {
        var due = await store.DueAsync(Instants.Now(time), ct);
        foreach (var subscription in due)
        {
            if (subscription.CancelAtPeriodEnd)
            {
                await SaveAndSendAsync(subscription with { Status = "canceled" }, ct);
                continue;
            }

            await RenewAsync(subscription, subscription.PeriodEnd, ct);
        }

        return due.Count;
    }

    /// <summary>An operator's "renew now": the current period ends now and a new one, paid, starts.</summary>
    public async Task<bool> RenewNowAsync(string subscriptionId, CancellationToken ct)
    {
        var subscription = await store.GetSubscriptionAsync(subscriptionId, ct);
        if (subscription is not { Status: "active" })
        {
            return false;
        }

        await RenewAsync(subscription, Instants.Now(time), ct);
        return true;
    }

    /// <summary>Cancels an active Sandbox subscription now or at its period's end, and sends the change as a webhook.</summary>
    /// <exception cref="ProviderException">No active subscription has that id (404).</exception>
    public async Task CancelAsync(string subscriptionId, bool atPeriodEnd, CancellationToken ct)
    {
        var subscription = await Active(subscriptionId, ct);
        await SaveAndSendAsync(atPeriodEnd ? subscription with { CancelAtPeriodEnd = true } : subscription with { Status = "canceled" }, ct);
    }

    /// <summary>Takes back a cancellation at period end, and sends the change as a webhook.</summary>
    /// <exception cref="ProviderException">No active subscription has that id (404).</exception>
    public async Task ResumeAsync(string subscriptionId, CancellationToken ct)
    {
        var subscription = await Active(subscriptionId, ct);
        await SaveAndSendAsync(subscription with { CancelAtPeriodEnd = false }, ct);
    }

    /// <summary>Moves an active subscription to another recurring plan, now or (per <paramref name="policy"/>) at its
    /// renewal, and sends the change as a webhook.</summary>
    /// <exception cref="ProviderException">No such active subscription (404), or the product is not a recurring plan (400).</exception>
    public async Task ChangeAsync(string subscriptionId, string product, PlanChangePolicy policy, CancellationToken ct)
    {
        var subscription = await Active(subscriptionId, ct);
        if (!catalog.PlansById.TryGetValue(product, out var plan) || plan.Interval is not (BillingInterval.Month or BillingInterval.Year))
        {
            throw new ProviderException("sandbox", $"'{product}' is not a recurring plan.", 400);
        }

        await SaveAndSendAsync(policy == PlanChangePolicy.Immediate
            ? subscription with { Product = product, PendingProduct = null }
            : subscription with { PendingProduct = product }, ct);
    }

    /// <summary>Refunds a Sandbox payment (an operator action in the admin console): sends <c>refund.created</c>.</summary>
    public Task RefundAsync(string customerId, string providerPaymentId, long amount, string currency, bool full, CancellationToken ct) =>
        SendAsync("refund.created", new JsonObject
        {
            ["refund_id"] = Ids.New("sbx_re", time),
            ["customer_id"] = customerId,
            ["payment_id"] = providerPaymentId,
            ["amount"] = amount,
            ["currency"] = currency,
            ["full"] = full,
        }, ct);

    /// <summary>The Sandbox's own subscriptions of one customer (what a provider's dashboard would show).</summary>
    public Task<IReadOnlyList<SandboxSubscription>> SubscriptionsAsync(string customerId, CancellationToken ct) => store.ListByCustomerAsync(customerId, ct);

    private async Task RenewAsync(SandboxSubscription subscription, DateTimeOffset from, CancellationToken ct)
    {
        var product = subscription.PendingProduct ?? subscription.Product;
        var plan = catalog.PlansById[product];
        var renewed = subscription with { Product = product, PendingProduct = null, PeriodStart = from, PeriodEnd = Periods.Add(from, plan.Interval!.Value, 1) };
        await store.SaveSubscriptionAsync(renewed, ct);
        await SendPaidAsync(renewed, plan.Price?.Amount ?? 0, plan.Price?.Currency ?? "USD", ct);
    }

    private async Task<SandboxSubscription> Active(string subscriptionId, CancellationToken ct)
    {
        var subscription = await store.GetSubscriptionAsync(subscriptionId, ct);
        return subscription is { Status: "active" }
            ? subscription
            : throw new ProviderException("sandbox", $"No active Sandbox subscription {subscriptionId}.", 404);
    }

    private async Task SaveAndSendAsync(SandboxSubscription subscription, CancellationToken ct)
    {
        await store.SaveSubscriptionAsync(subscription, ct);
        await SendAsync("subscription.updated", new JsonObject { ["subscription"] = SandboxEvents.Subscription(subscription) }, ct);
    }

    private Task SendPaidAsync(SandboxSubscription subscription, long amount, string currency, CancellationToken ct) =>
        SendAsync("subscription.paid", new JsonObject
        {
            ["subscription"] = SandboxEvents.Subscription(subscription),
            ["transaction_id"] = Ids.New("sbx_txn", time),
            ["amount"] = amount,
            ["currency"] = currency,
        }, ct);

    private JsonObject CheckoutData(SandboxCheckout checkout, string? orderId, SandboxSubscription? subscription, string? reason) => new()
    {
        ["session_id"] = checkout.SessionId,
        ["checkout_id"] = checkout.CheckoutId,
        ["customer_id"] = checkout.CustomerId,
        ["product"] = checkout.Product,
        ["mode"] = SnakeCase<CheckoutMode>.Name(checkout.Mode),
        ["amount"] = checkout.Amount,
        ["currency"] = checkout.Currency,
        ["email"] = checkout.CustomerEmail,
        ["order_id"] = orderId,
        ["reason"] = reason,
        ["metadata"] = SandboxEvents.Metadata(checkout.Metadata),
        ["subscription"] = subscription is null ? null : SandboxEvents.Subscription(subscription),
    };

    /// <summary>Signs and posts one event to Tollgate's own webhook endpoint. A failed delivery is retried a few
    /// times and then logged; a real provider would keep retrying for hours.</summary>
    private async Task SendAsync(string type, JsonObject data, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var body = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["id"] = Ids.New("sbx_evt", time),
            ["type"] = type,
            ["created_at"] = Instants.Normalize(now),
            ["data"] = data,
        }.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));
        var signature = SandboxSignature.Sign(await secret(), body, now);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                using var client = urls.SelfClient();
                using var request = new HttpRequestMessage(HttpMethod.Post, "webhooks/sandbox") { Content = new ByteArrayContent(body) };
                request.Content.Headers.ContentType = new("application/json");
                request.Headers.Add(SandboxSignature.Header, signature);
                using var response = await client.SendAsync(request, ct);
                response.EnsureSuccessStatusCode();
                return;
            }
            catch (HttpRequestException ex) when (attempt < 3)
            {
                logger.LogWarning(ex, "Sandbox webhook {Type} delivery attempt {Attempt} failed; retrying", type, attempt);
                await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt), ct);
            }
        }
    }
}
