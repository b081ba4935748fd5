namespace Tollgate.Testing.Fakes;

/// <summary>The Stripe endpoints Tollgate calls (stripe.md §3.7), answering with the documented object shapes.</summary>
public static class FakeStripe
{
    public const string SecretKey = "sk_test_51FakeKeyForTollgateTests0001";

    public static Task<FakeServer> StartAsync()
    {
        // Each server numbers its checkout sessions (0001, 0002, …) as Stripe gives each its own id: a test that starts
        // several checkouts must not find them all under one id.
        var sessions = 0;
        return FakeServer.StartAsync(request => Route(request, () => Interlocked.Increment(ref sessions)));
    }

    /// <summary>Stripe's error body (stripe.md §3.4).</summary>
    public static FakeResponse Error(int status, string type, string message, string? code = null) =>
        FakeResponse.Json(status, new { error = new { type, code, message, doc_url = "https://docs.stripe.com/error-codes" } });

    internal static FakeResponse Route(RecordedRequest request) => Route(request, () => 1);

    private static FakeResponse Route(RecordedRequest request, Func<int> nextSession)
    {
        if (request.Header("Authorization") != "Bearer " + SecretKey)
        {
            return Error(401, "invalid_request_error", "Invalid API Key provided: sk_test_****0001");
        }

        var segments = request.Path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        return (request.Method, segments) switch
        {
            ("GET", ["v1", "prices", var id]) => Price(id),
            ("POST", ["v1", "checkout", "sessions"]) => Session(request, nextSession()),
            ("GET" or "POST" or "DELETE", ["v1", "subscriptions", var id]) => Subscription(id, request.Method == "DELETE" ? "canceled" : "active"),
            ("POST", ["v1", "billing_portal", "sessions"]) => FakeResponse.Json(200, new
            {
                id = "bps_1QExample42",
                @object = "billing_portal.session",
                customer = request.FormMap()["customer"],
                return_url = request.FormMap()["return_url"],
                url = "https://billing.stripe.com/p/session/test_YWNjdF8x",
            }),
            _ => Error(404, "invalid_request_error", "Unrecognized request URL (" + request.Method + ": " + request.Path + ").", "resource_missing"),
        };
    }

    private static FakeResponse Session(RecordedRequest request, int number)
    {
        var id = "cs_test_a1SubsExample" + number.ToString("D4", System.Globalization.CultureInfo.InvariantCulture);
        return FakeResponse.Json(200, new
        {
            id,
            @object = "checkout.session",
            mode = request.FormMap()["mode"],
            status = "open",
            url = "https://checkout.stripe.com/c/pay/" + id,
        });
    }

    private static FakeResponse Price(string id) => id switch
    {
        "price_1QPro" => FakeResponse.Json(200, new
        {
            id,
            @object = "price",
            active = true,
            currency = "usd",
            product = "prod_RPro",
            type = "recurring",
            unit_amount = 2000,
            recurring = new { interval = "month", interval_count = 1, usage_type = "licensed" },
        }),
        "price_quarterly" => FakeResponse.Json(200, new
        {
            id,
            @object = "price",
            currency = "eur",
            type = "recurring",
            unit_amount = 5400,
            recurring = new { interval = "month", interval_count = 3, usage_type = "licensed" },
        }),
        "price_pack" => FakeResponse.Json(200, new { id, @object = "price", currency = "usd", type = "one_time", unit_amount = 4900, recurring = (object?)null }),
        _ => Error(404, "invalid_request_error", "No such price: '" + id + "'", "resource_missing"),
    };

    private static FakeResponse Subscription(string id, string status) => FakeResponse.Json(200, new
    {
        id,
        @object = "subscription",
        customer = "cus_RExample42",
        status,
        cancel_at_period_end = false,
        items = new
        {
            @object = "list",
            has_more = false,
            data = new[]
            {
                new
                {
                    id = "si_RExample1",
                    @object = "subscription_item",
                    current_period_start = 1735689500,
                    current_period_end = 1738368000,
                    quantity = 1,
                    price = new { id = "price_1QPro", @object = "price" },
                },
            },
        },
    });
}
