using Tollgate.Core.Catalog;
using Tollgate.Core.Subscriptions;

namespace Tollgate.Core.Entitlements;

/// <summary>
/// What a customer holds at an instant: every plan of a subscription that gives access (or the default plan when
/// none does). The highest-ranked of them is <see cref="Primary"/>: it sets limits and allowances, so holding two
/// plans never doubles an allowance. Each held plan has the terms of the version its subscription recorded
/// (<see cref="ProductCatalog.PlanOf"/>), so a catalog edit does not change what an existing subscriber bought.
/// </summary>
public sealed record EffectivePlan(Plan Primary, Subscription? Subscription, IReadOnlyList<Plan> Plans)
{
    /// <summary>Allowance lots of the primary plan are keyed by this: the subscription, or "default" for the default plan.</summary>
    public string Scope => Subscription?.Id ?? "default";

    /// <summary>The plans the customer's <paramref name="subscriptions"/> give at <paramref name="now"/> (the catalog's default plan when none does); null when no subscription gives access and the catalog has no default plan. With <paramref name="pastDueKeepsAccess"/>, a past-due subscription keeps its plan until its period ends.</summary>
    public static EffectivePlan? Resolve(ProductCatalog catalog, IReadOnlyList<Subscription> subscriptions, DateTimeOffset now, bool pastDueKeepsAccess)
    {
        var held = subscriptions
            .Where(s => s.GrantsAccess(now, pastDueKeepsAccess))
            // Each subscription at the version it was sold under (grandfathered); the default plan follows the catalog.
            .Select(s => (Subscription: s, Plan: catalog.PlanOf(s)))
            .Where(x => x.Plan is not null)
            .OrderByDescending(x => x.Plan!.Rank)
            .ThenBy(x => x.Subscription.CreatedAt)
            .ToList();
        if (held.Count == 0)
        {
            return catalog.DefaultPlan is { } free ? new EffectivePlan(free, null, [free]) : null;
        }

        return new EffectivePlan(held[0].Plan!, held[0].Subscription, held.Select(x => x.Plan!).Distinct().ToList());
    }

    /// <summary><c>plan:&lt;id&gt;</c> for every plan held (and every plan they include), <c>feature:&lt;id&gt;</c> for
    /// every feature they enable.</summary>
    public IReadOnlySet<string> Capabilities(ProductCatalog catalog)
    {
        var capabilities = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var plan in Plans)
        {
            for (var p = plan; p is not null; p = p.Includes is { } included ? catalog.PlansById.GetValueOrDefault(included) : null)
            {
                if (!capabilities.Add("plan:" + p.Id))
                {
                    break;
                }
            }

            foreach (var feature in plan.Features.Values.Where(Enables))
            {
                capabilities.Add("feature:" + feature.FeatureId);
            }
        }

        return capabilities;
    }

    private static bool Enables(PlanFeature feature) => feature.Enabled && (feature.Limit ?? 1) > 0 && (feature.Grant ?? 1) > 0;
}
