using Tollgate.Core.Ledger;
using Tollgate.Testing;

namespace Tollgate.Storage.Tests.Ledger;

/// <summary>
/// A customer's next batch written from the state this process last committed for it (<see cref="KnownLedger"/>), not
/// loaded again (issue 10): it must leave exactly what a loaded batch leaves, and a write of another server in between
/// must fail it and have it run again loaded, never be overwritten. On PostgreSQL the known state is used; SQLite loads
/// every batch (one writer, in process), and the same rules hold there.
/// </summary>
public abstract class KnownStateRules : LedgerTestBase
{
    /// <summary>The real store, its sessions reporting no versions: an engine over it loads every batch.</summary>
    private sealed class LoadingStore(ILedgerStore inner) : DelegatingLedgerStore(inner)
    {
        public override async Task<ILedgerWriteSession> BeginWriteAsync(IReadOnlyList<CustomerLoad> loads,
            IReadOnlyCollection<(string Scope, string Key)> apiKeys, CancellationToken cancellationToken)
        {
            Assert.All(loads, l => Assert.Null(l.Known));
            return new Session(await Inner.BeginWriteAsync(loads, apiKeys, cancellationToken));
        }

        private sealed class Session(ILedgerWriteSession inner) : DelegatingWriteSession(inner)
        {
            public override IReadOnlyDictionary<string, long> Versions { get; } = new Dictionary<string, long>();

            public override void OnFlowCommitted(Action<IReadOnlyDictionary<string, long>> committed)
            {
            }
        }
    }

    private static int Known(MetricRecorder metrics, string state) =>
        metrics.Measurements.Count(m => m.Instrument == "tollgate.ledger.known_state" && Equals(m.Tags.GetValueOrDefault("state"), state));

