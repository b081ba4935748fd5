using Tollgate.Core.Ledger;

namespace Tollgate.Testing.LedgerModel;

/// <summary>
/// A plain reference ledger for one customer: lists of lots and holds, one operation at a time, no entries, no
/// batching, no SQL, no replay store. It is the ledger's rules written the slow, obvious way (DESIGN.md "Ledger model",
/// the request types' contracts) so the model test can run it beside the engine and compare every answer and balance.
/// Ids are not the model's business: a grant or hold that succeeds takes the id the engine gave it.
/// </summary>
public sealed class ReferenceLedger(IReadOnlyDictionary<string, BurnOrder> burnOrders)
{
    private readonly List<LotState> _lots = [];
    private readonly List<HoldState> _holds = [];
    private readonly Dictionary<string, long> _debts = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _counters = new(StringComparer.Ordinal);
    private long _grants;

    public sealed class LotState
    {
        public required string Id { get; init; }
        public required string Feature { get; init; }
        public required long Amount { get; init; }
        public required string? SourceRef { get; init; }
        public required int Priority { get; init; }
        public required long Order { get; init; }
        public DateTimeOffset? ExpiresAt { get; set; }
        public long Remaining { get; set; }
        public long Held { get; set; }
        public long Clawed { get; set; }
        public long Expired { get; set; }
    }

    public sealed class Allocation
    {
        public required string LotId { get; init; }
        public required string Feature { get; init; }
        public required long Amount { get; init; }
        public long Revoked { get; set; }
    }

    public sealed class HoldState
    {
        public required string Id { get; init; }
        public required string Feature { get; init; }
        public required long Amount { get; init; }
        public required List<Allocation> Allocations { get; init; }
        public required Spill? Spill { get; init; }
        public required DateTimeOffset CreatedAt { get; init; }
        public required DateTimeOffset ExpiresAt { get; init; }
        public HoldStatus Status { get; set; } = HoldStatus.Active;
        public long Settled { get; set; }
    }

    /// <summary>What an operation answered, in the model's terms. Fields an operation does not set stay default.</summary>
    public sealed record Answer
    {
        public LedgerRefusal? Refusal { get; init; }
        public long Amount { get; init; }
        public long Remaining { get; init; }
        public long SpillCharged { get; init; }
        public long? SpillRemaining { get; init; }
        public string? ShortFeature { get; init; }
        public IReadOnlyList<(string LotId, string Feature, long Amount)> Draws { get; init; } = [];
        public long DebtRepaid { get; init; }
        public long Balance { get; init; }
        public long Settled { get; init; }
        public long Released { get; init; }
        public HoldStatus? Status { get; init; }
        public long Clawed { get; init; }
        public long Restored { get; init; }
        public long ExpiredBack { get; init; }
        public long RevokedFromHolds { get; init; }
        public long DebtCreated { get; init; }
        public long Retired { get; init; }
        public long Level { get; init; }
    }

    public IEnumerable<LotState> Lots => _lots;

    public IEnumerable<HoldState> Holds => _holds;

    public long Available(string feature) => _lots.Where(l => l.Feature == feature).Sum(l => l.Remaining);

    public long Held(string feature) =>
        _holds.Where(h => h.Status == HoldStatus.Active).SelectMany(h => h.Allocations).Where(a => a.Feature == feature).Sum(a => a.Amount - a.Revoked);

    public long Debt(string feature) => _debts.GetValueOrDefault(feature);

    public long Counter(string feature) => _counters.GetValueOrDefault(feature);

    public long HoldUnits(string feature) => _holds.Where(h => h.Status == HoldStatus.Active && h.Feature == feature).Sum(h => h.Amount);

    /// <summary>Time passes: holds past their TTL give everything back, then lots past their expiry lose what remains.
    /// (Which of the two goes first at one instant cannot matter: credits returned to an expired lot expire at once.)</summary>
    public void CatchUp(DateTimeOffset now)
    {
        foreach (var hold in _holds.Where(h => h.Status == HoldStatus.Active && h.ExpiresAt <= now).ToList())
        {
            Close(hold, 0, HoldStatus.Expired, hold.ExpiresAt);
        }

        foreach (var lot in _lots.Where(l => l.ExpiresAt <= now))
        {
            Expire(lot);
        }
    }

