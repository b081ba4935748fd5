using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Tollgate.Core.Common;
using Tollgate.Core.Idempotency;

namespace Tollgate.Core.Ledger;

/// <summary>
/// The credits ledger. Every write goes through a lane: requests that arrive while the lane's previous transaction
/// is in flight are written together in the next one, each customer locked once, and every caller is answered only
/// after that transaction committed. Thread-safe; one instance per database per process.
/// </summary>
public sealed class LedgerEngine : IAsyncDisposable
{
    private readonly ILedgerStore _store;
    private readonly TimeProvider _time;
    private readonly LedgerOptions _options;
    private readonly LedgerRules _rules;
    private readonly ILogger _logger;
    private readonly Channel<PendingOperation>[] _lanes;
    private readonly Task[] _workers;
    private ILedgerObserver? _observer;

    // The customer owning each active hold this process has written or loaded. A hold's owner never changes, so a
    // settle or release of such a hold goes straight to its customer's lane, like any other write, without a lookup
    // of its own; an unknown hold is looked up.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _holdOwners = new(StringComparer.Ordinal);
    private const int MaxHoldOwners = 200_000;

    // The state each customer's last batch in this process committed, with the version it left on the customer's row.
    // The next batch of that customer is written from it instead of loading it again (on PostgreSQL: one round trip
    // instead of two, and none of the loads' statements); the store checks the version in the commit, so a write of
    // another server, or of a flow, in between fails the batch, which then runs again with the customer loaded. Being
    // wrong here costs a round trip, never money, as long as every write of a customer's ledger rows gives the row a new
    // version (every write of Tollgate does; a correction in SQL must too: docs/operations.md, "Several servers").
    // Each with the order in which this process remembered it (versions are random, so they do not tell which is later).
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (long Order, KnownLedger State)> _known = new(StringComparer.Ordinal);
    private long _remembered;
    private const int MaxKnown = 10_000;

