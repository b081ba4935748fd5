using FsCheck;
using FsCheck.Fluent;
using Tollgate.Core.Ledger;

namespace Tollgate.Storage.Tests.Ledger;

/// <summary>
/// Random sequences of grants, consumes, holds, settles, releases, clock moves, sweeps, clawbacks, replays and paid
/// periods whose unused credits roll over (a plan's window grant with its carry, as a renewal writes them), run against
/// the real database. After every step nothing is negative and, with no clawback yet, there is no debt; at the
/// end every feature's entries add up to its balance and every replay returned its first result.
/// </summary>
public abstract class LedgerProperties : LedgerTestBase
{
    private static readonly string[] Features = ["credits", "msgs"];
    private static readonly string[] Sources = ["pay_1", "pay_2", "sub_1"];
    private static readonly Spill MessagesToCredits = new("credits", 2);
    private const string Period = "allowance:sub_p:";
    private const long RolloverMax = 45;

    [Fact]
    public void RandomSequences_KeepTheBooksBalanced()
    {
        var operation = Gen.OneOf(
            (from f in Gen.Elements(Features)
             from amount in Gen.Choose(1, 60)
             from expires in Gen.Elements<int?>(null, 5, 30, 120)
             from source in Gen.Elements(Sources)
             select (Step)new GrantStep(f, amount, expires, source)),
            (from f in Gen.Elements(Features)
             from amount in Gen.Choose(1, 40)
             select (Step)new ConsumeStep(f, amount)),
            (from f in Gen.Elements(Features)
             from amount in Gen.Choose(1, 30)
             from ttl in Gen.Choose(1, 90)
             select (Step)new HoldStep(f, amount, ttl)),
            (from index in Gen.Choose(0, 9)
             from amount in Gen.Elements<int?>(null, 0, 1, 5, 20)
             select (Step)new SettleStep(index, amount)),
            Gen.Choose(0, 9).Select(i => (Step)new ReleaseStep(i)),
            Gen.Choose(1, 60).Select(m => (Step)new AdvanceStep(m)),
            Gen.Constant((Step)new SweepStep()),
            (from source in Gen.Elements([.. Sources, Period + "1", Period + "2"])
             from amount in Gen.Elements<int?>(null, 10)
             select (Step)new ClawbackStep(source, amount)),
            (from grant in Gen.Choose(1, 60)
             from minutes in Gen.Elements(20, 45)
             select (Step)new PeriodStep(grant, minutes)),
            Gen.Choose(0, 30).Select(i => (Step)new ReplayStep(i)));

        var sequences = operation.ListOf().Select(l => l.Take(30).ToArray()).ToArbitrary();
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(40),
            Prop.ForAll(sequences, steps => Run(steps).GetAwaiter().GetResult()));
    }

    private async Task<bool> Run(Step[] steps)
    {
        var c = NewCustomer();
        var holds = new List<string>();
        var keyed = new List<(Func<Task<LedgerResult>> Call, LedgerResult First)>();
        var clawedBack = false;
        var periods = 0;
        DateTimeOffset? periodEnd = null;
        foreach (var step in steps)
        {
            switch (step)
            {
                case GrantStep g:
                    var grant = new GrantRequest(c, g.Feature, g.Amount, LotSource.Payment, Key())
                    {
                        SourceRef = g.Source,
                        ExpiresAt = g.ExpiresInMinutes is { } m ? Clock.GetUtcNow().AddMinutes(m) : null,
                    };
                    keyed.Add((async () => await Ledger.GrantAsync(grant), await Ledger.GrantAsync(grant)));
                    break;
                case ConsumeStep s:
                    var consume = new ConsumeRequest(c, s.Feature, s.Amount, Key()) { Spill = s.Feature == "msgs" ? MessagesToCredits : null };
                    keyed.Add((async () => await Ledger.ConsumeAsync(consume), await Ledger.ConsumeAsync(consume)));
                    break;
                case HoldStep h:
                    var holdRequest = new HoldRequest(c, h.Feature, h.Amount, TimeSpan.FromMinutes(h.TtlMinutes), Key())
                    {
                        Spill = h.Feature == "msgs" ? MessagesToCredits : null,
                    };
                    var hold = await Ledger.HoldAsync(holdRequest);
                    keyed.Add((async () => await Ledger.HoldAsync(holdRequest), hold));
                    if (hold.Succeeded)
                    {
                        holds.Add(hold.HoldId);
                    }

                    break;
                case SettleStep s when holds.Count > 0:
                    await Ledger.SettleAsync(new SettleRequest(holds[s.HoldIndex % holds.Count]) { Amount = s.Amount });
                    break;
                case ReleaseStep r when holds.Count > 0:
                    await Ledger.ReleaseAsync(new ReleaseRequest(holds[r.HoldIndex % holds.Count]));
                    break;
                case AdvanceStep a:
                    Clock.Advance(TimeSpan.FromMinutes(a.Minutes));
                    break;
                case SweepStep:
                    await Ledger.SweepAsync();
                    break;
                case ClawbackStep cb:
                    var clawback = new ClawbackRequest(c, cb.Source, Key()) { Amount = cb.Amount, Feature = cb.Amount is null ? null : "credits" };
                    var result = await Ledger.ClawbackAsync(clawback);
                    clawedBack |= result.Succeeded;
                    keyed.Add((async () => await Ledger.ClawbackAsync(clawback), result));
                    break;
                case PeriodStep p:
                    // The next paid window starts where the last one ended (a renewal), or now after a gap.
                    if (periodEnd is { } end && end >= Clock.GetUtcNow())
                    {
                        Clock.Set(end);
                    }

                    var start = Clock.GetUtcNow();
                    periodEnd = start.AddMinutes(p.Minutes);
                    periods++;
                    var due = new DueWrites([new GrantRequest(c, "credits", p.Grant, LotSource.SubscriptionPeriod, $"allowance:sub_p:credits:{periods}")
                    {
                        SourceRef = Period + periods,
                        ExpiresAt = periodEnd,
                    }], null)
                    {
                        Carries = [new CarryRequest(c, "credits", RolloverMax, start, periodEnd, Period, $"rollover:sub_p:credits:{periods}")],
                    };
                    var before = await Ledger.GetAllLotsAsync(c);
                    var unused = before.Where(l => l.Source is LotSource.SubscriptionPeriod or LotSource.Rollover && l.ExpiresAt == start)
                        .Sum(l => l.Remaining + l.Held + l.Expired);
                    await Ledger.ApplyDueAsync(c, due);
                    await Ledger.ApplyDueAsync(c, due); // delivered twice: written once
                    var carried = (await Ledger.GetAllLotsAsync(c)).Where(l => l.Source == LotSource.Rollover && l.ExpiresAt == periodEnd).ToList();
                    Assert.True(carried.Count <= 1, $"carried {carried.Count} times after {step}");
                    // What is carried is at most the cap and at most what the ended window left unused (credits held at
                    // its end count once their hold has come back by the time the carry is written).
                    Assert.True(carried.Sum(l => l.Amount) <= Math.Min(RolloverMax, unused), $"carried {carried.Sum(l => l.Amount)} of {unused} after {step}");
                    break;
                case ReplayStep r when keyed.Count > 0:
                    var (call, first) = keyed[r.Index % keyed.Count];
                    if (first.Succeeded)
                    {
                        var again = await call();
                        Assert.True(again.Replayed, $"replay of {first} was executed again");
                        Assert.Equal(first with { Replayed = true }, again with { Replayed = true }, ResultComparer.Instance);
                    }

                    break;
            }

            var balances = await Ledger.GetBalancesAsync(c);
            foreach (var feature in balances.Features)
            {
                Assert.True(feature.Available >= 0 && feature.Held >= 0, $"{feature.Feature} went negative after {step}");
                Assert.True(clawedBack || feature.Debt == 0, $"{feature.Feature} has debt without a clawback after {step}");
            }
        }

        await AssertBooksBalance(c);
        return true;
    }

    private abstract record Step;

    private sealed record GrantStep(string Feature, int Amount, int? ExpiresInMinutes, string Source) : Step;

    private sealed record ConsumeStep(string Feature, int Amount) : Step;

    private sealed record HoldStep(string Feature, int Amount, int TtlMinutes) : Step;

    private sealed record SettleStep(int HoldIndex, int? Amount) : Step;

    private sealed record ReleaseStep(int HoldIndex) : Step;

    private sealed record AdvanceStep(int Minutes) : Step;

    private sealed record SweepStep : Step;

    private sealed record ClawbackStep(string Source, int? Amount) : Step;

    private sealed record ReplayStep(int Index) : Step;

    private sealed record PeriodStep(int Grant, int Minutes) : Step;

    /// <summary>Results hold lists, which records compare by reference; compare them by their JSON instead.</summary>
    private sealed class ResultComparer : IEqualityComparer<LedgerResult>
    {
        public static readonly ResultComparer Instance = new();

        public bool Equals(LedgerResult? x, LedgerResult? y) =>
            System.Text.Json.JsonSerializer.Serialize(x, x!.GetType()) == System.Text.Json.JsonSerializer.Serialize(y, y!.GetType());

        public int GetHashCode(LedgerResult obj) => 0;
    }
}

public sealed class SqliteLedgerProperties : LedgerProperties
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresLedgerProperties : LedgerProperties
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
