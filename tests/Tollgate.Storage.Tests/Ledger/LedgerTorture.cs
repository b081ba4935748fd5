using Tollgate.Core.Ledger;

namespace Tollgate.Storage.Tests.Ledger;

[CollectionDefinition(nameof(TortureCollection), DisableParallelization = true)]
public sealed class TortureCollection;

/// <summary>Many callers racing on one customer, through separate engines with their own connections, as separate
/// processes would: nothing is overspent, nothing is counted twice, the books balance exactly.</summary>
[Collection(nameof(TortureCollection))]
public abstract class LedgerTorture : LedgerTestBase
{
    private const int Callers = 64;

    [Fact]
    public async Task SixtyFourConsumers_EachOnItsOwnConnection_OnTheLastTenUnits_ExactlyTenSucceed()
    {
        var c = NewCustomer();
        await Grant(c, "credits", 10);
        var engines = OpenEngines(Callers);

        var outcomes = await RaceAsync(Callers, i => engines[i].ConsumeAsync(new ConsumeRequest(c, "credits", 1, $"use-{i}")));
        await DisposeAllAsync(engines);

        await AssertExactlyTenConsumed(c, outcomes);
    }

    [Fact]
    public async Task SixtyFourConsumers_BatchedByOneEngine_OnTheLastTenUnits_ExactlyTenSucceed()
    {
        var c = NewCustomer();
        await Grant(c, "credits", 10);

        var outcomes = await RaceAsync(Callers, i => Ledger.ConsumeAsync(new ConsumeRequest(c, "credits", 1, $"use-{i}")));

        await AssertExactlyTenConsumed(c, outcomes);
    }

    private async Task AssertExactlyTenConsumed(string c, IReadOnlyList<ConsumeResult> outcomes)
    {
        Assert.Equal(10, outcomes.Count(r => r.Succeeded));
        Assert.Equal(Callers - 10, outcomes.Count(r => r.Refusal == LedgerRefusal.InsufficientBalance));
        Assert.All(outcomes, r => Assert.True(r.Remaining >= 0));
        Assert.Equal(0, (await Balance(c, "credits")).Available);
        Assert.Equal(10, (await AllEntries(c)).Count(e => e.Type == EntryType.Consume));
        await AssertBooksBalance(c);
    }

    /// <summary>Starts all callers together (an async gate, so no thread-pool thread blocks) and collects their outcomes.</summary>
    private static async Task<T[]> RaceAsync<T>(int count, Func<int, Task<T>> call)
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var callers = Enumerable.Range(0, count).Select(async i =>
        {
            await gate.Task;
            return await call(i);
        }).ToList();
        gate.SetResult();
        return await Task.WhenAll(callers);
    }

    [Fact]
    public async Task SixtyFourHolds_RacingTheExpiryOfTheLastTenUnits_NeverHoldMoreThanExisted_AndHeldUnitsSurviveExpiry()
    {
        var c = NewCustomer();
        var expiresAt = Clock.GetUtcNow().AddMinutes(30);
        await Grant(c, "credits", 10, expiresAt: expiresAt);
        var engines = OpenEngines(Callers);

        var racing = RaceAsync(Callers, i => engines[i].HoldAsync(new HoldRequest(c, "credits", 1, TimeSpan.FromHours(2), $"job-{i}")));
        Clock.Set(expiresAt);
        await engines[0].SweepAsync();
        var holds = await racing;

        var granted = holds.Where(h => h.Succeeded).ToList();
        Assert.InRange(granted.Count, 0, 10);
        Assert.Equal(Callers - granted.Count, holds.Count(h => h.Refusal == LedgerRefusal.InsufficientBalance));
        var settles = await Task.WhenAll(granted.Select(h => engines[1].SettleAsync(new SettleRequest(h.HoldId))));
        await DisposeAllAsync(engines);

        Assert.All(settles, s => Assert.Equal(HoldStatus.Settled, s.Status));
        var balance = await Balance(c, "credits");
        Assert.Equal((0L, 0L), (balance.Available, balance.Held));
        var entries = await AllEntries(c);
        Assert.Equal(-(10 - granted.Count), entries.Where(e => e.Type == EntryType.Expire).Sum(e => e.Amount));
        Assert.Equal(granted.Count, entries.Where(e => e.Type == EntryType.Settle).Sum(e => e.Settled ?? 0));
        await AssertBooksBalance(c);
    }

    [Fact]
    public async Task SettlesRacingTheTtl_EndEachHoldExactlyOnce()
    {
        var c = NewCustomer();
        await Grant(c, "credits", 40);
        var holds = new List<HoldResult>();
        for (var i = 0; i < 40; i++)
        {
            holds.Add(await Hold(c, "credits", 1, TimeSpan.FromMinutes(10)));
        }

        var engines = OpenEngines(holds.Count);
        var settling = RaceAsync(holds.Count, i => engines[i].SettleAsync(new SettleRequest(holds[i].HoldId)));
        Clock.Advance(TimeSpan.FromMinutes(10));
        await engines[0].SweepAsync();
        var outcomes = await settling;
        await DisposeAllAsync(engines);

        var settled = outcomes.Count(o => o.Succeeded);
        Assert.All(outcomes, o => Assert.True(o.Succeeded ? o.Status == HoldStatus.Settled : o is { Refusal: LedgerRefusal.HoldNotActive, Status: HoldStatus.Expired }));
        Assert.Equal(40 - settled, (await Balance(c, "credits")).Available);
        var entries = await AllEntries(c);
        Assert.Equal(settled, entries.Count(e => e.Type == EntryType.Settle));
        Assert.Equal(40 - settled, entries.Count(e => e.Type == EntryType.Release));
        await AssertBooksBalance(c);
    }

    /// <summary>Engines over their own connection pools, as separate processes would have.</summary>
    private List<LedgerEngine> OpenEngines(int count)
    {
        var engines = new List<LedgerEngine>();
        for (var i = 0; i < count; i++)
        {
            var database = Db.OpenAnother(Clock);
            engines.Add(new LedgerEngine(database.Ledger, Clock, Options));
            Opened.Add(database);
        }

        return engines;
    }

    private List<TollgateDatabase> Opened { get; } = [];

    private async Task DisposeAllAsync(List<LedgerEngine> engines)
    {
        foreach (var engine in engines)
        {
            await engine.DisposeAsync();
        }

        foreach (var database in Opened)
        {
            await database.DisposeAsync();
        }

        Opened.Clear();
    }
}

public sealed class SqliteLedgerTorture : LedgerTorture
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresLedgerTorture : LedgerTorture
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
