using Tollgate.Core.Catalog;
using Tollgate.Core.Entitlements;
using Tollgate.Core.Ledger;
using Tollgate.Core.Subscriptions;

namespace Tollgate.Core.Usage;

public sealed partial class Gate
{
    /// <summary>Whether the customer may use <paramref name="amount"/> of a feature now, without using it. Never
    /// throws for a database failure: the answer is then no, with reason <see cref="TollgateRefusal.Unavailable"/>.</summary>
    public async Task<CheckResult> CheckAsync(string customerId, string featureId, long amount = 1, CancellationToken cancellationToken = default)
    {
        using var activity = GateTelemetry.Start("gate.check", customerId, featureId);
        var result = await CheckCoreAsync(customerId, featureId, amount, cancellationToken).ConfigureAwait(false);
        GateTelemetry.Checked(activity, featureId, GateTelemetry.Outcome(result.Reason, "allowed"));
        return result;
    }

    private async Task<CheckResult> CheckCoreAsync(string customerId, string featureId, long amount, CancellationToken cancellationToken)
    {
        var feature = _catalog.Feature(featureId) ?? throw new UnknownFeatureException(featureId);
        try
        {
            // A member is answered on its billing customer; a boolean feature also by its own plan (the union).
            var (payer, member) = await PayerAsync(customerId, cancellationToken).ConfigureAwait(false);
            var (balances, plan, now) = await CurrentAsync(payer, cancellationToken).ConfigureAwait(false);
            var setting = plan?.Primary.Feature(featureId);
            return feature.Type switch
            {
                FeatureType.Boolean when member is not null =>
                    await CheckBooleanAsync(payer, feature, plan, cancellationToken).ConfigureAwait(false) is { Allowed: true } organization
                        ? organization with { CustomerId = customerId }
                        : await CheckBooleanAsync(customerId, feature, await PlanAsync(customerId, cancellationToken).ConfigureAwait(false),
                            cancellationToken).ConfigureAwait(false),
                FeatureType.Boolean => await CheckBooleanAsync(customerId, feature, plan, cancellationToken).ConfigureAwait(false),
                FeatureType.Credits => CheckCredits(customerId, feature, balances, amount),
                FeatureType.Metered => CheckMetered(customerId, feature, plan, setting, balances, amount, now),
                FeatureType.Count => CheckCount(customerId, feature, LimitOf(feature, plan, setting), setting is null, balances, amount),
                _ => CheckConcurrency(customerId, feature, setting, balances, amount),
            };
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            Log.CheckUnavailable(_logger, customerId, ex);
            return new CheckResult(customerId, featureId, false, TollgateRefusal.Unavailable, null);
        }
    }

    private async Task<CheckResult> CheckBooleanAsync(string customerId, Feature feature, EffectivePlan? plan, CancellationToken cancellationToken)
    {
        var entitled = plan is not null && plan.Plans.Any(p => p.Feature(feature.Id) is { Enabled: true });
        if (!entitled)
        {
            entitled = (await ExternalFeaturesAsync(customerId, cancellationToken).ConfigureAwait(false)).Contains("feature:" + feature.Id);
        }

        return new CheckResult(customerId, feature.Id, entitled, entitled ? null : TollgateRefusal.NotEntitled, null);
    }

    private static CheckResult CheckCredits(string customerId, Feature feature, CustomerBalances balances, long amount)
    {
        var balance = balances.For(feature.Id);
        var allowed = balance.Available >= amount;
        return new CheckResult(customerId, feature.Id, allowed, allowed ? null : TollgateRefusal.InsufficientBalance,
            new BalanceSummary(balance.Available, balance.Held, null, null, null));
    }

    private CheckResult CheckMetered(string customerId, Feature feature, EffectivePlan? plan, PlanFeature? setting, CustomerBalances balances,
        long amount, DateTimeOffset now)
    {
        var balance = balances.For(feature.Id);
        var spill = SpillOf(feature);
        var allowed = balance.Available >= amount;
        if (!allowed && spill is not null)
        {
            var credits = balances.For(spill.Feature).Available;
            allowed = (amount - balance.Available) <= credits / spill.UnitCost;
        }

        var reason = allowed ? (TollgateRefusal?)null : setting is null && spill is null ? TollgateRefusal.NotEntitled : TollgateRefusal.QuotaExceeded;
        return new CheckResult(customerId, feature.Id, allowed, reason, MeteredSummary(feature, plan, setting, balance, now));
    }

    private BalanceSummary MeteredSummary(Feature feature, EffectivePlan? plan, PlanFeature? setting, FeatureBalance balance, DateTimeOffset now)
    {
        var window = plan is null ? null : Allowances.Due(_catalog, plan, now).FirstOrDefault(a => a.Feature == feature.Id);
        long? used = setting?.Limit is { } limit ? Math.Max(0, limit - balance.Available) : null;
        return new BalanceSummary(balance.Available, balance.Held, setting?.Limit, used, window?.WindowEnd);
    }

    private static CheckResult CheckCount(string customerId, Feature feature, long limit, bool notInPlan, CustomerBalances balances, long amount)
    {
        var level = balances.Counter(feature.Id);
        // Compared without adding (as the ledger does): an amount past 64 bits is past the limit, not an overflow.
        var allowed = amount <= limit - level;
        var reason = allowed ? (TollgateRefusal?)null : notInPlan ? TollgateRefusal.NotEntitled : TollgateRefusal.LimitReached;
        return new CheckResult(customerId, feature.Id, allowed, reason, new BalanceSummary(Math.Max(0, limit - level), 0, limit, level, null));
    }

    private static CheckResult CheckConcurrency(string customerId, Feature feature, PlanFeature? setting, CustomerBalances balances, long amount)
    {
        var limit = setting?.Limit ?? 0;
        var inUse = balances.HeldUnits(feature.Id);
        var allowed = amount <= limit - inUse;
        var reason = allowed ? (TollgateRefusal?)null : setting is null ? TollgateRefusal.NotEntitled : TollgateRefusal.ConcurrencyLimit;
        return new CheckResult(customerId, feature.Id, allowed, reason, new BalanceSummary(Math.Max(0, limit - inUse), inUse, limit, inUse, null));
    }
}

/// <summary>A feature id the catalog does not define.</summary>
public sealed class UnknownFeatureException(string featureId) : Exception($"'{featureId}' is not a feature of the catalog.")
{
    /// <summary>The id that is not in the catalog.</summary>
    public string FeatureId { get; } = featureId;
}
