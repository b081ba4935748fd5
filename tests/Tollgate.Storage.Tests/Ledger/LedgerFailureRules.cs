using Tollgate.Testing;
using Tollgate.Core.Idempotency;
using Tollgate.Core.Ledger;

namespace Tollgate.Storage.Tests.Ledger;

/// <summary>
/// What the engine does when its store fails: a request that fails its batch fails alone and the others in the batch
/// commit; a transient error is retried up to the limit; a key stored by another transaction reruns the batch with the
/// keys loaded, at most five times, without using up the transient retries; and every public call refuses a null
/// request before anything is queued. Beside them, what the same decorator lets a test see of the lanes: a request
/// cancelled while queued, the cap on a batch, the hold owners the engine remembers. The store is the real one (SQLite
/// or PostgreSQL) behind a decorator that injects the failure and records each write's loads. Found untested by the `ledger-engine` mutation slice (docs/testing.md). Each test names its rule.
/// </summary>
public abstract class LedgerFailureRules : LedgerTestBase
{
    private sealed class InjectedFault(string message) : Exception(message);

    private sealed class TransientFault() : Exception("injected transient fault");

    private sealed class KeyConflictFault() : Exception("injected key conflict");

    /// <summary>The real store, failing as told: <see cref="Poison"/> fails any write that loads that customer;
    /// <see cref="TransientFailures"/> and <see cref="KeyConflicts"/> fail that many attempts to begin and to commit.</summary>
    private sealed class FaultyStore(ILedgerStore inner) : DelegatingLedgerStore(inner)
    {
        public string? Poison { get; init; }

        public int TransientFailures;

        public int KeyConflicts;

        /// <summary>Transient failures armed when the last key conflict is thrown (so they follow the conflicts).</summary>
        public int TransientAfterConflicts { get; init; }

        /// <summary>When set, the first write waits for it: the requests sent meanwhile queue up for the next batch.</summary>
        public TaskCompletionSource? FirstWriteGate { get; init; }

        /// <summary>Set when the first write has begun (and, with a gate, waits).</summary>
        public TaskCompletionSource FirstWriteStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public List<IReadOnlyList<CustomerLoad>> Writes { get; } = [];

        /// <summary>The API keys each write loaded, in the order of <see cref="Writes"/>.</summary>
        public List<IReadOnlyCollection<(string Scope, string Key)>> ApiKeyLoads { get; } = [];

        /// <summary>The keys of each lookup of stored operations a write made (a refusal that may hide a replay).</summary>
        public List<IReadOnlyList<(string CustomerId, string Key)>> Lookups { get; } = [];

        /// <summary>The API responses each commit stored.</summary>
        public List<IReadOnlyList<ApiResponseRecord>> StoredResponses { get; } = [];

        public override async Task<ILedgerWriteSession> BeginWriteAsync(IReadOnlyList<CustomerLoad> loads, IReadOnlyCollection<(string Scope, string Key)> apiKeys,
            CancellationToken cancellationToken)
        {
            bool first;
            lock (Writes)
            {
                first = Writes.Count == 0;
                Writes.Add(loads);
                ApiKeyLoads.Add(apiKeys);
            }

            if (first)
            {
                FirstWriteStarted.SetResult();
                if (FirstWriteGate is { } gate)
                {
                    await gate.Task;
                }
            }

            if (Interlocked.Decrement(ref TransientFailures) >= 0)
            {
                throw new TransientFault();
            }

            if (Poison is { } poison && loads.Any(l => l.CustomerId == poison))
            {
                throw new InjectedFault($"the store failed on {poison}");
            }

            return new Session(await Inner.BeginWriteAsync(loads, apiKeys, cancellationToken), this);
        }

        public int OwnerLookups;

        public override Task<string?> FindHoldOwnerAsync(string holdId, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref OwnerLookups);
            return Inner.FindHoldOwnerAsync(holdId, cancellationToken);
        }

        public override bool IsTransient(Exception exception) => exception is TransientFault || Inner.IsTransient(exception);

        public override bool IsKeyConflict(Exception exception) => exception is KeyConflictFault || Inner.IsKeyConflict(exception);

