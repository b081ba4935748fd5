using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Tollgate.Providers.Http;

namespace Tollgate.Providers.Stripe;

internal sealed record StripePrice(string Id, long UnitAmount, string Currency, string? Interval, long IntervalCount);

internal sealed record StripeCheckoutSession(string Id, string Url);

/// <summary>An off-session PaymentIntent: <see cref="FailureCode"/> null when it went through.</summary>
internal sealed record StripeOffSessionResult(string? PaymentIntentId, string? Status, string? FailureCode, string? FailureMessage);

/// <param name="Mode"><c>payment</c> or <c>subscription</c>.</param>
/// <param name="ClientReferenceId">Tollgate's checkout id; also the idempotency key's seed.</param>
/// <param name="CustomerId">An existing Stripe customer (<c>cus_…</c>); wins over <paramref name="CustomerEmail"/>.</param>
internal sealed record StripeCheckoutRequest(
    string Mode,
    string PriceId,
    string SuccessUrl,
    string? CancelUrl,
    string ClientReferenceId,
    IReadOnlyList<KeyValuePair<string, string>> Metadata,
    string? CustomerId,
    string? CustomerEmail,
    long Quantity = 1)
{
    /// <summary>Subscription mode: days of free trial (<c>subscription_data[trial_period_days]</c>); null: none.</summary>
    public int? TrialDays { get; init; }
}

/// <summary>The Stripe REST calls Tollgate makes (stripe.md §3.7), form-encoded, over <see cref="ProviderHttp"/>.
/// Every POST carries an <c>Idempotency-Key</c> that stays the same across the retries of one call.</summary>
internal sealed class StripeClient
{
    private const int MaxIdempotencyKeyLength = 255;

    private readonly ProviderHttp _http;

    public StripeClient(HttpClient http, StripeOptions options, TimeProvider time, ILogger? logger = null)
    {
        _http = new ProviderHttp(
            "stripe",
            "Stripe",
            http,
            options.BaseUrl,
            [new("Authorization", "Bearer " + options.SecretKey), new("Stripe-Version", StripeOptions.ApiVersion)],
            options.SecretKey,
            ReadErrorMessage,
            options.Resilience,
            time,
            logger);
    }

    public async Task<StripePrice> GetPriceAsync(string priceId, CancellationToken cancellationToken)
    {
        var price = await _http.SendForJsonAsync(new ProviderRequest(HttpMethod.Get, "v1/prices/" + Uri.EscapeDataString(priceId)), cancellationToken);
        var recurring = price.Obj("recurring");
        return new StripePrice(
            price.Str("id") ?? priceId,
            price.Long("unit_amount") ?? throw _http.Unexpected("a unit_amount (tiered and custom prices are not supported)"),
            price.Str("currency")?.ToUpperInvariant() ?? throw _http.Unexpected("the price's currency"),
            recurring.Str("interval"),
            recurring.Long("interval_count") ?? 1);
    }

    public async Task<StripeCheckoutSession> CreateCheckoutSessionAsync(StripeCheckoutRequest request, CancellationToken cancellationToken)
    {
        var form = new StripeForm()
            .Add("mode", request.Mode)
            .Add("line_items[0][price]", request.PriceId)
            .Add("line_items[0][quantity]", request.Quantity)
            .Add("success_url", request.SuccessUrl)
            .Add("cancel_url", request.CancelUrl)
            .Add("client_reference_id", request.ClientReferenceId)
            .AddMap("metadata", request.Metadata);
        if (request.Mode == "subscription")
        {
            // Session metadata is not copied onto the subscription; its events carry only subscription_data's.
            form.AddMap("subscription_data[metadata]", request.Metadata);
            if (request.TrialDays is { } trialDays)
            {
                form.Add("subscription_data[trial_period_days]", trialDays);
            }
        }

        if (request.CustomerId is not null)
        {
            form.Add("customer", request.CustomerId);
        }
        else
        {
            form.Add("customer_email", request.CustomerEmail);
            if (request.Mode == "payment")
            {
                // Without a customer, a one-time payment's refunds and portal cannot be linked back to anyone.
                form.Add("customer_creation", "always");
            }
        }

        if (request.Mode == "payment")
        {
            // Saved on the customer for auto top-up's off-session charges (a subscription's method is saved anyway).
            form.Add("payment_intent_data[setup_future_usage]", "off_session");
        }

        var session = await _http.SendForJsonAsync(
            Post("v1/checkout/sessions", form, IdempotencyKey("checkout", request.ClientReferenceId)),
            cancellationToken);
        return new StripeCheckoutSession(
            session.Str("id") ?? throw _http.Unexpected("a checkout session id"),
            session.Str("url") ?? throw _http.Unexpected("a checkout session url"));
    }

    /// <summary>The first item's id (<c>si_…</c>), which a price change must name.</summary>
    public async Task<string> GetFirstSubscriptionItemIdAsync(string subscriptionId, CancellationToken cancellationToken)
    {
        var subscription = await _http.SendForJsonAsync(new ProviderRequest(HttpMethod.Get, SubscriptionPath(subscriptionId)), cancellationToken);
        return subscription.First("items").Str("id") ?? throw _http.Unexpected("a subscription item");
    }

    public Task SetCancelAtPeriodEndAsync(string subscriptionId, bool cancelAtPeriodEnd, string idempotencyKey, CancellationToken cancellationToken) =>
        _http.SendAsync(
            Post(SubscriptionPath(subscriptionId), new StripeForm().Add("cancel_at_period_end", cancelAtPeriodEnd), idempotencyKey),
            cancellationToken);

