using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Tollgate.Core.Common;

namespace Tollgate.Core.Ledger;

/// <summary>
/// The ledger's rules, applied to one customer's in-memory state. Pure apart from id generation: no I/O, no clock
/// reads (the instant is passed in), so a batch of requests can run against one loaded state and be saved at once.
/// </summary>
/// <remarks>
/// The balance of a feature is its available units minus its debt, and every entry's amount is the change of that
/// balance. Each operation computes its entries' running balance from the balance before it and verifies the result
/// against the state afterwards, so a rule that breaks "sum of entries = balance" throws instead of being saved.
/// </remarks>
internal sealed class LedgerRules(LedgerOptions options, TimeProvider time)
{
    private readonly TimeProvider _time = time;

    public const string ExpiredHoldReference = "hold_ttl";

    /// <summary>Writes what time has done since the state was last saved: holds past their TTL return their credits,
    /// lots past their expiry lose what remains. Events apply in time order.</summary>
    public void CatchUp(CustomerLedger ledger, DateTimeOffset now)
    {
        List<(DateTimeOffset At, int Kind, string Id)>? due = null;
        foreach (var hold in ledger.ActiveHolds)
        {
            if (hold.ExpiresAt <= now)
            {
                (due ??= []).Add((hold.ExpiresAt, 0, hold.HoldId));
            }
        }

        foreach (var lot in ledger.Lots)
        {
            if (lot.ExpiresAt <= now &&
                // Stryker disable once Equality : the lots a changed bound adds or drops have nothing remaining, and ExpireLot returns at once for them
                (lot.Remaining > 0 || lot.Held > 0))
            {
                (due ??= []).Add((lot.ExpiresAt.Value, 1, lot.LotId));
            }
        }

        if (due is null)
        {
            return;
        }

        due.Sort((a, b) =>
        {
            var c = a.At.CompareTo(b.At);
            // Stryker disable once Block : without it the id tie-break orders them the same way (hold_ sorts before lot_)
            if (c == 0)
            {
                c = a.Kind.CompareTo(b.Kind);
            }

            return c != 0 ? c : string.CompareOrdinal(a.Id, b.Id);
        });

        foreach (var (at, kind, id) in due)
        {
            if (kind == 0)
            {
                var hold = ledger.Hold(id)!;
                Close(ledger, hold, 0, HoldStatus.Expired, at, ExpiredHoldReference);
            }
            else
            {
                ExpireLot(ledger, id, at);
            }
        }
    }

    public GrantResult Grant(CustomerLedger ledger, GrantRequest request, DateTimeOffset now)
    {
        const string kind = "grant";
        var fingerprint = Fingerprint(kind, request.Feature, request.Amount, request.Source, request.SourceRef,
            request.ExpiresAt, request.Priority, request.Reference);
        if (TryReplay<GrantResult>(ledger, request.IdempotencyKey, kind, fingerprint, out var replay))
        {
            return replay;
        }

        if (!FitsAfterAdding(ledger, request.Feature, request.Amount))
        {
            return new GrantResult { Refusal = LedgerRefusal.Overflow, Feature = request.Feature, Amount = request.Amount };
        }

        var result = AddGrant(ledger, request, now);
        Remember(ledger, request.IdempotencyKey, kind, fingerprint, result, now);
        return result;
    }

