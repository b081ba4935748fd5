using System.Diagnostics;
using System.Diagnostics.Metrics;
using Tollgate.Core.Common;

namespace Tollgate.Core.Payments;

/// <summary>Spans and metrics of the webhook inbox: receive (verify, store) → apply.</summary>
public static class WebhookTelemetry
{
    /// <summary>The name of the webhook inbox's <see cref="System.Diagnostics.ActivitySource"/> and meter, to subscribe to.</summary>
    public const string Name = "Tollgate.Webhooks";
    internal static readonly ActivitySource Source = new(Name);
    private static readonly Meter Meter = new(Name);

    // The instruments' names, units and descriptions are asserted by WebhookProcessorRules; a mutation of a static
    // initializer cannot be switched per test (it ran once, at the process's first use).
    // Stryker disable once String : static initializer (above)
    private static readonly Counter<long> Received = Meter.CreateCounter<long>("tollgate.webhooks.received", "{event}",
        "Provider webhooks by provider and receipt (accepted, duplicate, bad_signature, malformed, unknown_provider)");

    // Stryker disable once String : static initializer (above)
    private static readonly Counter<long> Applied = Meter.CreateCounter<long>("tollgate.webhooks.applied", "{attempt}",
        "Attempts to apply a stored provider event, by provider and resulting status (applied, ignored, unmatched, failed)");

    internal static Activity? StartReceive(string provider)
    {
        var activity = Source.StartActivity("webhook.receive", ActivityKind.Internal);
        activity?.SetTag("tollgate.provider", provider);
        return activity;
    }

    internal static void Receipt(Activity? activity, string provider, WebhookReceipt receipt)
    {
        var name = SnakeCase<WebhookReceipt>.Name(receipt);
        activity?.SetTag("tollgate.receipt", name);
        Received.Add(1, new KeyValuePair<string, object?>("provider", provider), new KeyValuePair<string, object?>("receipt", name));
    }

    internal static Activity? StartApply(WebhookEvent stored)
    {
        var activity = Source.StartActivity("webhook.apply", ActivityKind.Internal);
        activity?.SetTag("tollgate.provider", stored.Provider);
        activity?.SetTag("tollgate.event_type", stored.EventType);
        activity?.SetTag("tollgate.event_id", stored.EventId);
        return activity;
    }

    /// <summary>The attempt's outcome on its span, as the applier gave it (the transaction may still roll back).</summary>
    internal static void Outcome(Activity? activity, WebhookStatus status) => activity?.SetTag("tollgate.status", SnakeCase<WebhookStatus>.Name(status));

    /// <summary>An attempt whose outcome was stored: counted once its transaction committed, so an attempt rolled back
    /// (a transient failure run again, a concurrent duplicate that lost the inbox's key) is not counted.</summary>
    internal static void Stored(string provider, WebhookStatus status) =>
        Applied.Add(1, new KeyValuePair<string, object?>("provider", provider), new KeyValuePair<string, object?>("status", SnakeCase<WebhookStatus>.Name(status)));
}
