using Tollgate.Core.Ledger;

namespace Tollgate.Storage.Tests.Ledger;

/// <summary>
/// Rules of the engine around the rules of the books: what the one observer (the gate's cache of customer views) is
/// told about each committed write, what a disposed engine does with a write, and which options it refuses. Each test
/// names the rule it guards. Run on SQLite and on PostgreSQL (subclasses at the end).
/// </summary>
public abstract class LedgerEngineRules : LedgerTestBase
{
    /// <summary>Records what it is told; <see cref="Throw"/> makes <see cref="ILedgerObserver.Committed"/> fail.</summary>
    private sealed class RecordingObserver : ILedgerObserver
    {
        private long _stamp = 100;

        public List<(long Stamp, IReadOnlyList<LedgerSnapshot> Customers)> Heard { get; } = [];

        public bool Throw { get; init; }

        public long BeforeWrite() => Interlocked.Increment(ref _stamp);

        public void Committed(long stamp, IReadOnlyList<LedgerSnapshot> customers)
        {
            lock (Heard)
            {
                Heard.Add((stamp, customers));
            }

            if (Throw)
            {
                throw new InvalidOperationException("the cache broke");
            }
        }
    }

    [Fact]
    public async Task Rule_TheObserverHearsEachCommittedWrite_WithTheCustomersStateAfterIt_AndTheStampItGaveBeforeIt()
    {
        var observer = new RecordingObserver();
        Ledger.Observe(observer);
        var c = NewCustomer();

        var granted = await Ledger.GrantAsync(new GrantRequest(c, "credits", 10, LotSource.Payment, "grant:1"));
        var used = await Ledger.ConsumeAsync(new ConsumeRequest(c, "credits", 4, "use:1"));

        // Told before the callers were answered, once per transaction, with the stamp BeforeWrite gave it.
        Assert.Equal([101L, 102L], observer.Heard.Select(h => h.Stamp));
        var afterGrant = Assert.Single(observer.Heard[0].Customers);
        var afterUse = Assert.Single(observer.Heard[1].Customers);
        Assert.Equal((c, true), (afterGrant.Data.CustomerId, afterGrant.Data.Exists));
        Assert.Equal((granted.LotId, 10L), (Assert.Single(afterGrant.Data.Lots).LotId, afterGrant.Data.Lots[0].Remaining));
        Assert.Equal(6, Assert.Single(afterUse.Data.Lots).Remaining);
        // The keys it may trust: those the state holds are stored, and so is each key the transaction wrote.
        Assert.Contains("grant:1", afterGrant.CheckedKeys);
        Assert.Contains("use:1", afterUse.CheckedKeys);
        Assert.Contains("use:1", afterUse.Data.Operations.Select(o => o.OperationKey));
        Assert.True(used.Succeeded);
    }

    [Fact]
    public async Task Rule_AWritePlanDuesCarry_TheirKeysAreCheckedKeysOfTheSnapshot_EvenWhenAlreadyStored()
    {
        var observer = new RecordingObserver();
        Ledger.Observe(observer);
        var c = NewCustomer();
        var due = new DueWrites([new GrantRequest(c, "ai_messages", 5, LotSource.PlanAllowance, "allowance:w1")], null);

        await Ledger.ConsumeAsync(new ConsumeRequest(c, "ai_messages", 1, "use:1"), new LedgerWrite { Due = due });
        await Ledger.ConsumeAsync(new ConsumeRequest(c, "ai_messages", 1, "use:2"), new LedgerWrite { Due = due });

        Assert.All(observer.Heard, h => Assert.Contains("allowance:w1", Assert.Single(h.Customers).CheckedKeys));
        Assert.Equal(3, Assert.Single(observer.Heard[^1].Customers[0].Data.Lots).Remaining);
        Assert.Equal(3, (await Balance(c, "ai_messages")).Available);
    }

