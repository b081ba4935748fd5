using Tollgate.Fault.Tests.Support;
using Tollgate.Storage;

namespace Tollgate.Fault.Tests;

/// <summary>
/// DESIGN invariants 3 and 6 under SIGKILL: the server is killed twice in the middle of a 32-lane usage burst and
/// started again on the same database; every key is resent (same key, same body) until it is answered. No charge the
/// server acknowledged may be missing from the books, and no key may be charged twice.
/// </summary>
public abstract class KillTests
{
    private const int Keys = 1200;
    private const int Lanes = 32;

    protected abstract DatabaseProvider Provider { get; }

    [Fact]
    public async Task KillDashNine_MidBurst_LosesNoAcknowledgedCharge_AndDoublesNone()
    {
        await using var database = await FaultDatabase.CreateAsync(Provider);
        await using var server = await ServerProcess.StartAsync(database);
        using var client = server.CreateClient();
        var customer = "cus_kill_" + Guid.NewGuid().ToString("N")[..8];
        const long granted = 1_000_000;
        await Api.GrantAsync(client, customer, granted);

        var burst = new UsageBurst([client], customer, "credits", Keys, Lanes, "kill");
        var run = burst.RunAsync(TimeSpan.FromMinutes(4));
        var kills = 0;
        foreach (var at in new[] { Keys / 5, Keys / 2 })
        {
            while (burst.AcknowledgedCount < at && !run.IsCompleted)
            {
                await Task.Delay(2, TestContext.Current.CancellationToken);
            }

            await server.KillAsync();
            kills++;
            await server.StartAgainAsync();
        }

        await run;
        var books = await database.BooksAsync(customer, "credits");
        var acknowledged = burst.Acknowledged;
        var lost = acknowledged.Count(k => books.EntriesFor(k) == 0);
        var doubled = burst.Keys.Sum(k => Math.Max(0, books.EntriesFor(k) - 1));
        var charged = burst.Keys.Count(k => books.EntriesFor(k) > 0);
        var available = await Api.AvailableAsync(client, customer);
        Figures.Report($"kill -9 ({database.Name}): {kills} kills mid-burst, {Keys} keys over {Lanes} lanes: acknowledged {acknowledged.Count}, "
            + $"charged {charged}, lost {lost}, doubled {doubled}; unsettled {burst.Unsettled}, requests without an answer {burst.ConnectionErrors}, "
            + $"resends {burst.Resends}, 5xx {burst.ServerErrors}; balance {available} of {granted} (entries say {books.EntrySum})");

        Assert.Equal(2, kills);
        Assert.Equal((0, 0, 0, 0), (lost, doubled, burst.Unsettled, burst.ServerErrors));
        Assert.Equal(Keys, acknowledged.Count);
        Assert.Equal(Keys, charged);
        Assert.Equal(granted - Keys, available);
        Assert.True(books.Balanced, $"entries sum to {books.EntrySum}, lots hold {books.Remaining} + {books.Held}");
    }
}

public sealed class SqliteKillTests : KillTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresKillTests : KillTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
