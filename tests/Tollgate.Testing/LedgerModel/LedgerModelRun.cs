using FsCheck;
using FsCheck.Fluent;
using Tollgate.Core.Ledger;
using Xunit;

namespace Tollgate.Testing.LedgerModel;

/// <summary>The ledger as the model test drives it: the engine on a real database, or its rules in memory.</summary>
public interface ILedgerUnderTest
{
    Task<GrantResult> GrantAsync(GrantRequest request);

    Task<ConsumeResult> ConsumeAsync(ConsumeRequest request);

    Task<HoldResult> HoldAsync(HoldRequest request);

    Task<SettleResult> SettleAsync(SettleRequest request);

    Task<SettleResult> ReleaseAsync(ReleaseRequest request);

    Task<ClawbackResult> ClawbackAsync(ClawbackRequest request);

    Task<RetireResult> RetireAsync(RetireRequest request);

    Task<CountResult> CountAsync(CountRequest request);

    Task<ReverseResult> ReverseAsync(ReverseRequest request);

    /// <summary>Writes the expiries that are due.</summary>
    Task SweepAsync();

    Task<CustomerBalances> GetBalancesAsync(string customerId);

    Task<HoldRecord?> GetHoldAsync(string holdId);

    /// <summary>Every entry of the customer, oldest first.</summary>
    Task<IReadOnlyList<EntryRecord>> AllEntriesAsync(string customerId);

    /// <summary>Every lot of the customer as stored, depleted ones too.</summary>
    Task<IReadOnlyList<LotRecord>> AllLotsAsync(string customerId);
}

/// <summary>
/// The model-based property test of the ledger: random sequences of grants (with expiry, sources, priorities),
/// consumes that spill (and consumes of everything, give or take one), holds (with spill, and concurrency slots),
/// settles, releases, clock moves that land exactly on expiries and TTLs, sweeps, clawbacks into debt (also of credits
/// a running job holds), retirements, counts, reversals of consumes (also twice, after expiry, after a refund), replays
/// and key reuse, run on a ledger under test and, side by side, on
/// <see cref="ReferenceLedger"/>. Every answer must equal the model's, and after every step every balance (available,
/// held, debt, each lot, hold units, counters) must too; at the end the books balance, every stored lot is as the model
/// has it, and every hold's status agrees. Checking only that the books balance let wrong answers with balanced books
/// through (issue 19).
/// </summary>
public sealed class LedgerModelRun(ILedgerUnderTest ledger, ManualTimeProvider clock, Func<string> newCustomer)
{
    private int _keys;

    private const string Credits = "credits";
    private const string Messages = "msgs";
    private const string Jobs = "jobs";
    private const string Seats = "seats";
    private const long JobSlots = 3;
    private static readonly string[] Features = [Credits, Messages];
    private static readonly string[] Sources = ["pay_1", "pay_2", "sub_1", "promo_1"];
    private static readonly Spill MessagesToCredits = new(Credits, 2);

    /// <summary>Messages burn priority first, credits expiring first: both burn orders are compared. The ledger under
    /// test must be configured with these.</summary>
    public static readonly IReadOnlyDictionary<string, BurnOrder> BurnOrders = new Dictionary<string, BurnOrder> { [Messages] = BurnOrder.PriorityFirst };

    /// <summary>How often the random sequences reached each rule worth reaching; all must be reached, or the generator
    /// has drifted into testing nothing much.</summary>
    private readonly Dictionary<string, int> _reached = new()
    {
        ["debt repaid by a grant"] = 0,
        ["spill charged"] = 0,
        ["clawback into debt"] = 0,
        ["clawback revoking held credits"] = 0,
        ["lot expiring at the exact instant"] = 0,
        ["hold past its TTL"] = 0,
        ["settle"] = 0,
        ["settle of revoked credits"] = 0,
        ["spill exactly covered"] = 0,
        ["refusal"] = 0,
        ["replay"] = 0,
        ["key reuse"] = 0,
        ["reversal restored"] = 0,
        ["reversal refused as done before"] = 0,
        ["reversal of an expired lot"] = 0,
        ["reversal of a refunded lot"] = 0,
    };

