using Tollgate.Core.Catalog;
using Tollgate.Core.Common;
using Tollgate.Core.Ledger;
using Tollgate.Core.Subscriptions;

namespace Tollgate.Core.Usage;

public sealed partial class Gate
{
    /// <summary>Every non-boolean feature of the catalog for a customer: what is available, held, owed, the plan's
    /// limit, what is used of it and when it resets, with the lots behind it.</summary>
    public async Task<IReadOnlyList<FeatureBalanceView>> BalancesAsync(string customerId, CancellationToken cancellationToken = default)
    {
        // A member's balances are its billing customer's: what its usage draws from.
        var (payer, _) = await PayerAsync(customerId, cancellationToken).ConfigureAwait(false);
        var (balances, plan, now) = await CurrentAsync(payer, cancellationToken).ConfigureAwait(false);
        var views = new List<FeatureBalanceView>();
        foreach (var feature in _catalog.Features.Where(f => f.Type != FeatureType.Boolean))
        {
            var setting = plan?.Primary.Feature(feature.Id);
            var balance = balances.For(feature.Id);
            var type = SnakeCase<FeatureType>.Name(feature.Type);
            views.Add(feature.Type switch
            {
                FeatureType.Credits => new FeatureBalanceView(feature.Id, type, balance.Available, balance.Held, balance.Debt, null, null, null, balance.Lots),
                FeatureType.Metered => Metered(feature, setting, balance, type),
                FeatureType.Count => new FeatureBalanceView(feature.Id, type, Math.Max(0, LimitOf(feature, plan, setting) - balances.Counter(feature.Id)), 0, 0,
                    LimitOf(feature, plan, setting), balances.Counter(feature.Id), null, []),
                _ => new FeatureBalanceView(feature.Id, type, Math.Max(0, (setting?.Limit ?? 0) - balances.HeldUnits(feature.Id)),
                    balances.HeldUnits(feature.Id), 0, setting?.Limit ?? 0, balances.HeldUnits(feature.Id), null, []),
            });
        }

        return views;

        FeatureBalanceView Metered(Feature feature, PlanFeature? setting, FeatureBalance balance, string type)
        {
            var summary = MeteredSummary(feature, plan, setting, balance, now);
            return new FeatureBalanceView(feature.Id, type, balance.Available, balance.Held, balance.Debt, summary.Limit, summary.Used,
                summary.ResetsAt, balance.Lots);
        }
    }

    /// <summary>Units of a feature used per day or month between two instants (UTC buckets), and the limit of the
    /// customer's plan for it, for a chart of used against limit. A member's are its billing customer's, as its
    /// balances are: its usage is charged there, and nothing is written on the member itself.</summary>
    public async Task<UsageStats> StatsAsync(string customerId, string featureId, ResetInterval bucket, DateTimeOffset from, DateTimeOffset to,
        CancellationToken cancellationToken = default)
    {
        var feature = _catalog.Feature(featureId) ?? throw new UnknownFeatureException(featureId);
        if (bucket is not (ResetInterval.Day or ResetInterval.Month))
        {
            throw new ArgumentOutOfRangeException(nameof(bucket), bucket, "Buckets are days or months.");
        }

        var (payer, _) = await PayerAsync(customerId, cancellationToken).ConfigureAwait(false);
        var plan = await PlanAsync(payer, cancellationToken).ConfigureAwait(false);
        // Per day from the hourly rollup (24 rows a day, however many entries): the page stays as fast on a customer
        // with 241k entries in the period as on a new one.
        var days = await _ledger.GetDailyUsageAsync(payer, feature.Id, from, to, cancellationToken).ConfigureAwait(false);
        var buckets = new List<UsageBucket>();
        for (var start = Periods.Calendar(bucket, from).Start; start < to; start = Periods.Add(start, bucket, 1))
        {
            var end = Periods.Add(start, bucket, 1);
            var used = days.Where(d => d.Day >= start && d.Day < end).Sum(d => d.Used);
            buckets.Add(new UsageBucket(start, end, used));
        }

        var setting = plan?.Primary.Feature(feature.Id);
        // A plan feature has a limit (metered, count, concurrency) or a grant (credits), never both: the catalog refuses it.
        // Stryker disable once NullCoalescing : equivalent (above)
        return new UsageStats(feature.Id, SnakeCase<ResetInterval>.Name(bucket), from, to, setting?.Limit ?? setting?.Grant, buckets);
    }

    /// <summary>The customer's subscriptions, as stored.</summary>
    public async Task<IReadOnlyList<Subscription>> SubscriptionsAsync(string customerId, CancellationToken cancellationToken = default) =>
        await SubscriptionViewAsync(customerId, cancellationToken).ConfigureAwait(false);
}
