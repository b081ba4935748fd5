using Tollgate.Core.Ledger;
using Tollgate.Core.Subscriptions;
using Tollgate.Core.Usage;

namespace Tollgate.Server.Api;

// Request bodies: every field nullable, so a missing field is reported by name instead of failing deserialization.

public sealed record CustomerBody(string? Email, string? Name, Dictionary<string, string>? Metadata);

public sealed record CheckBody(string? CustomerId, string? Feature, long? Amount);

public sealed record UsageBody(string? CustomerId, string? Feature, long? Amount);

public sealed record HoldBody(string? CustomerId, string? Feature, long? Amount, long? TtlSeconds);

public sealed record SettleBody(long? Amount);

public sealed record GrantBody(string? Feature, long? Amount, DateTimeOffset? ExpiresAt, string? Reason);

// Responses.

public sealed record SubscriptionView(
    string Id,
    string Plan,
    string Provider,
    string Status,
    DateTimeOffset? CurrentPeriodStart,
    DateTimeOffset? CurrentPeriodEnd,
    bool CancelAtPeriodEnd,
    string? PendingPlan)
{
    public static SubscriptionView From(Subscription s) => new(s.Id, s.PlanId, s.Provider, Core.Common.SnakeCase<SubscriptionStatus>.Name(s.Status),
        s.CurrentPeriodStart, s.CurrentPeriodEnd, s.CancelAtPeriodEnd, s.PendingPlanId);
}

public sealed record CustomerView(string Id, string? Email, string? Name, IReadOnlyDictionary<string, string> Metadata, string? Plan,
    IReadOnlyList<SubscriptionView> Subscriptions, DateTimeOffset CreatedAt);

public sealed record CapabilitiesView(string CustomerId, IReadOnlyList<string> Capabilities);

public sealed record CheckView(string CustomerId, string Feature, bool Allowed, string? Reason, BalanceSummary? Balance);

public sealed record UsageView(bool Allowed, string Feature, long Remaining, string? EntryId);

/// <summary>What a reversal put back: <paramref name="Restored"/> units into live lots; <paramref name="Expired"/> not,
/// their lot having expired (or its period ended) since; <paramref name="Clawed"/> not, their lot refunded since.</summary>
public sealed record ReverseView(string EntryId, long Restored, long Expired, long Clawed, IReadOnlyList<ReverseDrawView> Draws);

public sealed record ReverseDrawView(string LotId, string Feature, long Amount);

public sealed record HoldView(string Id, string Status, long Amount, DateTimeOffset? ExpiresAt, string Feature);

public sealed record SettleView(string Id, string Status, long Settled, long Released);

public sealed record ReleaseView(string Id, string Status);

public sealed record GrantView(string LotId, string Feature, long Amount, DateTimeOffset? ExpiresAt);

public sealed record LotView(string Id, string Source, long Amount, long Remaining, long Held, DateTimeOffset? ExpiresAt)
{
    public static LotView From(LotBalance lot) => new(lot.LotId, Core.Common.SnakeCase<LotSource>.Name(lot.Source), lot.Amount, lot.Remaining, lot.Held, lot.ExpiresAt);
}

public sealed record BalanceView(string Feature, string Type, long Available, long Held, long Debt, long? Limit, long? Used,
    DateTimeOffset? ResetsAt, IReadOnlyList<LotView> Lots);

public sealed record BalancesView(string CustomerId, IReadOnlyList<BalanceView> Balances);

/// <summary>A lot's share of an entry: which grant paid for a debit (or received a grant, a return, a restore). Positive.</summary>
public sealed record DrawView(string LotId, long Amount);

public sealed record EntryView(string Id, DateTimeOffset At, string Feature, string Type, long Amount, long BalanceAfter, string? Reference,
    string? HoldId, long? Units, IReadOnlyList<DrawView> Draws)
{
    public static EntryView From(EntryRecord e) => new(e.EntryId, e.At, e.Feature, Core.Common.SnakeCase<EntryType>.Name(e.Type), e.Amount,
        e.BalanceAfter, e.Reference, e.HoldId, e.UsedUnits == 0 ? null : e.UsedUnits, e.Lots.Select(l => new DrawView(l.LotId, l.Amount)).ToList());
}

public sealed record LedgerView(IReadOnlyList<EntryView> Entries, string? Next);

public sealed record SubscriptionsView(IReadOnlyList<SubscriptionView> Subscriptions);