    /// <summary>Runs <paramref name="sequences"/> random sequences; throws with the failing sequence on the first
    /// difference. <c>TOLLGATE_MODEL_SEQUENCES</c> overrides the count (the mutation runs use fewer).</summary>
    public void Check(int sequences)
    {
        if (int.TryParse(Environment.GetEnvironmentVariable("TOLLGATE_MODEL_SEQUENCES"), out var overridden) && overridden > 0)
        {
            sequences = overridden;
        }

        // Minutes in multiples of five for expiries, TTLs and most clock moves, so "at the exact instant" happens often.
        var minutes = Gen.Elements(5, 10, 15, 30);
        var operation = Gen.Frequency(
            (6, from f in Gen.Elements(Features)
                from amount in Gen.Choose(1, 60)
                from expires in Gen.Elements<int?>(null, 5, 10, 30, 60)
                from source in Gen.Elements(Sources)
                from lotSource in Gen.Elements(LotSource.Payment, LotSource.SubscriptionPeriod, LotSource.Promo)
                from priority in Gen.Elements<int?>(null, null, 5)
                select (Step)new GrantStep(f, amount, expires, source, lotSource, priority)),
            (5, from f in Gen.Elements(Features)
                from amount in Gen.Choose(1, 25)
                select (Step)new ConsumeStep(f, amount)),
            (2, from f in Gen.Elements(Features)
                from offset in Gen.Elements(-1, 0, 0, 1)
                select (Step)new ConsumeAllStep(f, offset)),
            (4, from f in Gen.Elements(Features)
                from amount in Gen.Choose(1, 20)
                from ttl in Gen.Elements(10, 30, 60, 90)
                select (Step)new HoldStep(f, amount, ttl)),
            (1, from amount in Gen.Choose(1, 2)
                from ttl in minutes
                select (Step)new SlotHoldStep(amount, ttl)),
            (4, from index in Gen.OneOf(Gen.Constant(-1), Gen.Choose(0, 9))
                from amount in Gen.Elements<int?>(null, 0, 1, 5, 20, 40)
                select (Step)new SettleStep(index, amount)),
            (2, Gen.Choose(0, 9).Select(i => (Step)new ReleaseStep(i))),
            (3, Gen.OneOf(minutes, Gen.Choose(1, 4)).Select(m => (Step)new AdvanceStep(m))),
            (1, Gen.Constant((Step)new SweepStep())),
            (4, from source in Gen.Elements<string?>([.. Sources, null, null, null, null])
                from amount in Gen.Elements<int?>(null, null, 1, 10, 35)
                from feature in Gen.Elements<string?>(null, Credits, Messages)
                select (Step)new ClawbackStep(source, amount, feature)),
            (2, Gen.Elements<int?>(null, 1, 5).Select(a => (Step)new RefundDuringJobStep(a))),
            (1, Gen.Elements(Sources).Select(s => (Step)new RetireStep(s))),
            (1, from delta in Gen.Elements(-2, -1, 1, 2, 3)
                from limit in Gen.Elements<int?>(null, 4)
                select (Step)new CountStep(delta, limit)),
            (1, Gen.Choose(0, 40).Select(i => (Step)new ReplayStep(i))),
            (1, Gen.Choose(0, 40).Select(i => (Step)new KeyReuseStep(i))),
            (2, Gen.Choose(0, 40).Select(i => (Step)new ReverseStep(i))),
            // A refund or an expiry landing between a consume and its reversal is rare by chance (a clawback must name the
            // consume's source and take more than its lot has left; the clock must pass that lot's expiry): CI runs have
            // reached each from zero to five times in 150 sequences, so once in a while not at all.
            (1, from index in Gen.Choose(0, 40)
                from refund in Gen.Elements(true, false)
                from amount in Gen.Elements<int?>(null, null, 5)
                select (Step)new ReverseAfterStep(index, refund, amount)));

        var arbitrary = Gen.Choose(5, 40).SelectMany(length => operation.ListOf(length)).Select(l => l.ToArray()).ToArbitrary();
        FsCheck.Check.One(Config.QuickThrowOnFailure.WithMaxTest(sequences),
            Prop.ForAll(arbitrary, steps => Run(steps).GetAwaiter().GetResult()));

        TestContext.Current.TestOutputHelper?.WriteLine(string.Join(Environment.NewLine, _reached.Select(r => $"{r.Key}: {r.Value}")));
        if (sequences >= 100)
        {
            Assert.DoesNotContain(_reached, r => r.Value == 0);
        }
    }