    public Answer Grant(string feature, long amount, LotSource source, int? priority, string? sourceRef, DateTimeOffset? expiresAt, string lotId)
    {
        var repaid = Math.Min(Debt(feature), amount);
        _debts[feature] = Debt(feature) - repaid;
        _lots.Add(new LotState
        {
            Id = lotId,
            Feature = feature,
            Amount = amount,
            Remaining = amount - repaid,
            SourceRef = sourceRef,
            ExpiresAt = expiresAt,
            Priority = priority ?? LedgerOptions.DefaultPriority(source),
            Order = ++_grants,
        });
        return new Answer { Amount = amount, DebtRepaid = repaid, Balance = Available(feature) - Debt(feature) };
    }

    public Answer Consume(string feature, long amount, Spill? spill)
    {
        var plan = Plan(feature, amount, spill);
        if (plan is null)
        {
            return new Answer
            {
                Refusal = LedgerRefusal.InsufficientBalance,
                Amount = amount,
                Remaining = Available(feature),
                SpillRemaining = spill is null ? null : Available(spill.Feature),
                ShortFeature = ShortOf(feature, amount, spill),
            };
        }

        var draws = plan.SelectMany(p => Take(p.Feature, p.Amount, reserve: false)).ToList();
        return new Answer
        {
            Amount = amount,
            Remaining = Available(feature),
            SpillCharged = plan.Count > 1 ? plan[1].Amount : 0,
            SpillRemaining = spill is null ? null : Available(spill.Feature),
            Draws = draws.Select(d => (d.Lot.Id, d.Lot.Feature, d.Amount)).ToList(),
        };
    }

    public Answer Hold(string feature, long amount, Spill? spill, DateTimeOffset now, TimeSpan ttl, string holdId)
    {
        var plan = Plan(feature, amount, spill);
        if (plan is null)
        {
            return new Answer
            {
                Refusal = LedgerRefusal.InsufficientBalance,
                Amount = amount,
                Remaining = Available(feature),
                ShortFeature = ShortOf(feature, amount, spill),
            };
        }

        var draws = plan.SelectMany(p => Take(p.Feature, p.Amount, reserve: true)).ToList();
        _holds.Add(new HoldState
        {
            Id = holdId,
            Feature = feature,
            Amount = amount,
            Spill = spill,
            CreatedAt = now,
            ExpiresAt = now + ttl,
            Allocations = draws.Select(d => new Allocation { LotId = d.Lot.Id, Feature = d.Lot.Feature, Amount = d.Amount }).ToList(),
        });
        return new Answer { Amount = amount, Remaining = Available(feature), Draws = draws.Select(d => (d.Lot.Id, d.Lot.Feature, d.Amount)).ToList() };
    }

    /// <summary>A concurrency hold: slots, not credits; refused when the feature's active holds would pass the limit.</summary>
    public Answer HoldSlots(string feature, long amount, long limit, DateTimeOffset now, TimeSpan ttl, string holdId)
    {
        var inUse = HoldUnits(feature);
        if (inUse + amount > limit)
        {
            return new Answer { Refusal = LedgerRefusal.ConcurrencyLimit, Amount = amount, Remaining = Math.Max(0, limit - inUse), ShortFeature = feature };
        }

        _holds.Add(new HoldState { Id = holdId, Feature = feature, Amount = amount, Spill = null, CreatedAt = now, ExpiresAt = now + ttl, Allocations = [] });
        return new Answer { Amount = amount, Remaining = limit - inUse - amount };
    }

    public Answer Settle(string holdId, long? amount, DateTimeOffset now)
    {
        var hold = _holds.SingleOrDefault(h => h.Id == holdId);
        if (hold is null)
        {
            return new Answer { Refusal = LedgerRefusal.HoldNotFound };
        }

        if (hold.Status != HoldStatus.Active)
        {
            return Describe(hold) with { Refusal = LedgerRefusal.HoldNotActive };
        }

        var units = amount ?? hold.Amount;
        if (units > hold.Amount)
        {
            return Describe(hold) with { Refusal = LedgerRefusal.AmountExceedsHold };
        }

        Close(hold, units, HoldStatus.Settled, now);
        return Describe(hold);
    }

    public Answer Release(string holdId, DateTimeOffset now)
    {
        var hold = _holds.SingleOrDefault(h => h.Id == holdId);
        if (hold is null)
        {
            return new Answer { Refusal = LedgerRefusal.HoldNotFound };
        }

        if (hold.Status != HoldStatus.Active)
        {
            return Describe(hold) with { Refusal = LedgerRefusal.HoldNotActive };
        }

        Close(hold, 0, HoldStatus.Released, now);
        return Describe(hold);
    }