    [Fact]
    public async Task Rule_AWriteInsideAFlowsTransaction_JoinsIt_RolledBackWithIt_CommittedWithIt()
    {
        var c = NewCustomer();
        await Grant(c, "credits", 10);

        await using (Db.Database.Transactions.Begin())
        {
            Assert.True((await Consume(c, "credits", 3)).Succeeded);
            // Disposed without a commit: the flow failed, and its write goes with it.
        }

        Assert.Equal(10, (await Balance(c, "credits")).Available);

        await using (var flow = Db.Database.Transactions.Begin())
        {
            Assert.True((await Consume(c, "credits", 3)).Succeeded);
            await flow.CommitAsync(CancellationToken.None);
        }

        Assert.Equal(7, (await Balance(c, "credits")).Available);
        Assert.Single(await AllEntries(c), e => e.Type == EntryType.Consume);
    }

    [Fact]
    public async Task Rule_AnObserverThatFails_DoesNotFailTheCommittedWrite_ItsCallerGetsItsResult()
    {
        // The write is committed whatever a cache makes of it: a failure here would make the caller retry something
        // that happened.
        Ledger.Observe(new RecordingObserver { Throw = true });
        var c = NewCustomer();

        var granted = await Ledger.GrantAsync(new GrantRequest(c, "credits", 10, LotSource.Payment, Key()));
        var used = await Ledger.ConsumeAsync(new ConsumeRequest(c, "credits", 3, Key()));

        Assert.True(granted.Succeeded && used.Succeeded);
        Assert.Equal(7, (await Balance(c, "credits")).Available);
    }

    [Fact]
    public void Rule_TheLedgerHasOneObserver_ASecondIsAnError()
    {
        Ledger.Observe(new RecordingObserver());

        var second = Assert.Throws<InvalidOperationException>(() => Ledger.Observe(new RecordingObserver()));
        Assert.Equal("The ledger already has an observer.", second.Message);
        Assert.Throws<ArgumentNullException>(() => Ledger.Observe(null!));
    }

    [Fact]
    public async Task Rule_AWriteAfterTheEngineIsDisposed_IsAnError_NeverSilentlyDropped()
    {
        var engine = new LedgerEngine(Db.Database.Ledger, Clock, Options);
        var c = NewCustomer();
        await engine.GrantAsync(new GrantRequest(c, "credits", 10, LotSource.Payment, Key()));
        await engine.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => engine.ConsumeAsync(new ConsumeRequest(c, "credits", 3, Key())));

        Assert.Equal(10, (await Balance(c, "credits")).Available);
    }

    [Fact]
    public async Task Rule_DisposingTheEngine_FinishesTheWritesAlreadyQueued()
    {
        var engine = new LedgerEngine(Db.Database.Ledger, Clock, Options);
        var c = NewCustomer();
        var writes = Enumerable.Range(0, 20)
            .Select(i => engine.GrantAsync(new GrantRequest(c, "credits", 1, LotSource.Payment, $"g{i}")))
            .ToList();

        await engine.DisposeAsync();

        Assert.All(writes, w => Assert.True(w.IsCompletedSuccessfully));
        Assert.Equal(20, (await Balance(c, "credits")).Available);
    }

    [Theory]
    [InlineData(0, 1, 1)]
    [InlineData(1, 0, 1)]
    [InlineData(1, 1, 0)]
    public void Rule_AnEngineNeedsAtLeastOneLane_OneRequestPerBatch_AndOneTransactionPerLane(int lanes, int batch, int perLane)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            new LedgerEngine(Db.Database.Ledger, Clock, Options with { Lanes = lanes, MaxBatchSize = batch, TransactionsPerLane = perLane }));
    }

    [Fact]
    public async Task Rule_OneOfEachOption_IsAWorkingEngine()
    {
        await using var engine = new LedgerEngine(Db.Database.Ledger, Clock, Options with { Lanes = 1, MaxBatchSize = 1, TransactionsPerLane = 1 });
        var c = NewCustomer();

        var writes = await Task.WhenAll(Enumerable.Range(0, 5)
            .Select(i => engine.GrantAsync(new GrantRequest(c, "credits", 2, LotSource.Payment, $"g{i}"))));

        Assert.All(writes, w => Assert.True(w.Succeeded));
        Assert.Equal(10, (await Balance(c, "credits")).Available);
    }
}

public sealed class SqliteLedgerEngineRules : LedgerEngineRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresLedgerEngineRules : LedgerEngineRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