    [Fact]
    public async Task Rule_EveryKindOfWrite_LeavesTheSameLedger_WhetherWrittenFromKnownStateOrLoaded()
    {
        using var metrics = new MetricRecorder(LedgerTelemetry.Name);
        await using var loading = new LedgerEngine(new LoadingStore(Db.Database.Ledger), Clock, Options);
        var known = NewCustomer();
        var loaded = NewCustomer();

        // The same script against two customers: one through the engine under test (writing from what it knows after
        // its first commit), one through an engine that loads every batch.
        foreach (var (engine, customer) in new[] { (Ledger, known), (loading, loaded) })
        {
            var key = 0;
            string K() => $"{customer}-{++key}";
            var start = Clock.GetUtcNow();
            Assert.True((await engine.GrantAsync(new GrantRequest(customer, "credits", 100, LotSource.Payment, K()) { SourceRef = "pay_1" })).Succeeded);
            Assert.True((await engine.GrantAsync(new GrantRequest(customer, "credits", 50, LotSource.Promo, K()) { ExpiresAt = start.AddHours(2) })).Succeeded);
            Assert.True((await engine.ConsumeAsync(new ConsumeRequest(customer, "credits", 30, K()))).Succeeded);
            Assert.False((await engine.ConsumeAsync(new ConsumeRequest(customer, "credits", 1_000, K()))).Succeeded);
            var hold = await engine.HoldAsync(new HoldRequest(customer, "credits", 40, TimeSpan.FromHours(1), K()));
            var other = await engine.HoldAsync(new HoldRequest(customer, "credits", 10, TimeSpan.FromHours(1), K()));
            Assert.True((await engine.HoldAsync(new HoldRequest(customer, "credits", 5, TimeSpan.FromMinutes(30), K()))).Succeeded);
            Assert.True((await engine.SettleAsync(new SettleRequest(hold.HoldId) { Amount = 25 })).Succeeded);
            Assert.True((await engine.ReleaseAsync(new ReleaseRequest(other.HoldId))).Succeeded);
            Assert.True((await engine.CountAsync(new CountRequest(customer, "seats", 3, K()) { Limit = 5 })).Succeeded);
            Assert.False((await engine.CountAsync(new CountRequest(customer, "seats", 3, K()) { Limit = 5 })).Succeeded);
            Assert.True((await engine.CountAsync(new CountRequest(customer, "seats", -1, K()))).Succeeded);
            // A refund takes back more than is left (a debt), a later grant repays it, a usage spills into another feature.
            Assert.True((await engine.ClawbackAsync(new ClawbackRequest(customer, "pay_1", K()))).Succeeded);
            Assert.True((await engine.GrantAsync(new GrantRequest(customer, "credits", 200, LotSource.Payment, K()))).Succeeded);
            Assert.True((await engine.GrantAsync(new GrantRequest(customer, "overage", 500, LotSource.Payment, K()))).Succeeded);
            Assert.True((await engine.ConsumeAsync(new ConsumeRequest(customer, "credits", 20, K()) { Spill = new Spill("overage", 2) })).Succeeded);
            // Time passes: the promo lot and the third hold expire inside the next write.
            Clock.Advance(TimeSpan.FromHours(3));
            Assert.True((await engine.ConsumeAsync(new ConsumeRequest(customer, "credits", 7, K()))).Succeeded);
        }

        Assert.Equal(Shape(await AllEntries(loaded)), Shape(await AllEntries(known)));
        var loadedBalances = await Ledger.GetBalancesAsync(loaded);
        var knownBalances = await Ledger.GetBalancesAsync(known);
        foreach (var feature in new[] { "credits", "overage", "seats" })
        {
            var (a, b) = (loadedBalances.For(feature), knownBalances.For(feature));
            Assert.Equal((a.Available, a.Held, a.Debt), (b.Available, b.Held, b.Debt));
        }

        var (loadedData, knownData) = (await Ledger.ReadAsync(loaded), await Ledger.ReadAsync(known));
        Assert.Equal(loadedData.Seq, knownData.Seq);
        Assert.Equal(loadedData.Counters.OrderBy(c => c.Key), knownData.Counters.OrderBy(c => c.Key));
        Assert.Equal(loadedData.Debts.OrderBy(c => c.Key), knownData.Debts.OrderBy(c => c.Key));
        Assert.Equal(2, knownData.Counters["seats"]);
        if (Provider == DatabaseProvider.Postgres)
        {
            // All but the customer's first write (and those that name stored keys or sources) were written from known state.
            Assert.True(Known(metrics, "used") >= 10, $"{Known(metrics, "used")} batches written from known state");
        }

        static List<string> Shape(List<EntryRecord> entries) =>
            entries.Select(e => $"{e.Feature} {e.Type} {e.Amount} {e.BalanceAfter}").ToList();
    }

    [Fact]
    public async Task Race_TwoServersSpendingOneCustomer_EachFromWhatItKnows_NeverSpendMoreThanThereIs()
    {
        using var metrics = new MetricRecorder(LedgerTelemetry.Name);
        // A second server: its own engine, and so its own known state, on the same database.
        await using var second = new LedgerEngine(Db.Database.Ledger, Clock, Options);
        var customer = NewCustomer();
        Assert.True((await Grant(customer, "credits", 300)).Succeeded);
        // Each server learns the customer's state with a write of its own.
        Assert.True((await Consume(customer, "credits", 1)).Succeeded);
        Assert.True((await second.ConsumeAsync(new ConsumeRequest(customer, "credits", 1, Key()))).Succeeded);

        // Rounds of concurrent usage from both servers: each one's next batch starts from what its last commit left,
        // which the other server's commits have made stale.
        var results = new List<ConsumeResult>();
        for (var round = 0; round < 20; round++)
        {
            var first = Enumerable.Range(0, 10).Select(_ => Consume(customer, "credits", 1));
            var other = Enumerable.Range(0, 10).Select(_ => second.ConsumeAsync(new ConsumeRequest(customer, "credits", 1, Key())));
            results.AddRange(await Task.WhenAll(first.Concat(other)));
        }

        // 298 were left for 400 asks: exactly 298 succeed, whoever wrote them, and the rest are refused.
        Assert.Equal(298, results.Count(r => r.Succeeded));
        Assert.All(results.Where(r => !r.Succeeded), r => Assert.Equal(LedgerRefusal.InsufficientBalance, r.Refusal));
        Assert.Equal(0, (await Balance(customer, "credits")).Available);
        Assert.Equal(300, (await AllEntries(customer)).Where(e => e.Type == EntryType.Consume).Sum(e => -e.Amount));
        await AssertBooksBalance(customer);
        if (Provider == DatabaseProvider.Postgres)
        {
            Assert.True(Known(metrics, "used") > 0, "no batch was written from known state");
            Assert.True(Known(metrics, "stale") > 0, "no batch found its known state stale");
        }
    }

