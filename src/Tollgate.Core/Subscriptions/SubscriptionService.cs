using Tollgate.Core.Catalog;
using Tollgate.Core.Common;
using Tollgate.Core.Entitlements;
using Tollgate.Core.Ledger;

namespace Tollgate.Core.Subscriptions;

/// <summary>
/// The subscription state machine: start, renew, change plan (immediate or next cycle), cancel (now or at period
/// end), resume. Provider webhooks and the Sandbox drive it; it keeps allowances in step with the plan.
/// </summary>
public sealed class SubscriptionService(ProductCatalog catalog, ISubscriptionStore store, LedgerEngine ledger, IAllowanceWriter allowances, TimeProvider time)
{
    private const int MaxSaveAttempts = 10;

    /// <summary>Records a subscription (a lifetime plan has no periods) and grants the allowances it owes now.</summary>
    public async Task<Subscription> StartAsync(string customerId, string planId, string provider, string? providerSubscriptionId,
        string? providerCustomerId, SubscriptionStatus status, DateTimeOffset? periodStart, DateTimeOffset? periodEnd,
        DateTimeOffset? providerUpdatedAt = null, CancellationToken cancellationToken = default)
    {
        var plan = PlanOf(planId);
        var now = Instants.Now(time);
        var lifetime = plan.Interval == BillingInterval.Once;
        var subscription = new Subscription(Ids.New("sub", time), customerId, plan.Id, provider, providerSubscriptionId, providerCustomerId, status,
            lifetime ? null : Normalize(periodStart), lifetime ? null : Normalize(periodEnd), false, null, null, Normalize(providerUpdatedAt), now, now);
        await SaveAsync(subscription, cancellationToken).ConfigureAwait(false);
        return subscription;
    }

    /// <summary>A new paid period: the subscription is active again and a next-cycle plan change takes effect. A period
    /// that does not start after the stored one changes nothing (it was renewed already).</summary>
    public Task<Subscription> RenewAsync(string subscriptionId, DateTimeOffset periodStart, DateTimeOffset periodEnd,
        DateTimeOffset? providerUpdatedAt = null, CancellationToken cancellationToken = default) =>
        UpdateAsync(subscriptionId, subscription => subscription.CurrentPeriodStart >= Normalize(periodStart) ? null : subscription with
        {
            PlanId = subscription.PendingPlanId ?? subscription.PlanId,
            PendingPlanId = null,
            Status = SubscriptionStatus.Active,
            CurrentPeriodStart = Normalize(periodStart),
            CurrentPeriodEnd = Normalize(periodEnd),
            ProviderUpdatedAt = Normalize(providerUpdatedAt) ?? subscription.ProviderUpdatedAt,
            UpdatedAt = Instants.Now(time),
        }, cancellationToken);

    /// <summary>
    /// Moves a subscription to another plan. <see cref="PlanChangePolicy.Immediate"/>: the new plan applies now, and
    /// where its allowance for the current window is larger, the difference is granted at once (the window's usage so
    /// far counts against the new total; a smaller allowance takes nothing back). <see cref="PlanChangePolicy.NextCycle"/>:
    /// the change waits for the next renewal.
    /// </summary>
    public async Task<Subscription> ChangePlanAsync(string subscriptionId, string newPlanId, PlanChangePolicy policy,
        CancellationToken cancellationToken = default)
    {
        var subscription = await GetAsync(subscriptionId, cancellationToken).ConfigureAwait(false);
        var newPlan = PlanOf(newPlanId);
        var now = Instants.Now(time);
        if (policy == PlanChangePolicy.NextCycle)
        {
            return await UpdateAsync(subscriptionId, current => current with { PendingPlanId = newPlan.Id == current.PlanId ? null : newPlan.Id, UpdatedAt = now },
                cancellationToken).ConfigureAwait(false);
        }

        // First make sure the old plan's allowances for this window are in place, so the difference is measured
        // against what was really granted: every lot of the window, whichever plans it was on before (up, down and
        // up again grants the largest allowance once, not each step's difference).
        await allowances.WriteDueAsync(subscription.CustomerId, cancellationToken).ConfigureAwait(false);
        var lots = await ledger.GetAllLotsAsync(subscription.CustomerId, cancellationToken).ConfigureAwait(false);
        var changed = subscription with { PlanId = newPlan.Id, PendingPlanId = null, UpdatedAt = now };
        foreach (var grant in Allowances.Due(catalog, new EffectivePlan(newPlan, changed, []), now))
        {
            var windowEnd = Normalize(grant.WindowEnd);
            var before = lots.Where(l => l.Feature == grant.Feature && l.SourceRef == grant.SourceRef && Normalize(l.ExpiresAt) == windowEnd)
                .Sum(l => l.Amount);
            if (grant.Amount > before)
            {
                // Nothing granted in this window yet (the old plan lacked the feature): the window's own key, so the
                // allowance check that follows finds it granted. Otherwise a top-up keyed by the total it brings the
                // window to, so two deliveries of one change top up once.
                var key = before == 0 ? grant.Key : $"{grant.Key}:upto:{grant.Amount.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
                await ledger.GrantAsync(new GrantRequest(subscription.CustomerId, grant.Feature, grant.Amount - before, grant.Source, key)
                {
                    SourceRef = grant.SourceRef,
                    ExpiresAt = grant.WindowEnd,
                    Reference = $"plan change {subscription.PlanId} → {newPlan.Id}",
                }, cancellationToken).ConfigureAwait(false);
            }
        }

        return await UpdateAsync(subscriptionId, current => current with { PlanId = newPlan.Id, PendingPlanId = null, UpdatedAt = now }, cancellationToken)
            .ConfigureAwait(false);
    }

