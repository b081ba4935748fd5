namespace Tollgate.Core.Subscriptions;

/// <summary>Where a subscription stands.</summary>
public enum SubscriptionStatus
{
    /// <summary>Created, first payment not made yet: no access.</summary>
    Incomplete,
    /// <summary>In a free trial: access.</summary>
    Trialing,
    /// <summary>Paid and running: access.</summary>
    Active,
    /// <summary>A renewal payment failed: access only if configured so.</summary>
    PastDue,
    /// <summary>Paused: no access.</summary>
    Paused,
    /// <summary>Canceled: no access once its period ended; terminal.</summary>
    Canceled,
    /// <summary>Ended: terminal.</summary>
    Expired,
}

/// <summary>A customer's subscription to a plan, as the provider last reported it (or as Tollgate created it for a
/// one-time lifetime purchase, which has no periods).</summary>
/// <param name="ProviderUpdatedAt">The provider's timestamp of the newest event applied; older events are ignored.</param>
/// <param name="PendingPlanId">A plan change that takes effect at the next renewal (policy next_cycle).</param>
/// <param name="AccessEndsAt">Set when the provider states until when the customer is entitled (App Store: the period's
/// <c>expiresDate</c>, or the end of a billing grace period): no access from then on, whatever the status, until a newer
/// event moves it. Fail closed: a renewal notice that never arrives cannot leave access open.</param>
/// <param name="Quantity">How many units the provider bills (seats): the limit of the catalog's seat feature under
/// this subscription. As the provider last reported it (a webhook), or as the Sandbox set it.</param>
public sealed record Subscription(
    string Id,
    string CustomerId,
    string PlanId,
    string Provider,
    string? ProviderSubscriptionId,
    string? ProviderCustomerId,
    SubscriptionStatus Status,
    DateTimeOffset? CurrentPeriodStart,
    DateTimeOffset? CurrentPeriodEnd,
    bool CancelAtPeriodEnd,
    string? PendingPlanId,
    DateTimeOffset? CanceledAt,
    DateTimeOffset? ProviderUpdatedAt,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    DateTimeOffset? AccessEndsAt = null,
    long Quantity = 1)
{
    /// <summary>The version of its plan's terms the subscription was sold under (grandfathering): it is entitled to that
    /// version's limits, allowances and price until an operator migrates it. Set by the store: a new subscription, or
    /// one moved to another plan, records that plan's newest version; a save never changes it otherwise. Null before
    /// plan versions exist (then the catalog's current terms apply).</summary>
    public int? PlanVersion { get; init; }

    /// <summary>Whether this subscription gives access at <paramref name="now"/>: active and trialing until a scheduled
    /// cancellation's period end; past due until the period end when <paramref name="pastDueKeepsAccess"/>; nothing else.
    /// Never at or after <see cref="AccessEndsAt"/>; before it, a past-due subscription keeps access whatever
    /// <paramref name="pastDueKeepsAccess"/> says, because the provider itself grants it (a billing grace period).</summary>
    public bool GrantsAccess(DateTimeOffset now, bool pastDueKeepsAccess) => Status switch
    {
        _ when AccessEndsAt is { } until && now >= until => false,
        SubscriptionStatus.Active or SubscriptionStatus.Trialing =>
            !(CancelAtPeriodEnd && CurrentPeriodEnd is { } end && now >= end),
        SubscriptionStatus.PastDue => AccessEndsAt is not null
            || (pastDueKeepsAccess && (CurrentPeriodEnd is not { } pastDueEnd || now < pastDueEnd)),
        _ => false,
    };

    /// <summary>Canceled or expired: nothing will change it again.</summary>
    public bool IsTerminal => Status is SubscriptionStatus.Canceled or SubscriptionStatus.Expired;
}

/// <summary>Storage port for subscriptions.</summary>
public interface ISubscriptionStore
{
    /// <summary>A subscription by id, or null.</summary>
    Task<Subscription?> GetAsync(string subscriptionId, CancellationToken cancellationToken);

    /// <summary>The subscription a provider's subscription id maps to, or null.</summary>
    Task<Subscription?> FindByProviderIdAsync(string provider, string providerSubscriptionId, CancellationToken cancellationToken);

    /// <summary>The customer's subscriptions, terminal ones included.</summary>
    Task<IReadOnlyList<Subscription>> ListByCustomerAsync(string customerId, CancellationToken cancellationToken);

    /// <summary>
    /// Inserts a new subscription, or replaces the stored one with the same id unless the stored one reflects a newer
    /// provider event (its <see cref="Subscription.ProviderUpdatedAt"/> is later than this one's, or set while this
    /// one's is not). The check is part of the write itself, so two writers that both read the older state cannot
    /// both win. Returns false when the stored subscription was newer and was kept.
    /// </summary>
    Task<bool> SaveAsync(Subscription subscription, CancellationToken cancellationToken);

    /// <summary>All subscriptions in a status, oldest period end first (for renewals and admin views).</summary>
    Task<IReadOnlyList<Subscription>> ListByStatusAsync(SubscriptionStatus status, int limit, CancellationToken cancellationToken);

    /// <summary>How many subscriptions each plan has in each of <paramref name="statuses"/> (plans and statuses without
    /// any are left out), counted by the database.</summary>
    Task<IReadOnlyList<(string PlanId, SubscriptionStatus Status, int Count)>> CountByPlanAsync(IReadOnlyCollection<SubscriptionStatus> statuses,
        CancellationToken cancellationToken);
}
