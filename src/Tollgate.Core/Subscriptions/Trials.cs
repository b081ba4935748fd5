using Tollgate.Core.Catalog;
using Tollgate.Core.Common;
using Tollgate.Core.Customers;
using Tollgate.Core.Idempotency;

namespace Tollgate.Core.Subscriptions;

/// <summary>A customer's trial of a plan, kept for good: the rule is once per customer and plan, ever.</summary>
/// <param name="SubscriptionId">The trial's subscription: Tollgate's own, or the provider's trialing one.</param>
/// <param name="Source"><see cref="TrialService.Provider"/> for a card-less trial, else the provider that gave it.</param>
public sealed record TrialRecord(string CustomerId, string PlanId, string SubscriptionId, string Source, DateTimeOffset StartedAt);

/// <summary>Storage port for trials had.</summary>
public interface ITrialStore
{
    /// <summary>Records the customer's trial of the plan unless one is recorded; false (and nothing written) when the
    /// customer has had one. Racing calls: exactly one returns true.</summary>
    Task<bool> TryRecordAsync(TrialRecord trial, CancellationToken cancellationToken);

    /// <summary>The customer's trial of the plan, or null when they have had none.</summary>
    Task<TrialRecord?> FindAsync(string customerId, string planId, CancellationToken cancellationToken);

    /// <summary>Every trial the customer has had, oldest first.</summary>
    Task<IReadOnlyList<TrialRecord>> ListByCustomerAsync(string customerId, CancellationToken cancellationToken);
}

/// <summary>A trial started, or why not.</summary>
/// <param name="Subscription">The trial's subscription; null when refused.</param>
/// <param name="Refusal">Why not: <c>unknown_product</c>, <c>not_eligible</c> or <c>idempotency_key_reused</c>.</param>
public sealed record TrialOutcome(Subscription? Subscription, TollgateRefusal? Refusal, string? Message)
{
    /// <summary>The response stored under the call's Idempotency-Key, when the call carried one and it was stored (with the
    /// trial, or by an earlier call under the same key).</summary>
    public StoredResponse? Response { get; init; }
}

