using Tollgate.Core.Catalog;
using Tollgate.Core.Common;
using Tollgate.Core.Entitlements;
using Tollgate.Core.Ledger;

namespace Tollgate.Core.Subscriptions;

/// <summary>One allowance lot a plan owes for the window containing an instant.</summary>
/// <param name="Key">The grant's idempotency key: (scope, feature, window start) — it can never be granted twice.</param>
/// <param name="SourceRef">The period the lot belongs to, shared by all features of that period, so a refunded
/// period can be clawed back as a whole.</param>
public sealed record AllowanceGrant(
    string Feature,
    long Amount,
    DateTimeOffset? WindowStart,
    DateTimeOffset? WindowEnd,
    LotSource Source,
    string SourceRef,
    string Key)
{
    /// <summary>The rollover into this window, when the plan's credits roll over (paid periods only).</summary>
    public AllowanceCarry? Carry { get; init; }
}

/// <summary>Unused credits of the window that ended at <paramref name="WindowStart"/> carried into it, up to
/// <paramref name="Max"/>, from the lots whose source ref starts with <paramref name="SourcePrefix"/> (the
/// subscription's own periods).</summary>
/// <param name="Key">(subscription, feature, window start): carried once, however often renewals are applied.</param>
public sealed record AllowanceCarry(long Max, DateTimeOffset WindowStart, string SourcePrefix, string Key);

/// <summary>
/// Which allowance lots a plan owes at an instant. Paid subscriptions grant per paid period, counted from the
/// period start (a yearly plan with a monthly allowance grants every month of the year); plans without paid periods
/// (the default plan, lifetime) grant per calendar period. A paid subscription whose period the provider has not named
/// yet, a metered limit of 0 or a never-resetting allowance outside a window grants nothing.
/// </summary>
public static class Allowances
{
    private static bool SameLength(ResetInterval reset, BillingInterval interval) =>
        (reset, interval) is (ResetInterval.Month, BillingInterval.Month) or (ResetInterval.Year, BillingInterval.Year);

    /// <summary>The allowance grants the customer's plan owes at <paramref name="now"/> for its current periods (written idempotently, so owing one again is harmless).</summary>
    public static IReadOnlyList<AllowanceGrant> Due(ProductCatalog catalog, EffectivePlan plan, DateTimeOffset now)
    {
        var grants = new List<AllowanceGrant>();
        var subscription = plan.Subscription;
        var recurring = plan.Primary.Interval is BillingInterval.Month or BillingInterval.Year;
        if (subscription is { CurrentPeriodStart: null } && recurring)
        {
            // A paid plan's allowance is owed once per paid period, keyed by the period's start. Until the provider names
            // the period (Creem's checkout.completed and subscription.active carry none; subscription.paid does), nothing
            // is owed: a calendar-window grant made now would stay beside the period's grant (issue 9, item 1).
            return grants;
        }

        var paidPeriods = subscription is not null && recurring;
        if (paidPeriods && (now < subscription!.CurrentPeriodStart || (subscription.CurrentPeriodEnd is { } end && now >= end)))
        {
            // Outside the paid period Tollgate knows of: the next period's allowance waits for its payment.
            return grants;
        }

        foreach (var setting in plan.Primary.Features.Values)
        {
            var feature = catalog.Feature(setting.FeatureId);
            var amount = feature?.Type switch
            {
                FeatureType.Metered => setting.Limit ?? 0,
                FeatureType.Credits => setting.Grant ?? 0,
                _ => 0,
            };
            if (amount <= 0)
            {
                continue;
            }

            DateTimeOffset? start = null, windowEnd = null;
            if (setting.Reset != ResetInterval.Never)
            {
                var window = !paidPeriods ? Periods.Calendar(setting.Reset, now)
                    : SameLength(setting.Reset, plan.Primary.Interval!.Value)
                        // The paid period itself, as the provider counts it (31 Jan → 28 Feb → 31 Mar).
                        ? (Start: subscription!.CurrentPeriodStart!.Value,
                            End: subscription.CurrentPeriodEnd ?? Periods.Add(subscription.CurrentPeriodStart!.Value, plan.Primary.Interval!.Value, 1))
                        : Periods.Containing(subscription!.CurrentPeriodStart!.Value, setting.Reset, now);
                start = window.Start;
                windowEnd = paidPeriods && subscription!.CurrentPeriodEnd is { } periodEnd &&
                    // Stryker disable once Equality : when they are equal both arms are the same instant
                    periodEnd < window.End
                    ? periodEnd
                    : window.End;
            }

            var source = paidPeriods ? LotSource.SubscriptionPeriod : LotSource.PlanAllowance;
            var periodRef = paidPeriods ? $"{plan.Scope}:{Instants.ToUnixMicroseconds(subscription!.CurrentPeriodStart!.Value)}" : plan.Scope;
            var windowKey = start is { } s ? Instants.ToUnixMicroseconds(s).ToString(System.Globalization.CultureInfo.InvariantCulture) : "never";
            grants.Add(new AllowanceGrant(feature!.Id, amount, start, windowEnd, source, "allowance:" + periodRef,
                $"allowance:{plan.Scope}:{feature.Id}:{windowKey}")
            {
                // Only a paid plan's credits roll over, into the next paid window; the carry expires with it.
                Carry = paidPeriods && feature.Type == FeatureType.Credits && setting.RolloverMax is { } max && start is { } windowStart
                    ? new AllowanceCarry(max, windowStart, $"allowance:{plan.Scope}:", $"rollover:{plan.Scope}:{feature.Id}:{windowKey}")
                    : null,
            });
        }

        return grants;
    }
}
