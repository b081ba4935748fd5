using System.Collections.Concurrent;
using System.Text.Json.Nodes;

namespace Tollgate.Testing.Fakes;

/// <summary>
/// Stripe's off-session charging on top of <see cref="FakeStripe"/>, stateful where Stripe is: a customer's saved payment
/// methods (<c>GET /v1/customers/{id}/payment_methods</c>) and PaymentIntents created with <c>off_session</c> and
/// <c>confirm</c> (<c>POST /v1/payment_intents</c>). Stripe's idempotency (stripe.md §3.2): a request repeating an
/// <c>Idempotency-Key</c> gets the first request's saved answer and creates nothing. Stripe's test payment methods decide
/// the outcome: <c>pm_card_chargeDeclined</c> fails with 402 <c>card_declined</c>, <c>pm_card_authenticationRequired</c>
/// with 402 <c>authentication_required</c> (the PaymentIntent is left needing the customer), any other succeeds.
/// </summary>
public sealed class FakeStripeCharges
{
    public const string DeclinedMethod = "pm_card_chargeDeclined";
    public const string AuthenticationRequiredMethod = "pm_card_authenticationRequired";

    private readonly ConcurrentDictionary<string, FakeResponse> _byKey = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<JsonObject> _intents = new();
    private int _hangNext;
    private int _ids;

    /// <summary>Payment methods saved on Stripe customers (<c>cus_…</c> → <c>pm_…</c>).</summary>
    public ConcurrentDictionary<string, string> SavedMethods { get; } = new(StringComparer.Ordinal);

    /// <summary>PaymentIntents created (one per distinct idempotency key), as Stripe stores them.</summary>
    public IReadOnlyList<JsonObject> Intents => [.. _intents];

    /// <summary>The next PaymentIntent is created (and its answer saved under its key), but the answer never comes:
    /// the caller waits until it gives up, as when a server dies between the charge and recording it.</summary>
    public void HangNextIntentAnswer() => Interlocked.Exchange(ref _hangNext, 1);

    /// <summary>While true, <c>POST /v1/payment_intents</c> answers 503 and creates nothing (Stripe unreachable for a
    /// while): the caller's charge stays due and is retried later.</summary>
    public bool IntentsUnavailable { get; set; }

    public Task<FakeServer> StartAsync() => FakeServer.StartAsync(Route);

    public FakeResponse Route(RecordedRequest request)
    {
        var segments = request.Path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (request.Header("Authorization") != "Bearer " + FakeStripe.SecretKey)
        {
            return FakeStripe.Route(request);
        }

        return (request.Method, segments) switch
        {
            ("GET", ["v1", "customers", var customer, "payment_methods"]) => PaymentMethods(customer),
            ("POST", ["v1", "payment_intents"]) when IntentsUnavailable => FakeStripe.Error(503, "api_error", "Stripe is unavailable (fake)."),
            ("POST", ["v1", "payment_intents"]) => Idempotent(request, () => CreateIntent(request)),
            _ => FakeStripe.Route(request),
        };
    }

    private FakeResponse PaymentMethods(string customer) => FakeResponse.Json(200, new
    {
        @object = "list",
        url = $"/v1/customers/{customer}/payment_methods",
        has_more = false,
        data = SavedMethods.TryGetValue(customer, out var method)
            ? new object[] { new { id = method, @object = "payment_method", type = "card", customer, card = new { brand = "visa", last4 = "4242" } } }
            : [],
    });

    private FakeResponse Idempotent(RecordedRequest request, Func<FakeResponse> create)
    {
        var key = request.Header("Idempotency-Key");
        var response = key is null ? create() : _byKey.GetOrAdd(key, _ => create());
        return Interlocked.Exchange(ref _hangNext, 0) == 1 ? FakeResponse.Hang : response;
    }

    private FakeResponse CreateIntent(RecordedRequest request)
    {
        var form = request.FormMap();
        if (form.GetValueOrDefault("off_session") != "true" || form.GetValueOrDefault("confirm") != "true")
        {
            return FakeStripe.Error(400, "invalid_request_error", "This fake only confirms off-session PaymentIntents.");
        }

        if (!form.TryGetValue("customer", out var customer) || !form.TryGetValue("payment_method", out var method)
            || SavedMethods.GetValueOrDefault(customer) != method)
        {
            return FakeStripe.Error(400, "invalid_request_error", "The payment method is not attached to this customer.", "resource_missing");
        }

        var id = $"pi_3Fake{Interlocked.Increment(ref _ids):D6}";
        var metadata = new JsonObject();
        foreach (var (k, v) in form.Where(kv => kv.Key.StartsWith("metadata[", StringComparison.Ordinal)))
        {
            metadata[k["metadata[".Length..^1]] = v;
        }

        var amount = long.Parse(form["amount"], System.Globalization.CultureInfo.InvariantCulture);
        var status = method switch
        {
            DeclinedMethod => "requires_payment_method",
            AuthenticationRequiredMethod => "requires_action",
            _ => "succeeded",
        };
        var intent = new JsonObject
        {
            ["id"] = id,
            ["object"] = "payment_intent",
            ["amount"] = amount,
            ["amount_received"] = status == "succeeded" ? amount : 0,
            ["currency"] = form["currency"],
            ["customer"] = customer,
            ["payment_method"] = method,
            ["status"] = status,
            ["metadata"] = metadata,
            ["livemode"] = false,
        };
        _intents.Enqueue(intent);
        return method switch
        {
            DeclinedMethod => Card402("card_declined", "Your card was declined.", intent),
            AuthenticationRequiredMethod => Card402("authentication_required", "Your card was declined. This transaction requires authentication.", intent),
            _ => new FakeResponse(200, intent.ToJsonString()),
        };
    }

    private static FakeResponse Card402(string code, string message, JsonObject intent) =>
        new(402, new JsonObject
        {
            ["error"] = new JsonObject
            {
                ["type"] = "card_error",
                ["code"] = code,
                ["decline_code"] = code == "card_declined" ? "generic_decline" : null,
                ["message"] = message,
                ["payment_intent"] = intent.DeepClone(),
                ["doc_url"] = "https://docs.stripe.com/error-codes/" + code.Replace('_', '-'),
            },
        }.ToJsonString());
}