    private async Task<bool> Run(Step[] steps)
    {
        var c = newCustomer();
        var model = new ReferenceLedger(BurnOrders);
        var holds = new List<string>();
        var keyed = new List<Keyed>();
        // Consumes that succeeded: their key, their draws (in the model's terms), whether they were reversed.
        var consumed = new List<(string Key, IReadOnlyList<(string LotId, string Feature, long Amount)> Draws)>();
        var reversedKeys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (step, number) in steps.Select((s, i) => (s, i)))
        {
            var now = clock.GetUtcNow();
            model.CatchUp(now);
            var where = $"step {number} {step} of [{string.Join(", ", steps.Take(number + 1))}]";

            // Reverses a consume on both sides and compares the answers; the steps that reverse differ only in what
            // they do to the consume's lots first.
            async Task<ReferenceLedger.Answer> ReverseAndCompare((string Key, IReadOnlyList<(string LotId, string Feature, long Amount)> Draws) consume)
            {
                var entries = (await ledger.AllEntriesAsync(c)).Where(e => e.OperationKey == consume.Key && e.Type == EntryType.Consume).ToList();
                var result = await ledger.ReverseAsync(new ReverseRequest(c, entries[0].EntryId, entries));
                var expected = model.Reverse(consume.Draws, !reversedKeys.Add(consume.Key), now);
                AssertSame(expected, Project(result), where);
                return expected;
            }

            switch (step)
            {
                case GrantStep g:
                {
                    var request = new GrantRequest(c, g.Feature, g.Amount, g.LotSource, $"k{++_keys}")
                    {
                        SourceRef = g.Source,
                        ExpiresAt = g.ExpiresInMinutes is { } m ? now.AddMinutes(m) : null,
                        Priority = g.Priority,
                    };
                    var result = await ledger.GrantAsync(request);
                    var expected = model.Grant(g.Feature, g.Amount, g.LotSource, g.Priority, g.Source, request.ExpiresAt, result.LotId);
                    AssertSame(expected, Project(result), where);
                    Reached("debt repaid by a grant", expected.DebtRepaid > 0);
                    keyed.Add(new Keyed(result, async () => await ledger.GrantAsync(request),
                        async () => await ledger.GrantAsync(request with { Amount = request.Amount + 1 })));
                    break;
                }

                case ConsumeStep s:
                {
                    var request = new ConsumeRequest(c, s.Feature, s.Amount, $"k{++_keys}") { Spill = s.Feature == Messages ? MessagesToCredits : null };
                    var result = await ledger.ConsumeAsync(request);
                    var expected = model.Consume(s.Feature, s.Amount, request.Spill);
                    AssertSame(expected, Project(result), where);
                    Reached("spill charged", expected.SpillCharged > 0);
                    Reached("refusal", expected.Refusal is not null);
                    if (result.Succeeded)
                    {
                        consumed.Add((request.IdempotencyKey, expected.Draws));
                    }

                    keyed.Add(new Keyed(result, async () => await ledger.ConsumeAsync(request),
                        async () => await ledger.ConsumeAsync(request with { Amount = request.Amount + 1 })));
                    break;
                }

                case ConsumeAllStep s:
                {
                    // Everything the feature and its spill can pay, give or take one: the edges of "enough".
                    var spill = s.Feature == Messages ? MessagesToCredits : null;
                    var all = model.Available(s.Feature) + (spill is null ? 0 : model.Available(spill.Feature) / spill.UnitCost);
                    if (all + s.Offset <= 0)
                    {
                        break;
                    }

                    var request = new ConsumeRequest(c, s.Feature, all + s.Offset, $"k{++_keys}") { Spill = spill };
                    var result = await ledger.ConsumeAsync(request);
                    var expected = model.Consume(s.Feature, request.Amount, spill);
                    AssertSame(expected, Project(result), where);
                    Reached("spill exactly covered", expected.SpillCharged > 0 && expected.SpillRemaining == 0);
                    break;
                }

                case HoldStep h:
                {
                    var request = new HoldRequest(c, h.Feature, h.Amount, TimeSpan.FromMinutes(h.TtlMinutes), $"k{++_keys}")
                    {
                        Spill = h.Feature == Messages ? MessagesToCredits : null,
                    };
                    var result = await ledger.HoldAsync(request);
                    AssertSame(model.Hold(h.Feature, h.Amount, request.Spill, now, request.Ttl, result.HoldId), Project(result), where);
                    if (result.Succeeded)
                    {
                        holds.Add(result.HoldId);
                    }

                    keyed.Add(new Keyed(result, async () => await ledger.HoldAsync(request),
                        async () => await ledger.HoldAsync(request with { Ttl = request.Ttl + TimeSpan.FromMinutes(1) })));
                    break;
                }

                case SlotHoldStep h:
                {
                    var request = new HoldRequest(c, Jobs, h.Amount, TimeSpan.FromMinutes(h.TtlMinutes), $"k{++_keys}") { ConcurrencyLimit = JobSlots };
                    var result = await ledger.HoldAsync(request);
                    AssertSame(model.HoldSlots(Jobs, h.Amount, JobSlots, now, request.Ttl, result.HoldId), Project(result), where);
                    if (result.Succeeded)
                    {
                        holds.Add(result.HoldId);
                    }

                    break;
                }

                case SettleStep s when holds.Count > 0:
                {
                    // Index −1 is the newest hold: the one a clawback revokes from first.
                    var holdId = s.HoldIndex < 0 ? holds[^1] : holds[s.HoldIndex % holds.Count];
                    var result = await ledger.SettleAsync(new SettleRequest(holdId) { Amount = s.Amount });
                    var revoked = model.Holds.Any(h => h.Id == holdId && h.Status == HoldStatus.Active && h.Allocations.Any(a => a.Revoked > 0));
                    var expected = model.Settle(holdId, s.Amount, now);
                    Reached("settle of revoked credits", revoked && expected is { Refusal: null, Settled: > 0 });
                    AssertSame(expected, Project(result), where);
                    Reached("settle", expected.Refusal is null);
                    break;
                }

                case ReleaseStep r when holds.Count > 0:
                {
                    var holdId = holds[r.HoldIndex % holds.Count];
                    var result = await ledger.ReleaseAsync(new ReleaseRequest(holdId));
                    AssertSame(model.Release(holdId, now), Project(result), where);
                    break;
                }

                case AdvanceStep a:
                    clock.Advance(TimeSpan.FromMinutes(a.Minutes));
                    Reached("lot expiring at the exact instant", model.Lots.Any(l => l.ExpiresAt == clock.GetUtcNow() && l.Remaining + l.Held > 0));
                    Reached("hold past its TTL", model.Holds.Any(h => h.Status == HoldStatus.Active && h.ExpiresAt <= clock.GetUtcNow()));
                    model.CatchUp(clock.GetUtcNow());
                    break;

                case SweepStep:
                    await ledger.SweepAsync();
                    break;

                case ClawbackStep cb:
                {
                    // No source named: the source of the newest hold's credits, so clawbacks reach into holds often.
                    var newestHeld = model.Holds.LastOrDefault(h => h.Status == HoldStatus.Active && h.Allocations.Count > 0)?.Allocations[0].LotId;
                    var source = cb.Source ?? model.Lots.FirstOrDefault(l => l.Id == newestHeld)?.SourceRef ?? Sources[0];
                    var request = new ClawbackRequest(c, source, $"k{++_keys}") { Amount = cb.Amount, Feature = cb.Feature };
                    var result = await ledger.ClawbackAsync(request);
                    var expected = model.Clawback(source, cb.Amount, cb.Feature);
                    AssertSame(expected, Project(result), where);
                    Reached("clawback into debt", expected.DebtCreated > 0);
                    Reached("clawback revoking held credits", expected.RevokedFromHolds > 0);
                    keyed.Add(new Keyed(result, async () => await ledger.ClawbackAsync(request),
                        async () => await ledger.ClawbackAsync(request with { Amount = (request.Amount ?? 0) + 1 })));
                    break;
                }

                case RefundDuringJobStep j when model.Holds.LastOrDefault(h => h.Status == HoldStatus.Active && h.Allocations.Count > 0) is { } job:
                {
                    // A payment is refunded while a job holds its credits, then the job finishes: the held credits
                    // were revoked, so what the job settles becomes debt and what it returns vanishes.
                    var source = model.Lots.First(l => l.Id == job.Allocations[0].LotId).SourceRef!;
                    var clawback = await ledger.ClawbackAsync(new ClawbackRequest(c, source, $"k{++_keys}"));
                    var clawed = model.Clawback(source, null, null);
                    AssertSame(clawed, Project(clawback), where);
                    Reached("clawback revoking held credits", clawed.RevokedFromHolds > 0);
                    var revoked = job.Allocations.Any(a => a.Revoked > 0);
                    var settled = await ledger.SettleAsync(new SettleRequest(job.Id) { Amount = j.SettleAmount is { } a ? Math.Min(a, job.Amount) : null });
                    var expected = model.Settle(job.Id, j.SettleAmount is { } b ? Math.Min(b, job.Amount) : null, now);
                    AssertSame(expected, Project(settled), where);
                    Reached("settle of revoked credits", revoked && expected is { Refusal: null, Settled: > 0 });
                    break;
                }

                case RetireStep r:
                {
                    var request = new RetireRequest(c, r.Source, $"k{++_keys}");
                    var result = await ledger.RetireAsync(request);
                    AssertSame(model.Retire(r.Source, now), Project(result), where);
                    keyed.Add(new Keyed(result, async () => await ledger.RetireAsync(request),
                        async () => await ledger.RetireAsync(request with { SourceRef = request.SourceRef + "_other" })));
                    break;
                }

                case ReverseStep r when consumed.Count > 0:
                {
                    var expected = await ReverseAndCompare(consumed[r.Index % consumed.Count]);
                    Reached("reversal refused as done before", expected.Refusal == LedgerRefusal.AlreadyReversed);
                    Reached("reversal of an expired lot", expected.ExpiredBack > 0);
                    Reached("reversal of a refunded lot", expected.Clawed > 0);
                    Reached("reversal restored", expected.Restored > 0);
                    break;
                }

                case ReverseAfterStep r when consumed.Count > 0:
                {
                    // The payment behind a consume's first lot is refunded, or that lot expires, then the consume is
                    // reversed: what the refund took is reported as clawed, what expired as expired, neither given back.
                    var (key, draws) = consumed[r.Index % consumed.Count];
                    var lot = model.Lots.First(l => l.Id == draws[0].LotId);
                    if (r.Refund)
                    {
                        var clawback = await ledger.ClawbackAsync(new ClawbackRequest(c, lot.SourceRef!, $"k{++_keys}") { Amount = r.ClawbackAmount });
                        AssertSame(model.Clawback(lot.SourceRef!, r.ClawbackAmount, null), Project(clawback), where);
                    }
                    else if (lot.ExpiresAt is { } expiry && expiry > now)
                    {
                        clock.Advance(expiry - now);
                        now = clock.GetUtcNow();
                        model.CatchUp(now);
                    }

                    var expected = await ReverseAndCompare((key, draws));
                    Reached("reversal of a refunded lot", expected.Clawed > 0);
                    Reached("reversal of an expired lot", expected.ExpiredBack > 0);
                    break;
                }

                case CountStep n:
                {
                    var request = new CountRequest(c, Seats, n.Delta, $"k{++_keys}") { Limit = n.Limit };
                    var result = await ledger.CountAsync(request);
                    AssertSame(model.Count(Seats, n.Delta, n.Limit), Project(result), where);
                    keyed.Add(new Keyed(result, async () => await ledger.CountAsync(request),
                        async () => await ledger.CountAsync(request with { Delta = request.Delta + 10 })));
                    break;
                }

                case ReplayStep r when keyed.Count > 0 && keyed[r.Index % keyed.Count].First.Succeeded:
                {
                    // A key that succeeded answers its first result again, however the state moved since, and changes nothing.
                    var (first, call, _) = keyed[r.Index % keyed.Count];
                    var again = await call();
                    Assert.True(again.Replayed, $"replay was executed again at {where}");
                    Assert.Equal(Json(first with { Replayed = true }), Json(again));
                    Reached("replay", true);
                    break;
                }

                case KeyReuseStep r when keyed.Count > 0 && keyed[r.Index % keyed.Count].First.Succeeded:
                {
                    var reused = await keyed[r.Index % keyed.Count].Reuse();
                    Assert.True(reused.Refusal == LedgerRefusal.KeyReused, $"a reused key was not refused at {where}: {reused}");
                    Reached("key reuse", true);
                    break;
                }
            }

            model.CatchUp(clock.GetUtcNow());
            await AssertSameBalances(c, model, where);
        }

