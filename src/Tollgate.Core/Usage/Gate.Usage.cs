using Tollgate.Core.Catalog;
using Tollgate.Core.Idempotency;
using Tollgate.Core.Ledger;

namespace Tollgate.Core.Usage;

public sealed partial class Gate
{
    /// <summary>Uses a feature, all or nothing, once per <paramref name="idempotencyKey"/> (see the overload with a call).</summary>
    public Task<UsageResult> UseAsync(string customerId, string featureId, long amount, string idempotencyKey,
        CancellationToken cancellationToken = default) =>
        UseAsync(customerId, featureId, amount, idempotencyKey, null, cancellationToken);

    /// <summary>Uses a feature, all or nothing: credits are consumed; a metered feature takes its allowance first and
    /// charges the rest to credits at its credit cost; a count feature moves its level by +n / −n within the limit.
    /// <paramref name="idempotencyKey"/> makes it happen once, however often it is sent. With <paramref name="call"/>,
    /// the call's response is stored in the same transaction as the usage (<see cref="UsageResult.Response"/>).</summary>
    public async Task<UsageResult> UseAsync(string customerId, string featureId, long amount, string idempotencyKey,
        IdempotentCall<UsageResult>? call, CancellationToken cancellationToken = default)
    {
        using var activity = GateTelemetry.Start("gate.usage", customerId, featureId);
        var outcome = "error";
        try
        {
            var result = await UseCoreAsync(customerId, featureId, amount, idempotencyKey, call, cancellationToken).ConfigureAwait(false);
            outcome = GateTelemetry.Outcome(result.Refusal, "charged");
            return result;
        }
        finally
        {
            GateTelemetry.Used(activity, featureId, outcome);
        }
    }