    /// <summary>Cancels now (access ends) or at the period end (access continues until then).</summary>
    public Task<Subscription> CancelAsync(string subscriptionId, bool atPeriodEnd, CancellationToken cancellationToken = default)
    {
        var now = Instants.Now(time);
        return UpdateAsync(subscriptionId, subscription => atPeriodEnd && subscription.CurrentPeriodEnd is not null
            ? subscription with { CancelAtPeriodEnd = true, CanceledAt = now, UpdatedAt = now }
            : subscription with { Status = SubscriptionStatus.Canceled, CanceledAt = now, UpdatedAt = now }, cancellationToken);
    }

    /// <summary>Undoes a cancellation scheduled for the period end.</summary>
    public Task<Subscription> ResumeAsync(string subscriptionId, CancellationToken cancellationToken = default) =>
        UpdateAsync(subscriptionId, subscription => subscription with { CancelAtPeriodEnd = false, CanceledAt = null, UpdatedAt = Instants.Now(time) },
            cancellationToken);

    /// <summary>Stores a subscription as a provider reported it, then brings the customer's allowances up to date.
    /// Returns false when the stored subscription reflects a newer provider event and was kept.</summary>
    public async Task<bool> SaveAsync(Subscription subscription, CancellationToken cancellationToken = default)
    {
        var saved = await store.SaveAsync(subscription, cancellationToken).ConfigureAwait(false);
        allowances.Forget(subscription.CustomerId);
        if (saved)
        {
            await allowances.WriteDueAsync(subscription.CustomerId, cancellationToken).ConfigureAwait(false);
        }

        return saved;
    }

    /// <summary>Reads, changes (null: nothing to change) and saves. A save refused because a newer provider event was
    /// stored between the read and the write is made again on what that event stored, so neither change is lost.</summary>
    private async Task<Subscription> UpdateAsync(string subscriptionId, Func<Subscription, Subscription?> change, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var current = await GetAsync(subscriptionId, cancellationToken).ConfigureAwait(false);
            if (change(current) is not { } changed)
            {
                return current;
            }

            if (await SaveAsync(changed, cancellationToken).ConfigureAwait(false))
            {
                return changed;
            }

            if (attempt == MaxSaveAttempts)
            {
                throw new InvalidOperationException($"Subscription {subscriptionId} changed under {attempt} saves in a row; giving up.");
            }
        }
    }

    public async Task<Subscription> GetAsync(string subscriptionId, CancellationToken cancellationToken) =>
        await store.GetAsync(subscriptionId, cancellationToken).ConfigureAwait(false)
        ?? throw new KeyNotFoundException($"No subscription {subscriptionId}.");

    private Plan PlanOf(string planId) =>
        catalog.PlansById.GetValueOrDefault(planId) ?? throw new ArgumentException($"'{planId}' is not a plan of the catalog.", nameof(planId));

    private static DateTimeOffset? Normalize(DateTimeOffset? value) => value is { } v ? Instants.Normalize(v) : null;
}
