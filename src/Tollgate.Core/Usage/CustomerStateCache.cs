using System.Collections.Concurrent;

namespace Tollgate.Core.Usage;

/// <summary>
/// An in-memory view of one kind of customer state (subscriptions, or live ledger state). This process's own ledger
/// writes replace the view with the state they committed (<see cref="Replace"/>), before they answer; other writes drop it
/// (<see cref="Invalidate"/>): this process's subscription changes before they answer, other servers' writes through the
/// database's change feed (PostgreSQL LISTEN/NOTIFY). While the feed is down the cache is off, so a stale entry can
/// only make a check refuse (expiries and TTLs are applied when the entry is read, at the read's instant), never allow
/// what the database refuses.
/// </summary>
internal sealed class ViewCache<T>(TimeProvider time, TimeSpan lifetime, int capacity = 100_000)
    where T : class
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _invalidatedAt = new(StringComparer.Ordinal);
    // Orders the changes of an entry against the invalidations that must win over them; reads take no lock.
    private readonly Lock _lock = new();
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

    /// <summary>The cached view when it is fresh and <paramref name="usable"/> (when given) accepts it; otherwise
    /// <paramref name="load"/>'s, kept unless the customer was invalidated while it loaded.</summary>
    public async Task<T> GetAsync(string customerId, Func<CancellationToken, Task<T>> load, CancellationToken cancellationToken,
        Func<T, bool>? usable = null)
    {
        if (_enabled && _entries.TryGetValue(customerId, out var entry) && time.GetUtcNow() - entry.LoadedAt < lifetime
            && (usable is null || usable(entry.State)))
        {
            GateTelemetry.CacheLookup(hit: true);
            return entry.State;
        }

        if (_enabled)
        {
            GateTelemetry.CacheLookup(hit: false);
        }

        var started = Stamp();
        var state = await load(cancellationToken).ConfigureAwait(false);
        if (_enabled)
        {
            lock (_lock)
            {
                // Keep it only if nothing invalidated or replaced this customer (or everything) after the load began:
                // it may hold the old state.
                if (_invalidatedAt.GetValueOrDefault(customerId) <= started && _clearedAt <= started)
                {
                    Store(customerId, state);
                }
            }
        }

        return state;
    }

    /// <summary>The current generation, to pass to <see cref="Replace"/> for a state computed from here on.</summary>
    public long Stamp() => Interlocked.Read(ref _generation);

    /// <summary>Replaces the view with <paramref name="state"/>, written by this process from what was stored at
    /// <paramref name="stamp"/> or later — unless the customer (or everything) was invalidated since: the state may
    /// then be older than what the invalidation reported, and the view is dropped instead.</summary>
    public void Replace(string customerId, T state, long stamp)
    {
        // Only spares work: with the cache off nothing stored is read, and turning it on clears it.
        // Stryker disable once Statement,Block : equivalent (above)
        if (!_enabled)
        {
            return;
        }

        lock (_lock)
        {
            if (_invalidatedAt.GetValueOrDefault(customerId) > stamp || _clearedAt > stamp)
            {
                _entries.TryRemove(customerId, out _);
                return;
            }

            Store(customerId, state);
            // A load that began before this state was written must not replace it with an older one.
            _invalidatedAt[customerId] = ++_generation;
            if (_invalidatedAt.Count > capacity)
            {
                ClearLocked();
            }
        }
    }

    private void Store(string customerId, T state)
    {
        if (_entries.Count >= capacity)
        {
            _entries.Clear();
        }

        _entries[customerId] = new Entry(state, time.GetUtcNow());
    }

    public void Invalidate(string customerId)
    {
        lock (_lock)
        {
            _invalidatedAt[customerId] = ++_generation;
            _entries.TryRemove(customerId, out _);
            if (_invalidatedAt.Count > capacity)
            {
                ClearLocked();
            }
        }
    }

    public void Clear()
    {
        lock (_lock)
        {
            ClearLocked();
        }
    }

    private void ClearLocked()
    {
        _entries.Clear();
        _invalidatedAt.Clear();
        // Set after the stamps are gone: any state computed before this instant is refused by it.
        _clearedAt = ++_generation;
    }

    private sealed record Entry(T State, DateTimeOffset LoadedAt);
}