    [Fact]
    public async Task Rule_AFlowsWrite_RolledBackOrCommitted_ByThisServerOrAnother_IsNeverWrittenOverFromKnownState()
    {
        using var metrics = new MetricRecorder(LedgerTelemetry.Name);
        await using var second = new LedgerEngine(Db.Database.Ledger, Clock, Options);
        var customer = NewCustomer();
        Assert.True((await Grant(customer, "credits", 100)).Succeeded);
        Assert.True((await Consume(customer, "credits", 1)).Succeeded);

        // A flow of this server consumes and rolls back: nothing of it stays, and the next usage does not start from it.
        await using (Db.Database.Transactions.Begin())
        {
            Assert.True((await Consume(customer, "credits", 30)).Succeeded);
        }

        Assert.True((await Consume(customer, "credits", 1)).Succeeded);
        Assert.Equal(98, (await Balance(customer, "credits")).Available);

        // A flow of another server (a webhook's grant, say) commits: this server's known state is stale, and its next
        // usage must see the grant and the consume, not write over them.
        await using (var flow = Db.Database.Transactions.Begin())
        {
            Assert.True((await second.ConsumeAsync(new ConsumeRequest(customer, "credits", 50, Key()))).Succeeded);
            await flow.CommitAsync(CancellationToken.None);
        }

        Assert.True((await Consume(customer, "credits", 1)).Succeeded);
        Assert.False((await Consume(customer, "credits", 48)).Succeeded);
        Assert.True((await Consume(customer, "credits", 47)).Succeeded);
        Assert.Equal(0, (await Balance(customer, "credits")).Available);
        Assert.Equal(100, (await AllEntries(customer)).Where(e => e.Type == EntryType.Consume).Sum(e => -e.Amount));
        await AssertBooksBalance(customer);
        if (Provider == DatabaseProvider.Postgres)
        {
            Assert.True(Known(metrics, "stale") > 0, "the other server's flow did not make this server's known state stale");
        }
    }

    /// <summary>The real store, recording each write this engine opens: in a flow or not, offered known state or not,
    /// and whether the session used it (a flow's store checks it under the lock). Its own, where the ledger's metrics are
    /// the process's, shared with tests running in parallel.</summary>
    private sealed class SessionsStore(ILedgerStore inner) : DelegatingLedgerStore(inner)
    {
        public List<(bool InFlow, bool Offered, bool Used)> Writes { get; } = [];

        public override async Task<ILedgerWriteSession> BeginWriteAsync(IReadOnlyList<CustomerLoad> loads,
            IReadOnlyCollection<(string Scope, string Key)> apiKeys, CancellationToken cancellationToken)
        {
            var session = await Inner.BeginWriteAsync(loads, apiKeys, cancellationToken);
            lock (Writes)
            {
                Writes.Add((InTransaction, loads.All(l => l.Known is not null), session.FromKnownState));
            }

            return session;
        }
    }

