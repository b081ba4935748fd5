using Tollgate.Core.Catalog;
using Tollgate.Core.Common;
using Tollgate.Core.Entitlements;
using Tollgate.Core.Ledger;

namespace Tollgate.Core.Subscriptions;

/// <summary>
/// The subscription state machine: start, renew, change plan (immediate or next cycle), cancel (now or at period
/// end), resume. Provider webhooks and the Sandbox drive it; it keeps allowances in step with the plan.
/// </summary>
/// <remarks>With an outbox, every save that changes what the customer can do (their <c>plan:*</c> and <c>feature:*</c>
/// capabilities) writes <c>customer.capabilities_changed</c> in the save's transaction (the caller's, or one of its own).</remarks>
/// <remarks>With a trial store (issue 15): a provider's trialing subscription is recorded as the customer's trial of its
/// plan, and a second trial of a plan the customer has had is kept <c>incomplete</c> (no access, no allowance) until its
/// first payment; a provider subscription that gives access ends the customer's running card-less trials
/// (<see cref="TrialService"/>), retiring what is left of their allowances: the paid subscription replaces them.</remarks>
public sealed class SubscriptionService(ProductCatalog catalog, ISubscriptionStore store, LedgerEngine ledger, IAllowanceWriter allowances, TimeProvider time,
    Events.IEventOutbox? outbox = null, IDatabaseTransactions? transactions = null, bool pastDueKeepsAccess = false, ITrialStore? trials = null)
{
    private const int MaxSaveAttempts = 10;

    /// <summary>
    /// Applies to Tollgate's own record what the app (API) or the customer (portal) asked of a subscription and its
    /// provider accepted, with its <c>subscription.*</c> event, in one transaction: the app hears of the change when it
    /// is made, not only when the provider's webhook comes back. The webhook then finds the same state and sends no
    /// second event (the payment applier reports a snapshot only when it changes what an event says).
    /// </summary>
    public async Task<Subscription> ApplyRequestedAsync(string subscriptionId, Func<SubscriptionService, Task<Subscription>> change,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(change);
        if (outbox is null || transactions is null || outbox.InTransaction)
        {
            return await ReportedAsync(subscriptionId, change, cancellationToken).ConfigureAwait(false);
        }

        await using var transaction = transactions.Begin();
        var result = await ReportedAsync(subscriptionId, change, cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return result;
    }

    private async Task<Subscription> ReportedAsync(string subscriptionId, Func<SubscriptionService, Task<Subscription>> change, CancellationToken ct)
    {
        var before = await GetAsync(subscriptionId, ct).ConfigureAwait(false);
        var after = await change(this).ConfigureAwait(false);
        var data = SubscriptionEventData.Of(after);
        if (outbox is not null && !System.Text.Json.Nodes.JsonNode.DeepEquals(SubscriptionEventData.Of(before), data))
        {
            var type = after.Status == SubscriptionStatus.Canceled && before.Status != SubscriptionStatus.Canceled
                ? Events.EventTypes.SubscriptionCanceled
                : Events.EventTypes.SubscriptionUpdated;
            outbox.Add(Events.OutboundEvent.Create(type, after.CustomerId, data, time));
        }

        return after;
    }

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
        subscription = await AdmitTrialAsync(subscription, cancellationToken).ConfigureAwait(false);
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

    /// <summary>
    /// An operator's migration: moves the plan's subscriptions on <paramref name="fromVersion"/> to
    /// <paramref name="toVersion"/> and, in the same transaction, writes <c>customer.capabilities_changed</c> for each
    /// customer whose capabilities the move changes (a boolean feature the new version turns on or off). The moved
    /// customers' cached views are dropped. Nothing is granted: the next renewal grants the new version's allowances.
    /// Returns how many subscriptions moved (0 when none is left on <paramref name="fromVersion"/>).
    /// </summary>
    public async Task<int> MigrateVersionAsync(IPlanVersionStore versions, string planId, int fromVersion, int toVersion,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(versions);
        var transaction = outbox is not null && transactions is not null && !outbox.InTransaction ? transactions.Begin() : null;
        try
        {
            var moved = await versions.MigrateAsync(planId, fromVersion, toVersion, Instants.Now(time), cancellationToken).ConfigureAwait(false);
            foreach (var customer in moved.GroupBy(m => m.CustomerId, StringComparer.Ordinal))
            {
                if (outbox is null)
                {
                    continue;
                }

                // Before: the same subscriptions with the moved ones on their old version (read in the transaction).
                var now = time.GetUtcNow();
                var ids = customer.Select(m => m.SubscriptionId).ToHashSet(StringComparer.Ordinal);
                var after = await store.ListByCustomerAsync(customer.Key, cancellationToken).ConfigureAwait(false);
                var afterCapabilities = CapabilitiesOf(after, now);
                var beforeCapabilities = CapabilitiesOf([.. after.Select(s => ids.Contains(s.Id) ? s with { PlanVersion = fromVersion } : s)], now);
                if (!beforeCapabilities.SetEquals(afterCapabilities))
                {
                    outbox.Add(Events.OutboundEvent.Create(Events.EventTypes.CapabilitiesChanged, customer.Key, new System.Text.Json.Nodes.JsonObject
                    {
                        ["capabilities"] = new System.Text.Json.Nodes.JsonArray([.. afterCapabilities.Select(c => System.Text.Json.Nodes.JsonValue.Create(c))]),
                        ["previous"] = new System.Text.Json.Nodes.JsonArray([.. beforeCapabilities.Select(c => System.Text.Json.Nodes.JsonValue.Create(c))]),
                    }, time));
                }
            }

            if (transaction is not null)
            {
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            }

            // Dropped again after the commit: a read between the move and the commit may have cached the old version.
            foreach (var customer in moved.Select(m => m.CustomerId).Distinct(StringComparer.Ordinal))
            {
                allowances.Forget(customer);
            }

            return moved.Count;
        }
        finally
        {
            if (transaction is not null)
            {
                await transaction.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Cancels now (access ends) or at the period end (access continues until then).</summary>
    public Task<Subscription> CancelAsync(string subscriptionId, bool atPeriodEnd, CancellationToken cancellationToken = default)
    {
        var now = Instants.Now(time);
        return UpdateAsync(subscriptionId, subscription => atPeriodEnd && subscription.CurrentPeriodEnd is not null
            ? subscription with { CancelAtPeriodEnd = true, CanceledAt = now, UpdatedAt = now }
            : subscription with { Status = SubscriptionStatus.Canceled, CanceledAt = now, UpdatedAt = now }, cancellationToken);
    }

    /// <summary>Records how many units (seats) the provider now bills: the limit of the catalog's seats feature under
    /// this subscription. Lowering it detaches no one: members past it stay, and no one new is attached until there is room.</summary>
    public Task<Subscription> SetQuantityAsync(string subscriptionId, long quantity, DateTimeOffset? providerUpdatedAt = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(quantity, 1);
        return UpdateAsync(subscriptionId, subscription => subscription.Quantity == quantity ? null : subscription with
        {
            Quantity = quantity,
            ProviderUpdatedAt = Normalize(providerUpdatedAt) ?? subscription.ProviderUpdatedAt,
            UpdatedAt = Instants.Now(time),
        }, cancellationToken);
    }

    /// <summary>Marks a card-less trial whose period ended <c>expired</c> (its access ended with the period already; this
    /// tells the app). Anything else is left as it is.</summary>
    public Task<Subscription> ExpireTrialAsync(string subscriptionId, CancellationToken cancellationToken = default)
    {
        var now = Instants.Now(time);
        return UpdateAsync(subscriptionId, subscription =>
            TrialService.IsOwnTrial(subscription) && subscription.Status == SubscriptionStatus.Trialing && subscription.CurrentPeriodEnd <= now
                ? subscription with { Status = SubscriptionStatus.Expired, UpdatedAt = now }
                : null, cancellationToken);
    }

    /// <summary>Undoes a cancellation scheduled for the period end.</summary>
    public Task<Subscription> ResumeAsync(string subscriptionId, CancellationToken cancellationToken = default) =>
        UpdateAsync(subscriptionId, subscription => subscription with { CancelAtPeriodEnd = false, CanceledAt = null, UpdatedAt = Instants.Now(time) },
            cancellationToken);

    /// <summary>Stores a subscription as a provider reported it, then brings the customer's allowances up to date.
    /// Returns false when the stored subscription reflects a newer provider event and was kept.</summary>
    public async Task<bool> SaveAsync(Subscription subscription, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(subscription);
        if (outbox is null)
        {
            return await SaveCoreAsync(subscription, cancellationToken).ConfigureAwait(false);
        }

        if (outbox.InTransaction || transactions is null)
        {
            return await SaveReportingAsync(subscription, cancellationToken).ConfigureAwait(false);
        }

        // Not inside a flow (a trial started by the API, a plan change asked in the portal): the save and its event get
        // a transaction of their own.
        await using var transaction = transactions.Begin();
        var saved = await SaveReportingAsync(subscription, cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return saved;
    }

    /// <summary>Saves, and reports a change of the customer's capabilities (read before and after, in the transaction).</summary>
    private async Task<bool> SaveReportingAsync(Subscription subscription, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var before = CapabilitiesOf(await store.ListByCustomerAsync(subscription.CustomerId, cancellationToken).ConfigureAwait(false), now);
        var saved = await SaveCoreAsync(subscription, cancellationToken).ConfigureAwait(false);
        if (saved)
        {
            var after = CapabilitiesOf(await store.ListByCustomerAsync(subscription.CustomerId, cancellationToken).ConfigureAwait(false), now);
            if (!before.SetEquals(after))
            {
                outbox!.Add(Events.OutboundEvent.Create(Events.EventTypes.CapabilitiesChanged, subscription.CustomerId, new System.Text.Json.Nodes.JsonObject
                {
                    ["capabilities"] = new System.Text.Json.Nodes.JsonArray([.. after.Select(c => System.Text.Json.Nodes.JsonValue.Create(c))]),
                    ["previous"] = new System.Text.Json.Nodes.JsonArray([.. before.Select(c => System.Text.Json.Nodes.JsonValue.Create(c))]),
                }, time));
            }
        }

        return saved;
    }

    private SortedSet<string> CapabilitiesOf(IReadOnlyList<Subscription> subscriptions, DateTimeOffset now) =>
        new(EffectivePlan.Resolve(catalog, subscriptions, now, pastDueKeepsAccess)?.Capabilities(catalog) ?? new SortedSet<string>(), StringComparer.Ordinal);

    private async Task<bool> SaveCoreAsync(Subscription subscription, CancellationToken cancellationToken)
    {
        subscription = await AdmitTrialAsync(subscription, cancellationToken).ConfigureAwait(false);
        // Only a subscription that starts giving access with this save replaces a running trial: a renewal, a replayed
        // webhook or a quantity change of a plan already held must not end a trial of another plan. One read before the
        // save answers both questions (did this subscription give access already, which trials are running).
        // The read is skipped where EndReplacedTrialsAsync ends nothing anyway (no trials kept, or an own trial saved).
        // Stryker disable once Conditional,Logical : equivalent, the skip only spares a read (above)
        var held = trials is null || TrialService.IsOwnTrial(subscription)
            ? []
            : await store.ListByCustomerAsync(subscription.CustomerId, cancellationToken).ConfigureAwait(false);
        var gaveAccess = held.Any(s => s.Id == subscription.Id && s.GrantsAccess(Instants.Now(time), pastDueKeepsAccess));
        var saved = await store.SaveAsync(subscription, cancellationToken).ConfigureAwait(false);
        allowances.Forget(subscription.CustomerId);
        if (saved)
        {
            if (!gaveAccess)
            {
                await EndReplacedTrialsAsync(subscription, held, cancellationToken).ConfigureAwait(false);
            }

            await allowances.WriteDueAsync(subscription.CustomerId, cancellationToken).ConfigureAwait(false);
        }

        return saved;
    }

    /// <summary>A provider's trialing subscription is the customer's trial of its plan: recorded once, and a trial of a
    /// plan the customer has had already (another subscription's) gives nothing until it is paid. Once per customer and
    /// plan holds for every provider, including one whose trial Tollgate cannot switch off at checkout (Creem's product
    /// trial).</summary>
    private async Task<Subscription> AdmitTrialAsync(Subscription subscription, CancellationToken cancellationToken)
    {
        if (trials is null || subscription.Status != SubscriptionStatus.Trialing || TrialService.IsOwnTrial(subscription))
        {
            return subscription;
        }

        var record = new TrialRecord(subscription.CustomerId, subscription.PlanId, subscription.Id, subscription.Provider, Instants.Now(time));
        // Stryker disable once Block : equivalent, the record just made names this subscription: the lookup below returns it as it is
        if (await trials.TryRecordAsync(record, cancellationToken).ConfigureAwait(false))
        {
            return subscription;
        }

        var had = await trials.FindAsync(subscription.CustomerId, subscription.PlanId, cancellationToken).ConfigureAwait(false);
        return had is null || had.SubscriptionId == subscription.Id ? subscription : subscription with { Status = SubscriptionStatus.Incomplete };
    }

    /// <summary>A provider subscription that gives access replaces the customer's running card-less trials (a converted
    /// trial): each ends now, as <c>canceled</c>, and what is left of its allowances is retired, so the paid period's
    /// allowance is not stacked on the trial's.</summary>
    private async Task EndReplacedTrialsAsync(Subscription paid, IReadOnlyList<Subscription> held, CancellationToken cancellationToken)
    {
        var now = Instants.Now(time);
        // An own trial saved comes with nothing held (SaveCoreAsync skips the read), so past this guard it would end nothing.
        // Stryker disable once Logical : equivalent for the own-trial operand (above); the others are killed
        if (trials is null || TrialService.IsOwnTrial(paid) || !paid.GrantsAccess(now, pastDueKeepsAccess))
        {
            return;
        }

        // Own trials are never past due: whether past due keeps access does not matter to them.
        // Stryker disable once Boolean : equivalent (above)
        foreach (var trial in held.Where(s => TrialService.IsOwnTrial(s) && s.Status == SubscriptionStatus.Trialing && s.GrantsAccess(now, false)))
        {
            var ended = trial with { Status = SubscriptionStatus.Canceled, CanceledAt = now, AccessEndsAt = now, UpdatedAt = now };
            if (!await store.SaveAsync(ended, cancellationToken).ConfigureAwait(false))
            {
                continue;
            }

            // Keyed by the trial: applied twice (a webhook delivered again), it retires once.
            await ledger.RetireAsync(new RetireRequest(paid.CustomerId,
                $"allowance:{trial.Id}:{Instants.ToUnixMicroseconds(trial.CurrentPeriodStart!.Value).ToString(System.Globalization.CultureInfo.InvariantCulture)}",
                "trial-replaced:" + trial.Id), cancellationToken).ConfigureAwait(false);
            if (outbox is { InTransaction: true })
            {
                var data = SubscriptionEventData.Of(ended);
                data["replaced_by"] = paid.Id;
                outbox.Add(Events.OutboundEvent.Create(Events.EventTypes.SubscriptionCanceled, ended.CustomerId, data, time));
            }
        }
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

    /// <summary>A subscription by id; throws <see cref="KeyNotFoundException"/> when there is none.</summary>
    public async Task<Subscription> GetAsync(string subscriptionId, CancellationToken cancellationToken) =>
        await store.GetAsync(subscriptionId, cancellationToken).ConfigureAwait(false)
        ?? throw new KeyNotFoundException($"No subscription {subscriptionId}.");

    private Plan PlanOf(string planId) =>
        catalog.PlansById.GetValueOrDefault(planId) ?? throw new ArgumentException($"'{planId}' is not a plan of the catalog.", nameof(planId));

    private static DateTimeOffset? Normalize(DateTimeOffset? value) => value is { } v ? Instants.Normalize(v) : null;
}
