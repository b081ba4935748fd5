using Tollgate.Core.Catalog;
using Tollgate.Core.Payments;
using Tollgate.Core.Subscriptions;

namespace Tollgate.Server.Payments;

internal enum ActionResult
{
    /// <summary>Asked of the provider; the subscription changes when its webhook arrives.</summary>
    Accepted,
    NotFound,
    Conflict,
    ProviderError,
}

internal sealed record ActionOutcome(ActionResult Result, string Message);

/// <summary>
/// What a customer (portal) or an app (API) may ask of a subscription: cancel now or at period end, resume, change
/// plan. Each goes to the subscription's provider first; once the provider accepted it, Tollgate records the change
/// with its <c>subscription.*</c> event in one transaction (a next-cycle plan change is remembered so a provider's early
/// price switch waits for the renewal). The provider's webhook then confirms the same state and reports nothing twice.
/// </summary>
internal sealed class SubscriptionActions(ISubscriptionStore subscriptions, ProviderRegistry providers, SubscriptionService service, ProductCatalog catalog,
    Core.Customers.ICustomerStore customers)
{
    /// <summary>Sets how many seats the subscription bills: at the provider first (prorated as <paramref name="policy"/>
    /// says), then on Tollgate's record once the provider accepted it; the provider's webhook then confirms the same
    /// quantity. Below the members already attached it is refused (409): lowering never detaches anyone.</summary>
    public Task<ActionOutcome> ChangeQuantityAsync(string subscriptionId, long quantity, PlanChangePolicy policy, CancellationToken ct) =>
        WithProviderAsync(subscriptionId, ct, async (provider, subscription) =>
        {
            if (subscription.Quantity == quantity)
            {
                throw new ConflictException($"subscription {subscriptionId} already bills {quantity}");
            }

            if (catalog.SeatsFeature is not null && await customers.CountMembersAsync(subscription.CustomerId, ct) is var members && members > quantity)
            {
                throw new ConflictException(
                    $"{subscription.CustomerId} has {members} members attached; detach {members - quantity} before lowering the seats to {quantity}");
            }

            try
            {
                await provider.ChangeQuantityAsync(subscription.ProviderSubscriptionId!, quantity, policy, ct);
            }
            catch (NotSupportedException ex)
            {
                throw new ConflictException(ex.Message);
            }

            await service.ApplyRequestedAsync(subscription.Id, s => s.SetQuantityAsync(subscription.Id, quantity, cancellationToken: ct), ct);
            return $"quantity {quantity} ({(policy == PlanChangePolicy.Immediate ? "immediate" : "next_cycle")}) requested";
        });

    public Task<ActionOutcome> CancelAsync(string subscriptionId, bool atPeriodEnd, CancellationToken ct) =>
        WithProviderAsync(subscriptionId, ct, async (provider, subscription) =>
        {
            await provider.CancelSubscriptionAsync(subscription.ProviderSubscriptionId!, atPeriodEnd, ct);
            await service.ApplyRequestedAsync(subscription.Id, s => s.CancelAsync(subscription.Id, atPeriodEnd, ct), ct);
            return atPeriodEnd ? "cancellation at period end requested" : "cancellation requested";
        });

    public Task<ActionOutcome> ResumeAsync(string subscriptionId, CancellationToken ct) =>
        WithProviderAsync(subscriptionId, ct, async (provider, subscription) =>
        {
            if (!subscription.CancelAtPeriodEnd)
            {
                throw new ConflictException($"subscription {subscriptionId} is not set to cancel");
            }

            await provider.ResumeSubscriptionAsync(subscription.ProviderSubscriptionId!, ct);
            await service.ApplyRequestedAsync(subscription.Id, s => s.ResumeAsync(subscription.Id, ct), ct);
            return "resume requested";
        });

    public async Task<ActionOutcome> ChangeAsync(string subscriptionId, string planId, PlanChangePolicy policy, CancellationToken ct)
    {
        if (!catalog.PlansById.TryGetValue(planId, out var plan) || plan.Interval is not (BillingInterval.Month or BillingInterval.Year))
        {
            return new ActionOutcome(ActionResult.NotFound, $"'{planId}' is not a recurring plan of the catalog.");
        }

        return await WithProviderAsync(subscriptionId, ct, async (provider, subscription) =>
        {
            if (subscription.PlanId == plan.Id)
            {
                throw new ConflictException($"subscription {subscriptionId} is already on {plan.Id}");
            }

            var reference = plan.Providers.For(provider.Id)
                ?? throw new ConflictException($"'{plan.Id}' is not sold through {provider.Id}");
            await provider.ChangeSubscriptionAsync(subscription.ProviderSubscriptionId!, reference, policy, ct);
            await service.ApplyRequestedAsync(subscription.Id, s => s.ChangePlanAsync(subscription.Id, plan.Id, policy, ct), ct);

            return $"change to {plan.Id} ({(policy == PlanChangePolicy.Immediate ? "immediate" : "next_cycle")}) requested";
        });
    }

    private async Task<ActionOutcome> WithProviderAsync(string subscriptionId, CancellationToken ct,
        Func<IPaymentProvider, Subscription, Task<string>> act)
    {
        var subscription = await subscriptions.GetAsync(subscriptionId, ct);
        if (subscription is null)
        {
            return new ActionOutcome(ActionResult.NotFound, $"No subscription {subscriptionId}.");
        }

        if (subscription.IsTerminal)
        {
            return new ActionOutcome(ActionResult.Conflict, $"subscription {subscriptionId} has ended ({subscription.Status}).");
        }

        if (TrialService.IsOwnTrial(subscription))
        {
            return new ActionOutcome(ActionResult.Conflict,
                $"subscription {subscriptionId} is a card-less trial: no provider to ask; it ends by itself, and buying the plan replaces it.");
        }

        if (subscription.ProviderSubscriptionId is null || subscription.ProviderSubscriptionId.StartsWith("payment:", StringComparison.Ordinal)
            || providers.Find(subscription.Provider) is not { } provider)
        {
            return new ActionOutcome(ActionResult.Conflict, "A lifetime plan, or one whose provider is no longer enabled, cannot be changed there.");
        }

        if (!provider.Capabilities.HasFlag(ProviderCapabilities.ManageSubscriptions))
        {
            return new ActionOutcome(ActionResult.Conflict,
                $"subscription {subscriptionId} is managed by the customer at {provider.Id} (an App Store subscription changes in the App Store), not here.");
        }

        try
        {
            return new ActionOutcome(ActionResult.Accepted, await act(provider, subscription) + "; the subscription changes when the provider confirms.");
        }
        catch (ConflictException ex)
        {
            return new ActionOutcome(ActionResult.Conflict, ex.Message);
        }
        catch (ProviderException ex)
        {
            return new ActionOutcome(ActionResult.ProviderError, $"{ex.Provider}: {ex.Message}");
        }
    }

    private sealed class ConflictException(string message) : Exception(message);
}