    /// <summary>Carries what the lots that ended at the window start left unused into the new window, up to the max
    /// (see <see cref="CarryRequest"/>). Only lots of the subscription's own periods count (its plan grants and their
    /// carries): a pack's lot keeps its own expiry and is never swallowed into a carry (polar #10513).</summary>
    public GrantResult Carry(CustomerLedger ledger, CarryRequest request, DateTimeOffset now)
    {
        const string kind = "rollover";
        var fingerprint = Fingerprint(kind, request.Feature, request.Max, request.WindowStart, request.ExpiresAt, request.SourcePrefix, request.Reference);
        if (TryReplay<GrantResult>(ledger, request.IdempotencyKey, kind, fingerprint, out var replay))
        {
            return replay;
        }

        var windowStart = Instants.Normalize(request.WindowStart);
        var ended = ledger.Lots
            .Where(l => l.Feature == request.Feature
                && l.Source is LotSource.SubscriptionPeriod or LotSource.Rollover
                && l.SourceRef is { } r && r.StartsWith(request.SourcePrefix, StringComparison.Ordinal)
                && l.ExpiresAt == windowStart)
            .ToList();
        var unused = ended.Sum(l => l.Expired);
        var amount = Math.Min(unused, request.Max);
        // The carry belongs to the period it came from: a refund of that period claws it back with the period's grant.
        var sourceRef = ended.Where(l => l.Source == LotSource.SubscriptionPeriod).Select(l => l.SourceRef).FirstOrDefault();
        if (sourceRef is not null &&
            // Stryker disable once Equality : a carry of 0 always fits, every write keeps available + held within 64 bits
            amount > 0 &&
            !FitsAfterAdding(ledger, request.Feature, amount))
        {
            return new GrantResult { Refusal = LedgerRefusal.Overflow, Feature = request.Feature, Amount = amount };
        }

        var result = amount > 0 && sourceRef is not null
            ? AddGrant(ledger, new GrantRequest(request.CustomerId, request.Feature, amount, LotSource.Rollover, request.IdempotencyKey)
            {
                SourceRef = sourceRef,
                ExpiresAt = request.ExpiresAt,
                Reference = request.Reference,
                LotId = request.LotId,
            }, now)
            : new GrantResult { Feature = request.Feature, Amount = 0, Balance = ledger.Balance(request.Feature) };
        Remember(ledger, request.IdempotencyKey, kind, fingerprint, result, now);
        return result;
    }

    private GrantResult AddGrant(CustomerLedger ledger, GrantRequest request, DateTimeOffset now)
    {
        var writer = new EntryWriter(this, ledger, request.Feature);
        var debt = ledger.Debt(request.Feature);
        var repaid = Math.Min(debt, request.Amount);
        var expiresAt = request.ExpiresAt is { } e ? Instants.Normalize(e) : (DateTimeOffset?)null;
        // The lot shares its grant entry's sequence number: "oldest first" and the entry order agree.
        var seq = ledger.NextSeq();
        var lot = new LotRecord(ledger.CustomerId, request.LotId ?? Ids.New("lot", _time), request.Feature, request.Amount,
            request.Amount - repaid, 0, 0, 0, request.Source, request.SourceRef, expiresAt,
            request.Priority ?? LedgerOptions.DefaultPriority(request.Source), seq, now);
        ledger.AddLot(lot);
        // Stryker disable once Equality : with nothing repaid it writes the unchanged debt again
        if (repaid > 0)
        {
            ledger.SetDebt(request.Feature, debt - repaid);
        }

        var entry = writer.Write(EntryType.Grant, request.Amount, now, [new LotDraw(lot.LotId, request.Amount)],
            request.Reference ?? request.SourceRef, holdId: null, request.IdempotencyKey, debtRepaid: repaid > 0 ? repaid : null, seq: seq);
        writer.Verify();

        return new GrantResult
        {
            LotId = lot.LotId,
            EntryId = entry.EntryId,
            Feature = request.Feature,
            Amount = request.Amount,
            DebtRepaid = repaid,
            ExpiresAt = expiresAt,
            Balance = ledger.Balance(request.Feature),
        };
    }

    public ConsumeResult Consume(CustomerLedger ledger, ConsumeRequest request, DateTimeOffset now)
    {
        const string kind = "consume";
        var fingerprint = Fingerprint(kind, request.Feature, request.Amount, request.Spill?.Feature,
            request.Spill?.UnitCost, request.Reference, request.EntryType);
        if (TryReplay<ConsumeResult>(ledger, request.IdempotencyKey, kind, fingerprint, out var replay))
        {
            return replay;
        }

        var plan = PlanDraw(ledger, request.Feature, request.Amount, request.Spill);
        if (plan.ShortFeature is not null)
        {
            return new ConsumeResult
            {
                Refusal = LedgerRefusal.InsufficientBalance,
                Feature = request.Feature,
                Amount = request.Amount,
                Remaining = ledger.Available(request.Feature),
                SpillRemaining = request.Spill is null ? null : ledger.Available(request.Spill.Feature),
                ShortFeature = plan.ShortFeature,
            };
        }

        var draws = new List<Draw>();
        string? firstEntryId = null;
        foreach (var (feature, amount) in plan.Parts)
        {
            var writer = new EntryWriter(this, ledger, feature);
            var taken = Take(ledger, feature, amount, reserve: false);
            // The requested feature's entry records every unit used, also those its own lots could not pay.
            var units = feature == request.Feature && request.Spill is not null ? request.Amount : (long?)null;
            var entry = writer.Write(request.EntryType, -amount, now, taken, request.Reference, holdId: null, request.IdempotencyKey, units: units,
                memberId: request.MemberId);
            writer.Verify();
            firstEntryId ??= entry.EntryId;
            draws.AddRange(taken.Select(t => new Draw(t.LotId, feature, t.Amount)));
        }

        var result = new ConsumeResult
        {
            Feature = request.Feature,
            Amount = request.Amount,
            EntryId = firstEntryId!,
            Remaining = ledger.Available(request.Feature),
            SpillCharged = plan.SpillCharge,
            SpillRemaining = request.Spill is null ? null : ledger.Available(request.Spill.Feature),
            Draws = draws,
        };
        Remember(ledger, request.IdempotencyKey, kind, fingerprint, result, now);
        return result;
    }

