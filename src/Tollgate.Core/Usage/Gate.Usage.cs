using Tollgate.Core.Catalog;
using Tollgate.Core.Ledger;

namespace Tollgate.Core.Usage;

public sealed partial class Gate
{
    /// <summary>Uses a feature, all or nothing: credits are consumed; a metered feature takes its allowance first and
    /// charges the rest to credits at its credit cost; a count feature moves its level by +n / −n within the limit.
    /// <paramref name="idempotencyKey"/> makes it happen once, however often it is sent.</summary>
    public async Task<UsageResult> UseAsync(string customerId, string featureId, long amount, string idempotencyKey,
        CancellationToken cancellationToken = default)
    {
        var feature = _catalog.Feature(featureId) ?? throw new UnknownFeatureException(featureId);
        var invalid = feature.Type switch
        {
            FeatureType.Boolean => "a boolean feature is checked, not used",
            FeatureType.Concurrency => "a concurrency feature is used through holds (POST /v1/holds)",
            FeatureType.Count when amount == 0 => "amount must not be 0 for a count feature (+n to add, −n to remove)",
            FeatureType.Credits or FeatureType.Metered when amount <= 0 => "amount must be a positive whole number",
            _ => null,
        };
        if (invalid is not null)
        {
            return new UsageResult(featureId, false, 0, null, GateRefusal.InvalidRequest, invalid);
        }

        var (plan, _) = await PlanNowAsync(customerId, cancellationToken).ConfigureAwait(false);
        var key = "usage:" + idempotencyKey;
        try
        {
            if (feature.Type == FeatureType.Count)
            {
                var setting = plan?.Primary.Feature(featureId);
                var count = await _ledger.CountAsync(new CountRequest(customerId, featureId, amount, key) { Limit = setting?.Limit ?? 0 },
                    cancellationToken).ConfigureAwait(false);
                var room = (count.Limit ?? 0) - count.Level;
                return count.Refusal switch
                {
                    null => new UsageResult(featureId, true, Math.Max(0, room), count.EntryId, null, null, count.Replayed),
                    LedgerRefusal.LimitReached => new UsageResult(featureId, false, Math.Max(0, room), null,
                        setting is null ? GateRefusal.NotEntitled : GateRefusal.LimitReached, $"{featureId} is at {count.Level} of {count.Limit ?? 0}"),
                    LedgerRefusal.BelowZero => new UsageResult(featureId, false, Math.Max(0, room), null, GateRefusal.InvalidRequest,
                        $"{featureId} is at {count.Level}; it cannot go below zero"),
                    _ => Refused(featureId, count.Refusal.Value),
                };
            }

            var result = await _ledger.ConsumeAsync(new ConsumeRequest(customerId, featureId, amount, key) { Spill = SpillOf(feature) },
                cancellationToken).ConfigureAwait(false);
            return result.Refusal switch
            {
                null => new UsageResult(featureId, true, result.Remaining, result.EntryId, null, null, result.Replayed),
                LedgerRefusal.InsufficientBalance => new UsageResult(featureId, false, result.Remaining, null,
                    feature.Type == FeatureType.Metered ? GateRefusal.QuotaExceeded : GateRefusal.InsufficientBalance,
                    feature.Type == FeatureType.Metered
                        ? $"{featureId} allowance is used up{(SpillOf(feature) is null ? "" : " and credits do not cover the rest")}"
                        : $"{result.Remaining} {featureId} available, {amount} needed"),
                _ => Refused(featureId, result.Refusal.Value),
            };
        }
        finally
        {
            _ledgerViews.Invalidate(customerId);
        }
    }