    [Fact]
    public async Task Rule_AFlowsWrites_FromKnownStateCheckedUnderTheLock_LeaveWhatLoadedWritesLeave_AndBecomeKnownOnceItCommits()
    {
        var store = new SessionsStore(Db.Database.Ledger);
        await using var engine = new LedgerEngine(store, Clock, Options);
        var customer = NewCustomer();
        Assert.True((await engine.GrantAsync(new GrantRequest(customer, "credits", 100, LotSource.Payment, Key()))).Succeeded);
        Assert.True((await engine.ConsumeAsync(new ConsumeRequest(customer, "credits", 1, Key()))).Succeeded);

        // A flow (a webhook's, say) writes the customer twice: a grant from the state the lane's last commit left, then
        // a consume that needs that grant, so it must start from what the grant left, not from the known state.
        var grantKey = Key();
        await using (var flow = Db.Database.Transactions.Begin())
        {
            Assert.True((await engine.GrantAsync(new GrantRequest(customer, "credits", 50, LotSource.Payment, grantKey))).Succeeded);
            Assert.True((await engine.ConsumeAsync(new ConsumeRequest(customer, "credits", 140, Key()))).Succeeded);
            await flow.CommitAsync(CancellationToken.None);
        }

        // The lane's next batches write from what the flow's commit left (9 left).
        Assert.True((await engine.ConsumeAsync(new ConsumeRequest(customer, "credits", 9, Key()))).Succeeded);
        Assert.False((await engine.ConsumeAsync(new ConsumeRequest(customer, "credits", 1, Key()))).Succeeded);
        // The flow's grant again, in a flow from known state: its stored key answers, nothing is granted twice.
        await using (var flow = Db.Database.Transactions.Begin())
        {
            Assert.True((await engine.GrantAsync(new GrantRequest(customer, "credits", 50, LotSource.Payment, grantKey))).Succeeded);
            await flow.CommitAsync(CancellationToken.None);
        }

        Assert.Equal(0, (await Balance(customer, "credits")).Available);
        Assert.Single(await AllEntries(customer), e => e.Type == EntryType.Grant && e.Amount == 50);
        Assert.Equal(150, (await AllEntries(customer)).Where(e => e.Type == EntryType.Consume).Sum(e => -e.Amount));
        await AssertBooksBalance(customer);
        if (Provider == DatabaseProvider.Postgres)
        {
            // Grant and consume loaded (a new customer); the flow's grant from known state, its consume loaded (the grant
            // made the known state unusable until the flow committed); the lane's two writes from what the flow left; the
            // replay from known state. A lane's session is not checked before its commit: offered, not yet used.
            Assert.Equal(
                [(false, false, false), (false, true, false), (true, true, true), (true, false, false), (false, true, false), (false, true, false),
                    (true, true, true)],
                store.Writes);
        }
    }

