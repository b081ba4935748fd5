using Tollgate.Core.Ledger;
using Tollgate.Core.Subscriptions;
using Tollgate.Core.Usage;

namespace Tollgate.Server.Api;

// Request bodies: every field nullable, so a missing field is reported by name instead of failing deserialization.

internal sealed record CustomerBody(string? Email, string? Name, Dictionary<string, string>? Metadata, string? BillingCustomerId = null);

internal sealed record CheckBody(string? CustomerId, string? Feature, long? Amount);

internal sealed record UsageBody(string? CustomerId, string? Feature, long? Amount);

internal sealed record HoldBody(string? CustomerId, string? Feature, long? Amount, long? TtlSeconds);

internal sealed record SettleBody(long? Amount);

internal sealed record QuantityBody(long? Quantity, string? Policy);

internal sealed record GrantBody(string? Feature, long? Amount, DateTimeOffset? ExpiresAt, string? Reason);

internal sealed record TrialBody(string? Plan);

// Responses.

internal sealed record SubscriptionView(
    string Id,
    string Plan,
    string Provider,
    string Status,
    DateTimeOffset? CurrentPeriodStart,
    DateTimeOffset? CurrentPeriodEnd,
    bool CancelAtPeriodEnd,
    string? PendingPlan,
    long Quantity = 1,
    DateTimeOffset? TrialEndsAt = null)
{
    /// <summary>The version of the plan's terms the subscription was sold under (grandfathered until migrated).</summary>
    public int? PlanVersion { get; init; }

    /// <remarks><c>trial_ends_at</c>: a trialing subscription's trial ends with its period (a card-less trial's access with it).</remarks>
    public static SubscriptionView From(Subscription s) => new(s.Id, s.PlanId, s.Provider, Core.Common.SnakeCase<SubscriptionStatus>.Name(s.Status),
        s.CurrentPeriodStart, s.CurrentPeriodEnd, s.CancelAtPeriodEnd, s.PendingPlanId, s.Quantity,
        s.Status == SubscriptionStatus.Trialing ? s.CurrentPeriodEnd : null) { PlanVersion = s.PlanVersion };
}

internal sealed record CustomerView(string Id, string? Email, string? Name, IReadOnlyDictionary<string, string> Metadata, string? Plan,
    IReadOnlyList<SubscriptionView> Subscriptions, DateTimeOffset CreatedAt, string? BillingCustomerId = null);

/// <summary>A member of an organization (a customer billed on it).</summary>
internal sealed record MemberView(string Id, string? Email, string? Name, IReadOnlyDictionary<string, string> Metadata, DateTimeOffset CreatedAt);

/// <summary>A page of members, by id; <paramref name="Next"/> is the <c>after</c> of the next page (null: no more).</summary>
internal sealed record MembersView(string CustomerId, IReadOnlyList<MemberView> Members, string? Next);

internal sealed record CapabilitiesView(string CustomerId, IReadOnlyList<string> Capabilities);

internal sealed record CheckView(string CustomerId, string Feature, bool Allowed, string? Reason, BalanceSummary? Balance);

internal sealed record UsageView(bool Allowed, string Feature, long Remaining, string? EntryId);

/// <summary>What a reversal put back: <paramref name="Restored"/> units into live lots; <paramref name="Expired"/> not,
/// their lot having expired (or its period ended) since; <paramref name="Clawed"/> not, their lot refunded since.</summary>
internal sealed record ReverseView(string EntryId, long Restored, long Expired, long Clawed, IReadOnlyList<ReverseDrawView> Draws);

internal sealed record ReverseDrawView(string LotId, string Feature, long Amount);

internal sealed record HoldView(string Id, string Status, long Amount, DateTimeOffset? ExpiresAt, string Feature);

internal sealed record SettleView(string Id, string Status, long Settled, long Released);

internal sealed record ReleaseView(string Id, string Status);

internal sealed record GrantView(string LotId, string Feature, long Amount, DateTimeOffset? ExpiresAt);

internal sealed record LotView(string Id, string Source, long Amount, long Remaining, long Held, DateTimeOffset? ExpiresAt)
{
    public static LotView From(LotBalance lot) => new(lot.LotId, Core.Common.SnakeCase<LotSource>.Name(lot.Source), lot.Amount, lot.Remaining, lot.Held, lot.ExpiresAt);
}

internal sealed record BalanceView(string Feature, string Type, long Available, long Held, long Debt, long? Limit, long? Used,
    DateTimeOffset? ResetsAt, IReadOnlyList<LotView> Lots);

internal sealed record BalancesView(string CustomerId, IReadOnlyList<BalanceView> Balances);

/// <summary>A lot's share of an entry: which grant paid for a debit (or received a grant, a return, a restore). Positive.</summary>
internal sealed record DrawView(string LotId, long Amount);

internal sealed record EntryView(string Id, DateTimeOffset At, string Feature, string Type, long Amount, long BalanceAfter, string? Reference,
    string? HoldId, long? Units, IReadOnlyList<DrawView> Draws, string? MemberId = null)
{
    public static EntryView From(EntryRecord e) => new(e.EntryId, e.At, e.Feature, Core.Common.SnakeCase<EntryType>.Name(e.Type), e.Amount,
        e.BalanceAfter, e.Reference, e.HoldId, e.UsedUnits == 0 ? null : e.UsedUnits, e.Lots.Select(l => new DrawView(l.LotId, l.Amount)).ToList(),
        e.MemberId);
}

internal sealed record LedgerView(IReadOnlyList<EntryView> Entries, string? Next);

internal sealed record SubscriptionsView(IReadOnlyList<SubscriptionView> Subscriptions);