    public Task CancelNowAsync(string subscriptionId, CancellationToken cancellationToken) =>
        _http.SendAsync(new ProviderRequest(HttpMethod.Delete, SubscriptionPath(subscriptionId)), cancellationToken);

    /// <param name="prorationBehavior"><c>always_invoice</c>, <c>create_prorations</c> or <c>none</c>.</param>
    public Task ChangePriceAsync(
        string subscriptionId,
        string itemId,
        string priceId,
        string prorationBehavior,
        string idempotencyKey,
        CancellationToken cancellationToken)
    {
        var form = new StripeForm()
            .Add("items[0][id]", itemId)
            .Add("items[0][price]", priceId)
            .Add("proration_behavior", prorationBehavior);
        return _http.SendAsync(Post(SubscriptionPath(subscriptionId), form, idempotencyKey), cancellationToken);
    }

    /// <param name="prorationBehavior"><c>always_invoice</c>, <c>create_prorations</c> or <c>none</c>.</param>
    public Task ChangeQuantityAsync(
        string subscriptionId,
        string itemId,
        long quantity,
        string prorationBehavior,
        string idempotencyKey,
        CancellationToken cancellationToken)
    {
        var form = new StripeForm()
            .Add("items[0][id]", itemId)
            .Add("items[0][quantity]", quantity)
            .Add("proration_behavior", prorationBehavior);
        return _http.SendAsync(Post(SubscriptionPath(subscriptionId), form, idempotencyKey), cancellationToken);
    }

    public async Task<string> CreatePortalSessionAsync(string customerId, string returnUrl, string idempotencyKey, CancellationToken cancellationToken)
    {
        var form = new StripeForm().Add("customer", customerId).Add("return_url", returnUrl);
        var session = await _http.SendForJsonAsync(Post("v1/billing_portal/sessions", form, idempotencyKey), cancellationToken);
        return session.Str("url") ?? throw _http.Unexpected("a portal session url");
    }

    /// <summary>The customer's most recently saved payment method (<c>pm_…</c>), or null when there is none.</summary>
    public async Task<string?> GetSavedPaymentMethodAsync(string customerId, CancellationToken cancellationToken)
    {
        var list = await _http.SendForJsonAsync(
            new ProviderRequest(HttpMethod.Get, $"v1/customers/{Uri.EscapeDataString(customerId)}/payment_methods?limit=1"), cancellationToken);
        return list.First("data").Str("id");
    }

    /// <summary>
    /// Charges a saved payment method with the customer away: a PaymentIntent with <c>off_session=true</c> and
    /// <c>confirm=true</c>. A card error (HTTP 402: declined, authentication required) is a refusal with Stripe's code,
    /// not an exception; the idempotency key makes a repeat of the same charge return the first PaymentIntent.
    /// </summary>
    public async Task<StripeOffSessionResult> CreateOffSessionPaymentAsync(long amount, string currency, string customerId, string paymentMethodId,
        IReadOnlyList<KeyValuePair<string, string>> metadata, string idempotencyKey, CancellationToken cancellationToken)
    {
        var form = new StripeForm()
            .Add("amount", amount)
            .Add("currency", currency.ToLowerInvariant())
            .Add("customer", customerId)
            .Add("payment_method", paymentMethodId)
            .Add("off_session", true)
            .Add("confirm", true)
            .AddMap("metadata", metadata);
        var response = await _http.SendAsync(Post("v1/payment_intents", form, idempotencyKey), status => status == 402, cancellationToken);
        using var document = JsonDocument.Parse(response.Body);
        var root = document.RootElement;
        if (response.StatusCode == 402)
        {
            var error = root.Obj("error");
            return new StripeOffSessionResult(error.Obj("payment_intent").Str("id"), null, error.Str("code") ?? "card_error",
                error.Str("message") ?? "The card was declined.");
        }

        var status = root.Str("status");
        return status is "succeeded" or "processing"
            ? new StripeOffSessionResult(root.Str("id") ?? throw _http.Unexpected("a payment intent id"), status, null, null)
            : new StripeOffSessionResult(root.Str("id"), status, status == "requires_action" ? "authentication_required" : "payment_failed",
                $"The payment intent is {status ?? "in an unknown state"}.");
    }

    /// <summary><c>tg-{operation}-{seed}</c>, or the seed's SHA-256 when that would pass Stripe's 255-character limit.</summary>
    internal static string IdempotencyKey(string operation, string seed)
    {
        var key = $"tg-{operation}-{seed}";
        return key.Length <= MaxIdempotencyKeyLength
            ? key
            : $"tg-{operation}-{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(seed)))}";
    }

    /// <summary>Stripe errors are <c>{"error":{"type","code","message",…}}</c> (stripe.md §3.4).</summary>
    internal static string? ReadErrorMessage(ProviderResponse response)
    {
        try
        {
            using var document = JsonDocument.Parse(response.Body);
            return document.RootElement.Obj("error").Str("message");
        }
        catch (JsonException)
        {
            // A proxy's HTML error page, say: no provider message to surface.
            return null;
        }
    }

    private static string SubscriptionPath(string subscriptionId) => "v1/subscriptions/" + Uri.EscapeDataString(subscriptionId);

    private static ProviderRequest Post(string path, StripeForm form, string idempotencyKey) =>
        new(HttpMethod.Post, path)
        {
            Body = form.Encode(),
            MediaType = StripeForm.MediaType,
            Headers = [new("Idempotency-Key", idempotencyKey)],
        };
}