    public HoldResult Hold(CustomerLedger ledger, HoldRequest request, DateTimeOffset now)
    {
        const string kind = "hold";
        var fingerprint = Fingerprint(kind, request.Feature, request.Amount, request.Spill?.Feature,
            request.Spill?.UnitCost, request.Ttl.Ticks, request.Reference);
        if (TryReplay<HoldResult>(ledger, request.IdempotencyKey, kind, fingerprint, out var replay))
        {
            return replay;
        }

        if (request.ConcurrencyLimit is { } limit)
        {
            return HoldSlots(ledger, request, limit, fingerprint, now);
        }

        var plan = PlanDraw(ledger, request.Feature, request.Amount, request.Spill);
        if (plan.ShortFeature is not null)
        {
            return new HoldResult
            {
                Refusal = LedgerRefusal.InsufficientBalance,
                Feature = request.Feature,
                Amount = request.Amount,
                Remaining = ledger.Available(request.Feature),
                ShortFeature = plan.ShortFeature,
            };
        }

        var holdId = Ids.New("hold", _time);
        var allocations = new List<HoldAllocation>();
        var draws = new List<Draw>();
        foreach (var (feature, amount) in plan.Parts)
        {
            var writer = new EntryWriter(this, ledger, feature);
            var taken = Take(ledger, feature, amount, reserve: true);
            writer.Write(EntryType.Hold, -amount, now, taken, request.Reference, holdId, request.IdempotencyKey, memberId: request.MemberId);
            writer.Verify();
            allocations.AddRange(taken.Select(t => new HoldAllocation(t.LotId, feature, t.Amount, 0)));
            draws.AddRange(taken.Select(t => new Draw(t.LotId, feature, t.Amount)));
        }

        var expiresAt = Instants.Normalize(now + request.Ttl);
        ledger.AddHold(new HoldRecord(ledger.CustomerId, holdId, request.Feature, request.Amount, HoldStatus.Active,
            allocations, request.Spill?.Feature, request.Spill?.UnitCost ?? 0, now, expiresAt, null, 0, request.Reference));

        var result = new HoldResult
        {
            HoldId = holdId,
            Feature = request.Feature,
            Amount = request.Amount,
            ExpiresAt = expiresAt,
            Remaining = ledger.Available(request.Feature),
            Draws = draws,
        };
        Remember(ledger, request.IdempotencyKey, kind, fingerprint, result, now);
        return result;
    }

    /// <summary>A concurrency hold: reserves slots (no lots) while the feature's active holds stay within the limit.</summary>
    private HoldResult HoldSlots(CustomerLedger ledger, HoldRequest request, long limit, string fingerprint, DateTimeOffset now)
    {
        var inUse = ledger.ActiveHoldUnits(request.Feature);
        // Compared without adding: slots past 64 bits are past any limit, refused rather than thrown.
        if (request.Amount > limit - inUse)
        {
            return new HoldResult
            {
                Refusal = LedgerRefusal.ConcurrencyLimit,
                Feature = request.Feature,
                Amount = request.Amount,
                Remaining = Math.Max(0, limit - inUse),
                ShortFeature = request.Feature,
            };
        }

        var holdId = Ids.New("hold", _time);
        var writer = new EntryWriter(this, ledger, request.Feature);
        writer.Write(EntryType.Hold, 0, now, [], request.Reference, holdId, request.IdempotencyKey, units: request.Amount, memberId: request.MemberId);
        writer.Verify();
        var expiresAt = Instants.Normalize(now + request.Ttl);
        ledger.AddHold(new HoldRecord(ledger.CustomerId, holdId, request.Feature, request.Amount, HoldStatus.Active,
            [], null, 0, now, expiresAt, null, 0, request.Reference));
        var result = new HoldResult
        {
            HoldId = holdId,
            Feature = request.Feature,
            Amount = request.Amount,
            ExpiresAt = expiresAt,
            Remaining = limit - inUse - request.Amount,
        };
        Remember(ledger, request.IdempotencyKey, "hold", fingerprint, result, now);
        return result;
    }