        await AssertBooks(c, model);
        model.CatchUp(clock.GetUtcNow());
        foreach (var hold in model.Holds)
        {
            var stored = await ledger.GetHoldAsync(hold.Id);
            Assert.Equal((hold.Status, hold.Settled), (stored!.Status, stored.Settled));
        }

        return true;
    }

    /// <summary>The books: after the sweep, each feature's entries add up, entry by entry, to its balance_after and in
    /// the end to the balance (for a count feature, to its level); every stored lot is as the model has it.</summary>
    private async Task AssertBooks(string customer, ReferenceLedger model)
    {
        await ledger.SweepAsync();
        var balances = await ledger.GetBalancesAsync(customer);
        var entries = await ledger.AllEntriesAsync(customer);
        foreach (var feature in entries.Select(e => e.Feature).Distinct())
        {
            long running = 0;
            foreach (var entry in entries.Where(e => e.Feature == feature))
            {
                running += entry.Amount;
                Assert.Equal(running, entry.BalanceAfter);
            }

            Assert.Equal(feature == Seats ? model.Counter(Seats) : balances.For(feature).Balance, running);
        }

        // Every lot as stored, depleted ones too, field by field: what remains, is held, was clawed back, expired.
        model.CatchUp(clock.GetUtcNow());
        var stored = (await ledger.AllLotsAsync(customer))
            .Select(l => $"{l.LotId}:{l.Remaining}/{l.Held}/{l.Clawed}/{l.Expired}/{l.ExpiresAt:O}").Order(StringComparer.Ordinal);
        var modelled = model.Lots.Select(l => $"{l.Id}:{l.Remaining}/{l.Held}/{l.Clawed}/{l.Expired}/{l.ExpiresAt:O}").Order(StringComparer.Ordinal);
        Assert.Equal(modelled, stored);
    }

    private void Reached(string rule, bool reached)
    {
        if (reached)
        {
            _reached[rule]++;
        }
    }

    private async Task AssertSameBalances(string customer, ReferenceLedger model, string where)
    {
        var balances = await ledger.GetBalancesAsync(customer);
        foreach (var feature in Features)
        {
            var actual = balances.For(feature);
            Assert.True(
                (model.Available(feature), model.Held(feature), model.Debt(feature)) == (actual.Available, actual.Held, actual.Debt),
                $"{feature}: model (available, held, debt) = {(model.Available(feature), model.Held(feature), model.Debt(feature))}, "
                + $"engine {(actual.Available, actual.Held, actual.Debt)} after {where}");
            var modelLots = model.Lots.Where(l => l.Feature == feature && (l.Remaining > 0 || l.Held > 0))
                .Select(l => $"{l.Id}:{l.Remaining}/{l.Held}").Order(StringComparer.Ordinal);
            var engineLots = actual.Lots.Select(l => $"{l.LotId}:{l.Remaining}/{l.Held}").Order(StringComparer.Ordinal);
            Assert.True(modelLots.SequenceEqual(engineLots),
                $"{feature} lots: model [{string.Join(", ", modelLots)}], engine [{string.Join(", ", engineLots)}] after {where}");
        }

        foreach (var feature in (string[])[Credits, Messages, Jobs])
        {
            Assert.True(model.HoldUnits(feature) == balances.HeldUnits(feature),
                $"{feature} hold units: model {model.HoldUnits(feature)}, engine {balances.HeldUnits(feature)} after {where}");
        }

        Assert.True(model.Counter(Seats) == balances.Counter(Seats), $"seats: model {model.Counter(Seats)}, engine {balances.Counter(Seats)} after {where}");
    }

    private static void AssertSame(ReferenceLedger.Answer expected, ReferenceLedger.Answer actual, string where)
    {
        var (e, a) = (Show(expected), Show(actual));
        Assert.True(e == a, $"answers differ at {where}\n model:  {e}\n engine: {a}");
    }

    private static string Show(ReferenceLedger.Answer answer) =>
        $"{answer with { Draws = [] }} draws [{string.Join(", ", answer.Draws)}]";

    private static string Json(LedgerResult result) => System.Text.Json.JsonSerializer.Serialize(result, result.GetType());

    private static ReferenceLedger.Answer Project(GrantResult r) => r.Succeeded
        ? new() { Amount = r.Amount, DebtRepaid = r.DebtRepaid, Balance = r.Balance }
        : new() { Refusal = r.Refusal, Amount = r.Amount };

    private static ReferenceLedger.Answer Project(ConsumeResult r) => new()
    {
        Refusal = r.Refusal,
        Amount = r.Amount,
        Remaining = r.Remaining,
        SpillCharged = r.SpillCharged,
        SpillRemaining = r.SpillRemaining,
        ShortFeature = r.ShortFeature,
        Draws = r.Draws.Select(d => (d.LotId, d.Feature, d.Amount)).ToList(),
    };

    private static ReferenceLedger.Answer Project(HoldResult r) => new()
    {
        Refusal = r.Refusal,
        Amount = r.Amount,
        Remaining = r.Remaining,
        ShortFeature = r.ShortFeature,
        Draws = r.Draws.Select(d => (d.LotId, d.Feature, d.Amount)).ToList(),
    };

    private static ReferenceLedger.Answer Project(SettleResult r) => r.Refusal == LedgerRefusal.HoldNotFound
        ? new() { Refusal = r.Refusal }
        : new() { Refusal = r.Refusal, Settled = r.Settled, Released = r.Released, Status = r.Status };

    private static ReferenceLedger.Answer Project(ClawbackResult r) =>
        new() { Refusal = r.Refusal, Clawed = r.Clawed, RevokedFromHolds = r.RevokedFromHolds, DebtCreated = r.DebtCreated };

    private static ReferenceLedger.Answer Project(RetireResult r) => new() { Refusal = r.Refusal, Retired = r.Retired };

    private static ReferenceLedger.Answer Project(ReverseResult r) => new()
    {
        Refusal = r.Refusal,
        Restored = r.Restored,
        ExpiredBack = r.Expired,
        Clawed = r.Clawed,
        Draws = r.Draws.Select(d => (d.LotId, d.Feature, d.Amount)).ToList(),
    };

    private static ReferenceLedger.Answer Project(CountResult r) => new() { Refusal = r.Refusal, Level = r.Level };

    private sealed record Keyed(LedgerResult First, Func<Task<LedgerResult>> Call, Func<Task<LedgerResult>> Reuse);

    private abstract record Step;

    private sealed record GrantStep(string Feature, int Amount, int? ExpiresInMinutes, string Source, LotSource LotSource, int? Priority) : Step;

    private sealed record ConsumeStep(string Feature, int Amount) : Step;

    private sealed record ConsumeAllStep(string Feature, int Offset) : Step;

    private sealed record HoldStep(string Feature, int Amount, int TtlMinutes) : Step;

    private sealed record SlotHoldStep(int Amount, int TtlMinutes) : Step;

    private sealed record SettleStep(int HoldIndex, int? Amount) : Step;

    private sealed record ReleaseStep(int HoldIndex) : Step;

    private sealed record AdvanceStep(int Minutes) : Step;

    private sealed record SweepStep : Step;

    private sealed record ClawbackStep(string? Source, int? Amount, string? Feature) : Step;

    private sealed record RefundDuringJobStep(int? SettleAmount) : Step;

    private sealed record RetireStep(string Source) : Step;

    private sealed record CountStep(int Delta, int? Limit) : Step;

    private sealed record ReplayStep(int Index) : Step;

    private sealed record KeyReuseStep(int Index) : Step;

    private sealed record ReverseStep(int Index) : Step;

    private sealed record ReverseAfterStep(int Index, bool Refund, int? ClawbackAmount) : Step;
}

