using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Tollgate.Core.Common;

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
        for (var i = 0; i < _lanes.Length; i++)
        {
            var lane = Channel.CreateUnbounded<PendingOperation>(new UnboundedChannelOptions { SingleReader = _options.TransactionsPerLane == 1 });
            _lanes[i] = lane;
            for (var w = 0; w < _options.TransactionsPerLane; w++)
            {
                workers.Add(Task.Run(() => RunLaneAsync(lane.Reader)));
            }
        }

        _workers = [.. workers];
    }

    public Task<GrantResult> GrantAsync(GrantRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        Require(request.CustomerId, request.Feature, request.IdempotencyKey);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(request.Amount, 0, nameof(request));
        return Enqueue(new PendingOperation<GrantResult>(request.CustomerId, request.IdempotencyKey, null, null,
            (rules, ledger, now) => rules.Grant(ledger, request, now)), cancellationToken);
    }

    public Task<ConsumeResult> ConsumeAsync(ConsumeRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        Require(request.CustomerId, request.Feature, request.IdempotencyKey);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(request.Amount, 0, nameof(request));
        RequireSpill(request.Feature, request.Spill);
        return Enqueue(new PendingOperation<ConsumeResult>(request.CustomerId, request.IdempotencyKey, null, null,
            (rules, ledger, now) => rules.Consume(ledger, request, now)), cancellationToken);
    }

    public Task<HoldResult> HoldAsync(HoldRequest request, CancellationToken cancellationToken = default)
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

        return Enqueue(new PendingOperation<HoldResult>(request.CustomerId, request.IdempotencyKey, null, null,
            (rules, ledger, now) => rules.Hold(ledger, request, now)), cancellationToken);
    }

    public async Task<SettleResult> SettleAsync(SettleRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentOutOfRangeException.ThrowIfNegative(request.Amount ?? 0, nameof(request));
        var owner = await _store.FindHoldOwnerAsync(request.HoldId, cancellationToken).ConfigureAwait(false);
        if (owner is null)
        {
            return new SettleResult { Refusal = LedgerRefusal.HoldNotFound, HoldId = request.HoldId };
        }

        return await Enqueue(new PendingOperation<SettleResult>(owner, null, null, request.HoldId,
            (rules, ledger, now) => rules.Settle(ledger, request, now)), cancellationToken).ConfigureAwait(false);
    }

    public async Task<SettleResult> ReleaseAsync(ReleaseRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var owner = await _store.FindHoldOwnerAsync(request.HoldId, cancellationToken).ConfigureAwait(false);
        if (owner is null)
        {
            return new SettleResult { Refusal = LedgerRefusal.HoldNotFound, HoldId = request.HoldId };
        }

        return await Enqueue(new PendingOperation<SettleResult>(owner, null, null, request.HoldId,
            (rules, ledger, now) => rules.Release(ledger, request, now)), cancellationToken).ConfigureAwait(false);
    }

    public Task<CountResult> CountAsync(CountRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        Require(request.CustomerId, request.Feature, request.IdempotencyKey);
        if (request.Delta == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(request), "A count changes by at least one.");
        }

        return Enqueue(new PendingOperation<CountResult>(request.CustomerId, request.IdempotencyKey, null, null,
            (rules, ledger, now) => rules.Count(ledger, request, now)), cancellationToken);
    }

    public Task<RetireResult> RetireAsync(RetireRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        Require(request.CustomerId, "-", request.IdempotencyKey);
        ArgumentException.ThrowIfNullOrEmpty(request.SourceRef, nameof(request));
        return Enqueue(new PendingOperation<RetireResult>(request.CustomerId, request.IdempotencyKey, request.SourceRef, null,
            (rules, ledger, now) => rules.Retire(ledger, request, now)), cancellationToken);
    }

    public Task<ClawbackResult> ClawbackAsync(ClawbackRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        Require(request.CustomerId, request.Feature ?? "-", request.IdempotencyKey);
        ArgumentException.ThrowIfNullOrEmpty(request.SourceRef, nameof(request));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(request.Amount ?? 1, 0, nameof(request));
        return Enqueue(new PendingOperation<ClawbackResult>(request.CustomerId, request.IdempotencyKey, request.SourceRef, null,
            (rules, ledger, now) => rules.Clawback(ledger, request, now)), cancellationToken);
    }

    /// <summary>Balances as of now: lots past their expiry and holds past their TTL are already left out, whether or
    /// not the sweep has written them yet.</summary>
    public async Task<CustomerBalances> GetBalancesAsync(string customerId, CancellationToken cancellationToken = default)
    {
        var data = await _store.ReadAsync(customerId, cancellationToken).ConfigureAwait(false);
        return BalancesOf(data, Instants.Now(_time));
    }

    /// <summary>A customer's live state as stored, for a caller that keeps it (a cache) and asks for balances later.</summary>
    public Task<CustomerLedgerData> ReadAsync(string customerId, CancellationToken cancellationToken = default) =>
        _store.ReadAsync(customerId, cancellationToken);

    /// <summary>Every lot of a customer, depleted and expired ones too (what a window was granted in all).</summary>
    public Task<IReadOnlyList<LotRecord>> GetAllLotsAsync(string customerId, CancellationToken cancellationToken = default) =>
        _store.GetAllLotsAsync(customerId, cancellationToken);

    /// <summary>Balances of a stored state as of <paramref name="at"/>, with expiries up to then applied.</summary>
    public CustomerBalances BalancesOf(CustomerLedgerData data, DateTimeOffset at)
    {
        var ledger = new CustomerLedger(data);
        _rules.CatchUp(ledger, Instants.Normalize(at));
        return CustomerBalances.From(ledger, at);
    }

    /// <summary>Entries of a feature written in [<paramref name="from"/>, <paramref name="to"/>), oldest first.</summary>
    public Task<IReadOnlyList<EntryRecord>> GetEntriesBetweenAsync(string customerId, string feature, DateTimeOffset from, DateTimeOffset to,
        CancellationToken cancellationToken = default) =>
        _store.GetEntriesBetweenAsync(customerId, feature, from, to, cancellationToken);

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
        var sweeps = due.Select(customer => Enqueue(new PendingOperation<SweepResult>(customer, null, null, null,
            (_, _, _) => new SweepResult()), cancellationToken));
        await Task.WhenAll(sweeps).ConfigureAwait(false);
        return due.Count;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var lane in _lanes)
        {
            lane.Writer.TryComplete();
        }

        await Task.WhenAll(_workers).ConfigureAwait(false);
    }

    private Task<T> Enqueue<T>(PendingOperation<T> operation, CancellationToken cancellationToken)
        where T : LedgerResult
    {
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
            await ExecuteWithRetriesAsync(batch).ConfigureAwait(false);
            batch.ForEach(o => o.Complete());
            return;
        }
        catch (Exception ex) when (batch.Count > 1)
        {
            // One request must not sink the others: run each alone, so only the faulty one fails.
            Log.BatchFailed(_logger, batch.Count, ex);
        }
        catch (Exception ex)
        {
            Log.OperationFailed(_logger, batch[0].CustomerId, ex);
            batch[0].Fail(ex);
            return;
        }

        foreach (var operation in batch)
        {
            try
            {
                await ExecuteWithRetriesAsync([operation]).ConfigureAwait(false);
                operation.Complete();
            }
            catch (Exception ex)
            {
                Log.OperationFailed(_logger, operation.CustomerId, ex);
                operation.Fail(ex);
            }
        }
    }

    private async Task ExecuteWithRetriesAsync(IReadOnlyList<PendingOperation> batch)
    {
        // Keys are optimistic: a batch first runs as if every key were new. A replayed key makes the commit fail on
        // the (customer, key) primary key, and the batch then reruns with the stored results loaded.
        var loadKeys = false;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await ExecuteOnceAsync(batch, loadKeys).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (!loadKeys && _store.IsDuplicateOperation(ex))
            {
                loadKeys = true;
                attempt--;
            }
            catch (Exception ex) when (attempt < _options.TransientRetries && _store.IsTransient(ex))
            {
                Log.TransientRetry(_logger, attempt, ex.Message);
                // Wall-clock backoff: this waits out lock contention, not business time.
                await Task.Delay(TimeSpan.FromMilliseconds(5 * attempt * attempt)).ConfigureAwait(false);
            }
        }
    }

    private async Task ExecuteOnceAsync(IReadOnlyList<PendingOperation> batch, bool loadKeys)
    {
        using var activity = LedgerTelemetry.Source.StartActivity("ledger.batch");
        activity?.SetTag("tollgate.batch_size", batch.Count);
        LedgerTelemetry.BatchSize.Record(batch.Count);

        var loads = batch
            .GroupBy(o => o.CustomerId, StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new CustomerLoad(
                g.Key,
                loadKeys ? g.Select(o => o.OperationKey).OfType<string>().Distinct(StringComparer.Ordinal).ToList() : [],
                g.Select(o => o.SourceRef).OfType<string>().Distinct(StringComparer.Ordinal).ToList(),
                g.Select(o => o.HoldId).OfType<string>().Distinct(StringComparer.Ordinal).ToList()))
            .ToList();

        await using var session = await _store.BeginWriteAsync(loads, CancellationToken.None).ConfigureAwait(false);
        var now = Instants.Now(_time);
        var ledgers = Apply(batch, session.Customers, now);

        // A refusal may hide a replay: re-executed now, a request can be refused where its first run succeeded.
        // Its key, if stored, must answer instead, so look such keys up and, if any exist, apply the batch again.
        var refusedKeys = batch.Where(o => o.RefusedWithKey).Select(o => (o.CustomerId, o.OperationKey!)).Distinct().ToList();
        if (!loadKeys && refusedKeys.Count > 0)
        {
            var stored = await session.LoadOperationsAsync(refusedKeys, CancellationToken.None).ConfigureAwait(false);
            if (stored.Count > 0)
            {
                var customers = session.Customers.ToDictionary(
                    c => c.Key,
                    c => c.Value with { Operations = [.. c.Value.Operations, .. stored.Where(s => s.CustomerId == c.Key)] },
                    StringComparer.Ordinal);
                ledgers = Apply(batch, customers, now);
            }
        }

        var changes = new LedgerChangesBuilder();
        foreach (var ledger in ledgers)
        {
            ledger.CollectChanges(changes);
        }

        await session.CommitAsync(changes.Build(), CancellationToken.None).ConfigureAwait(false);
    }

    private List<CustomerLedger> Apply(IReadOnlyList<PendingOperation> batch, IReadOnlyDictionary<string, CustomerLedgerData> customers, DateTimeOffset now)
    {
        var ledgers = new Dictionary<string, CustomerLedger>(StringComparer.Ordinal);
        foreach (var (customerId, data) in customers)
        {
            var ledger = new CustomerLedger(data);
            _rules.CatchUp(ledger, now);
            ledgers[customerId] = ledger;
        }

        foreach (var operation in batch)
        {
            operation.Apply(_rules, ledgers[operation.CustomerId], now);
        }

        return [.. ledgers.Values];
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