    public CountResult Count(CustomerLedger ledger, CountRequest request, DateTimeOffset now)
    {
        const string kind = "count";
        var fingerprint = Fingerprint(kind, request.Feature, request.Delta, request.Limit, request.Reference);
        if (TryReplay<CountResult>(ledger, request.IdempotencyKey, kind, fingerprint, out var replay))
        {
            return replay;
        }

        var level = ledger.Counter(request.Feature);
        if (request.Delta > 0 && level > long.MaxValue - request.Delta)
        {
            // A level past 64 bits is past any limit: refused as at the limit (or as an overflow, without one), never
            // thrown, which would fail the caller's request as a server error. A level is never negative, so only an
            // increase can pass 64 bits.
            return new CountResult
            {
                Refusal = request.Limit is null ? LedgerRefusal.Overflow : LedgerRefusal.LimitReached,
                Feature = request.Feature,
                Level = level,
                Limit = request.Limit,
            };
        }

        var next = level + request.Delta;
        if (next < 0 || (request.Limit is { } limit &&
                         // Stryker disable once Equality : the engine refuses a zero delta before the rules run
                         request.Delta > 0 &&
                         next > limit))
        {
            return new CountResult
            {
                // Stryker disable once Equality : a refused count never lands on 0 (a delta of 0 never reaches the rules)
                Refusal = next < 0 ? LedgerRefusal.BelowZero : LedgerRefusal.LimitReached,
                Feature = request.Feature,
                Level = level,
                Limit = request.Limit,
            };
        }

        ledger.SetCounter(request.Feature, next);
        var entry = new EntryRecord(ledger.CustomerId, ledger.NextSeq(), Ids.New("ent", _time), request.Feature, EntryType.Count,
            request.Delta, next, now, [], request.Reference, null, request.IdempotencyKey, MemberId: request.MemberId);
        ledger.AddEntry(entry);
        var result = new CountResult { Feature = request.Feature, EntryId = entry.EntryId, Level = next, Limit = request.Limit };
        Remember(ledger, request.IdempotencyKey, kind, fingerprint, result, now);
        return result;
    }

    public SettleResult Settle(CustomerLedger ledger, SettleRequest request, DateTimeOffset now)
    {
        var hold = ledger.Hold(request.HoldId);
        if (hold is null)
        {
            return new SettleResult { Refusal = LedgerRefusal.HoldNotFound, HoldId = request.HoldId };
        }

        if (hold.Status != HoldStatus.Active)
        {
            return Describe(hold) with { Refusal = LedgerRefusal.HoldNotActive };
        }

        var amount = request.Amount ?? hold.Amount;
        if (amount > hold.Amount)
        {
            return Describe(hold) with { Refusal = LedgerRefusal.AmountExceedsHold };
        }

        return Close(ledger, hold, amount, HoldStatus.Settled, now, hold.Reference);
    }

    public SettleResult Release(CustomerLedger ledger, ReleaseRequest request, DateTimeOffset now)
    {
        var hold = ledger.Hold(request.HoldId);
        if (hold is null)
        {
            return new SettleResult { Refusal = LedgerRefusal.HoldNotFound, HoldId = request.HoldId };
        }

        return hold.Status != HoldStatus.Active
            ? Describe(hold) with { Refusal = LedgerRefusal.HoldNotActive }
            : Close(ledger, hold, 0, HoldStatus.Released, now, hold.Reference);
    }

