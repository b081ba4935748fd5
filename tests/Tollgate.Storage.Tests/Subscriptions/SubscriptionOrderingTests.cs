using Tollgate.Core.Subscriptions;
using Tollgate.Testing;

namespace Tollgate.Storage.Tests.Subscriptions;

/// <summary>
/// Issue 9, item 8: subscription events are ordered by the provider's own time, and the order is kept by the save
/// itself (a conditional upsert), not by a read before it that two writers can both pass.
/// </summary>
public abstract class SubscriptionOrderingTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    protected abstract DatabaseProvider Provider { get; }

    private ManualTimeProvider Clock { get; } = new(T0);

    private TestDatabase Db { get; set; } = null!;

    private ISubscriptionStore Store => Db.Database.Subscriptions;

    public async ValueTask InitializeAsync() => Db = await TestDatabase.CreateAsync(Provider, Clock);

    public async ValueTask DisposeAsync()
    {
        await Db.DisposeAsync();
        GC.SuppressFinalize(this);
    }

    private static Subscription At(Subscription s, int seconds, SubscriptionStatus status, bool cancelAtPeriodEnd = false) => s with
    {
        Status = status,
        CancelAtPeriodEnd = cancelAtPeriodEnd,
        ProviderUpdatedAt = T0.AddSeconds(seconds),
        UpdatedAt = T0.AddSeconds(seconds),
    };

    private static Subscription New(string id) => new(id, "cus_" + id, "pro", "creem", "prov_" + id, null, SubscriptionStatus.Active, T0, T0.AddMonths(1),
        false, null, null, T0, T0, T0);

    [Fact]
    public async Task Bug9_8_AnOlderEventSavedAfterANewerOne_IsRefused_AndTheNewerStateStays()
    {
        var stored = New("sub_order");
        Assert.True(await Store.SaveAsync(stored, CancellationToken.None));

        // Both writers read the state at T0; the newer one commits first.
        var newer = await Store.SaveAsync(At(stored, 20, SubscriptionStatus.Canceled), CancellationToken.None);
        var older = await Store.SaveAsync(At(stored, 10, SubscriptionStatus.Active, cancelAtPeriodEnd: true), CancellationToken.None);
        var sameTime = await Store.SaveAsync(At(stored, 20, SubscriptionStatus.Canceled) with { CanceledAt = T0.AddSeconds(20) }, CancellationToken.None);
        var final = (await Store.GetAsync("sub_order", CancellationToken.None))!;

        Assert.Equal((true, false, true), (newer, older, sameTime));
        Assert.Equal((SubscriptionStatus.Canceled, false, T0.AddSeconds(20)), (final.Status, final.CancelAtPeriodEnd, final.ProviderUpdatedAt));
        Assert.Equal(T0.AddSeconds(20), final.CanceledAt);
    }

    [Fact]
    public async Task Bug9_8_ALocalChangeOnAStaleRead_IsRefused_WhenANewerProviderEventLandedFirst()
    {
        var stored = New("sub_local") with { ProviderUpdatedAt = null };
        Assert.True(await Store.SaveAsync(stored, CancellationToken.None));

        var providerEvent = await Store.SaveAsync(At(stored, 5, SubscriptionStatus.PastDue), CancellationToken.None);
        var staleLocal = await Store.SaveAsync(stored with { CancelAtPeriodEnd = true }, CancellationToken.None);

        Assert.Equal((true, false), (providerEvent, staleLocal));
        Assert.Equal(SubscriptionStatus.PastDue, (await Store.GetAsync("sub_local", CancellationToken.None))!.Status);
    }

    [Fact]
    public async Task Bug9_8_ConcurrentSavesOfOneSubscription_LeaveTheNewestEventsState()
    {
        const int Rounds = 12;
        const int Writers = 16;
        var random = new Random(9_8);
        for (var round = 0; round < Rounds; round++)
        {
            var stored = New($"sub_race_{round}");
            Assert.True(await Store.SaveAsync(stored, CancellationToken.None));
            var order = Enumerable.Range(1, Writers).OrderBy(_ => random.Next()).ToArray();
            var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var writers = order.Select(second => Task.Run(async () =>
            {
                await start.Task;
                // Only the newest (second = Writers) cancels at period end: any older write that lands after it shows.
                return await Store.SaveAsync(At(stored, second, SubscriptionStatus.Active, cancelAtPeriodEnd: second == Writers), CancellationToken.None);
            })).ToArray();

            start.SetResult();
            await Task.WhenAll(writers);
            var final = (await Store.GetAsync(stored.Id, CancellationToken.None))!;

            Assert.True(final.ProviderUpdatedAt == T0.AddSeconds(Writers) && final.CancelAtPeriodEnd,
                $"round {round}: the stored state is the event at +{(final.ProviderUpdatedAt - T0)?.TotalSeconds}s, not the newest (+{Writers}s)");
        }
    }
}

public sealed class SqliteSubscriptionOrderingTests : SubscriptionOrderingTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresSubscriptionOrderingTests : SubscriptionOrderingTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
