using Tollgate.Core.Catalog;
using Tollgate.Core.Subscriptions;
using Tollgate.Core.Usage;
using Tollgate.Server.Pages.Shared;

namespace Tollgate.Server.Pages.Portal;

/// <param name="Line">The level to compare use against: the plan's limit (metered), or what was used plus what is left (credits).</param>
internal sealed record UsageChartView(Feature Feature, UsageStats Stats, long Used, long? Line, string LineLabel, string Svg);

internal sealed class UsageModel(Gate gate, ProductCatalog catalog, Texts t, TimeProvider time) : PortalPageModel
{
    public DateTimeOffset From { get; private set; }

    public DateTimeOffset To { get; private set; }

    public IReadOnlyList<UsageChartView> Charts { get; private set; } = [];

    public async Task OnGetAsync()
    {
        var ct = HttpContext.RequestAborted;
        var now = time.GetUtcNow();
        var plan = await gate.PlanAsync(CustomerId, ct);
        // The current period: the subscription's when it is a month or so, else the calendar month (how free allowances reset).
        (From, To) = plan?.Subscription is { CurrentPeriodStart: { } start, CurrentPeriodEnd: { } end } && (end - start).TotalDays <= 62
            ? (start, end)
            : Periods.Calendar(ResetInterval.Month, now);
        var balances = (await gate.BalancesAsync(CustomerId, ct)).ToDictionary(b => b.Feature, StringComparer.Ordinal);
        var charts = new List<UsageChartView>();
        foreach (var feature in catalog.Features.Where(f => f.Type is FeatureType.Metered or FeatureType.Credits))
        {
            var stats = await gate.StatsAsync(CustomerId, feature.Id, ResetInterval.Day, From, To, ct);
            var used = stats.Buckets.Sum(b => b.Used);
            var (line, label) = feature.Type == FeatureType.Metered
                ? (stats.Limit, t["usage.limit"])
                : (used + (balances.GetValueOrDefault(feature.Id)?.Available ?? 0), t["usage.budget"]);
            charts.Add(new UsageChartView(feature, stats, used, line, label, UsageChart.Svg(stats, line, label, now, t)));
        }

        Charts = charts;
    }
}