    public ClawbackResult Clawback(CustomerLedger ledger, ClawbackRequest request, DateTimeOffset now)
    {
        const string kind = "clawback";
        var fingerprint = Fingerprint(kind, request.SourceRef, request.Amount, request.Feature, request.Reference);
        if (TryReplay<ClawbackResult>(ledger, request.IdempotencyKey, kind, fingerprint, out var replay))
        {
            return replay;
        }

        var lots = ledger.Lots
            .Where(l => l.SourceRef == request.SourceRef && (request.Feature is null || l.Feature == request.Feature))
            .ToList();
        var features = lots.Select(l => l.Feature).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        if (features.Count == 0 || (request.Amount is not null && features.Count > 1))
        {
            return new ClawbackResult { Refusal = LedgerRefusal.SourceNotFound };
        }

        long clawed = 0, revoked = 0, debtCreated = 0;
        foreach (var feature in features)
        {
            var writer = new EntryWriter(this, ledger, feature);
            var need = request.Amount ?? long.MaxValue;
            var fromRemaining = new List<LotDraw>();
            long featureDebt = 0;
            foreach (var lot in lots.Where(l => l.Feature == feature).OrderByDescending(l => l.Seq))
            {
                var current = ledger.Lot(lot.LotId);
                var take = Math.Min(need, current.Amount - current.Clawed - current.Expired);
                // Stryker disable once Equality,Statement,Block : with nothing to take the body moves nothing (it rewrites the lot unchanged)
                if (take <= 0)
                {
                    continue;
                }

                need -= take;
                var fromLot = Math.Min(take, current.Remaining);
                var fromHolds = RevokeHeld(ledger, current.LotId, take - fromLot);
                featureDebt += take - fromLot - fromHolds;
                revoked += fromHolds;
                ledger.UpdateLot(current with { Remaining = current.Remaining - fromLot, Clawed = current.Clawed + take });
                if (fromLot > 0)
                {
                    fromRemaining.Add(new LotDraw(current.LotId, fromLot));
                }
            }

            var taken = fromRemaining.Sum(d => d.Amount);
            clawed += taken;
            if (taken > 0)
            {
                writer.Write(EntryType.Clawback, -taken, now, fromRemaining, request.Reference ?? request.SourceRef, null, request.IdempotencyKey);
            }

            if (featureDebt > 0)
            {
                ledger.SetDebt(feature, ledger.Debt(feature) + featureDebt);
                writer.Write(EntryType.Debt, -featureDebt, now, [], request.Reference ?? request.SourceRef, null, request.IdempotencyKey);
                debtCreated += featureDebt;
            }

            writer.Verify();
        }

        var result = new ClawbackResult { Clawed = clawed, RevokedFromHolds = revoked, DebtCreated = debtCreated };
        Remember(ledger, request.IdempotencyKey, kind, fingerprint, result, now);
        return result;
    }

    public RetireResult Retire(CustomerLedger ledger, RetireRequest request, DateTimeOffset now)
    {
        const string kind = "retire";
        var fingerprint = Fingerprint(kind, request.SourceRef);
        if (TryReplay<RetireResult>(ledger, request.IdempotencyKey, kind, fingerprint, out var replay))
        {
            return replay;
        }

        long retired = 0;
        foreach (var lot in ledger.Lots.Where(l => l.SourceRef == request.SourceRef && (l.ExpiresAt is null ||
                     // Stryker disable once Equality : a lot expiring exactly now was expired by the catch-up before every request
                     l.ExpiresAt > now)).ToList())
        {
            retired += lot.Remaining;
            ledger.UpdateLot(lot with { ExpiresAt = now });
            ExpireLot(ledger, lot.LotId, now);
        }

        var result = new RetireResult { Retired = retired };
        Remember(ledger, request.IdempotencyKey, kind, fingerprint, result, now);
        return result;
    }

