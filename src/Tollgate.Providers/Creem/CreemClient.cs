using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Tollgate.Providers.Http;

namespace Tollgate.Providers.Creem;

internal sealed record CreemProduct(string Id, long Price, string Currency, string? BillingPeriod);

internal sealed record CreemCheckout(string Id, string CheckoutUrl);

/// <param name="RequestId">Tollgate's checkout id, echoed by Creem in <c>checkout.completed</c>.</param>
/// <param name="CustomerId">An existing Creem customer (<c>cust_…</c>); wins over <paramref name="CustomerEmail"/>,
/// because Creem accepts only one of the two.</param>
internal sealed record CreemCheckoutRequest(
    string ProductId,
    string RequestId,
    string SuccessUrl,
    IReadOnlyList<KeyValuePair<string, string>> Metadata,
    string? CustomerId,
    string? CustomerEmail,
    long Units = 1);

/// <summary>The Creem REST calls Tollgate makes (creem.md §1), over <see cref="ProviderHttp"/>.</summary>
internal sealed class CreemClient
{
    private readonly ProviderHttp _http;

    public CreemClient(HttpClient http, CreemOptions options, TimeProvider time, ILogger? logger = null)
    {
        _http = new ProviderHttp(
            "creem",
            "Creem",
            http,
            options.EffectiveBaseUrl,
            [new("x-api-key", options.ApiKey)],
            options.ApiKey,
            ReadErrorMessage,
            options.Resilience,
            time,
            logger);
    }

    public async Task<CreemProduct> GetProductAsync(string productId, CancellationToken cancellationToken)
    {
        var product = await _http.SendForJsonAsync(
            new ProviderRequest(HttpMethod.Get, "v1/products?product_id=" + Uri.EscapeDataString(productId)),
            cancellationToken);
        return new CreemProduct(
            product.Str("id") ?? productId,
            product.Long("price") ?? throw _http.Unexpected("the product's price"),
            product.Str("currency")?.ToUpperInvariant() ?? throw _http.Unexpected("the product's currency"),
            product.Str("billing_period"));
    }

    public async Task<CreemCheckout> CreateCheckoutAsync(CreemCheckoutRequest request, CancellationToken cancellationToken)
    {
        var metadata = new JsonObject();
        foreach (var (key, value) in request.Metadata)
        {
            metadata[key] = value;
        }

        var body = new JsonObject
        {
            ["product_id"] = request.ProductId,
            ["request_id"] = request.RequestId,
            ["success_url"] = request.SuccessUrl,
            ["metadata"] = metadata,
        };
        if (request.Units != 1)
        {
            // Seats: Creem's units (default 1, so one unit is not sent).
            body["units"] = request.Units;
        }

        if (request.CustomerId is not null)
        {
            body["customer"] = new JsonObject { ["id"] = request.CustomerId };
        }
        else if (request.CustomerEmail is not null)
        {
            body["customer"] = new JsonObject { ["email"] = request.CustomerEmail };
        }

        var checkout = await _http.SendForJsonAsync(Post("v1/checkouts", body), cancellationToken);
        return new CreemCheckout(
            checkout.Str("id") ?? throw _http.Unexpected("a checkout id"),
            checkout.Str("checkout_url") ?? throw _http.Unexpected("a checkout_url"));
    }

    /// <param name="mode"><c>scheduled</c> (at period end) or <c>immediate</c>.</param>
    public Task CancelSubscriptionAsync(string subscriptionId, string mode, CancellationToken cancellationToken) =>
        _http.SendAsync(Post(SubscriptionPath(subscriptionId, "/cancel"), new JsonObject { ["mode"] = mode }), cancellationToken);

    public Task ResumeSubscriptionAsync(string subscriptionId, CancellationToken cancellationToken) =>
        _http.SendAsync(new ProviderRequest(HttpMethod.Post, SubscriptionPath(subscriptionId, "/resume")), cancellationToken);

    /// <param name="updateBehavior"><c>proration-charge-immediately</c>, <c>proration-charge</c> or <c>proration-none</c>.</param>
    public Task UpgradeSubscriptionAsync(string subscriptionId, string productId, string updateBehavior, CancellationToken cancellationToken) =>
        _http.SendAsync(
            Post(SubscriptionPath(subscriptionId, "/upgrade"), new JsonObject { ["product_id"] = productId, ["update_behavior"] = updateBehavior }),
            cancellationToken);

    /// <summary>The id (<c>sitem_…</c>) of the subscription's first item, the one whose units are its seats.</summary>
    public async Task<string> GetFirstSubscriptionItemIdAsync(string subscriptionId, CancellationToken cancellationToken)
    {
        var subscription = await _http.SendForJsonAsync(
            new ProviderRequest(HttpMethod.Get, "v1/subscriptions?subscription_id=" + Uri.EscapeDataString(subscriptionId)), cancellationToken);
        return subscription.First("items").Str("id") ?? throw _http.Unexpected("a subscription item");
    }

    /// <param name="updateBehavior"><c>proration-charge-immediately</c>, <c>proration-charge</c> or <c>proration-none</c>.</param>
    public Task UpdateUnitsAsync(string subscriptionId, string itemId, long units, string updateBehavior, CancellationToken cancellationToken) =>
        _http.SendAsync(
            Post(SubscriptionPath(subscriptionId, ""), new JsonObject
            {
                ["items"] = new JsonArray(new JsonObject { ["id"] = itemId, ["units"] = units }),
                ["update_behavior"] = updateBehavior,
            }),
            cancellationToken);

    public async Task<string> GetBillingPortalLinkAsync(string customerId, CancellationToken cancellationToken)
    {
        var links = await _http.SendForJsonAsync(Post("v1/customers/billing", new JsonObject { ["customer_id"] = customerId }), cancellationToken);
        return links.Str("customer_portal_link") ?? throw _http.Unexpected("a customer_portal_link");
    }

    /// <summary>Creem errors carry <c>message</c> as an array of strings, sometimes absent (creem.md §1.4).</summary>
    internal static string? ReadErrorMessage(ProviderResponse response)
    {
        try
        {
            using var document = JsonDocument.Parse(response.Body);
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("message", out var message))
            {
                return null;
            }

            return message.ValueKind switch
            {
                JsonValueKind.String => message.GetString(),
                JsonValueKind.Array => string.Join(
                    "; ",
                    message.EnumerateArray().Where(m => m.ValueKind == JsonValueKind.String).Select(m => m.GetString())),
                _ => null,
            };
        }
        catch (JsonException)
        {
            // A proxy's HTML error page, say: no provider message to surface.
            return null;
        }
    }

    private static string SubscriptionPath(string subscriptionId, string action) =>
        "v1/subscriptions/" + Uri.EscapeDataString(subscriptionId) + action;

    private static ProviderRequest Post(string path, JsonObject body) =>
        new(HttpMethod.Post, path) { Body = body.ToJsonString() };
}
