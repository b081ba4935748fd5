using System.Collections.Concurrent;
using Tollgate.Core.Ledger;
using Tollgate.Core.Subscriptions;

namespace Tollgate.Core.Usage;

/// <summary>What the gate needs to answer for one customer: subscriptions and live ledger state, as loaded.</summary>
internal sealed record CustomerState(IReadOnlyList<Subscription> Subscriptions, CustomerLedgerData Ledger);

/// <summary>
/// An in-memory view of one kind of customer state (subscriptions, or live ledger state), dropped on every write: this process's own writes invalidate it before
/// they answer, other servers' writes through the database's change feed (PostgreSQL LISTEN/NOTIFY). While the feed
/// is down the cache is off, so a stale entry can only make a check refuse (expiries and TTLs are applied when the
/// entry is read, at the read's instant), never allow what the database refuses.
/// </summary>
internal sealed class ViewCache<T>(TimeProvider time, TimeSpan lifetime, int capacity = 100_000)
    where T : class
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _invalidatedAt = new(StringComparer.Ordinal);
    private long _generation;
    private long _clearedAt;
    private volatile bool _enabled = true;

    public bool Enabled
    {
        get => _enabled;
        set
        {
            _enabled = value;
            Clear();
        }
    }

    public async Task<T> GetAsync(string customerId, Func<CancellationToken, Task<T>> load, CancellationToken cancellationToken)
    {
        if (_enabled && _entries.TryGetValue(customerId, out var entry) && time.GetUtcNow() - entry.LoadedAt < lifetime)
        {
            return entry.State;
        }

        var started = Interlocked.Read(ref _generation);
        var state = await load(cancellationToken).ConfigureAwait(false);
        // Keep it only if nothing invalidated this customer (or everything) after the load began: it may hold the old state.
        if (_enabled && _invalidatedAt.GetValueOrDefault(customerId) <= started && Interlocked.Read(ref _clearedAt) <= started)
        {
            if (_entries.Count >= capacity)
            {
                _entries.Clear();
            }

            _entries[customerId] = new Entry(state, time.GetUtcNow());
        }

        return state;
    }

    public void Invalidate(string customerId)
    {
        _invalidatedAt[customerId] = Interlocked.Increment(ref _generation);
        _entries.TryRemove(customerId, out _);
        if (_invalidatedAt.Count > capacity)
        {
            Clear();
        }
    }

    public void Clear()
    {
        _entries.Clear();
        _invalidatedAt.Clear();
        // Set after the stamps are gone: any load that began before this instant is refused by it.
        Interlocked.Exchange(ref _clearedAt, Interlocked.Increment(ref _generation));
    }

    private sealed record Entry(T State, DateTimeOffset LoadedAt);
}
