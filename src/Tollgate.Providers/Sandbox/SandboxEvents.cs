using System.Text.Json;
using System.Text.Json.Nodes;
using Tollgate.Core.Common;
using Tollgate.Core.Payments;
using Tollgate.Core.Payments.Sandbox;

namespace Tollgate.Providers.Sandbox;

/// <summary>The Sandbox's webhook format — <c>{id, type, created_at, data}</c> — and its reading into normalized facts.</summary>
public static class SandboxEvents
{
    internal static JsonObject Subscription(SandboxSubscription s) => new()
    {
        ["id"] = s.SubscriptionId,
        ["customer_id"] = s.CustomerId,
        ["product"] = s.Product,
        ["status"] = s.Status,
        ["period_start"] = s.PeriodStart,
        ["period_end"] = s.PeriodEnd,
        ["cancel_at_period_end"] = s.CancelAtPeriodEnd,
        ["metadata"] = Metadata(s.Metadata),
    };

    internal static JsonObject Metadata(IReadOnlyDictionary<string, string> metadata)
    {
        var json = new JsonObject();
        foreach (var (key, value) in metadata)
        {
            json[key] = value;
        }

        return json;
    }

    /// <summary>Reads a Sandbox event; a body it cannot read (not its JSON, a value of the wrong kind) is a
    /// <see cref="FormatException"/>, answered 400 and kept as rejected.</summary>
    public static ProviderEvent Parse(ReadOnlySpan<byte> body)
    {
        if (StrictJson.Problem(body) is { } problem)
        {
            throw new FormatException("The Sandbox event is not acceptable JSON: " + problem);
        }

        try
        {
            return Read(body);
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or JsonException)
        {
            throw new FormatException("The Sandbox event has a value of the wrong kind: " + ex.Message, ex);
        }
    }

    private static ProviderEvent Read(ReadOnlySpan<byte> body)
    {
        JsonObject root;
        try
        {
            root = JsonNode.Parse(body) as JsonObject ?? throw new FormatException("A Sandbox event is a JSON object.");
        }
        catch (JsonException ex)
        {
            throw new FormatException("A Sandbox event must be JSON.", ex);
        }

        var id = Str(root, "id") ?? throw new FormatException("A Sandbox event has an id.");
        var type = Str(root, "type") ?? throw new FormatException("A Sandbox event has a type.");
        var at = root["created_at"]?.GetValue<DateTimeOffset>() ?? throw new FormatException("A Sandbox event has created_at.");
        var data = root["data"] as JsonObject ?? throw new FormatException("A Sandbox event has data.");
        var facts = new List<PaymentFact>();
        switch (type)
        {
            case "checkout.completed":
                var link = Link(data);
                var subscription = data["subscription"] as JsonObject;
                facts.Add(new CheckoutCompleted(link, Str(data, "session_id")!, Str(data, "order_id"), subscription is null ? null : Str(subscription, "id"),
                    Str(data, "mode") == "subscription" ? CheckoutMode.Subscription : CheckoutMode.Payment, true, Long(data, "amount"), Str(data, "currency")));
                if (subscription is not null)
                {
                    facts.Add(Snapshot(subscription));
                }

                break;
            case "checkout.failed":
                facts.Add(new CheckoutFailed(Link(data), Str(data, "session_id")!, Str(data, "reason") ?? "failed"));
                break;
            case "subscription.updated":
                facts.Add(Snapshot((JsonObject)data["subscription"]!));
                break;
            case "subscription.paid":
                var paid = (JsonObject)data["subscription"]!;
                var snapshot = Snapshot(paid);
                facts.Add(snapshot);
                facts.Add(new SubscriptionPaymentSucceeded(snapshot.Link, snapshot.ProviderSubscriptionId, Str(data, "transaction_id")!, Long(data, "amount"),
                    Str(data, "currency"), snapshot.CurrentPeriodStart, snapshot.CurrentPeriodEnd));
                break;
            case "refund.created":
                facts.Add(new RefundIssued(new PaymentLink(null, Str(data, "customer_id"), null, null, null), Str(data, "refund_id")!,
                    [Str(data, "payment_id")!], Long(data, "amount"), Str(data, "currency"), data["full"]?.GetValue<bool>() ?? true));
                break;
        }

        return new ProviderEvent("sandbox", id, type, at, facts);
    }

    private static SubscriptionSnapshot Snapshot(JsonObject s)
    {
        var metadata = s["metadata"] as JsonObject;
        var link = new PaymentLink(Str(metadata, "tollgate_checkout_id"), Str(s, "customer_id"), Str(metadata, "tollgate_product"), null, Str(s, "product"));
        var status = Str(s, "status") switch
        {
            "active" => ProviderSubscriptionStatus.Active,
            "past_due" => ProviderSubscriptionStatus.PastDue,
            "canceled" => ProviderSubscriptionStatus.Canceled,
            _ => ProviderSubscriptionStatus.Expired,
        };
        return new SubscriptionSnapshot(link, Str(s, "id")!, status, s["period_start"]?.GetValue<DateTimeOffset>(), s["period_end"]?.GetValue<DateTimeOffset>(),
            s["cancel_at_period_end"]?.GetValue<bool>() ?? false, null);
    }

    private static PaymentLink Link(JsonObject data)
    {
        var metadata = data["metadata"] as JsonObject;
        return new PaymentLink(Str(data, "checkout_id"), Str(metadata, "tollgate_customer_id") ?? Str(data, "customer_id"),
            Str(metadata, "tollgate_product") ?? Str(data, "product"), null, Str(data, "product"), Str(data, "email"));
    }

    private static string? Str(JsonObject? o, string key) => o?[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private static long? Long(JsonObject o, string key) => o[key] is JsonValue v && v.TryGetValue<long>(out var l) ? l : null;
}