    [Fact]
    public async Task Race_FlowsAndBatchesOfTwoServers_OnOneCustomer_EachFromWhatItKnows_NeverLoseOrDoubleAWrite()
    {
        // Two servers: each its own engine and known state, on the same database.
        var stores = new[] { new SessionsStore(Db.Database.Ledger), new SessionsStore(Db.Database.Ledger) };
        await using var first = new LedgerEngine(stores[0], Clock, Options);
        await using var second = new LedgerEngine(stores[1], Clock, Options);
        var customer = NewCustomer();
        Assert.True((await first.GrantAsync(new GrantRequest(customer, "credits", 200, LotSource.Payment, Key()))).Succeeded);
        Assert.True((await first.ConsumeAsync(new ConsumeRequest(customer, "credits", 1, Key()))).Succeeded);
        Assert.True((await second.ConsumeAsync(new ConsumeRequest(customer, "credits", 1, Key()))).Succeeded);

        // Rounds of webhook-like flows (a keyed grant of 10, each delivered twice, on either server) racing usage of 1 on
        // both servers' lanes: each flow and batch starts from what its server last saw commit, which the others keep
        // moving on.
        var grantKeys = new List<string>();
        var results = new List<ConsumeResult>();
        for (var round = 0; round < 10; round++)
        {
            var keys = Enumerable.Range(0, 4).Select(_ => Key()).ToList();
            grantKeys.AddRange(keys);
            var flows = keys.Concat(keys).Select((key, i) => Task.Run(async () =>
            {
                var engine = i % 2 == 0 ? first : second;
                await using var flow = Db.Database.Transactions.Begin();
                var granted = await engine.GrantAsync(new GrantRequest(customer, "credits", 10, LotSource.Payment, key));
                await flow.CommitAsync(CancellationToken.None);
                return granted.Succeeded;
            }));
            var usage = Enumerable.Range(0, 16).Select(i => (i % 2 == 0 ? first : second).ConsumeAsync(new ConsumeRequest(customer, "credits", 1, Key())));
            var flowTask = Task.WhenAll(flows);
            results.AddRange(await Task.WhenAll(usage));
            Assert.All(await flowTask, Assert.True);
        }

        // 198 + 40 grants of 10 = 598 for 160 asks of 1: every ask succeeds, and every grant counts once.
        var entries = await AllEntries(customer);
        Assert.All(results, r => Assert.True(r.Succeeded));
        Assert.Equal(40, entries.Count(e => e.Type == EntryType.Grant && e.Amount == 10));
        Assert.Equal(grantKeys.Order(StringComparer.Ordinal), entries.Where(e => e.Type == EntryType.Grant && e.Amount == 10)
            .Select(e => e.OperationKey!).Order(StringComparer.Ordinal));
        Assert.Equal(162, entries.Where(e => e.Type == EntryType.Consume).Sum(e => -e.Amount));
        Assert.Equal(200 + 400 - 162, (await Balance(customer, "credits")).Available);
        await AssertBooksBalance(customer);
        if (Provider == DatabaseProvider.Postgres)
        {
            var flowWrites = stores.SelectMany(s => s.Writes).Where(w => w.InFlow).ToList();
            Assert.Contains((true, true, true), flowWrites);
            // A flow offered a state that another server's write (or this one's lane) had moved on: loaded instead.
            Assert.Contains((true, true, false), flowWrites);
        }
    }

    [Fact]
    public async Task Rule_ACustomerSetBackToAnEarlierState_ThenWrittenByAnother_IsNeverWrittenOverFromKnownState()
    {
        // A failover to a replica that missed this server's last commit, or a backup restored under running servers:
        // the customer's rows go back to an earlier state, another server writes on from there, and this server still
        // holds what its lost commit left. A version that counts commits would come back to the number this server
        // knows, with other contents; a random one does not.
        await using var second = new LedgerEngine(Db.Database.Ledger, Clock, Options);
        var customer = NewCustomer();
        Assert.True((await Grant(customer, "credits", 100)).Succeeded);
        Assert.True((await Consume(customer, "credits", 1)).Succeeded);
        await using var connection = await Db.OpenConnectionAsync();
        var tables = new[] { "ledger_lots", "ledger_entries", "ledger_holds", "ledger_debts", "ledger_operations", "ledger_counters", "ledger_usage_hourly", "customer_keys" };
        foreach (var table in tables)
        {
            await Execute(connection, $"CREATE TABLE saved_{table} AS SELECT * FROM {table} WHERE customer_id = '{customer}'");
        }

        var postgres = Provider == DatabaseProvider.Postgres;
        if (postgres)
        {
            await Execute(connection, $"CREATE TABLE saved_version AS SELECT ledger_version FROM customers WHERE customer_id = '{customer}'");
        }

        // This server's commit, lost: the customer goes back to what it was before it.
        Assert.True((await Consume(customer, "credits", 30)).Succeeded);
        foreach (var table in tables)
        {
            await Execute(connection, $"DELETE FROM {table} WHERE customer_id = '{customer}'");
            await Execute(connection, $"INSERT INTO {table} SELECT * FROM saved_{table}");
        }

        if (postgres)
        {
            await Execute(connection, $"UPDATE customers SET ledger_version = (SELECT ledger_version FROM saved_version) WHERE customer_id = '{customer}'");
        }

        Assert.Equal(99, (await Balance(customer, "credits")).Available);
        Assert.True((await second.ConsumeAsync(new ConsumeRequest(customer, "credits", 5, Key()))).Succeeded);
        // Written from what the lost commit left (69), this would leave 68 and books that do not add up.
        Assert.True((await Consume(customer, "credits", 1)).Succeeded);
        Assert.Equal(93, (await Balance(customer, "credits")).Available);
        Assert.Equal(7, (await AllEntries(customer)).Where(e => e.Type == EntryType.Consume).Sum(e => -e.Amount));
        await AssertBooksBalance(customer);

        static async Task Execute(System.Data.Common.DbConnection connection, string sql)
        {
            await using var command = connection.CreateCommand();
            command.CommandText = sql;
            await command.ExecuteNonQueryAsync();
        }
    }