    private async Task<UsageResult> UseCoreAsync(string customerId, string featureId, long amount, string idempotencyKey,
        IdempotentCall<UsageResult>? call, CancellationToken cancellationToken)
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
            return new UsageResult(featureId, false, 0, null, TollgateRefusal.InvalidRequest, invalid);
        }

        if (feature.Seats)
        {
            return new UsageResult(featureId, false, 0, null, TollgateRefusal.InvalidRequest,
                $"{featureId} counts seats: a member takes one when it is attached (PUT /v1/customers/{{id}} with billing_customer_id)");
        }

        // A member is answered and charged on its billing customer; the entry names the member.
        var (payer, member) = await PayerAsync(customerId, cancellationToken).ConfigureAwait(false);
        var (plan, now) = await PlanNowAsync(payer, cancellationToken).ConfigureAwait(false);
        var key = KeyOf("usage:", idempotencyKey, member);
        try
        {
            if (feature.Type == FeatureType.Count)
            {
                var setting = plan?.Primary.Feature(featureId);
                var count = await _ledger.CountAsync(new CountRequest(payer, featureId, amount, key) { Limit = LimitOf(feature, plan, setting), MemberId = member },
                    WriteFor(payer, plan, now, Wrap(call, r => CountUsage(featureId, setting, (CountResult)r))), cancellationToken)
                    .ConfigureAwait(false);
                return CountUsage(featureId, setting, count) with { Response = count.Response };
            }

            var spill = SpillOf(feature);
            var entitled = Entitled(feature, plan?.Primary.Feature(featureId));
            var result = await _ledger.ConsumeAsync(new ConsumeRequest(payer, featureId, amount, key) { Spill = spill, MemberId = member },
                WriteFor(payer, plan, now, Wrap(call, r => ConsumeUsage(feature, amount, spill, entitled, (ConsumeResult)r))), cancellationToken)
                .ConfigureAwait(false);
            return ConsumeUsage(feature, amount, spill, entitled, result) with { Response = result.Response };
        }
        catch
        {
            // The write's outcome is unknown here (it may have committed): the next read loads the customer afresh.
            _ledgerViews.Invalidate(payer);
            throw;
        }
    }

    /// <summary>Takes (+1) or frees (−1) a seat of <paramref name="billingCustomerId"/> for <paramref name="memberId"/>,
    /// within the seats its plan has: the caller runs it in the flow transaction that attaches or detaches the member, so
    /// both commit or neither. Null when the catalog has no seats feature (members take no seat). A seat freed below zero
    /// (a member attached before the catalog counted seats) writes nothing.</summary>
    public async Task<UsageResult?> SeatAsync(string billingCustomerId, string memberId, int delta, CancellationToken cancellationToken = default)
    {
        if (_catalog.SeatsFeature is not { } feature)
        {
            return null;
        }

        var (plan, now) = await PlanNowAsync(billingCustomerId, cancellationToken).ConfigureAwait(false);
        var setting = plan?.Primary.Feature(feature.Id);
        // Never replayed: the flow's transaction makes an attach happen once; the key only has to be new.
        // Stryker disable once Equality : the callers pass +1 or −1, never 0
        var key = $"seat:{(delta > 0 ? "take" : "free")}:{memberId}:{Guid.NewGuid():N}";
        try
        {
            var count = await _ledger.CountAsync(new CountRequest(billingCustomerId, feature.Id, delta, key)
            {
                Limit = LimitOf(feature, plan, setting),
                MemberId = memberId,
            }, WriteFor(billingCustomerId, plan, now, null), cancellationToken).ConfigureAwait(false);
            if (count.Refusal == LedgerRefusal.LimitReached)
            {
                var seats = count.Limit ?? 0;
                return new UsageResult(feature.Id, false, 0, null, TollgateRefusal.LimitReached,
                    setting is null
                        ? $"{billingCustomerId}'s plan has no seats ({feature.Id})"
                        : $"{billingCustomerId} has {seats} seat{(seats == 1 ? "" : "s")} and {count.Level} taken; raise the subscription's quantity first");
            }

            return count.Refusal == LedgerRefusal.BelowZero
                ? new UsageResult(feature.Id, true, 0, null, null, null)
                : CountUsage(feature.Id, setting, count);
        }
        catch
        {
            _ledgerViews.Invalidate(billingCustomerId);
            throw;
        }
    }

    private static UsageResult CountUsage(string featureId, PlanFeature? setting, CountResult count)
    {
        var room = (count.Limit ?? 0) - count.Level;
        return count.Refusal switch
        {
            null => new UsageResult(featureId, true, Math.Max(0, room), count.EntryId, null, null, count.Replayed),
            LedgerRefusal.LimitReached => new UsageResult(featureId, false, Math.Max(0, room), null,
                setting is null ? TollgateRefusal.NotEntitled : TollgateRefusal.LimitReached, $"{featureId} is at {count.Level} of {count.Limit ?? 0}"),
            LedgerRefusal.BelowZero => new UsageResult(featureId, false, Math.Max(0, room), null, TollgateRefusal.InvalidRequest,
                $"{featureId} is at {count.Level}; it cannot go below zero"),
            _ => Refused(featureId, count.Refusal.Value),
        };
    }

    private static UsageResult ConsumeUsage(Feature feature, long amount, Spill? spill, bool entitled, ConsumeResult result) => result.Refusal switch
    {
        null => new UsageResult(feature.Id, true, result.Remaining, result.EntryId, null, null, result.Replayed),
        LedgerRefusal.InsufficientBalance when !entitled =>
            new UsageResult(feature.Id, false, result.Remaining, null, TollgateRefusal.NotEntitled, NotEntitledMessage(feature)),
        LedgerRefusal.InsufficientBalance => new UsageResult(feature.Id, false, result.Remaining, null,
            feature.Type == FeatureType.Metered ? TollgateRefusal.QuotaExceeded : TollgateRefusal.InsufficientBalance,
            feature.Type == FeatureType.Metered
                ? $"{feature.Id} allowance is used up{(spill is null ? "" : " and credits do not cover the rest")}"
                : $"{result.Remaining} {feature.Id} available, {amount} needed"),
        _ => Refused(feature.Id, result.Refusal.Value),
    };

    /// <summary>Puts back what a usage (<c>POST /v1/usage</c> of credits or a metered feature) took, lot by lot, once.
    /// <paramref name="entryId"/> is the usage's entry; a metered usage that spilled into credits is reversed whole.
    /// With <paramref name="call"/>, the call's response is stored in the same transaction as the reversal.</summary>
    public async Task<ReverseOutcome> ReverseAsync(string entryId, IdempotentCall<ReverseOutcome>? call, CancellationToken cancellationToken = default)
    {
        var entry = await _ledger.FindEntryAsync(entryId, cancellationToken).ConfigureAwait(false);
        if (entry is null)
        {
            return new ReverseOutcome(entryId, null, 0, 0, 0, [], TollgateRefusal.EntryNotFound, $"no ledger entry {entryId}");
        }

        if (entry.Type != EntryType.Consume || entry.OperationKey?.StartsWith("usage:", StringComparison.Ordinal) != true)
        {
            return new ReverseOutcome(entryId, entry.CustomerId, 0, 0, 0, [], TollgateRefusal.NotReversible,
                $"entry {entryId} is a {Common.SnakeCase<EntryType>.Name(entry.Type)}, not a usage of credits or a metered feature"
                + (entry.Type == EntryType.Count ? " (a count is given back with a usage of −n)" : ""));
        }

        // A usage writes its entries one after the other in one transaction (the feature's, then what spilled into
        // credits), under one key; the spill may also be the entry named. Entries never change, so this read is final.
        var around = await _ledger.GetEntriesAsync(entry.CustomerId, null, 3, entry.Seq + 2, cancellationToken).ConfigureAwait(false);
        var entries = around.Entries
            .Where(e => e.Type == EntryType.Consume && e.OperationKey == entry.OperationKey && Math.Abs(e.Seq - entry.Seq) <= 1)
            .OrderBy(e => e.Seq)
            .ToList();
        var first = entries[0];
        try
        {
            var result = await _ledger.ReverseAsync(new ReverseRequest(entry.CustomerId, first.EntryId, entries),
                new LedgerWrite { Call = Wrap(call, r => ReverseOutcomeOf(first.EntryId, entry.CustomerId, (ReverseResult)r)) }, cancellationToken)
                .ConfigureAwait(false);
            return ReverseOutcomeOf(first.EntryId, entry.CustomerId, result) with { Response = result.Response };
        }
        catch
        {
            _ledgerViews.Invalidate(entry.CustomerId);
            throw;
        }
    }

    private static ReverseOutcome ReverseOutcomeOf(string entryId, string customerId, ReverseResult result) => result.Refusal switch
    {
        null => new ReverseOutcome(entryId, customerId, result.Restored, result.Expired, result.Clawed, result.Draws, null, null),
        LedgerRefusal.AlreadyReversed => new ReverseOutcome(entryId, customerId, 0, 0, 0, [], TollgateRefusal.AlreadyReversed,
            $"the usage of entry {entryId} was reversed before"),
        LedgerRefusal.KeyReused => new ReverseOutcome(entryId, customerId, 0, 0, 0, [], TollgateRefusal.IdempotencyKeyReused, KeyReusedMessage),
        // As a grant that would overflow is answered (GrantOutcomeOf).
        LedgerRefusal.Overflow => new ReverseOutcome(entryId, customerId, 0, 0, 0, [], TollgateRefusal.InvalidRequest, OverflowMessage),
        _ => new ReverseOutcome(entryId, customerId, 0, 0, 0, [], TollgateRefusal.InvalidRequest, result.Refusal.Value.ToString()),
    };

    /// <summary>Reserves units of a feature until settled, released or expired: credits and metered features reserve
    /// balance (a metered one spills into credits like usage does); a concurrency feature reserves one of its plan's
    /// simultaneous slots.</summary>
    public Task<HoldOutcome> HoldAsync(string customerId, string featureId, long amount, TimeSpan? ttl, string idempotencyKey,
        CancellationToken cancellationToken = default) =>
        HoldAsync(customerId, featureId, amount, ttl, idempotencyKey, null, cancellationToken);

    /// <summary>Reserves as <see cref="HoldAsync(string, string, long, TimeSpan?, string, CancellationToken)"/>; with
    /// <paramref name="call"/>, the call's response is stored in the same transaction as the hold.</summary>
    public async Task<HoldOutcome> HoldAsync(string customerId, string featureId, long amount, TimeSpan? ttl, string idempotencyKey,
        IdempotentCall<HoldOutcome>? call, CancellationToken cancellationToken = default)
    {
        var feature = _catalog.Feature(featureId) ?? throw new UnknownFeatureException(featureId);
        if (feature.Type is FeatureType.Boolean or FeatureType.Count)
        {
            return new HoldOutcome(null, featureId, amount, null, TollgateRefusal.InvalidRequest,
                $"a {feature.Type.ToString().ToLowerInvariant()} feature cannot be held; hold credits, metered or concurrency features");
        }

        var (payer, member) = await PayerAsync(customerId, cancellationToken).ConfigureAwait(false);
        var (plan, now) = await PlanNowAsync(payer, cancellationToken).ConfigureAwait(false);
        var request = new HoldRequest(payer, featureId, amount, ttl ?? _options.DefaultHoldTtl, KeyOf("hold:", idempotencyKey, member))
        {
            MemberId = member,
        };
        request = feature.Type == FeatureType.Concurrency
            ? request with { ConcurrencyLimit = plan?.Primary.Feature(featureId)?.Limit ?? 0 }
            : request with { Spill = SpillOf(feature) };
        var entitled = Entitled(feature, plan?.Primary.Feature(featureId));
        try
        {
            var result = await _ledger.HoldAsync(request, WriteFor(payer, plan, now, Wrap(call, r => HoldOutcomeOf(feature, request, entitled, (HoldResult)r))),
                cancellationToken).ConfigureAwait(false);
            return HoldOutcomeOf(feature, request, entitled, result) with { Response = result.Response };
        }
        catch
        {
            _ledgerViews.Invalidate(payer);
            throw;
        }
    }

    /// <summary>Whether the customer's plan includes a metered or concurrency feature at all, as <see cref="CheckAsync"/>
    /// decides it: a metered feature the plan lacks is still usable when it spills into credits. A hold or usage the
    /// ledger refuses for a feature the plan lacks is <see cref="TollgateRefusal.NotEntitled"/> (403: buy a plan that has it),
    /// not a used-up quota (429) or balance (402) that waiting or a top-up would fix.</summary>
    private bool Entitled(Feature feature, PlanFeature? setting) => feature.Type switch
    {
        FeatureType.Metered => setting is not null || SpillOf(feature) is not null,
        FeatureType.Concurrency => setting is not null,
        _ => true,
    };

    private static string NotEntitledMessage(Feature feature) => $"{feature.Id} is not included in the customer's plan";

    private static HoldOutcome HoldOutcomeOf(Feature feature, HoldRequest request, bool entitled, HoldResult result) => result.Refusal switch
    {
        null => new HoldOutcome(result.HoldId, feature.Id, request.Amount, result.ExpiresAt, null, null),
        LedgerRefusal.ConcurrencyLimit or LedgerRefusal.InsufficientBalance when !entitled =>
            new HoldOutcome(null, feature.Id, request.Amount, null, TollgateRefusal.NotEntitled, NotEntitledMessage(feature)),
        LedgerRefusal.ConcurrencyLimit => new HoldOutcome(null, feature.Id, request.Amount, null, TollgateRefusal.ConcurrencyLimit,
            $"{feature.Id} allows {request.ConcurrencyLimit} at a time"),
        LedgerRefusal.InsufficientBalance => new HoldOutcome(null, feature.Id, request.Amount, null,
            feature.Type == FeatureType.Metered ? TollgateRefusal.QuotaExceeded : TollgateRefusal.InsufficientBalance,
            $"{result.Remaining} {feature.Id} available, {request.Amount} needed"),
        LedgerRefusal.KeyReused => new HoldOutcome(null, feature.Id, request.Amount, null, TollgateRefusal.IdempotencyKeyReused, KeyReusedMessage),
        _ => new HoldOutcome(null, feature.Id, request.Amount, null, TollgateRefusal.InvalidRequest, result.Refusal.Value.ToString()),
    };

    /// <summary>Consumes <paramref name="amount"/> of an active hold (all of it when null) and returns the rest.</summary>
    public async Task<SettleOutcome> SettleAsync(string holdId, long? amount, CancellationToken cancellationToken = default)
    {
        var result = await _ledger.SettleAsync(new SettleRequest(holdId) { Amount = amount }, cancellationToken).ConfigureAwait(false);
        return Outcome(result);
    }

    /// <summary>Returns all of an active hold's units.</summary>
    public async Task<SettleOutcome> ReleaseAsync(string holdId, CancellationToken cancellationToken = default)
    {
        var result = await _ledger.ReleaseAsync(new ReleaseRequest(holdId), cancellationToken).ConfigureAwait(false);
        return Outcome(result);
    }

    /// <summary>Grants <paramref name="amount"/> of a feature as a new lot, once per <paramref name="idempotencyKey"/>; <paramref name="expiresAt"/> null: never expires.</summary>
    public Task<GrantOutcome> GrantAsync(string customerId, string featureId, long amount, DateTimeOffset? expiresAt, string reason,
        string idempotencyKey, LotSource source = LotSource.Admin, CancellationToken cancellationToken = default) =>
        GrantAsync(customerId, featureId, amount, expiresAt, reason, idempotencyKey, null, source, cancellationToken);

    /// <summary>Grants credits (or extra allowance of a metered feature) by hand, with the reason kept on the entry.
    /// With <paramref name="call"/>, the call's response is stored in the same transaction as the grant.</summary>
    public async Task<GrantOutcome> GrantAsync(string customerId, string featureId, long amount, DateTimeOffset? expiresAt, string reason,
        string idempotencyKey, IdempotentCall<GrantOutcome>? call, LotSource source = LotSource.Admin, CancellationToken cancellationToken = default)
    {
        var feature = _catalog.Feature(featureId) ?? throw new UnknownFeatureException(featureId);
        if (feature.Type is not (FeatureType.Credits or FeatureType.Metered))
        {
            return new GrantOutcome(null, featureId, amount, expiresAt, TollgateRefusal.InvalidRequest,
                "only credits and metered features hold granted lots");
        }

        var (plan, now) = await PlanNowAsync(customerId, cancellationToken).ConfigureAwait(false);
        try
        {
            var result = await _ledger.GrantAsync(new GrantRequest(customerId, featureId, amount, source, "grant:" + idempotencyKey)
            {
                ExpiresAt = expiresAt,
                Reference = reason,
            }, WriteFor(customerId, plan, now, Wrap(call, r => GrantOutcomeOf(featureId, amount, expiresAt, (GrantResult)r))), cancellationToken)
                .ConfigureAwait(false);
            return GrantOutcomeOf(featureId, amount, expiresAt, result) with { Response = result.Response, Replayed = result.Replayed };
        }
        catch
        {
            _ledgerViews.Invalidate(customerId);
            throw;
        }
    }

    private static GrantOutcome GrantOutcomeOf(string featureId, long amount, DateTimeOffset? expiresAt, GrantResult result) => result.Refusal switch
    {
        null => new GrantOutcome(result.LotId, featureId, amount, result.ExpiresAt, null, null),
        LedgerRefusal.KeyReused => new GrantOutcome(null, featureId, amount, expiresAt, TollgateRefusal.IdempotencyKeyReused, KeyReusedMessage),
        _ => new GrantOutcome(null, featureId, amount, expiresAt, TollgateRefusal.InvalidRequest, OverflowMessage),
    };

    private const string KeyReusedMessage = "this idempotency key was used with a different request";

    private const string OverflowMessage = "the balance would overflow";

    /// <summary>An API call at the gate's level turned into one at the ledger's: the ledger's result is mapped as the
    /// gate maps it, then rendered.</summary>
    private static IdempotentCall<LedgerResult>? Wrap<T>(IdempotentCall<T>? call, Func<LedgerResult, T> map) =>
        call is null ? null : new IdempotentCall<LedgerResult>(call.Scope, call.Key, call.RequestHash, r => call.Render(map(r)));

    private static SettleOutcome Outcome(SettleResult result)
    {
        var status = SnakeName(result.Status);
        return result.Refusal switch
        {
            null => new SettleOutcome(result.HoldId, status, result.Settled, result.Released, null, null),
            LedgerRefusal.HoldNotFound => new SettleOutcome(result.HoldId, "", 0, 0, TollgateRefusal.HoldNotFound, $"no hold {result.HoldId}"),
            LedgerRefusal.HoldNotActive => new SettleOutcome(result.HoldId, status, result.Settled, result.Released, TollgateRefusal.HoldNotActive,
                $"hold {result.HoldId} is {status}"),
            _ => new SettleOutcome(result.HoldId, status, 0, 0, TollgateRefusal.InvalidRequest, "amount is more than the hold reserved"),
        };
    }

    private static string SnakeName(HoldStatus status) => Common.SnakeCase<HoldStatus>.Name(status);

    // The gate's usages reach this with a reused key only: a count always carries a limit (so one past 64 bits is at
    // its limit, not an overflow), and a consume is refused for its balance or its key. The other arm is a safe answer
    // for a refusal a later ledger might add.
    // Stryker disable once Conditional,Boolean : no other refusal reaches here (above)
    private static UsageResult Refused(string featureId, LedgerRefusal refusal) => refusal == LedgerRefusal.KeyReused
        ? new UsageResult(featureId, false, 0, null, TollgateRefusal.IdempotencyKeyReused, KeyReusedMessage)
        : new UsageResult(featureId, false, 0, null, TollgateRefusal.InvalidRequest, refusal.ToString());
}