        private sealed class Session(ILedgerWriteSession inner, FaultyStore store) : DelegatingWriteSession(inner)
        {
            public override Task<IReadOnlyList<OperationRecord>> LoadOperationsAsync(IReadOnlyList<(string CustomerId, string Key)> keys,
                CancellationToken cancellationToken)
            {
                lock (store.Lookups)
                {
                    store.Lookups.Add(keys);
                }

                return Inner.LoadOperationsAsync(keys, cancellationToken);
            }

            public override Task CommitAsync(LedgerChanges changes, CancellationToken cancellationToken)
            {
                var left = Interlocked.Decrement(ref store.KeyConflicts);
                if (left < 0)
                {
                    return CommitAndRecordAsync(changes, cancellationToken);
                }

                if (left == 0)
                {
                    Volatile.Write(ref store.TransientFailures, store.TransientAfterConflicts);
                }

                throw new KeyConflictFault();
            }

            private async Task CommitAndRecordAsync(LedgerChanges changes, CancellationToken cancellationToken)
            {
                await Inner.CommitAsync(changes, cancellationToken);
                lock (store.StoredResponses)
                {
                    store.StoredResponses.Add(changes.ApiResponses);
                }
            }
        }
    }

    private readonly ListLogger<LedgerEngine> _log = new();

    private LedgerEngine Engine(FaultyStore store, int transientRetries = 5, int maxBatchSize = 256, int transactionsPerLane = 1) =>
        new(store, Clock, new LedgerOptions
        {
            Lanes = 1,
            TransientRetries = transientRetries,
            MaxBatchSize = maxBatchSize,
            TransactionsPerLane = transactionsPerLane,
        }, _log);

    /// <summary>The customers each committed write told the observer about; <see cref="Throw"/> makes it fail.</summary>
    private sealed class Observer : ILedgerObserver
    {
        public List<string> Customers { get; } = [];

        public bool Throw { get; init; }

        public long BeforeWrite() => 0;

        public void Committed(long stamp, IReadOnlyList<LedgerSnapshot> customers)
        {
            if (Throw)
            {
                throw new InjectedFault("the observer failed");
            }

            lock (Customers)
            {
                Customers.AddRange(customers.Select(c => c.Data.CustomerId));
            }
        }
    }

    private static GrantRequest Grant(string customer, string key) => new(customer, "credits", 10, LotSource.Payment, key);

    [Fact]
    public async Task Rule_ARequestThatFailsItsBatch_FailsAlone_AndTheOthersInTheBatchCommit()
    {
        var poison = NewCustomer();
        var store = new FaultyStore(Db.Database.Ledger) { Poison = poison, FirstWriteGate = new TaskCompletionSource() };
        await using var engine = Engine(store);
        var observer = new Observer();
        engine.Observe(observer);
        var first = engine.GrantAsync(Grant(NewCustomer(), "first"));
        await store.FirstWriteStarted.Task;
        var others = Enumerable.Range(0, 4).Select(_ => NewCustomer()).ToList();

        // While the first write waits, the poisoned request and four others queue up: the next batch holds all five.
        var poisoned = engine.GrantAsync(Grant(poison, "poisoned"));
        var writes = others.Select(c => engine.GrantAsync(Grant(c, "ok"))).ToList();
        store.FirstWriteGate!.SetResult();

        Assert.True((await first).Succeeded);
        var error = await Assert.ThrowsAsync<InjectedFault>(() => poisoned);
        Assert.All(await Task.WhenAll(writes), w => Assert.True(w.Succeeded));
        Assert.Contains(poison, error.Message, StringComparison.Ordinal);
        Assert.Contains(store.Writes, loads => loads.Count == 5); // they were one batch, then each went alone
        foreach (var customer in others)
        {
            Assert.Equal(10, (await Ledger.GetBalancesAsync(customer)).For("credits").Available);
        }

        Assert.Equal(0, (await Ledger.GetBalancesAsync(poison)).For("credits").Available);
        // Each write that went through alone was published like any other (the cache must drop what it had of them).
        Assert.Superset(others.ToHashSet(), observer.Customers.ToHashSet());
        // The operator sees why: the batch's failure, then the one request that failed alone.
        Assert.Contains((1001, "A ledger batch of 5 requests failed; running them one by one"), _log.Lines);
        Assert.Contains((1002, $"A ledger request for customer {poison} failed"), _log.Lines);
    }

    [Fact]
    public async Task Rule_ARequestThatFailsAlone_FailsItsCaller_AndTheLaneGoesOn()
    {
        var poison = NewCustomer();
        var store = new FaultyStore(Db.Database.Ledger) { Poison = poison };
        await using var engine = Engine(store);
        var after = NewCustomer();

        await Assert.ThrowsAsync<InjectedFault>(() => engine.GrantAsync(Grant(poison, "poisoned")));
        var next = await engine.GrantAsync(Grant(after, "next"));

        Assert.True(next.Succeeded);
        Assert.Equal(10, (await Ledger.GetBalancesAsync(after)).For("credits").Available);
        Assert.Equal([(1002, $"A ledger request for customer {poison} failed")], _log.Lines);
    }

    [Theory]
    [InlineData(4, true)]
    [InlineData(5, false)]
    public async Task Rule_ATransientErrorIsRetried_TheAttemptsAreTheOptionsLimit(int failures, bool succeeds)
    {
        var store = new FaultyStore(Db.Database.Ledger) { TransientFailures = failures };
        await using var engine = Engine(store, transientRetries: 5);
        var customer = NewCustomer();

        var grant = engine.GrantAsync(Grant(customer, "g"));

        if (succeeds)
        {
            Assert.True((await grant).Succeeded);
        }
        else
        {
            await Assert.ThrowsAsync<TransientFault>(() => grant);
        }

        Assert.Equal(succeeds ? 10 : 0, (await Ledger.GetBalancesAsync(customer)).For("credits").Available);
        Assert.Equal(Math.Min(failures + 1, 5), store.Writes.Count);
        Assert.Equal(Enumerable.Range(1, 4).Select(a => $"Ledger batch attempt {a} hit a transient database error: injected transient fault"),
            _log.Lines.Where(l => l.Id == 1003).Select(l => l.Message));
    }

    [Theory]
    [InlineData(5, true)]
    [InlineData(6, false)]
    public async Task Rule_AKeyConflictRerunsTheBatchWithItsKeysLoaded_AtMostFiveTimes(int conflicts, bool succeeds)
    {
        var store = new FaultyStore(Db.Database.Ledger) { KeyConflicts = conflicts };
        await using var engine = Engine(store);
        var customer = NewCustomer();

        var grant = engine.GrantAsync(Grant(customer, "g"));

        if (succeeds)
        {
            Assert.True((await grant).Succeeded);
        }
        else
        {
            await Assert.ThrowsAsync<KeyConflictFault>(() => grant);
        }

        Assert.Equal(succeeds ? 10 : 0, (await Ledger.GetBalancesAsync(customer)).For("credits").Available);
        // The first attempt runs as if every key were new; each rerun loads the request's key.
        Assert.Empty(store.Writes[0].Single().OperationKeys);
        Assert.All(store.Writes.Skip(1), loads => Assert.Equal(["g"], loads.Single().OperationKeys));
        Assert.Equal(Math.Min(conflicts + 1, 6), store.Writes.Count);
    }

    [Fact]
    public async Task Rule_KeyConflicts_DoNotUseUpTheTransientRetries()
    {
        // Five conflicts, then four transient errors: still within both limits, because a rerun for a stored key is not
        // an attempt that failed.
        var store = new FaultyStore(Db.Database.Ledger) { KeyConflicts = 5, TransientAfterConflicts = 4 };
        await using var engine = Engine(store, transientRetries: 5);
        var customer = NewCustomer();

        var result = await engine.GrantAsync(Grant(customer, "g"));

        Assert.True(result.Succeeded);
        Assert.Equal(10, (await Ledger.GetBalancesAsync(customer)).For("credits").Available);
        Assert.Equal(10, store.Writes.Count); // five conflicted commits, four failed begins, one that went through
    }

    [Fact]
    public async Task Rule_ASettleOrReleaseOfAHoldThisEngineWrote_NeedsNoLookupOfItsOwner_AClosedOneIsForgotten()
    {
        var store = new FaultyStore(Db.Database.Ledger);
        await using var engine = Engine(store);
        var (a, b) = (NewCustomer(), NewCustomer());
        await engine.GrantAsync(Grant(a, "ga"));
        await engine.GrantAsync(Grant(b, "gb"));
        var first = await engine.HoldAsync(new HoldRequest(a, "credits", 3, TimeSpan.FromHours(1), "ha"));
        var second = await engine.HoldAsync(new HoldRequest(b, "credits", 4, TimeSpan.FromHours(1), "hb"));

        var settled = await engine.SettleAsync(new SettleRequest(first.HoldId!));
        var released = await engine.ReleaseAsync(new ReleaseRequest(second.HoldId!));
        var lookupsWhileOpen = store.OwnerLookups;
        // Closed holds are forgotten: asking about one again looks it up (and finds it not active).
        var again = await engine.ReleaseAsync(new ReleaseRequest(first.HoldId!));

        Assert.True(settled.Succeeded && released.Succeeded);
        Assert.Equal(0, lookupsWhileOpen);
        Assert.Equal(1, store.OwnerLookups);
        Assert.Equal(LedgerRefusal.HoldNotActive, again.Refusal);
    }

    [Fact]
    public async Task Rule_ARequestCancelledWhileQueued_IsNeverWritten_AndItsCallerHearsSo()
    {
        var store = new FaultyStore(Db.Database.Ledger) { FirstWriteGate = new TaskCompletionSource() };
        await using var engine = Engine(store);
        var first = engine.GrantAsync(Grant(NewCustomer(), "first"));
        await store.FirstWriteStarted.Task;
        var customer = NewCustomer();
        using var cancel = new CancellationTokenSource();

        var queued = engine.GrantAsync(Grant(customer, "queued"), cancel.Token);
        await cancel.CancelAsync();
        store.FirstWriteGate!.SetResult();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued);
        Assert.True((await first).Succeeded);
        // The engine goes on, and the cancelled request was left out of every write.
        Assert.True((await engine.GrantAsync(Grant(NewCustomer(), "after"))).Succeeded);
        Assert.DoesNotContain(store.Writes, loads => loads.Any(l => l.CustomerId == customer));
        Assert.DoesNotContain(store.Writes, loads => loads.Count == 0); // a batch left empty is no transaction
        Assert.Equal(0, (await Ledger.GetBalancesAsync(customer)).For("credits").Available);
    }

    [Fact]
    public async Task Rule_ABatchHoldsAtMostMaxBatchSizeRequests()
    {
        var store = new FaultyStore(Db.Database.Ledger) { FirstWriteGate = new TaskCompletionSource() };
        await using var engine = Engine(store, maxBatchSize: 2);
        var first = engine.GrantAsync(Grant(NewCustomer(), "first"));
        await store.FirstWriteStarted.Task;

        var queued = Enumerable.Range(0, 5).Select(_ => engine.GrantAsync(Grant(NewCustomer(), "q"))).ToList();
        store.FirstWriteGate!.SetResult();

        Assert.True((await first).Succeeded);
        Assert.All(await Task.WhenAll(queued), g => Assert.True(g.Succeeded));
        Assert.Equal([1, 2, 2, 1], store.Writes.Select(w => w.Count));
    }

    /// <summary>An HTTP call made with an Idempotency-Key, as the API hands it to the ledger: its response is the
    /// entry id the write made (or the refusal), rendered inside the batch.</summary>
    private static LedgerWrite Call(string scope, string key, string requestHash) => new()
    {
        Call = new IdempotentCall<LedgerResult>(scope, key, requestHash,
            r => new StoredResponse("", r.Succeeded ? 200 : 409, (r as ConsumeResult)?.EntryId ?? r.Refusal.ToString()!)),
    };

    private static ConsumeRequest Use(string customer, long amount, string key) => new(customer, "credits", amount, key);

    [Fact]
    public async Task Rule_AnApiCallsResponseIsStoredWithItsWrite_TheSameCallReplaysIt_AnotherRequestUnderItsKeyIsRefused()
    {
        var c = NewCustomer();
        var store = new FaultyStore(Db.Database.Ledger);
        await using var engine = Engine(store);
        await engine.GrantAsync(Grant(c, "g"));

        var first = await engine.ConsumeAsync(Use(c, 3, "op-1"), Call("api_key_1", "K", "h1"));

        Assert.True(first.Succeeded);
        Assert.False(first.Replayed);
        Assert.Equal(new StoredResponse("h1", 200, first.EntryId!), first.Response); // the ledger sets the request hash
        Assert.Equal(first.Response, await Db.Database.Idempotency.GetAsync("api_key_1", "K", CancellationToken.None));
        // Keys are optimistic: the write loaded no API key, and nothing was refused, so nothing was looked up.
        Assert.All(store.ApiKeyLoads, keys => Assert.Empty(keys));
        Assert.Empty(store.Lookups);

        // The same call again (whatever operation key the retry carries): the stored response, nothing written.
        var again = await engine.ConsumeAsync(Use(c, 3, "op-2"), Call("api_key_1", "K", "h1"));
        Assert.True(again.Replayed);
        Assert.Equal(first.Response, again.Response);
        // It ran as new first, its commit met the stored key, and the rerun loaded it.
        Assert.Equal(("api_key_1", "K"), Assert.Single(store.ApiKeyLoads[^1]));

        // Another request under the key is refused; the same key of another API key is another call.
        var other = await engine.ConsumeAsync(Use(c, 1, "op-3"), Call("api_key_1", "K", "h2"));
        Assert.Equal(LedgerRefusal.KeyReused, other.Refusal);
        Assert.Null(other.Response);
        var otherScope = await engine.ConsumeAsync(Use(c, 1, "op-4"), Call("api_key_2", "K", "h2"));
        Assert.True(otherScope.Succeeded);
        Assert.False(otherScope.Replayed);

        Assert.Equal(6, (await Ledger.GetBalancesAsync(c)).For("credits").Available);
        Assert.Equal(2, (await AllEntries(c)).Count(e => e.Type == EntryType.Consume));
    }

    [Fact]
    public async Task Rule_TwoRequestsOfOneBatchUnderOneApiKey_TheSecondIsAnsweredByTheFirst_InTheSameTransaction()
    {
        var c = NewCustomer();
        var store = new FaultyStore(Db.Database.Ledger) { FirstWriteGate = new TaskCompletionSource() };
        await using var engine = Engine(store);
        var grant = engine.GrantAsync(Grant(c, "g"));
        await store.FirstWriteStarted.Task;

        // While the grant waits, three calls queue up into one batch: a call, the same call again, another request
        // under the same key.
        var first = engine.ConsumeAsync(Use(c, 3, "op-1"), Call("api_key_1", "K", "h1"));
        var same = engine.ConsumeAsync(Use(c, 3, "op-2"), Call("api_key_1", "K", "h1"));
        var other = engine.ConsumeAsync(Use(c, 3, "op-3"), Call("api_key_1", "K", "h2"));
        store.FirstWriteGate!.SetResult();
        await grant;

        Assert.True((await first).Succeeded);
        Assert.True((await same).Replayed);
        Assert.Equal((await first).Response, (await same).Response);
        Assert.Equal(LedgerRefusal.KeyReused, (await other).Refusal);
        Assert.Equal(7, (await Ledger.GetBalancesAsync(c)).For("credits").Available);
        // One transaction for the three, which stored the one response: no conflict, no rerun, and no lookup (an
        // answer from a stored response is not a refusal that could hide a replay).
        Assert.Equal([1, 1], store.Writes.Select(w => w.Count));
        Assert.Empty(store.Lookups);
        Assert.Equal(("api_key_1", "K"), Assert.Single(store.StoredResponses[^1]) is var r ? (r.Scope, r.Key) : default);
    }

    [Fact]
    public async Task Rule_ARefusalThatHidesAReplay_IsLookedUpOnce_AndTheBatchRunsAgainWithTheStoredResult()
    {
        var c = NewCustomer();
        await Ledger.GrantAsync(new GrantRequest(c, "credits", 5, LotSource.Payment, "g"));
        var used = await Ledger.ConsumeAsync(Use(c, 5, "op-1"));
        Assert.True(used.Succeeded);

        var store = new FaultyStore(Db.Database.Ledger) { FirstWriteGate = new TaskCompletionSource() };
        await using var engine = Engine(store);
        var other = NewCustomer();
        var grant = engine.GrantAsync(Grant(other, "g"));
        await store.FirstWriteStarted.Task;
        // One batch: the spending consume retried (run again now, it would be refused: nothing is left), beside a call
        // with an API key, whose response must be stored once although the batch is applied twice.
        var retried = engine.ConsumeAsync(Use(c, 5, "op-1"));
        var call = engine.ConsumeAsync(Use(other, 1, "op-2"), Call("api_key_1", "K", "h1"));
        store.FirstWriteGate!.SetResult();
        await grant;

        var replay = await retried;
        Assert.True(replay.Succeeded, $"refused: {replay.Refusal}");
        Assert.True(replay.Replayed);
        Assert.Equal(used.EntryId, replay.EntryId);
        Assert.True((await call).Succeeded);
        Assert.Equal(0, (await Ledger.GetBalancesAsync(c)).For("credits").Available);
        Assert.Equal(9, (await Ledger.GetBalancesAsync(other)).For("credits").Available);
        // The refused key was looked up once, found, and the batch applied again in the same transaction.
        Assert.Equal([(c, "op-1")], Assert.Single(store.Lookups));
        Assert.Equal([1, 2], store.Writes.Select(w => w.Count));
        Assert.Equal([0, 1], store.StoredResponses.Select(r => r.Count));
    }

    [Fact]
    public async Task Rule_AnObserverThatFails_IsLoggedForTheOperator_AndTheWriteStands()
    {
        var store = new FaultyStore(Db.Database.Ledger);
        await using var engine = Engine(store);
        engine.Observe(new Observer { Throw = true });
        var c = NewCustomer();

        Assert.True((await engine.GrantAsync(Grant(c, "g"))).Succeeded);

        Assert.Equal([(1004, "A ledger batch committed, but its observer failed; its callers are answered all the same")], _log.Lines);
        Assert.Equal(10, (await Ledger.GetBalancesAsync(c)).For("credits").Available);
    }

    [Fact]
    public async Task Rule_TwoTransactionsPerLane_BothServeTheLane_AndTheEngineStopsCleanly()
    {
        var store = new FaultyStore(Db.Database.Ledger);
        var engine = Engine(store, transactionsPerLane: 2);
        // Both workers of the one lane wait on it at once (a channel made for one reader would drop one of them).
        await Task.Delay(200);
        var customers = Enumerable.Range(0, 20).Select(_ => NewCustomer()).ToList();

        var writes = await Task.WhenAll(customers.Select(c => engine.GrantAsync(Grant(c, "g"))));
        await Task.Delay(200);
        var later = await Task.WhenAll(customers.Select(c => engine.ConsumeAsync(Use(c, 1, "u"))));

        Assert.All(writes.Concat<LedgerResult>(later), w => Assert.True(w.Succeeded));
        await engine.DisposeAsync(); // every worker ends normally
        Assert.All(customers, c => Assert.Equal(9, Ledger.GetBalancesAsync(c).Result.For("credits").Available));
        Assert.Empty(_log.Lines);
    }

    [Fact]
    public async Task Rule_EachBatchRecordsItsSizeAndHowLongItsTransactionTook()
    {
        using var metrics = new MetricRecorder(LedgerTelemetry.Name);

        var store = new FaultyStore(Db.Database.Ledger) { FirstWriteGate = new TaskCompletionSource() };
        await using var engine = Engine(store);
        var first = engine.GrantAsync(Grant(NewCustomer(), "first"));
        await store.FirstWriteStarted.Task;
        // Other tests write at the same time (the listener hears them too): a batch of 37 is this test's.
        var queued = Enumerable.Range(0, 37).Select(_ => engine.GrantAsync(Grant(NewCustomer(), "q"))).ToList();
        store.FirstWriteGate!.SetResult();
        await first;
        await Task.WhenAll(queued);
        metrics.Dispose();

        Assert.Equal([1, 37], store.Writes.Select(w => w.Count));
        // The names, units and descriptions operators' dashboards are built on.
        Assert.Equal(
            [
                ("tollgate.ledger.batch_size", "{request}", "Requests written in one ledger transaction"),
                ("tollgate.ledger.commit.duration", "s", "Time of one ledger transaction, from opening it (locks taken) to its commit"),
                ("tollgate.ledger.known_state", "{batch}",
                    "Batches written from the state this process last committed instead of loading it: state=used (it was current), state=stale (another writer got in between; the batch ran again with its customers loaded)"),
            ],
            metrics.Instruments.Order());
        Assert.Contains(37, metrics.Measurements.Where(m => m.Instrument == "tollgate.ledger.batch_size").Select(m => m.Value));
        var durations = metrics.Measurements.Where(m => m.Instrument == "tollgate.ledger.commit.duration").Select(m => m.Value).ToList();
        Assert.NotEmpty(durations);
        Assert.All(durations, d => Assert.True(d > 0, $"a transaction took {d} s"));
    }

    [Fact]
    public async Task Rule_ABatchIsOneSpan_AChildOfItsFirstCaller_LinkedToEveryCaller_WithItsSize()
    {
        using var callers = new System.Diagnostics.ActivitySource("tollgate.tests.callers");
        var batches = new List<System.Diagnostics.Activity>();
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = source => source.Name == LedgerTelemetry.Name || source == callers,
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) =>
                System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                if (activity.Source.Name == LedgerTelemetry.Name)
                {
                    lock (batches)
                    {
                        batches.Add(activity);
                    }
                }
            },
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);

        var store = new FaultyStore(Db.Database.Ledger) { FirstWriteGate = new TaskCompletionSource() };
        await using var engine = Engine(store);
        var first = engine.GrantAsync(Grant(NewCustomer(), "first"));
        await store.FirstWriteStarted.Task;
        // Two requests, each in a trace of its own, queue into one batch.
        var traced = new List<(System.Diagnostics.ActivityContext Context, Task<GrantResult> Write)>();
        foreach (var name in new[] { "request one", "request two" })
        {
            using var request = callers.StartActivity(name)!;
            traced.Add((request.Context, engine.GrantAsync(Grant(NewCustomer(), name))));
        }

        store.FirstWriteGate!.SetResult();
        await first;
        await Task.WhenAll(traced.Select(t => t.Write));

        System.Diagnostics.Activity batch;
        lock (batches)
        {
            batch = Assert.Single(batches, b => b.TraceId == traced[0].Context.TraceId);
        }

        Assert.Equal("ledger.batch", batch.OperationName);
        Assert.Equal(traced[0].Context.SpanId, batch.ParentSpanId);
        Assert.Equal(2, batch.GetTagItem("tollgate.batch_size"));
        Assert.Equal(traced.Select(t => t.Context.SpanId.ToHexString()).Order(), batch.Links.Select(l => l.Context.SpanId.ToHexString()).Order());
    }

    [Fact]
    public async Task Rule_EveryWriteAndReadRefusesANullRequest_AndAPageOfNoEntries()
    {
        var calls = new Func<Task>[]
        {
            () => Ledger.GrantAsync(null!),
            () => Ledger.ConsumeAsync(null!),
            () => Ledger.HoldAsync(null!),
            () => Ledger.SettleAsync(null!),
            () => Ledger.ReleaseAsync(null!),
            () => Ledger.CountAsync(null!),
            () => Ledger.ApplyDueAsync(NewCustomer(), null!),
            () => Ledger.ReverseAsync(null!),
            () => Ledger.RetireAsync(null!),
            () => Ledger.ClawbackAsync(null!),
        };

        foreach (var call in calls)
        {
            await Assert.ThrowsAsync<ArgumentNullException>(call);
        }

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Ledger.GetEntriesAsync(NewCustomer(), limit: 0));
    }
}

public sealed class SqliteLedgerFailureRules : LedgerFailureRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresLedgerFailureRules : LedgerFailureRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