    /// <summary>The real store; the commit of the first batch written from known state fails (as a bug in what was known,
    /// or a lost connection, would), and every batch's loads are kept.</summary>
    private sealed class FailOnceStore(ILedgerStore inner) : DelegatingLedgerStore(inner)
    {
        public List<IReadOnlyList<CustomerLoad>> Loads { get; } = [];

        public bool Failed { get; private set; }

        public override async Task<ILedgerWriteSession> BeginWriteAsync(IReadOnlyList<CustomerLoad> loads,
            IReadOnlyCollection<(string Scope, string Key)> apiKeys, CancellationToken cancellationToken)
        {
            Loads.Add(loads);
            var session = await Inner.BeginWriteAsync(loads, apiKeys, cancellationToken);
            if (Failed || loads.Any(l => l.Known is null))
            {
                return session;
            }

            Failed = true;
            return new Failing(session);
        }

        private sealed class Failing(ILedgerWriteSession inner) : DelegatingWriteSession(inner)
        {
            public override Task CommitAsync(LedgerChanges changes, CancellationToken cancellationToken) =>
                throw new InvalidOperationException("the commit failed");
        }
    }

    [Fact]
    public async Task Rule_ABatchWrittenFromKnownState_ThatFailsForAnyReason_LeavesItsCustomersLoadedNextTime()
    {
        var store = new FailOnceStore(Db.Database.Ledger);
        await using var engine = new LedgerEngine(store, Clock, Options);
        var customer = NewCustomer();
        Assert.True((await engine.GrantAsync(new GrantRequest(customer, "credits", 10, LotSource.Payment, Key()))).Succeeded);
        var failure = await Record.ExceptionAsync(() => engine.ConsumeAsync(new ConsumeRequest(customer, "credits", 1, Key())));
        var known = store.Failed;

        // On PostgreSQL the consume above was written from known state and failed; the next write must not trust that
        // state again (a state that failed a write once would fail every later one the same way).
        if (Provider == DatabaseProvider.Postgres)
        {
            Assert.True(known, "no batch was written from known state");
            Assert.Equal("the commit failed", Assert.IsType<InvalidOperationException>(failure).Message);
        }
        else
        {
            Assert.Null(failure);
        }

        Assert.True((await engine.ConsumeAsync(new ConsumeRequest(customer, "credits", 2, Key()))).Succeeded);
        Assert.Null(Assert.Single(store.Loads[^1]).Known);
        Assert.Equal(known ? 8 : 7, (await Balance(customer, "credits")).Available);
        await AssertBooksBalance(customer);
    }