    public ReverseResult Reverse(CustomerLedger ledger, ReverseRequest request, DateTimeOffset now)
    {
        const string kind = "reverse";
        var key = request.OperationKey;
        if (ledger.Operation(key) is not null)
        {
            // The key is the usage's, not the caller's: whoever asks again, the usage was reversed once already.
            return new ReverseResult { Refusal = LedgerRefusal.AlreadyReversed, EntryId = request.EntryId };
        }

        // What each lot gets back is worked out before anything is written, so that a reversal that would pass 64 bits
        // (available plus held, as a grant counts them) is refused whole, as a grant is. Written, the held credits would
        // throw when they come back (a release, the hold's TTL) and fail every later batch of the customer.
        long expired = 0, clawed = 0;
        var given = new Dictionary<string, long>(StringComparer.Ordinal);
        var plan = new List<(EntryRecord Usage, List<LotDraw> Back)>(request.Entries.Count);
        foreach (var usage in request.Entries)
        {
            var back = new List<LotDraw>();
            foreach (var draw in usage.Lots)
            {
                var lot = ledger.Lot(draw.LotId);
                if (lot.ExpiresAt <= now)
                {
                    expired += draw.Amount;
                    continue;
                }

                // What the lot has spent and still owns: never more goes back (a refund took the rest). Credits a refund
                // revoked from a hold still open stay in the lot's Held until the hold closes, and are in Clawed too:
                // counted once, or a reversal gives back less while the hold is open than after it closes. Less what
                // this reversal already gives the lot: nothing is written yet.
                var revokedHeld = ledger.ActiveHolds.SelectMany(h => h.Allocations)
                    .Where(a => a.LotId == lot.LotId).Sum(a => a.Revoked);
                var spent = lot.Amount - lot.Remaining - (lot.Held - revokedHeld) - lot.Clawed - lot.Expired
                    - given.GetValueOrDefault(lot.LotId);
                var give = Math.Clamp(spent, 0, draw.Amount);
                clawed += draw.Amount - give;
                if (give > 0)
                {
                    given[lot.LotId] = given.GetValueOrDefault(lot.LotId) + give;
                    back.Add(new LotDraw(lot.LotId, give));
                }
            }

            plan.Add((usage, back));
        }

        foreach (var feature in plan.GroupBy(p => p.Usage.Feature, StringComparer.Ordinal))
        {
            if (!FitsAfterAdding(ledger, feature.Key, feature.Sum(p => p.Back.Sum(d => d.Amount))))
            {
                return new ReverseResult { Refusal = LedgerRefusal.Overflow, EntryId = request.EntryId };
            }
        }

        long restored = 0;
        string? firstEntryId = null;
        var draws = new List<Draw>();
        foreach (var (usage, back) in plan)
        {
            var writer = new EntryWriter(this, ledger, usage.Feature);
            foreach (var give in back)
            {
                var lot = ledger.Lot(give.LotId);
                ledger.UpdateLot(lot with { Remaining = lot.Remaining + give.Amount });
                draws.Add(new Draw(lot.LotId, usage.Feature, give.Amount));
                restored += give.Amount;
            }

            // The entry takes back the units the usage counted (its statistics), also where no lot got anything.
            var entry = writer.Write(EntryType.Reverse, back.Sum(d => d.Amount), now, back, usage.EntryId, holdId: null, key,
                units: -usage.UsedUnits);
            writer.Verify();
            firstEntryId ??= entry.EntryId;
        }

        var result = new ReverseResult
        {
            EntryId = request.EntryId,
            // Stryker disable once String : never used, every reversal has entries and each writes one (the engine refuses one without)
            ReverseEntryId = firstEntryId ?? "",
            Restored = restored,
            Expired = expired,
            Clawed = clawed,
            Draws = draws,
        };
        Remember(ledger, key, kind, Fingerprint(kind, request.EntryId), result, now);
        return result;
    }

    /// <summary>Marks up to <paramref name="amount"/> credits of a lot inside active holds as clawed back; returns how many.</summary>
    private static long RevokeHeld(CustomerLedger ledger, string lotId, long amount)
    {
        long done = 0;
        foreach (var hold in ledger.ActiveHolds.OrderByDescending(h => h.CreatedAt).ThenBy(h => h.HoldId, StringComparer.Ordinal).ToList())
        {
            // Stryker disable once Statement,Block : once done == amount the loop below takes nothing more
            if (done == amount)
            {
                break;
            }

            var changed = false;
            var allocations = hold.Allocations.ToList();
            for (var i = 0; i < allocations.Count &&
                 // Stryker disable once Equality : at done == amount every allocation gets 0 more, and the hold is already changed
                 done < amount; i++)
            {
                var a = allocations[i];
                var owned = a.Amount - a.Revoked;
                if (a.LotId != lotId || owned == 0)
                {
                    continue;
                }

                var r = Math.Min(owned, amount - done);
                allocations[i] = a with { Revoked = a.Revoked + r };
                done += r;
                changed = true;
            }

            if (changed)
            {
                ledger.UpdateHold(hold with { Allocations = allocations });
            }
        }

        return done;
    }

    private void ExpireLot(CustomerLedger ledger, string lotId, DateTimeOffset at)
    {
        var lot = ledger.Lot(lotId);
        if (lot.Remaining == 0)
        {
            return;
        }

        var writer = new EntryWriter(this, ledger, lot.Feature);
        ledger.UpdateLot(lot with { Remaining = 0, Expired = lot.Expired + lot.Remaining });
        writer.Write(EntryType.Expire, -lot.Remaining, at, [new LotDraw(lot.LotId, lot.Remaining)], lot.SourceRef, null, null);
        writer.Verify();
    }

