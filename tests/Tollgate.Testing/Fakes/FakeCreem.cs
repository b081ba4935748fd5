using System.Text.Json;

namespace Tollgate.Testing.Fakes;

/// <summary>Creem's documented endpoints (creem.md §1.2), answering with the documented entity shapes.</summary>
public static class FakeCreem
{
    public const string ApiKey = "creem_test_4yQhJ2mKfakeKey0001";

    public static Task<FakeServer> StartAsync() => FakeServer.StartAsync(Route);

    /// <summary>Creem's error body: <c>message</c> is an array of strings (creem.md §1.4).</summary>
    public static FakeResponse Error(int status, string error, params string[] messages) =>
        FakeResponse.Json(status, new { trace_id = "550e8400-e29b-41d4-a716-446655440000", status, error, message = messages, timestamp = 1706889600000 });

    internal static FakeResponse Route(RecordedRequest request)
    {
        if (request.Header("x-api-key") != ApiKey)
        {
            // The documented 403 carries no message at all.
            return FakeResponse.Json(403, new { trace_id = "550e8400-e29b-41d4-a716-446655440000", status = 403, error = "Forbidden", timestamp = 1706889600000 });
        }

        var segments = request.Path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        return (request.Method, segments) switch
        {
            ("GET", ["v1", "products"]) => Product(request),
            ("POST", ["v1", "checkouts"]) => Checkout(request),
            ("POST", ["v1", "subscriptions", var id, "cancel" or "resume" or "upgrade"]) => Subscription(id),
            // Seats: update items (their units), and the read of the item ids first.
            ("POST", ["v1", "subscriptions", var id]) => Subscription(id),
            ("GET", ["v1", "subscriptions"]) when request.Query.StartsWith("?subscription_id=", StringComparison.Ordinal) =>
                Subscription(Uri.UnescapeDataString(request.Query["?subscription_id=".Length..])),
            ("POST", ["v1", "customers", "billing"]) => FakeResponse.Json(200, new
            {
                customer_portal_link = "https://creem.io/my-orders/login/" + request.Json().GetProperty("customer_id").GetString(),
            }),
            _ => Error(404, "Not Found", "Cannot " + request.Method + " " + request.Path),
        };
    }

    private static FakeResponse Product(RecordedRequest request)
    {
        var id = Uri.UnescapeDataString(request.Query.Replace("?product_id=", "", StringComparison.Ordinal));
        (long Price, string Currency, string Period)? product = id switch
        {
            "prod_abc123" => (2900, "USD", "every-month"),
            "prod_yearly" => (29000, "EUR", "every-year"),
            "prod_pack" => (100, "USD", "once"),
            "prod_quarterly" => (7500, "USD", "every-three-months"),
            _ => null,
        };
        if (product is not { } p)
        {
            // The documented 404 oddly says "Bad Request".
            return Error(404, "Bad Request", "Product not found");
        }

        return FakeResponse.Json(200, new
        {
            id,
            mode = "test",
            @object = "product",
            name = "Pro Plan",
            description = "Full access to all features",
            price = p.Price,
            currency = p.Currency,
            billing_type = p.Period == "once" ? "onetime" : "recurring",
            billing_period = p.Period,
            status = "active",
            tax_mode = "exclusive",
            tax_category = "saas",
            created_at = "2024-01-01T00:00:00Z",
            updated_at = "2024-01-01T00:00:00Z",
        });
    }

    private static FakeResponse Checkout(RecordedRequest request)
    {
        var body = request.Json();
        if (!body.TryGetProperty("product_id", out var product) || product.ValueKind != JsonValueKind.String)
        {
            return Error(400, "Bad Request", "product_id must be a string", "success_url must be a valid URL");
        }

        return FakeResponse.Json(200, new
        {
            id = "ch_1QyIQDw9cbFWdA1ry5Qc6I",
            mode = "test",
            @object = "checkout",
            status = "pending",
            checkout_url = "https://checkout.creem.io/ch_1QyIQDw9cbFWdA1ry5Qc6I",
            product = product.GetString(),
            units = 1,
            request_id = body.TryGetProperty("request_id", out var requestId) ? requestId.GetString() : null,
        });
    }

    private static FakeResponse Subscription(string id) => FakeResponse.Json(200, new
    {
        id,
        mode = "test",
        @object = "subscription",
        product = "prod_abc123",
        customer = "cust_1OcIK1GEuVvXZwD19tjq2z",
        collection_method = "charge_automatically",
        items = new[]
        {
            new { @object = "subscription_item", id = "sitem_3QWlqRbAat2eBRakAxFtt9", product_id = "prod_abc123", price_id = "pprice_4W0mJK6uGiQzHbVhfaFTl1", units = 1 },
        },
        status = "active",
        created_at = "2024-10-12T11:58:45.425Z",
        updated_at = "2024-10-12T11:58:45.425Z",
    });
}
