using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tollgate.Core.Common;

namespace Tollgate.Core.Events;

/// <summary>The event types Tollgate sends to the app (API.md §6.3).</summary>
public static class EventTypes
{
    /// <summary>The customer's capabilities changed (plan, pack, external access).</summary>
    public const string CapabilitiesChanged = "customer.capabilities_changed";
    /// <summary>Credits were granted (a pack, a plan's allowance, an operator's grant).</summary>
    public const string CreditsGranted = "credits.granted";
    /// <summary>A credits balance fell below one of the feature's alert thresholds.</summary>
    public const string CreditsLow = "credits.low";
    /// <summary>A credits balance reached zero.</summary>
    public const string CreditsDepleted = "credits.depleted";
    /// <summary>A credits balance rose back to the highest alert threshold.</summary>
    public const string CreditsRecovered = "credits.recovered";
    /// <summary>A subscription started.</summary>
    public const string SubscriptionCreated = "subscription.created";
    /// <summary>A subscription changed (plan, status, cancel at period end).</summary>
    public const string SubscriptionUpdated = "subscription.updated";
    /// <summary>A subscription entered a new paid period.</summary>
    public const string SubscriptionRenewed = "subscription.renewed";
    /// <summary>A subscription was canceled.</summary>
    public const string SubscriptionCanceled = "subscription.canceled";
    /// <summary>A payment completed.</summary>
    public const string PaymentSucceeded = "payment.succeeded";
    /// <summary>A payment was refunded, fully or in part.</summary>
    public const string PaymentRefunded = "payment.refunded";
    /// <summary>A payment was disputed (a chargeback).</summary>
    public const string PaymentDisputed = "payment.disputed";
    /// <summary>A checkout completed.</summary>
    public const string CheckoutCompleted = "checkout.completed";
    /// <summary>A checkout expired unpaid.</summary>
    public const string CheckoutExpired = "checkout.expired";
    /// <summary>An automatic top-up charged the customer and granted its credits.</summary>
    public const string AutoTopupSucceeded = "auto_topup.succeeded";
    /// <summary>An automatic top-up charge was declined or failed.</summary>
    public const string AutoTopupFailed = "auto_topup.failed";

    /// <summary>Every type an endpoint may subscribe to.</summary>
    public static readonly IReadOnlySet<string> All = new HashSet<string>(StringComparer.Ordinal)
    {
        CapabilitiesChanged, CreditsGranted, CreditsLow, CreditsDepleted, CreditsRecovered, SubscriptionCreated, SubscriptionUpdated,
        SubscriptionRenewed, SubscriptionCanceled, PaymentSucceeded, PaymentRefunded, PaymentDisputed, CheckoutCompleted, CheckoutExpired,
        AutoTopupSucceeded, AutoTopupFailed,
    };
}

/// <summary>
/// One event to the app, about one customer. Its sequence number is given by the transaction that writes it (per
/// customer, in commit order); <see cref="Body"/> is then what every endpoint receives, the same on every retry.
/// </summary>
public sealed record OutboundEvent(string EventId, string CustomerId, string Type, DateTimeOffset CreatedAt, JsonObject Data)
{
    /// <summary>A new event with a fresh <c>evt_</c> id, created now.</summary>
    public static OutboundEvent Create(string type, string customerId, JsonObject data, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(time);
        data["customer_id"] = customerId;
        return new OutboundEvent(Ids.New("evt", time), customerId, type, Instants.Now(time), data);
    }

    /// <summary>The JSON body sent: <c>{id, type, created_at, sequence, data}</c>.</summary>
    public string Body(long sequence)
    {
        var body = new JsonObject
        {
            ["id"] = EventId,
            ["type"] = Type,
            ["created_at"] = CreatedAt.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture),
            ["sequence"] = sequence,
            ["data"] = Data.DeepClone(),
        };
        return body.ToJsonString(JsonOptions);
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = false };
}

/// <summary>
/// The outbox of the calling flow's database transaction (<see cref="IDatabaseTransactions"/>): events added here are
/// written in that transaction, just before it commits, so they exist exactly when the change they report does.
/// </summary>
public interface IEventOutbox
{
    /// <summary>Adds an event to the calling flow's transaction. Throws when the flow has none: an event is never
    /// written after the fact, apart from its change.</summary>
    void Add(OutboundEvent outboundEvent);

    /// <summary>Whether the calling flow has a transaction to add events to.</summary>
    bool InTransaction { get; }
}