    /// <summary>Takes back what a source granted, newest lot first: what remains, then what active holds reserve,
    /// then what was spent (as debt). Credits already expired or clawed are not taken twice.</summary>
    public Answer Clawback(string sourceRef, long? amount, string? feature)
    {
        var lots = _lots.Where(l => l.SourceRef == sourceRef && (feature is null || l.Feature == feature)).ToList();
        var features = lots.Select(l => l.Feature).Distinct().Order(StringComparer.Ordinal).ToList();
        if (features.Count == 0 || (amount is not null && features.Count > 1))
        {
            return new Answer { Refusal = LedgerRefusal.SourceNotFound };
        }

        long clawed = 0, revoked = 0, debt = 0;
        foreach (var f in features)
        {
            var need = amount ?? long.MaxValue;
            foreach (var lot in lots.Where(l => l.Feature == f).OrderByDescending(l => l.Order))
            {
                var recoverable = lot.Amount - lot.Clawed - lot.Expired;
                var take = Math.Min(need, recoverable);
                if (take <= 0)
                {
                    continue;
                }

                need -= take;
                var fromRemaining = Math.Min(take, lot.Remaining);
                var fromHolds = Revoke(lot, take - fromRemaining);
                var spent = take - fromRemaining - fromHolds;
                lot.Remaining -= fromRemaining;
                lot.Clawed += take;
                clawed += fromRemaining;
                revoked += fromHolds;
                debt += spent;
                _debts[f] = Debt(f) + spent;
            }
        }

        return new Answer { Clawed = clawed, RevokedFromHolds = revoked, DebtCreated = debt };
    }

    /// <summary>Ends a source's unexpired lots now, as if they expired at this instant; nothing becomes debt.</summary>
    public Answer Retire(string sourceRef, DateTimeOffset now)
    {
        long retired = 0;
        foreach (var lot in _lots.Where(l => l.SourceRef == sourceRef && (l.ExpiresAt is null || l.ExpiresAt > now)))
        {
            retired += lot.Remaining;
            lot.ExpiresAt = now;
            Expire(lot);
        }

        return new Answer { Retired = retired };
    }

    public Answer Count(string feature, long delta, long? limit)
    {
        var level = Counter(feature);
        var next = level + delta;
        if (next < 0)
        {
            return new Answer { Refusal = LedgerRefusal.BelowZero, Level = level };
        }

        if (delta > 0 && next > limit)
        {
            return new Answer { Refusal = LedgerRefusal.LimitReached, Level = level };
        }

        _counters[feature] = next;
        return new Answer { Level = next };
    }

    /// <summary>Puts back what a consume took (<paramref name="draws"/>), once (<paramref name="reversed"/> before: refused).
    /// A lot past its expiry gets nothing (its part is expired); a lot gets back at most what it has spent and still
    /// owns (amount − remaining − held − clawed − expired, where held leaves out what a refund revoked from a hold still
    /// open: that is in clawed already): a refund took the rest (clawed). Debt is not touched.</summary>
    public Answer Reverse(IReadOnlyList<(string LotId, string Feature, long Amount)> draws, bool reversed, DateTimeOffset now)
    {
        if (reversed)
        {
            return new Answer { Refusal = LedgerRefusal.AlreadyReversed };
        }

        long restored = 0, expired = 0, clawed = 0;
        var back = new List<(string, string, long)>();
        foreach (var (lotId, feature, amount) in draws)
        {
            var lot = _lots.Single(l => l.Id == lotId);
            if (lot.ExpiresAt <= now)
            {
                expired += amount;
                continue;
            }

            var revokedHeld = _holds.Where(h => h.Status == HoldStatus.Active).SelectMany(h => h.Allocations)
                .Where(a => a.LotId == lotId).Sum(a => a.Revoked);
            var give = Math.Clamp(lot.Amount - lot.Remaining - (lot.Held - revokedHeld) - lot.Clawed - lot.Expired, 0, amount);
            clawed += amount - give;
            if (give > 0)
            {
                lot.Remaining += give;
                restored += give;
                back.Add((lotId, feature, give));
            }
        }

        return new Answer { Restored = restored, ExpiredBack = expired, Clawed = clawed, Draws = back };
    }

    private static Answer Describe(HoldState hold) => new()
    {
        Settled = hold.Settled,
        Released = hold.Status == HoldStatus.Active ? 0 : hold.Amount - hold.Settled,
        Status = hold.Status,
    };