    /// <summary>Reserves units of a feature until settled, released or expired: credits and metered features reserve
    /// balance (a metered one spills into credits like usage does); a concurrency feature reserves one of its plan's
    /// simultaneous slots.</summary>
    public async Task<HoldOutcome> HoldAsync(string customerId, string featureId, long amount, TimeSpan? ttl, string idempotencyKey,
        CancellationToken cancellationToken = default)
    {
        var feature = _catalog.Feature(featureId) ?? throw new UnknownFeatureException(featureId);
        if (feature.Type is FeatureType.Boolean or FeatureType.Count)
        {
            return new HoldOutcome(null, featureId, amount, null, GateRefusal.InvalidRequest,
                $"a {feature.Type.ToString().ToLowerInvariant()} feature cannot be held; hold credits, metered or concurrency features");
        }

        var (plan, _) = await PlanNowAsync(customerId, cancellationToken).ConfigureAwait(false);
        var request = new HoldRequest(customerId, featureId, amount, ttl ?? _options.DefaultHoldTtl, "hold:" + idempotencyKey);
        request = feature.Type == FeatureType.Concurrency
            ? request with { ConcurrencyLimit = plan?.Primary.Feature(featureId)?.Limit ?? 0 }
            : request with { Spill = SpillOf(feature) };
        try
        {
            var result = await _ledger.HoldAsync(request, cancellationToken).ConfigureAwait(false);
            return result.Refusal switch
            {
                null => new HoldOutcome(result.HoldId, featureId, amount, result.ExpiresAt, null, null),
                LedgerRefusal.ConcurrencyLimit => new HoldOutcome(null, featureId, amount, null, GateRefusal.ConcurrencyLimit,
                    $"{featureId} allows {request.ConcurrencyLimit} at a time"),
                LedgerRefusal.InsufficientBalance => new HoldOutcome(null, featureId, amount, null,
                    feature.Type == FeatureType.Metered ? GateRefusal.QuotaExceeded : GateRefusal.InsufficientBalance,
                    $"{result.Remaining} {featureId} available, {amount} needed"),
                LedgerRefusal.KeyReused => new HoldOutcome(null, featureId, amount, null, GateRefusal.IdempotencyKeyReused, KeyReusedMessage),
                _ => new HoldOutcome(null, featureId, amount, null, GateRefusal.InvalidRequest, result.Refusal.Value.ToString()),
            };
        }
        finally
        {
            _ledgerViews.Invalidate(customerId);
        }
    }

    public async Task<SettleOutcome> SettleAsync(string holdId, long? amount, CancellationToken cancellationToken = default)
    {
        var result = await _ledger.SettleAsync(new SettleRequest(holdId) { Amount = amount }, cancellationToken).ConfigureAwait(false);
        return Outcome(result);
    }

    public async Task<SettleOutcome> ReleaseAsync(string holdId, CancellationToken cancellationToken = default)
    {
        var result = await _ledger.ReleaseAsync(new ReleaseRequest(holdId), cancellationToken).ConfigureAwait(false);
        return Outcome(result);
    }

    /// <summary>Grants credits (or extra allowance of a metered feature) by hand, with the reason kept on the entry.</summary>
    public async Task<GrantOutcome> GrantAsync(string customerId, string featureId, long amount, DateTimeOffset? expiresAt, string reason,
        string idempotencyKey, LotSource source = LotSource.Admin, CancellationToken cancellationToken = default)
    {
        var feature = _catalog.Feature(featureId) ?? throw new UnknownFeatureException(featureId);
        if (feature.Type is not (FeatureType.Credits or FeatureType.Metered))
        {
            return new GrantOutcome(null, featureId, amount, expiresAt, GateRefusal.InvalidRequest,
                "only credits and metered features hold granted lots");
        }

        try
        {
            var result = await _ledger.GrantAsync(new GrantRequest(customerId, featureId, amount, source, "grant:" + idempotencyKey)
            {
                ExpiresAt = expiresAt,
                Reference = reason,
            }, cancellationToken).ConfigureAwait(false);
            return result.Refusal switch
            {
                null => new GrantOutcome(result.LotId, featureId, amount, result.ExpiresAt, null, null),
                LedgerRefusal.KeyReused => new GrantOutcome(null, featureId, amount, expiresAt, GateRefusal.IdempotencyKeyReused, KeyReusedMessage),
                _ => new GrantOutcome(null, featureId, amount, expiresAt, GateRefusal.InvalidRequest, "the balance would overflow"),
            };
        }
        finally
        {
            _ledgerViews.Invalidate(customerId);
        }
    }

    private const string KeyReusedMessage = "this idempotency key was used with a different request";

    private SettleOutcome Outcome(SettleResult result)
    {
        if (result.CustomerId.Length > 0)
        {
            _ledgerViews.Invalidate(result.CustomerId);
        }

        var status = SnakeName(result.Status);
        return result.Refusal switch
        {
            null => new SettleOutcome(result.HoldId, status, result.Settled, result.Released, null, null),
            LedgerRefusal.HoldNotFound => new SettleOutcome(result.HoldId, "", 0, 0, GateRefusal.HoldNotFound, $"no hold {result.HoldId}"),
            LedgerRefusal.HoldNotActive => new SettleOutcome(result.HoldId, status, result.Settled, result.Released, GateRefusal.HoldNotActive,
                $"hold {result.HoldId} is {status}"),
            _ => new SettleOutcome(result.HoldId, status, 0, 0, GateRefusal.InvalidRequest, "amount is more than the hold reserved"),
        };
    }

    private static string SnakeName(HoldStatus status) => Common.SnakeCase<HoldStatus>.Name(status);

    private static UsageResult Refused(string featureId, LedgerRefusal refusal) => refusal == LedgerRefusal.KeyReused
        ? new UsageResult(featureId, false, 0, null, GateRefusal.IdempotencyKeyReused, KeyReusedMessage)
        : new UsageResult(featureId, false, 0, null, GateRefusal.InvalidRequest, refusal.ToString());
}
