using Tollgate.Core.Common;

namespace Tollgate.Core.Subscriptions;

/// <summary>The <c>data</c> of the <c>subscription.*</c> events, the same whether a provider's webhook or an API action
/// changed the subscription (kept here so that Subscriptions need not reach into Payments for it).</summary>
internal static class SubscriptionEventData
{
    public static System.Text.Json.Nodes.JsonObject Of(Subscription s) => new()
    {
        ["subscription_id"] = s.Id,
        ["plan"] = s.PlanId,
        ["provider"] = s.Provider,
        ["status"] = SnakeCase<SubscriptionStatus>.Name(s.Status),
        ["current_period_start"] = s.CurrentPeriodStart is { } start ? System.Text.Json.Nodes.JsonValue.Create(start) : null,
        ["current_period_end"] = s.CurrentPeriodEnd is { } end ? System.Text.Json.Nodes.JsonValue.Create(end) : null,
        ["cancel_at_period_end"] = s.CancelAtPeriodEnd,
        ["pending_plan"] = s.PendingPlanId,
        // The seats the provider bills: a change of it alone is reported too (the app sizes its organization by it).
        ["quantity"] = s.Quantity,
    };
}