    /// <summary>The parts a consume or hold takes, or null when it cannot be paid in full: the feature alone when it
    /// covers the amount, otherwise all it has plus the rest at the spill's unit cost.</summary>
    private List<(string Feature, long Amount)>? Plan(string feature, long amount, Spill? spill)
    {
        var own = Available(feature);
        if (own >= amount)
        {
            return [(feature, amount)];
        }

        if (spill is null)
        {
            return null;
        }

        var charge = (Int128)(amount - own) * spill.UnitCost;
        return charge > Available(spill.Feature) ? null : [(feature, own), (spill.Feature, (long)charge)];
    }

    private string ShortOf(string feature, long amount, Spill? spill) => spill is null || Available(feature) >= amount ? feature : spill.Feature;

    private List<(LotState Lot, long Amount)> Take(string feature, long amount, bool reserve)
    {
        var taken = new List<(LotState, long)>();
        var need = amount;
        foreach (var lot in BurnOrdered(feature))
        {
            if (need == 0)
            {
                break;
            }

            var take = Math.Min(lot.Remaining, need);
            lot.Remaining -= take;
            if (reserve)
            {
                lot.Held += take;
            }

            need -= take;
            taken.Add((lot, take));
        }

        return need == 0 ? taken : throw new InvalidOperationException("the model planned a draw it cannot pay");
    }

    /// <summary>DESIGN.md "Burn order": soonest expiry first (never-expiring last), then lower priority, then oldest;
    /// or, for a feature configured so, lower priority first, then soonest expiry, then oldest.</summary>
    private IEnumerable<LotState> BurnOrdered(string feature)
    {
        var lots = _lots.Where(l => l.Feature == feature && l.Remaining > 0);
        var expiry = (LotState l) => l.ExpiresAt ?? DateTimeOffset.MaxValue;
        return burnOrders.GetValueOrDefault(feature) == BurnOrder.PriorityFirst
            ? lots.OrderBy(l => l.Priority).ThenBy(expiry).ThenBy(l => l.Order)
            : lots.OrderBy(expiry).ThenBy(l => l.Priority).ThenBy(l => l.Order);
    }

    /// <summary>Marks up to <paramref name="amount"/> of a lot's credits inside active holds as revoked, newest hold first.</summary>
    private long Revoke(LotState lot, long amount)
    {
        long done = 0;
        var newestFirst = _holds.Where(h => h.Status == HoldStatus.Active)
            .OrderByDescending(h => h.CreatedAt).ThenBy(h => h.Id, StringComparer.Ordinal);
        foreach (var allocation in newestFirst.SelectMany(h => h.Allocations).Where(a => a.LotId == lot.Id))
        {
            var r = Math.Min(allocation.Amount - allocation.Revoked, amount - done);
            allocation.Revoked += r;
            done += r;
        }

        return done;
    }

    /// <summary>Ends a hold. Settled units are paid from the hold's own feature first, the rest from the spill at its
    /// unit cost; within a feature the allocations pay in the order they were taken. Each allocation pays with the
    /// customer's own (unrevoked) credits first; revoked credits that pay become debt. What is left of the customer's
    /// own credits returns to its lot, and expires at once if the lot has expired.</summary>
    private void Close(HoldState hold, long units, HoldStatus status, DateTimeOffset at)
    {
        var primary = hold.Allocations.Where(a => a.Feature == hold.Feature).Sum(a => a.Amount);
        var usedPrimary = Math.Min(units, primary);
        var budget = new Dictionary<string, long> { [hold.Feature] = usedPrimary };
        if (hold.Spill is { } spill)
        {
            budget[spill.Feature] = (units - usedPrimary) * spill.UnitCost;
        }

        foreach (var allocation in hold.Allocations)
        {
            var use = Math.Min(allocation.Amount, budget[allocation.Feature]);
            budget[allocation.Feature] -= use;
            var owned = allocation.Amount - allocation.Revoked;
            var usedOwned = Math.Min(use, owned);
            _debts[allocation.Feature] = Debt(allocation.Feature) + (use - usedOwned);
            var lot = _lots.Single(l => l.Id == allocation.LotId);
            lot.Held -= allocation.Amount;
            var returned = owned - usedOwned;
            if (lot.ExpiresAt <= at)
            {
                lot.Expired += returned;
            }
            else
            {
                lot.Remaining += returned;
            }
        }

        hold.Status = status;
        hold.Settled = units;
    }

    private static void Expire(LotState lot)
    {
        lot.Expired += lot.Remaining;
        lot.Remaining = 0;
    }
}