    /// <summary>A ledger over <paramref name="store"/>. Writes are batched per customer in the background, so dispose it to stop them.</summary>
    public LedgerEngine(ILedgerStore store, TimeProvider time, LedgerOptions? options = null, ILogger<LedgerEngine>? logger = null)
    {
        _store = store;
        _time = time;
        _options = options ?? new LedgerOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.Lanes, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.MaxBatchSize, 1, nameof(options));
        _rules = new LedgerRules(_options, time);
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.TransactionsPerLane, 1, nameof(options));
        _lanes = new Channel<PendingOperation>[_options.Lanes];
        var workers = new List<Task>();
        // The lanes must not inherit the creating flow's context: a flow's database transaction (async-local) would
        // otherwise be theirs too.
        using (ExecutionContext.SuppressFlow())
        {
            for (var i = 0; i < _lanes.Length; i++)
            {
                var lane = Channel.CreateUnbounded<PendingOperation>(
                    // Stryker disable once Initializer : SingleReader is a hint for speed; a channel without it serves any readers
                    new UnboundedChannelOptions { SingleReader = _options.TransactionsPerLane == 1 });
                _lanes[i] = lane;
                for (var w = 0; w < _options.TransactionsPerLane; w++)
                {
                    workers.Add(Task.Run(() => RunLaneAsync(lane.Reader)));
                }
            }
        }

        _workers = [.. workers];
    }

    /// <summary>True when the calling flow runs in a database transaction of the ledger's database
    /// (<see cref="Common.IDatabaseTransactions"/>): its writes join it and commit with it; what it reads is not committed yet.</summary>
    public bool InTransaction => _store.InTransaction;

    /// <summary>Registers the one observer told about every committed write (a cache of customer views).</summary>
    public void Observe(ILedgerObserver observer)
    {
        ArgumentNullException.ThrowIfNull(observer);
        if (Interlocked.CompareExchange(ref _observer, observer, null) is not null)
        {
            throw new InvalidOperationException("The ledger already has an observer.");
        }
    }

    /// <summary>Grants units as a new lot (repaying debt first). Idempotent by the request's key.</summary>
    public Task<GrantResult> GrantAsync(GrantRequest request, CancellationToken cancellationToken = default) =>
        GrantAsync(request, null, cancellationToken);

    /// <summary>Grants a lot; <paramref name="write"/> carries writes the plan owes and an API call into the same transaction.</summary>
    public Task<GrantResult> GrantAsync(GrantRequest request, LedgerWrite? write, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        Require(request.CustomerId, request.Feature, request.IdempotencyKey);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(request.Amount, 0, nameof(request));
        return Enqueue(new PendingOperation<GrantResult>(request.CustomerId, request.IdempotencyKey, null, null, write,
            (rules, ledger, now) => rules.Grant(ledger, request, now)), cancellationToken);
    }

    /// <summary>Consumes units all or nothing, spilling to another feature when configured. Idempotent by the request's key.</summary>
    public Task<ConsumeResult> ConsumeAsync(ConsumeRequest request, CancellationToken cancellationToken = default) =>
        ConsumeAsync(request, null, cancellationToken);

    /// <summary>Consumes; <paramref name="write"/> carries writes the plan owes and an API call into the same transaction.</summary>
    public Task<ConsumeResult> ConsumeAsync(ConsumeRequest request, LedgerWrite? write, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        Require(request.CustomerId, request.Feature, request.IdempotencyKey);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(request.Amount, 0, nameof(request));
        RequireSpill(request.Feature, request.Spill);
        return Enqueue(new PendingOperation<ConsumeResult>(request.CustomerId, request.IdempotencyKey, null, null, write,
            (rules, ledger, now) => rules.Consume(ledger, request, now)), cancellationToken);
    }

    /// <summary>Reserves units until settled, released or expired. Idempotent by the request's key.</summary>
    public Task<HoldResult> HoldAsync(HoldRequest request, CancellationToken cancellationToken = default) =>
        HoldAsync(request, null, cancellationToken);

    /// <summary>Reserves; <paramref name="write"/> carries writes the plan owes and an API call into the same transaction.</summary>
    public Task<HoldResult> HoldAsync(HoldRequest request, LedgerWrite? write, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        Require(request.CustomerId, request.Feature, request.IdempotencyKey);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(request.Amount, 0, nameof(request));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(request.Ttl, TimeSpan.Zero, nameof(request));
        RequireSpill(request.Feature, request.Spill);
        if (request.ConcurrencyLimit is not null && request.Spill is not null)
        {
            throw new ArgumentException("A concurrency hold reserves slots, not credits: it cannot spill.", nameof(request));
        }

        return Enqueue(new PendingOperation<HoldResult>(request.CustomerId, request.IdempotencyKey, null, null, write,
            (rules, ledger, now) => rules.Hold(ledger, request, now)), cancellationToken);
    }

    /// <summary>Consumes part or all of an active hold and returns the rest. Settling a hold that was settled before answers that first result.</summary>
    public async Task<SettleResult> SettleAsync(SettleRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentOutOfRangeException.ThrowIfNegative(request.Amount ?? 0, nameof(request));
        var owner = await HoldOwnerAsync(request.HoldId, cancellationToken).ConfigureAwait(false);
        if (owner is null)
        {
            return new SettleResult { Refusal = LedgerRefusal.HoldNotFound, HoldId = request.HoldId };
        }

        return await Enqueue(new PendingOperation<SettleResult>(owner, null, null, request.HoldId, null,
            (rules, ledger, now) => rules.Settle(ledger, request, now)), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Returns all of an active hold's units to their lots.</summary>
    public async Task<SettleResult> ReleaseAsync(ReleaseRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var owner = await HoldOwnerAsync(request.HoldId, cancellationToken).ConfigureAwait(false);
        if (owner is null)
        {
            return new SettleResult { Refusal = LedgerRefusal.HoldNotFound, HoldId = request.HoldId };
        }

        return await Enqueue(new PendingOperation<SettleResult>(owner, null, null, request.HoldId, null,
            (rules, ledger, now) => rules.Release(ledger, request, now)), cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask<string?> HoldOwnerAsync(string holdId, CancellationToken cancellationToken) =>
        _holdOwners.TryGetValue(holdId, out var owner) ? owner : await _store.FindHoldOwnerAsync(holdId, cancellationToken).ConfigureAwait(false);

    /// <summary>Remembers the owners of the active holds a committed batch left, forgets those it closed.</summary>
    private void RememberHoldOwners(IEnumerable<CustomerLedger> ledgers)
    {
        foreach (var ledger in ledgers)
        {
            foreach (var hold in ledger.Holds)
            {
                if (hold.Status == HoldStatus.Active)
                {
                    if (_holdOwners.Count >= MaxHoldOwners)
                    {
                        _holdOwners.Clear();
                    }

                    _holdOwners.TryAdd(hold.HoldId, ledger.CustomerId);
                }
                else
                {
                    _holdOwners.TryRemove(hold.HoldId, out _);
                }
            }
        }
    }

    /// <summary>Moves a count feature's level by the request's delta within its limit. Idempotent by the request's key.</summary>
    public Task<CountResult> CountAsync(CountRequest request, CancellationToken cancellationToken = default) =>
        CountAsync(request, null, cancellationToken);

    /// <summary>Moves a count; <paramref name="write"/> carries writes the plan owes and an API call into the same transaction.</summary>
    public Task<CountResult> CountAsync(CountRequest request, LedgerWrite? write, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        Require(request.CustomerId, request.Feature, request.IdempotencyKey);
        if (request.Delta == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(request), "A count changes by at least one.");
        }

        return Enqueue(new PendingOperation<CountResult>(request.CustomerId, request.IdempotencyKey, null, null, write,
            (rules, ledger, now) => rules.Count(ledger, request, now)), cancellationToken);
    }

    /// <summary>Writes what a customer's plan owes (<paramref name="due"/>) and nothing else, as a write of its own
    /// (after a subscription changed the plan).</summary>
    public async Task ApplyDueAsync(string customerId, DueWrites due, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(due);
        Require(customerId, "-", "-");
        if (!due.IsEmpty)
        {
            await Enqueue(new PendingOperation<SweepResult>(customerId, null, null, null, new LedgerWrite { Due = due },
                (_, _, _) => new SweepResult()), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Puts back what a usage took (see <see cref="ReverseRequest"/>); <paramref name="write"/> carries an API
    /// call into the same transaction.</summary>
    public Task<ReverseResult> ReverseAsync(ReverseRequest request, LedgerWrite? write = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        Require(request.CustomerId, "-", request.EntryId);
        if (request.Entries.Count == 0 || request.Entries.Any(e => e.CustomerId != request.CustomerId || e.Type != EntryType.Consume))
        {
            throw new ArgumentException("A reversal takes the consume entries of one customer's usage.", nameof(request));
        }

        return Enqueue(new PendingOperation<ReverseResult>(request.CustomerId, request.OperationKey, null, null, write,
            (rules, ledger, now) => rules.Reverse(ledger, request, now))
        {
            LotIds = request.Entries.SelectMany(e => e.Lots.Select(l => l.LotId)).Distinct(StringComparer.Ordinal).ToList(),
        }, cancellationToken);
    }

    /// <summary>The entry with this id, of any customer, or null.</summary>
    public Task<EntryRecord?> FindEntryAsync(string entryId, CancellationToken cancellationToken = default) =>
        _store.FindEntryAsync(entryId, cancellationToken);

    /// <summary>Ends what is left of the lots of one source (an allowance period that ended).</summary>
    public Task<RetireResult> RetireAsync(RetireRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        Require(request.CustomerId, "-", request.IdempotencyKey);
        ArgumentException.ThrowIfNullOrEmpty(request.SourceRef, nameof(request));
        return Enqueue(new PendingOperation<RetireResult>(request.CustomerId, request.IdempotencyKey, request.SourceRef, null, null,
            (rules, ledger, now) => rules.Retire(ledger, request, now)), cancellationToken);
    }

    /// <summary>Takes back what a source granted (a refund, a dispute): from the available balance, then from holds, the rest as debt.</summary>
    public Task<ClawbackResult> ClawbackAsync(ClawbackRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        Require(request.CustomerId, request.Feature ?? "-", request.IdempotencyKey);
        ArgumentException.ThrowIfNullOrEmpty(request.SourceRef, nameof(request));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(request.Amount ?? 1, 0, nameof(request));
        return Enqueue(new PendingOperation<ClawbackResult>(request.CustomerId, request.IdempotencyKey, request.SourceRef, null, null,
            (rules, ledger, now) => rules.Clawback(ledger, request, now)), cancellationToken);
    }

    /// <summary>Balances as of now: lots past their expiry and holds past their TTL are already left out, whether or
    /// not the sweep has written them yet.</summary>
    public async Task<CustomerBalances> GetBalancesAsync(string customerId, CancellationToken cancellationToken = default)
    {
        var data = await _store.ReadAsync(customerId, [], cancellationToken).ConfigureAwait(false);
        return BalancesOf(data, Instants.Now(_time));
    }

    /// <summary>A customer's live state as stored, for a caller that keeps it (a cache) and asks for balances later,
    /// with the stored operations among <paramref name="operationKeys"/> (whether a write the plan owes is written).</summary>
    public Task<CustomerLedgerData> ReadAsync(string customerId, IReadOnlyCollection<string>? operationKeys = null,
        CancellationToken cancellationToken = default) =>
        _store.ReadAsync(customerId, operationKeys ?? [], cancellationToken);

    /// <summary>Every lot of a customer, depleted and expired ones too (what a window was granted in all).</summary>
    public Task<IReadOnlyList<LotRecord>> GetAllLotsAsync(string customerId, CancellationToken cancellationToken = default) =>
        _store.GetAllLotsAsync(customerId, cancellationToken);

    /// <summary>Balances of a stored state as of <paramref name="at"/>, with expiries up to then applied, and the
    /// writes the plan owes (<paramref name="due"/>) applied as they would be — shown, not written. Those whose key is
    /// among the state's operations are written already and change nothing.</summary>
    public CustomerBalances BalancesOf(CustomerLedgerData data, DateTimeOffset at, DueWrites? due = null)
    {
        var ledger = new CustomerLedger(data);
        var now = Instants.Normalize(at);
        _rules.CatchUp(ledger, now);
        if (due is { IsEmpty: false })
        {
            ApplyDue(ledger, due, now);
        }

        return CustomerBalances.From(ledger, at);
    }

    /// <summary>Units of a feature used per UTC day in [<paramref name="from"/>, <paramref name="to"/>), keyed by the day's start.</summary>
    public Task<IReadOnlyList<(DateTimeOffset Day, long Used)>> GetDailyUsageAsync(string customerId, string feature, DateTimeOffset from,
        DateTimeOffset to, CancellationToken cancellationToken = default) =>
        _store.GetDailyUsageAsync(customerId, feature, from, to, cancellationToken);

    /// <summary>A page of a customer's entries, newest first, optionally one feature's, older than the entry number <paramref name="before"/>.</summary>
    public Task<EntryPage> GetEntriesAsync(string customerId, string? feature = null, int limit = 50, long? before = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        return _store.GetEntriesAsync(customerId, feature, limit, before, cancellationToken);
    }

    /// <summary>A hold as of now: an active hold past its TTL reads as expired even before the sweep writes it.</summary>
    public async Task<HoldRecord?> GetHoldAsync(string holdId, CancellationToken cancellationToken = default)
    {
        var hold = await _store.GetHoldAsync(holdId, cancellationToken).ConfigureAwait(false);
        if (hold is { Status: HoldStatus.Active } && hold.ExpiresAt <= Instants.Now(_time))
        {
            return hold with { Status = HoldStatus.Expired, ClosedAt = hold.ExpiresAt };
        }

        return hold;
    }

    /// <summary>Writes the expiry of every lot and hold that is due, customer by customer. Returns the customers swept.</summary>
    public async Task<int> SweepAsync(int maxCustomers = 1000, CancellationToken cancellationToken = default)
    {
        var due = await _store.FindCustomersWithDueExpiriesAsync(Instants.Now(_time), maxCustomers, cancellationToken).ConfigureAwait(false);
        var sweeps = due.Select(customer => Enqueue(new PendingOperation<SweepResult>(customer, null, null, null, null,
            (_, _, _) => new SweepResult()), cancellationToken));
        await Task.WhenAll(sweeps).ConfigureAwait(false);
        return due.Count;
    }

    /// <summary>Finishes the batches under way and stops the writer.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var lane in _lanes)
        {
            lane.Writer.TryComplete();
        }

        await Task.WhenAll(_workers).ConfigureAwait(false);
    }

    private Task<T> Enqueue<T>(PendingOperation<T> operation, CancellationToken cancellationToken)
        where T : LedgerResult, new()
    {
        if (_store.InTransaction)
        {
            // A flow writes its own rows: an attachment there would be one nobody writes.
            return operation.Attachment is null
                ? ExecuteInFlowAsync(operation)
                : throw new InvalidOperationException("A write with an attachment runs in a lane's batch, not in a flow's transaction.");
        }

        if (cancellationToken.CanBeCanceled)
        {
            var registration = cancellationToken.Register(static (state, token) => ((PendingOperation<T>)state!).Cancel(token), operation);
            _ = operation.Task.ContinueWith(static (_, r) => ((CancellationTokenRegistration)r!).Dispose(), registration,
                CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        var lane = _lanes[(int)(unchecked((uint)StringComparer.Ordinal.GetHashCode(operation.CustomerId)) % (uint)_lanes.Length)];
        if (!lane.Writer.TryWrite(operation))
        {
            throw new ObjectDisposedException(nameof(LedgerEngine));
        }

        return operation.Task;
    }

    /// <summary>
    /// A write inside a flow's database transaction (<see cref="Common.IDatabaseTransactions"/>): it joins that
    /// transaction, alone, with its keys loaded up front. Not retried here: a failure (a lock timeout, a deadlock)
    /// aborts the flow's transaction, and the flow retries as a whole. The flow commits, and then drops what the
    /// gate caches of its customers: no snapshot is published for a write that is not committed yet. The customer may
    /// be written from its known state, which the store checks under the customer's lock before anything is written
    /// (a webhook's grant then costs one lock and its key's lookup instead of seven statements); what the write leaves
    /// becomes known once the flow commits.
    /// </summary>
    private async Task<T> ExecuteInFlowAsync<T>(PendingOperation<T> operation)
        where T : LedgerResult, new()
    {
        await ExecuteOnceAsync([operation], loadKeys: true, useKnown: true, inFlow: true).ConfigureAwait(false);
        operation.Complete();
        return await operation.Task.ConfigureAwait(false);
    }

    private async Task RunLaneAsync(ChannelReader<PendingOperation> reader)
    {
        var batch = new List<PendingOperation>(_options.MaxBatchSize);
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            while (batch.Count < _options.MaxBatchSize && reader.TryRead(out var operation))
            {
                if (!operation.IsAbandoned)
                {
                    batch.Add(operation);
                }
            }

            if (batch.Count > 0)
            {
                await ExecuteAsync(batch).ConfigureAwait(false);
            }
        }
    }

    private async Task ExecuteAsync(List<PendingOperation> batch)
    {
        try
        {
            var committed = await ExecuteWithRetriesAsync(batch).ConfigureAwait(false);
            Publish(committed);
            batch.ForEach(o => o.Complete());
            return;
        }
        catch (Exception ex) when (batch.Count > 1)
        {
            // One request must not sink the others: run each alone, so only the faulty one fails. A request with attached
            // rows fails by design when one of their keys was taken meanwhile (its caller then takes its own path), so a
            // batch with such requests failing is no news; a request without that still fails alone is logged below.
            if (batch.Any(o => o.Attachment is not null))
            {
                Log.BatchWithAttachmentsFailed(_logger, batch.Count, ex);
            }
            else
            {
                Log.BatchFailed(_logger, batch.Count, ex);
            }
        }
        catch (Exception ex)
        {
            Failed(batch[0], ex);
            return;
        }

        foreach (var operation in batch)
        {
            try
            {
                var committed = await ExecuteWithRetriesAsync([operation]).ConfigureAwait(false);
                Publish(committed);
                operation.Complete();
            }
            catch (Exception ex)
            {
                Failed(operation, ex);
            }
        }
    }

    private void Failed(PendingOperation operation, Exception exception)
    {
        if (operation.Attachment is null)
        {
            Log.OperationFailed(_logger, operation.CustomerId, exception);
        }
        else
        {
            Log.AttachedOperationFailed(_logger, operation.CustomerId, exception);
        }

        operation.Fail(exception);
    }

    /// <summary>Tells the observer what a committed batch left, before its callers are answered (so a caller's next
    /// read in this process sees its write).</summary>
    private void Publish(Committed committed)
    {
        if (_observer is not { } observer)
        {
            return;
        }

        try
        {
            observer.Committed(committed.Stamp, committed.Snapshots);
        }
        catch (Exception ex)
        {
            // The batch is committed whatever a cache makes of it: its callers must get their results, not a failure
            // that would make them retry something that happened.
            Log.ObserverFailed(_logger, ex);
        }
    }

    private async Task<Committed> ExecuteWithRetriesAsync(IReadOnlyList<PendingOperation> batch)
    {
        // Keys are optimistic: a batch first runs as if every key were new. A replayed key makes the commit fail on
        // its unique key (an operation's, an API call's, a new customer's row), and the batch then runs again at once
        // with the stored results loaded.
        var loadKeys = false;
        var conflicts = 0;
        var useKnown = true;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await ExecuteOnceAsync(batch, loadKeys, useKnown, inFlow: false).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                // Whatever failed, the customers' known state is not written from again: a state that failed a write once
                // (stale, or wrong in a way no version caught) would fail every later batch of theirs the same way.
                Forget(batch);
                if (useKnown && _store.IsStale(ex))
                {
                    // Another writer changed one of these customers since this process last committed it: nothing was
                    // written, and the batch runs again at once with its customers loaded.
                    LedgerTelemetry.KnownState.Add(1, new KeyValuePair<string, object?>("state", "stale"));
                    useKnown = false;
                    attempt--;
                }
                else if (conflicts < MaxKeyConflicts && _store.IsKeyConflict(ex))
                {
                    loadKeys = true;
                    conflicts++;
                    attempt--;
                }
                else if (attempt < _options.TransientRetries && _store.IsTransient(ex))
                {
                    Log.TransientRetry(_logger, attempt, ex.Message);
                    // Wall-clock backoff: this waits out lock contention, not business time.
                    await Task.Delay(TimeSpan.FromMilliseconds(5 * attempt * attempt)).ConfigureAwait(false);
                }
                else
                {
                    throw;
                }
            }
        }
    }

    // A key stored by another transaction after this batch loaded its keys can fail the commit again; a few reruns
    // settle it (each finds more of the keys stored).
    private const int MaxKeyConflicts = 5;

    private sealed record Committed(long Stamp, IReadOnlyList<LedgerSnapshot> Snapshots);

    /// <param name="useKnown">Whether customers may be written from the state this process last committed for them
    /// (<see cref="KnownLedger"/>) instead of being loaded.</param>
    /// <param name="inFlow">The batch joins a flow's transaction, which commits later (or rolls back): what it leaves is
    /// not known to be committed, so it is not remembered.</param>
    private async Task<Committed> ExecuteOnceAsync(IReadOnlyList<PendingOperation> batch, bool loadKeys, bool useKnown, bool inFlow)
    {
        using var activity = LedgerTelemetry.StartBatch(batch);
        LedgerTelemetry.BatchSize.Record(batch.Count);

        var loads = batch
            .GroupBy(o => o.CustomerId, StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new CustomerLoad(
                g.Key,
                // Keys of writes the plan owes are looked up on the first attempt too: they are often stored already.
                g.SelectMany(o => o.Due?.Keys ?? [])
                    .Concat(loadKeys ? g.Select(o => o.OperationKey).OfType<string>() : [])
                    .Distinct(StringComparer.Ordinal).ToList(),
                g.Select(o => o.SourceRef).Concat(g.Select(o => o.Due?.Retire?.SourceRef)).OfType<string>()
                    .Distinct(StringComparer.Ordinal).ToList(),
                g.Select(o => o.HoldId).OfType<string>().Distinct(StringComparer.Ordinal).ToList())
            {
                LotIds = g.SelectMany(o => o.LotIds).Distinct(StringComparer.Ordinal).ToList(),
                SourcePrefixes = g.SelectMany(o => o.Due?.Carries.Select(c => c.SourcePrefix) ?? []).Distinct(StringComparer.Ordinal).ToList(),
            })
            // A flow loads its keys up front (a key conflict would fail the whole flow): its store reads them beside the
            // known state, under the customer's lock. A lane's batch with keys to load runs loaded.
            .Select(l => useKnown && (inFlow || !loadKeys) ? WithKnown(l, inFlow) : l)
            .ToList();
        var offeredKnown = loads.All(l => l.Known is not null);
        if (offeredKnown && !inFlow)
        {
            LedgerTelemetry.KnownState.Add(1, new KeyValuePair<string, object?>("state", "used"));
        }

        var apiKeys = loadKeys
            ? batch.Select(o => o.Call).OfType<Idempotency.IdempotentCall<LedgerResult>>().Select(c => (c.Scope, c.Key)).Distinct().ToList()
            : [];

        var stamp = _observer?.BeforeWrite() ?? 0;
        // Operations time, not business time: how long the database held this transaction.
        var opened = System.Diagnostics.Stopwatch.GetTimestamp();
        await using var session = await _store.BeginWriteAsync(loads, apiKeys, CancellationToken.None).ConfigureAwait(false);
        if (offeredKnown && inFlow)
        {
            // In a flow the store checks the known versions under the locks, before anything is written, and loads the
            // customers instead when one moved: the write does not fail for it.
            LedgerTelemetry.KnownState.Add(1, new KeyValuePair<string, object?>("state", session.FromKnownState ? "used" : "stale"));
        }

        var now = Instants.Now(_time);
        var responses = new List<ApiResponseRecord>();
        var customers = session.Customers;
        var ledgers = Apply(batch, customers, session.ApiResponses, now, responses);

        // A refusal may hide a replay: re-executed now, a request can be refused where its first run succeeded.
        // Its key, if stored, must answer instead, so look such keys up and, if any exist, apply the batch again.
        var refusedKeys = batch.Where(o => o.RefusedWithKey).Select(o => (o.CustomerId, o.OperationKey!)).Distinct().ToList();
        if (!loadKeys && refusedKeys.Count > 0)
        {
            var stored = await session.LoadOperationsAsync(refusedKeys, CancellationToken.None).ConfigureAwait(false);
            if (stored.Count != 0)
            {
                customers = customers.ToDictionary(
                    c => c.Key,
                    c => c.Value with { Operations = [.. c.Value.Operations, .. stored.Where(s => s.CustomerId == c.Key)] },
                    StringComparer.Ordinal);
                ledgers = Apply(batch, customers, session.ApiResponses, now, responses);
            }
        }

        var changes = new LedgerChangesBuilder();
        foreach (var ledger in ledgers)
        {
            ledger.CollectChanges(changes);
            if (!ledger.Exists && ledger.HasChanges)
            {
                changes.NewCustomers.Add(ledger.CustomerId);
            }
        }

        changes.ApiResponses.AddRange(responses);
        changes.Attachments.AddRange(batch.Where(o => o.Attachment is not null && o.AppliedAnew).Select(o => o.Attachment!));
        await session.CommitAsync(changes.Build(), CancellationToken.None).ConfigureAwait(false);
        LedgerTelemetry.CommitDuration.Record(System.Diagnostics.Stopwatch.GetElapsedTime(opened).TotalSeconds);
        RememberHoldOwners(ledgers);
        RememberStates(ledgers, inFlow ? null : session.Versions);
        if (inFlow)
        {
            // Known from the flow's commit on, at the versions it gave (a rolled-back flow never calls this).
            session.OnFlowCommitted(versions => RememberStates(ledgers, versions));
        }

        // Stryker disable once Block : without an observer, the snapshots built below are published to nobody
        if (_observer is null)
        {
            return new Committed(stamp, []);
        }

        var checkedKeys = loads.ToDictionary(l => l.CustomerId, l => l.OperationKeys, StringComparer.Ordinal);
        return new Committed(stamp, ledgers
            .Select(l => new LedgerSnapshot(l.Snapshot(), l.OperationKeys.Concat(checkedKeys[l.CustomerId]).ToHashSet(StringComparer.Ordinal)))
            .ToList());
    }

    /// <summary>Forgets the known state of a failed batch's customers: their next batch loads them.</summary>
    private void Forget(IReadOnlyList<PendingOperation> batch)
    {
        foreach (var operation in batch)
        {
            _known.TryRemove(operation.CustomerId, out _);
        }
    }

    /// <summary>The customer's last committed state, for a load that needs nothing else: no lots or holds beyond the live
    /// ones (a hold to settle or release must be one of the known active holds), and no stored keys unless
    /// <paramref name="inFlow"/> (a flow's store reads them beside the known state). A flow takes the state: the customer
    /// is loaded next time unless the flow commits (and then what it left is known), since a state that failed a flow
    /// once would fail each of its retries the same way (a lane's batch forgets its customers on any failure).</summary>
    private CustomerLoad WithKnown(CustomerLoad load, bool inFlow) =>
        load is { SourceRefs.Count: 0, LotIds.Count: 0, SourcePrefixes.Count: 0 }
        && (inFlow || load.OperationKeys.Count == 0)
        && (inFlow ? _known.TryRemove(load.CustomerId, out var known) : _known.TryGetValue(load.CustomerId, out known))
        && load.HoldIds.All(id => known.State.Data.Holds.Any(h => h.HoldId == id))
            ? load with { Known = known.State }
            : load;

    /// <summary>Remembers what a committed batch left of each customer, at the version it gave the customer's row; forgets
    /// customers without a version (and all of a flow's: its transaction has not committed yet).</summary>
    private void RememberStates(IEnumerable<CustomerLedger> ledgers, IReadOnlyDictionary<string, long>? versions)
    {
        foreach (var ledger in ledgers)
        {
            if (versions is null || !versions.TryGetValue(ledger.CustomerId, out var version))
            {
                _known.TryRemove(ledger.CustomerId, out _);
                continue;
            }

            if (_known.Count >= MaxKnown && !_known.ContainsKey(ledger.CustomerId))
            {
                _known.Clear();
            }

            // Operations are looked up by key when needed, never taken from here.
            var state = (Interlocked.Increment(ref _remembered), new KnownLedger(version, ledger.Snapshot() with { Operations = [] }));
            // Two batches of a customer can finish in either order (several transactions per lane): keep the one remembered
            // last. Should that be the earlier commit after all, its version fails the next batch, which then loads.
            _known.AddOrUpdate(ledger.CustomerId, state, (_, held) => held.Order > state.Item1 ? held : state);
        }
    }

    private List<CustomerLedger> Apply(IReadOnlyList<PendingOperation> batch, IReadOnlyDictionary<string, CustomerLedgerData> customers,
        IReadOnlyDictionary<(string Scope, string Key), StoredResponse> storedResponses, DateTimeOffset now, List<ApiResponseRecord> responses)
    {
        var ledgers = new Dictionary<string, CustomerLedger>(StringComparer.Ordinal);
        foreach (var (customerId, data) in customers)
        {
            var ledger = new CustomerLedger(data);
            _rules.CatchUp(ledger, now);
            ledgers[customerId] = ledger;
        }

        responses.Clear();
        // API keys answered so far: stored before (loaded) or claimed by an earlier request of this batch.
        Dictionary<(string Scope, string Key), StoredResponse>? claims = null;
        foreach (var operation in batch)
        {
            var call = operation.Call;
            if (call is not null)
            {
                claims ??= new Dictionary<(string, string), StoredResponse>(storedResponses);
                if (claims.TryGetValue((call.Scope, call.Key), out var claimed))
                {
                    // The key is taken: the same request replays its response, another one is refused. Neither writes.
                    operation.AnswerFromStore(claimed.RequestHash == call.RequestHash ? claimed : null);
                    continue;
                }
            }

            var ledger = ledgers[operation.CustomerId];
            if (operation.Due is { } due)
            {
                ledger.BeginUndo();
                ApplyDue(ledger, due, now);
                operation.Apply(_rules, ledger, now);
                if (operation.Result!.Refusal is null)
                {
                    // Stryker disable once Statement : it only stops recording; the next BeginUndo starts afresh, and Undo follows its own BeginUndo
                    ledger.EndUndo();
                }
                else
                {
                    // A refusal writes nothing: not the allowance it carried either (a read shows it all the same).
                    ledger.Undo();
                }
            }
            else
            {
                operation.Apply(_rules, ledger, now);
            }

            if (call is not null)
            {
                var response = call.Render(operation.Result!) with { RequestHash = call.RequestHash };
                operation.Attach(response);
                claims![(call.Scope, call.Key)] = response;
                responses.Add(new ApiResponseRecord(call.Scope, call.Key, response, now));
            }
        }

        return [.. ledgers.Values];
    }

    /// <summary>Applies writes a plan owes. A grant whose key is stored replays and changes nothing; one refused
    /// (its key used with other terms, a balance that would overflow) is left out, as before.</summary>
    private void ApplyDue(CustomerLedger ledger, DueWrites due, DateTimeOffset now)
    {
        foreach (var grant in due.Grants)
        {
            _rules.Grant(ledger, grant, now);
        }

        foreach (var carry in due.Carries)
        {
            _rules.Carry(ledger, carry, now);
        }

        if (due.Retire is { } retire)
        {
            _rules.Retire(ledger, retire, now);
        }
    }

    private static void Require(string customerId, string feature, string key)
    {
        if (!CustomerIds.IsValid(customerId))
        {
            throw new ArgumentException($"'{customerId}' is not a valid customer id.", nameof(customerId));
        }

        ArgumentException.ThrowIfNullOrEmpty(feature);
        ArgumentException.ThrowIfNullOrEmpty(key);
    }

    private static void RequireSpill(string feature, Spill? spill)
    {
        if (spill is null)
        {
            return;
        }

        ArgumentException.ThrowIfNullOrEmpty(spill.Feature, nameof(spill));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(spill.UnitCost, 0, nameof(spill));
        if (spill.Feature == feature)
        {
            throw new ArgumentException("A feature cannot spill into itself.", nameof(spill));
        }
    }
}