/// <summary>
/// Card-less trials (issue 15): a plan with <c>trial_days</c> may be tried once per customer, ever. The trial is a
/// subscription Tollgate owns (provider <see cref="Provider"/>, no provider id): status <c>trialing</c>, its period
/// from the start to the start plus the trial's days, and no access from its end on (<see cref="Subscription.AccessEndsAt"/>),
/// so the customer falls back to the default plan without anything having to run. While it runs, the plan's features
/// and its allowances for the trial period are the customer's; a paid subscription replaces it (<see cref="SubscriptionService"/>).
/// </summary>
public sealed class TrialService(
    ProductCatalog catalog,
    ITrialStore trials,
    ISubscriptionStore subscriptions,
    SubscriptionService subscriptionService,
    ICustomerStore customers,
    IAllowanceWriter allowances,
    TimeProvider time,
    IIdempotencyStore? idempotency = null,
    IDatabaseTransactions? transactions = null,
    Events.IEventOutbox? outbox = null)
{
    /// <summary>The provider id of the trials Tollgate itself gives.</summary>
    public const string Provider = "tollgate";

    /// <summary>Starts the customer's trial of <paramref name="planId"/>, once: a second start (also after the trial
    /// ended or was replaced) is refused <c>not_eligible</c>, as is a plan without <c>trial_days</c> and a plan the
    /// customer holds through a paid subscription. With <paramref name="call"/>, the response is stored under its key in
    /// the trial's own transaction: a call that finds it stored is answered from it.</summary>
    public async Task<TrialOutcome> StartAsync(string customerId, string planId, IdempotentCall<TrialOutcome>? call = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(customerId);
        ArgumentException.ThrowIfNullOrEmpty(planId);
        if (await AnsweredAsync(call, cancellationToken).ConfigureAwait(false) is { } answered)
        {
            return answered;
        }

        var outcome = await TryStartAsync(customerId, planId, call, cancellationToken).ConfigureAwait(false);
        // Refused because another call under the same key won the race (it started this very trial): its answer is ours.
        return outcome.Refusal is not null && await AnsweredAsync(call, cancellationToken).ConfigureAwait(false) is { } won ? won : outcome;
    }

    /// <summary>Marks card-less trials whose period has ended <c>expired</c>, each with its <c>subscription.updated</c>
    /// event; returns how many. Access needs none of this (it ended with the period): it keeps the record and the app told.</summary>
    public async Task<int> ExpireEndedAsync(CancellationToken cancellationToken = default)
    {
        var now = Instants.Now(time);
        var expired = 0;
        // Ordered by period end: the ended ones come first, among provider trials that are the provider's to end. The
        // filter only saves calls: ExpireTrialAsync itself expires nothing but an own trial whose period has ended.
        // Stryker disable once Logical : equivalent, the filter only saves calls (see above)
        foreach (var trial in (await subscriptions.ListByStatusAsync(SubscriptionStatus.Trialing, ExpireBatch, cancellationToken).ConfigureAwait(false))
                     .Where(s => IsOwnTrial(s) && s.CurrentPeriodEnd <= now))
        {
            // Counted only when this sweep expired it: the list may be older than another server's sweep.
            Subscription? before = null;
            var after = await subscriptionService.ApplyRequestedAsync(trial.Id, async service =>
            {
                before = await service.GetAsync(trial.Id, cancellationToken).ConfigureAwait(false);
                return await service.ExpireTrialAsync(trial.Id, cancellationToken).ConfigureAwait(false);
            }, cancellationToken).ConfigureAwait(false);
            expired += before?.Status != SubscriptionStatus.Expired && after.Status == SubscriptionStatus.Expired ? 1 : 0;
        }

        return expired;
    }

    /// <summary>Trialing subscriptions looked at per <see cref="ExpireEndedAsync"/>.</summary>
    public const int ExpireBatch = 500;

    /// <summary>Days left of a running trial, counted up (a trial ending in 30 hours has 2 days left); 0 once ended.</summary>
    public static int DaysLeft(Subscription trial, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(trial);
        // Stryker disable once Equality : equivalent, at end == now the ceiling of 0 days is 0 either way
        return trial.CurrentPeriodEnd is { } end && end > now ? (int)Math.Ceiling((end - now).TotalDays) : 0;
    }

    /// <summary>Whether this is a trial Tollgate gave (not a provider's).</summary>
    public static bool IsOwnTrial(Subscription subscription) =>
        subscription is { Provider: Provider, ProviderSubscriptionId: null };

    /// <summary>Whether the customer may start a trial of the plan now (what the pricing page offers): null when they
    /// may, else why not.</summary>
    public async Task<string?> IneligibleAsync(string customerId, Plan plan, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(plan);
        if (plan.TrialDays is null)
        {
            return $"'{plan.Id}' offers no trial (the catalog gives it no trial_days).";
        }

        if (await trials.FindAsync(customerId, plan.Id, cancellationToken).ConfigureAwait(false) is { } had)
        {
            return $"the customer has had a trial of '{plan.Id}' (started {had.StartedAt:yyyy-MM-dd}); a plan is tried once.";
        }

        var now = time.GetUtcNow();
        var held = await subscriptions.ListByCustomerAsync(customerId, cancellationToken).ConfigureAwait(false);
        return held.Any(s => s.PlanId == plan.Id && !IsOwnTrial(s) && s.GrantsAccess(now, pastDueKeepsAccess: true))
            ? $"the customer already has '{plan.Id}'."
            : null;
    }

    private async Task<TrialOutcome> TryStartAsync(string customerId, string planId, IdempotentCall<TrialOutcome>? call, CancellationToken ct)
    {
        if (catalog.PlansById.GetValueOrDefault(planId) is not { } plan)
        {
            return Refused(TollgateRefusal.UnknownProduct, $"'{planId}' is not a plan of the catalog.");
        }

        if (await IneligibleAsync(customerId, plan, ct).ConfigureAwait(false) is { } why)
        {
            return Refused(TollgateRefusal.NotEligible, why);
        }

        var now = Instants.Now(time);
        var end = Instants.Normalize(now.AddDays(plan.TrialDays!.Value));
        var trial = new Subscription(Ids.New("sub", time), customerId, plan.Id, Provider, null, null, SubscriptionStatus.Trialing, now, end,
            false, null, null, null, now, now, AccessEndsAt: end)
        {
            // The store records the plan's current version on insert; the answer (stored under the key) says the same.
            PlanVersion = catalog.Versions.Current(plan.Id),
        };
        var outcome = new TrialOutcome(trial, null, null);
        StoredResponse? response = null;
        await using (var transaction = transactions?.Begin())
        {
            await customers.UpsertAsync(customerId, null, null, null, now, ct).ConfigureAwait(false);
            // The rule itself: of racing starts (other keys, other servers) exactly one records the trial.
            if (!await trials.TryRecordAsync(new TrialRecord(customerId, plan.Id, trial.Id, Provider, now), ct).ConfigureAwait(false))
            {
                return Refused(TollgateRefusal.NotEligible, $"the customer has had a trial of '{plan.Id}'; a plan is tried once.");
            }

            await subscriptionService.SaveAsync(trial, ct).ConfigureAwait(false);
            outbox?.Add(Events.OutboundEvent.Create(Events.EventTypes.SubscriptionCreated, customerId, SubscriptionEventData.Of(trial), time));
            if (call is not null && idempotency is not null)
            {
                response = call.Render(outcome);
                if (!await idempotency.TryStoreAsync(call.Scope, call.Key, response, now, ct).ConfigureAwait(false))
                {
                    // The key answered another request first: nothing of this one may stay (the transaction rolls back).
                    return Refused(TollgateRefusal.IdempotencyKeyReused, KeyReused);
                }
            }

            if (transaction is not null)
            {
                await transaction.CommitAsync(ct).ConfigureAwait(false);
            }
        }

        // What was cached of the customer while the transaction ran is older than its commit.
        allowances.Forget(customerId);
        return outcome with { Response = response };
    }

    private async Task<TrialOutcome?> AnsweredAsync(IdempotentCall<TrialOutcome>? call, CancellationToken ct)
    {
        if (call is null || idempotency is null || await idempotency.GetAsync(call.Scope, call.Key, ct).ConfigureAwait(false) is not { } stored)
        {
            return null;
        }

        return stored.RequestHash == call.RequestHash
            ? new TrialOutcome(null, null, null) { Response = stored }
            : Refused(TollgateRefusal.IdempotencyKeyReused, KeyReused);
    }

    private const string KeyReused = "The Idempotency-Key was used with a different request.";

    private static TrialOutcome Refused(TollgateRefusal refusal, string message) => new(null, refusal, message);
}