    [Fact]
    public async Task Rule_AFlowsWriteFromKnownState_ThatFails_LeavesItsCustomerLoadedNextTime()
    {
        var store = new FailOnceStore(Db.Database.Ledger);
        await using var engine = new LedgerEngine(store, Clock, Options);
        var customer = NewCustomer();
        Assert.True((await engine.GrantAsync(new GrantRequest(customer, "credits", 10, LotSource.Payment, Key()))).Succeeded);

        // A webhook's grant in a flow, from known state on PostgreSQL: its write fails and the flow rolls back. Its
        // retry must load the customer, not trust the state that failed it (it would fail every retry the same way).
        var failure = await Record.ExceptionAsync(async () =>
        {
            await using var flow = Db.Database.Transactions.Begin();
            await engine.GrantAsync(new GrantRequest(customer, "credits", 5, LotSource.Payment, Key()));
            await flow.CommitAsync(CancellationToken.None);
        });
        var known = store.Failed;
        await using (var retry = Db.Database.Transactions.Begin())
        {
            Assert.True((await engine.GrantAsync(new GrantRequest(customer, "credits", 5, LotSource.Payment, Key()))).Succeeded);
            await retry.CommitAsync(CancellationToken.None);
        }

        if (Provider == DatabaseProvider.Postgres)
        {
            Assert.True(known, "no flow was written from known state");
            Assert.Equal("the commit failed", Assert.IsType<InvalidOperationException>(failure).Message);
            Assert.Null(Assert.Single(store.Loads[^1]).Known);
        }
        else
        {
            Assert.Null(failure);
        }

        Assert.Equal(known ? 15 : 20, (await Balance(customer, "credits")).Available);
        await AssertBooksBalance(customer);
    }

    /// <summary>The real store; while a hold is set, the next write waits in it before it begins, so the calls made
    /// meanwhile queue behind it and go as one batch (a lane reads all it has queued).</summary>
    private sealed class GatedStore(ILedgerStore inner) : DelegatingLedgerStore(inner)
    {
        private Hold? _hold;

        public List<IReadOnlyList<CustomerLoad>> Loads { get; } = [];

        /// <summary>Holds the next write until the returned release is set; the first task ends when it is waiting.</summary>
        public (Task Entered, TaskCompletionSource Release) HoldNext()
        {
            var hold = new Hold(new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously),
                new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
            Volatile.Write(ref _hold, hold);
            return (hold.Entered.Task, hold.Release);
        }

        private sealed record Hold(TaskCompletionSource Entered, TaskCompletionSource Release);

        public override async Task<ILedgerWriteSession> BeginWriteAsync(IReadOnlyList<CustomerLoad> loads,
            IReadOnlyCollection<(string Scope, string Key)> apiKeys, CancellationToken cancellationToken)
        {
            lock (Loads)
            {
                Loads.Add(loads);
            }

            if (Interlocked.Exchange(ref _hold, null) is { } hold)
            {
                hold.Entered.SetResult();
                await hold.Release.Task;
            }

            return await Inner.BeginWriteAsync(loads, apiKeys, cancellationToken);
        }
    }

    /// <summary>Runs <paramref name="calls"/> as one batch of a one-lane engine: they queue behind a write held in the store.</summary>
    private async Task<T[]> OneBatchAsync<T>(GatedStore store, LedgerEngine engine, string blocker, Func<IEnumerable<Task<T>>> calls,
        Func<Task>? meanwhile = null)
    {
        var (entered, release) = store.HoldNext();
        var first = engine.GrantAsync(new GrantRequest(blocker, "credits", 1, LotSource.Promo, Key()));
        await entered;
        var queued = calls().ToList();
        if (meanwhile is not null)
        {
            await meanwhile();
        }

        release.SetResult();
        Assert.True((await first).Succeeded);
        return await Task.WhenAll(queued);
    }