    /// <summary>Ends a hold: <paramref name="settleUnits"/> are consumed (own credits before revoked ones), the rest
    /// goes back to the lots it came from. Credits returning to a lot already past its expiry expire at once;
    /// revoked credits that are consumed become debt, revoked credits that are returned vanish.</summary>
    private SettleResult Close(CustomerLedger ledger, HoldRecord hold, long settleUnits, HoldStatus status, DateTimeOffset at, string? reference)
    {
        var primaryTotal = hold.Allocations.Where(a => a.Feature == hold.Feature).Sum(a => a.Amount);
        var usedPrimary = Math.Min(settleUnits, primaryTotal);
        var budget = new Dictionary<string, long>(StringComparer.Ordinal) { [hold.Feature] = usedPrimary };
        if (hold.SpillFeature is not null)
        {
            budget[hold.SpillFeature] = checked((settleUnits - usedPrimary) * hold.SpillUnitCost);
        }

        var tallies = new Dictionary<string, CloseTally>(StringComparer.Ordinal);
        foreach (var feature in hold.Allocations.Select(a => a.Feature).Prepend(hold.Feature).Distinct(StringComparer.Ordinal))
        {
            tallies[feature] = new CloseTally(new EntryWriter(this, ledger, feature));
        }


        foreach (var allocation in hold.Allocations)
        {
            var tally = tallies[allocation.Feature];
            var use = Math.Min(allocation.Amount, budget[allocation.Feature]);
            budget[allocation.Feature] -= use;
            var owned = allocation.Amount - allocation.Revoked;
            var usedOwned = Math.Min(use, owned);
            var returned = owned - usedOwned;
            tally.Used += use;
            tally.DebtFromRevoked += use - usedOwned;

            var lot = ledger.Lot(allocation.LotId);
            lot = lot with { Held = lot.Held - allocation.Amount };
            if (returned > 0)
            {
                tally.Returned.Add(new LotDraw(lot.LotId, returned));
                if (lot.ExpiresAt <= at)
                {
                    lot = lot with { Expired = lot.Expired + returned };
                    tally.Expired.Add(new LotDraw(lot.LotId, returned));
                }
                else
                {
                    lot = lot with { Remaining = lot.Remaining + returned };
                }
            }

            ledger.UpdateLot(lot);
        }

        // The hold's own feature records every unit settled, also those paid by a spill (or by no lots, for slots).
        tallies[hold.Feature].Used = settleUnits;
        var entryType = status == HoldStatus.Settled ? EntryType.Settle : EntryType.Release;
        foreach (var (feature, tally) in tallies)
        {
            var returned = tally.Returned.Sum(d => d.Amount);
            var expired = tally.Expired.Sum(d => d.Amount);
            tally.Writer.Write(entryType, returned, at, tally.Returned, reference, hold.HoldId, null,
                settled: status == HoldStatus.Settled ? tally.Used : null);
            if (expired > 0)
            {
                tally.Writer.Write(EntryType.Expire, -expired, at, tally.Expired, reference, hold.HoldId, null);
            }

            if (tally.DebtFromRevoked > 0)
            {
                ledger.SetDebt(feature, ledger.Debt(feature) + tally.DebtFromRevoked);
                tally.Writer.Write(EntryType.Debt, -tally.DebtFromRevoked, at, [], reference, hold.HoldId, null);
            }

            tally.Writer.Verify();
        }

        var closed = hold with { Status = status, ClosedAt = at, Settled = settleUnits };
        ledger.UpdateHold(closed);
        return Describe(closed);
    }

    private static SettleResult Describe(HoldRecord hold) => new()
    {
        HoldId = hold.HoldId,
        CustomerId = hold.CustomerId,
        Feature = hold.Feature,
        Settled = hold.Settled,
        Released = hold.Status == HoldStatus.Active ? 0 : hold.Amount - hold.Settled,
        Status = hold.Status,
    };

    private readonly record struct DrawPlan(List<(string Feature, long Amount)> Parts, long SpillCharge, string? ShortFeature);

    private static DrawPlan PlanDraw(CustomerLedger ledger, string feature, long amount, Spill? spill)
    {
        var available = ledger.Available(feature);
        if (available >= amount)
        {
            return new DrawPlan([(feature, amount)], 0, null);
        }

        if (spill is null)
        {
            return new DrawPlan([], 0, feature);
        }

        long charge;
        try
        {
            charge = checked((amount - available) * spill.UnitCost);
        }
        catch (OverflowException)
        {
            return new DrawPlan([], 0, spill.Feature);
        }

        if (ledger.Available(spill.Feature) < charge)
        {
            return new DrawPlan([], 0, spill.Feature);
        }

        // The feature's own part is kept even when zero: its entry records the units used (see Consume).
        var parts = new List<(string, long)>(2) { (feature, available), (spill.Feature, charge) };
        return new DrawPlan(parts, charge, null);
    }

