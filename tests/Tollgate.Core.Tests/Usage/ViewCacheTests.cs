using Tollgate.Core.Usage;
using Tollgate.Testing;

namespace Tollgate.Core.Tests.Usage;

/// <summary>
/// Rules of the gate's cache of customer views (<see cref="ViewCache{T}"/>): a view is used while fresh and usable; a
/// load is kept only when nothing invalidated, replaced or cleared the customer since it began (it may hold the old
/// state); a replacement computed before an invalidation is dropped, and a load begun before a replacement cannot undo
/// it; the cache is bounded, and off it keeps nothing. Each test names its rule. The tests of this class run one at a
/// time, so the cache's hit and miss counts they read are their own (no other test of this assembly uses the cache).
/// </summary>
public sealed class ViewCacheTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly ManualTimeProvider _clock = new(T0);

    private ViewCache<string> Cache(int capacity = 100) => new(_clock, TimeSpan.FromSeconds(30), capacity);

    private static Func<CancellationToken, Task<string>> Load(string state) => _ => Task.FromResult(state);

    /// <summary>A load that runs <paramref name="meanwhile"/> after it began, before it returns <paramref name="state"/>.</summary>
    private static Func<CancellationToken, Task<string>> LoadWhile(string state, Action meanwhile) => _ =>
    {
        meanwhile();
        return Task.FromResult(state);
    };

    [Fact]
    public async Task Rule_AViewIsUsedWhileFresh_UpToItsLifetimeExclusive_AndOnlyWhenUsable()
    {
        var cache = Cache();
        Assert.Equal("v1", await cache.GetAsync("c", Load("v1"), CancellationToken.None));

        Assert.Equal("v1", await cache.GetAsync("c", Load("v2"), CancellationToken.None));
        Assert.Equal("v2", await cache.GetAsync("c", Load("v2"), CancellationToken.None, usable: s => s != "v1"));
        _clock.Advance(TimeSpan.FromSeconds(30) - TimeSpan.FromTicks(1));
        Assert.Equal("v2", await cache.GetAsync("c", Load("v3"), CancellationToken.None));
        _clock.Advance(TimeSpan.FromTicks(1));
        Assert.Equal("v3", await cache.GetAsync("c", Load("v3"), CancellationToken.None)); // 30 s old: reloaded
        Assert.Equal("v3", await cache.GetAsync("c", Load("v4"), CancellationToken.None)); // and kept from its load
    }

    [Fact]
    public async Task Rule_ALoadIsNotKept_WhenTheCustomerOrEverythingWasInvalidatedWhileItRan()
    {
        var cache = Cache();
        Assert.Equal("old", await cache.GetAsync("c", LoadWhile("old", () => cache.Invalidate("c")), CancellationToken.None));
        Assert.Equal("new", await cache.GetAsync("c", Load("new"), CancellationToken.None)); // "old" was not kept

        Assert.Equal("old", await cache.GetAsync("d", LoadWhile("old", cache.Clear), CancellationToken.None));
        Assert.Equal("new", await cache.GetAsync("d", Load("new"), CancellationToken.None));

        // Another customer's invalidation does not concern this load.
        Assert.Equal("kept", await cache.GetAsync("e", LoadWhile("kept", () => cache.Invalidate("x")), CancellationToken.None));
        Assert.Equal("kept", await cache.GetAsync("e", Load("new"), CancellationToken.None));

        // An invalidation before the load began does not stop it being kept.
        cache.Invalidate("f");
        Assert.Equal("kept", await cache.GetAsync("f", Load("kept"), CancellationToken.None));
        Assert.Equal("kept", await cache.GetAsync("f", Load("new"), CancellationToken.None));
        cache.Clear();
        Assert.Equal("after", await cache.GetAsync("f", Load("after"), CancellationToken.None));
        Assert.Equal("after", await cache.GetAsync("f", Load("new"), CancellationToken.None));
    }

    [Fact]
    public async Task Rule_AReplacement_IsTheView_UnlessTheCustomerOrEverythingWasInvalidatedAfterItsStamp()
    {
        var cache = Cache();
        var stamp = cache.Stamp();
        cache.Replace("c", "written", stamp);
        Assert.Equal("written", await cache.GetAsync("c", Load("loaded"), CancellationToken.None));

        stamp = cache.Stamp();
        cache.Invalidate("c");
        cache.Replace("c", "stale", stamp);
        Assert.Equal("loaded", await cache.GetAsync("c", Load("loaded"), CancellationToken.None)); // dropped, not the stale state

        stamp = cache.Stamp();
        cache.Clear();
        cache.Replace("c", "stale", stamp);
        Assert.Equal("reloaded", await cache.GetAsync("c", Load("reloaded"), CancellationToken.None));

        // An invalidation of someone else does not drop it; one at its stamp's generation is older than it.
        stamp = cache.Stamp();
        cache.Invalidate("x");
        cache.Replace("d", "written", stamp);
        Assert.Equal("written", await cache.GetAsync("d", Load("loaded"), CancellationToken.None));
        cache.Invalidate("d");
        cache.Replace("d", "written again", cache.Stamp());
        Assert.Equal("written again", await cache.GetAsync("d", Load("loaded"), CancellationToken.None));
    }

    [Fact]
    public async Task Rule_ALoadBegunBeforeAReplacement_CannotPutItsOlderStateBack()
    {
        var cache = Cache();
        var state = await cache.GetAsync("c", LoadWhile("older", () => cache.Replace("c", "written", cache.Stamp())), CancellationToken.None);

        Assert.Equal("older", state); // the caller gets what it loaded
        Assert.Equal("written", await cache.GetAsync("c", Load("loaded"), CancellationToken.None));
        // Two replacements in a row: the second's stamp is taken after the first.
        cache.Replace("c", "second", cache.Stamp());
        Assert.Equal("second", await cache.GetAsync("c", Load("loaded"), CancellationToken.None));
    }

    [Fact]
    public async Task Rule_TheCacheIsBounded_EntriesAndInvalidationsAlike()
    {
        var cache = Cache(capacity: 2);
        await cache.GetAsync("a", Load("a"), CancellationToken.None);
        await cache.GetAsync("b", Load("b"), CancellationToken.None);
        Assert.Equal("b", await cache.GetAsync("b", Load("b2"), CancellationToken.None));
        await cache.GetAsync("c", Load("c"), CancellationToken.None); // at capacity: the others go
        Assert.Equal("c", await cache.GetAsync("c", Load("c2"), CancellationToken.None));
        Assert.Equal("a2", await cache.GetAsync("a", Load("a2"), CancellationToken.None));

        // Invalidations are remembered up to the capacity; past it everything is cleared.
        var fresh = Cache(capacity: 2);
        fresh.Replace("a", "a", fresh.Stamp());
        fresh.Replace("b", "b", fresh.Stamp());
        Assert.Equal("a", await fresh.GetAsync("a", Load("a2"), CancellationToken.None)); // two remembered: nothing cleared
        fresh.Replace("c", "c", fresh.Stamp()); // a third: cleared
        Assert.Equal("c2", await fresh.GetAsync("c", Load("c2"), CancellationToken.None));
        Assert.Equal("a3", await fresh.GetAsync("a", Load("a3"), CancellationToken.None));
        fresh.Replace("d", "d", fresh.Stamp()); // the clearing forgot the invalidations too: room for this one
        Assert.Equal("d", await fresh.GetAsync("d", Load("d2"), CancellationToken.None));

        var invalidated = Cache(capacity: 2);
        invalidated.Replace("k", "k", invalidated.Stamp());
        invalidated.Invalidate("x");
        Assert.Equal("k", await invalidated.GetAsync("k", Load("k2"), CancellationToken.None)); // two remembered: kept
        invalidated.Invalidate("y"); // a third: cleared
        Assert.Equal("k3", await invalidated.GetAsync("k", Load("k3"), CancellationToken.None));
    }

    [Fact]
    public async Task Rule_OffTheCacheKeepsNothing_AndTurningItOnOrOffForgetsEverything()
    {
        var cache = Cache();
        await cache.GetAsync("c", Load("v1"), CancellationToken.None);
        Assert.True(cache.Enabled);

        cache.Enabled = false;
        Assert.False(cache.Enabled);
        Assert.Equal("v2", await cache.GetAsync("c", Load("v2"), CancellationToken.None));
        Assert.Equal("v3", await cache.GetAsync("c", Load("v3"), CancellationToken.None));
        cache.Replace("c", "written", cache.Stamp());
        cache.Enabled = true;
        Assert.Equal("v4", await cache.GetAsync("c", Load("v4"), CancellationToken.None)); // neither the loads nor the replacement were kept

        cache.Enabled = true; // set again: forgets too
        Assert.Equal("v5", await cache.GetAsync("c", Load("v5"), CancellationToken.None));
    }

    [Fact]
    public async Task Rule_EveryLookupWithTheCacheOnIsCounted_AHitOrAMiss_NoneWithItOff()
    {
        using var metrics = new MetricRecorder(GateTelemetry.Name, instrument: "tollgate.gate.cache");

        var cache = Cache();
        await cache.GetAsync("c", Load("v1"), CancellationToken.None);
        await cache.GetAsync("c", Load("v1"), CancellationToken.None);
        await cache.GetAsync("c", Load("v1"), CancellationToken.None, usable: _ => false);
        cache.Enabled = false;
        await cache.GetAsync("c", Load("v1"), CancellationToken.None);

        Assert.All(metrics.Measurements, m => Assert.Equal(1, m.Value));
        Assert.Equal(["miss", "hit", "miss"], metrics.Measurements.Select(m => m.Tag("result")));
    }
}