    [Fact]
    public async Task Rule_ABatchOfManyCustomers_WritesEachAsIfAlone_AndOneCustomerChangedByAnotherServer_RerunsTheWholeBatchLoaded()
    {
        using var metrics = new MetricRecorder(LedgerTelemetry.Name);
        var store = new GatedStore(Db.Database.Ledger);
        await using var engine = new LedgerEngine(store, Clock, Options with { Lanes = 1 });
        await using var second = new LedgerEngine(Db.Database.Ledger, Clock, Options);
        var blocker = NewCustomer();
        var customers = Enumerable.Range(0, 6).Select(_ => NewCustomer()).Order(StringComparer.Ordinal).ToList();
        var expires = Clock.GetUtcNow().AddDays(30);

        // New customers in one batch: the first (in id order, the order of the batch's rows) gets a lot without an expiry,
        // each other one with and one without. The batch's lot rows start with no expiry and later have one (on
        // PostgreSQL, an array parameter whose first value is null and a later one is not). The first customer gets its
        // expiring lot afterwards.
        var grants = await OneBatchAsync(store, engine, blocker, () => customers.SelectMany((c, i) => i == 0
            ? [engine.GrantAsync(new GrantRequest(c, "credits", 100, LotSource.Payment, Key()))]
            : new[]
            {
                engine.GrantAsync(new GrantRequest(c, "credits", 100, LotSource.Payment, Key()) { ExpiresAt = i % 2 == 0 ? null : expires }),
                engine.GrantAsync(new GrantRequest(c, "credits", 100, LotSource.Payment, Key()) { ExpiresAt = i % 2 == 0 ? expires : null }),
            }));
        Assert.All(grants, g => Assert.True(g.Succeeded));
        Assert.True((await engine.GrantAsync(new GrantRequest(customers[0], "credits", 100, LotSource.Payment, Key()) { ExpiresAt = expires })).Succeeded);
        Assert.Contains(store.Loads, loads => customers.All(c => loads.Any(l => l.CustomerId == c)));

        // Every customer spends across both of its lots (each lot updated) in one batch, written from what this server
        // knows on PostgreSQL; meanwhile another server spends from the fourth customer, so that batch's claim of it
        // fails, after the claims before it in id order succeeded, and the batch runs again loaded, whole.
        var stale = customers[3];
        var spent = await OneBatchAsync(store, engine, blocker,
            () => customers.Select(c => engine.ConsumeAsync(new ConsumeRequest(c, "credits", 150, Key()))),
            async () => Assert.True((await second.ConsumeAsync(new ConsumeRequest(stale, "credits", 1, Key()))).Succeeded));
        Assert.All(spent, s => Assert.True(s.Succeeded));

        // And once more, every customer known and none changed by another server.
        var again = await OneBatchAsync(store, engine, blocker,
            () => customers.Select(c => engine.ConsumeAsync(new ConsumeRequest(c, "credits", 10, Key()))));
        Assert.All(again, s => Assert.True(s.Succeeded));

        foreach (var customer in customers)
        {
            Assert.Equal(customer == stale ? 39 : 40, (await Balance(customer, "credits")).Available);
            var lots = await Db.Database.Ledger.GetAllLotsAsync(customer, CancellationToken.None);
            Assert.Equal(2, lots.Count);
            Assert.Equal(customer == stale ? 39 : 40, lots.Sum(l => l.Remaining));
            Assert.Single(lots, l => l.ExpiresAt == expires);
            await AssertBooksBalance(customer);
        }

        if (Provider == DatabaseProvider.Postgres)
        {
            // The batches of the six customers (the blocker's writes go alone): the grants, loaded (new customers); the
            // spend from known state; its rerun, loaded; the last one from known state.
            var batches = store.Loads.Where(loads => loads.Count == customers.Count)
                .Select(loads => loads.All(l => l.Known is not null) ? "known" : loads.All(l => l.Known is null) ? "loaded" : "mixed")
                .ToList();
            Assert.Equal(["loaded", "known", "loaded", "known"], batches);
            Assert.True(Known(metrics, "stale") >= 1, "no batch found its known state stale");
        }
    }
}

public sealed class SqliteKnownStateRules : KnownStateRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresKnownStateRules : KnownStateRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