    private List<LotDraw> Take(CustomerLedger ledger, string feature, long amount, bool reserve)
    {
        var candidates = ledger.Lots.Where(l => l.Feature == feature && l.Remaining > 0).ToList();
        candidates.Sort(BurnOrderComparers.For(options.BurnOrders.GetValueOrDefault(feature, BurnOrder.ExpiringFirst)));
        var draws = new List<LotDraw>();
        var need = amount;
        foreach (var lot in candidates)
        {
            if (need == 0)
            {
                break;
            }

            var take = Math.Min(lot.Remaining, need);
            need -= take;
            ledger.UpdateLot(lot with { Remaining = lot.Remaining - take, Held = reserve ? lot.Held + take : lot.Held });
            draws.Add(new LotDraw(lot.LotId, take));
        }

        // Stryker disable once Conditional,String : PlanDraw plans only what is available, so the throw is never reached
        return need == 0 ? draws : throw new InvalidOperationException($"Planned draw of {amount} {feature} found too little.");
    }

    private static bool FitsAfterAdding(CustomerLedger ledger, string feature, long amount)
    {
        try
        {
            _ = checked(ledger.Available(feature) + ledger.Held(feature) + amount);
            return true;
        }
        catch (OverflowException)
        {
            return false;
        }
    }

    private static bool TryReplay<T>(CustomerLedger ledger, string key, string kind, string fingerprint, [NotNullWhen(true)] out T? result)
        where T : LedgerResult, new()
    {
        var operation = ledger.Operation(key);
        if (operation is null)
        {
            result = null;
            return false;
        }

        result = operation.Kind == kind && operation.Fingerprint == fingerprint
            ? (T)(LedgerJson.DeserializeResult<T>(operation.Result) with { Replayed = true })
            : new T { Refusal = LedgerRefusal.KeyReused };
        return true;
    }

    private static void Remember<T>(CustomerLedger ledger, string key, string kind, string fingerprint, T result, DateTimeOffset now)
        where T : LedgerResult =>
        ledger.AddOperation(new OperationRecord(ledger.CustomerId, key, kind, fingerprint, LedgerJson.SerializeResult(result), now));

    internal static string Fingerprint(params object?[] parts)
    {
        var text = string.Join('|', parts.Select(p => p switch
        {
            null => "~",
            DateTimeOffset d => Instants.ToUnixMicroseconds(d).ToString(CultureInfo.InvariantCulture),
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            _ => p.ToString()!.Replace("|", "||", StringComparison.Ordinal),
        }));
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }

    private sealed class CloseTally(EntryWriter writer)
    {
        public EntryWriter Writer { get; } = writer;
        public long Used { get; set; }
        public long DebtFromRevoked { get; set; }
        public List<LotDraw> Returned { get; } = [];
        public List<LotDraw> Expired { get; } = [];
    }

    /// <summary>Writes one feature's entries with a running balance and checks it against the state at the end.</summary>
    private sealed class EntryWriter(LedgerRules rules, CustomerLedger ledger, string feature)
    {
        private long _running = ledger.Balance(feature);

        public EntryRecord Write(EntryType type, long amount, DateTimeOffset at, IReadOnlyList<LotDraw> lots, string? reference,
            string? holdId, string? operationKey, long? settled = null, long? debtRepaid = null, long? seq = null, long? units = null,
            string? memberId = null)
        {
            _running = checked(_running + amount);
            var entry = new EntryRecord(ledger.CustomerId, seq ?? ledger.NextSeq(), Ids.New("ent", rules._time), feature, type, amount,
                _running, at, lots, reference, holdId, operationKey, settled, debtRepaid, units, memberId);
            ledger.AddEntry(entry);
            return entry;
        }

        public void Verify()
        {
            var actual = ledger.Balance(feature);
            // Stryker disable once Statement,String,Block : reached only when a rule is wrong; the mutants that make one wrong are killed by the tests
            if (actual != _running)
            {
                throw new InvalidOperationException(
                    $"Ledger invariant broken for {ledger.CustomerId}/{feature}: entries say {_running}, state says {actual}.");
            }
        }
    }
}
