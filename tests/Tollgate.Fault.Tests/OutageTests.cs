using System.Diagnostics;
using Tollgate.Fault.Tests.Support;

namespace Tollgate.Fault.Tests;

/// <summary>
/// DESIGN invariants 2, 3 and 6 through a PostgreSQL outage: PostgreSQL (a cluster of the test's own) is stopped
/// without warning in the middle of a usage burst and started again five seconds later. Meanwhile usage is refused with
/// 503 <c>unavailable</c> (never a 500), the server recovers by itself, and the books are exact.
/// </summary>
public sealed class OutageTests
{
    // Enough that the burst outlasts the outage on a fast machine too: the stop must meet requests in flight.
    private const int Keys = 2500;
    private const int Lanes = 32;

    [Fact]
    public async Task PostgresStoppedMidBurst_Answers503_RecoversByItself_AndTheBooksAreExact()
    {
        Figures.RequireOrSkip(OwnPostgres.Unavailable());
        await using var cluster = await OwnPostgres.StartAsync();
        var database = FaultDatabase.On(cluster.ConnectionString);
        await using var server = await ServerProcess.StartAsync(database);
        using var client = server.CreateClient();
        var customer = "cus_outage_" + Guid.NewGuid().ToString("N")[..8];
        const long granted = 1_000_000;
        await Api.GrantAsync(client, customer, granted);

        var burst = new UsageBurst([client], customer, "credits", Keys, Lanes, "outage");
        var run = burst.RunAsync(TimeSpan.FromMinutes(4));
        while (burst.AcknowledgedCount < Keys / 5 && !run.IsCompleted)
        {
            await Task.Delay(2, TestContext.Current.CancellationToken);
        }

        await cluster.StopAsync();
        var down = Stopwatch.StartNew();
        var acknowledgedBefore = burst.AcknowledgedCount;
        await Task.Delay(TimeSpan.FromSeconds(4), TestContext.Current.CancellationToken);
        // Readiness (issue 17): the database away and the change feed deaf make the server not ready.
        var readyDuring = await Readiness.GetAsync(client);
        await Task.Delay(TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken);
        var unavailableDuring = burst.Unavailable;
        var acknowledgedDuring = burst.AcknowledgedCount - acknowledgedBefore;
        await cluster.StartPostgresAsync();
        var outage = down.Elapsed;
        var back = Stopwatch.StartNew();
        while (burst.AcknowledgedCount == acknowledgedBefore + acknowledgedDuring && !run.IsCompleted)
        {
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }

        var recovery = back.Elapsed;
        await run;
        await server.WaitUntilHealthyAsync(TimeSpan.FromSeconds(30));
        var readyAfter = await Readiness.WaitAsync(client, TimeSpan.FromSeconds(30));
        var books = await database.BooksAsync(customer, "credits");
        var acknowledged = burst.Acknowledged;
        var lost = acknowledged.Count(k => books.EntriesFor(k) == 0);
        var doubled = burst.Keys.Sum(k => Math.Max(0, books.EntriesFor(k) - 1));
        var charged = burst.Keys.Count(k => books.EntriesFor(k) > 0);
        var available = await Api.AvailableAsync(client, customer);
        Figures.Report($"PostgreSQL outage: stopped (-m immediate) for {outage.TotalSeconds:F1} s mid-burst, {Keys} keys over {Lanes} lanes: "
            + $"acknowledged {acknowledged.Count}, charged {charged}, lost {lost}, doubled {doubled}; 503 unavailable during the outage {unavailableDuring} "
            + $"(acknowledged during it {acknowledgedDuring}), first acknowledgement {recovery.TotalSeconds:F1} s after the restart; "
            + $"requests without an answer {burst.ConnectionErrors}, other 5xx {burst.ServerErrors}; balance {available} of {granted}");

        Assert.True(unavailableDuring > 0, "no request met the outage");
        Assert.Equal((503, "unreachable", "not listening"), readyDuring);
        Assert.Equal((200, "ok", "ok"), readyAfter);
        Assert.Equal((0, 0, 0, 0), (lost, doubled, burst.Unsettled, burst.ServerErrors));
        Assert.Equal(Keys, charged);
        Assert.Equal(granted - Keys, available);
        Assert.True(books.Balanced, $"entries sum to {books.EntrySum}, lots hold {books.Remaining} + {books.Held}");
    }
}

/// <summary><c>GET /readyz</c>: its status and its database and change-feed checks.</summary>
internal static class Readiness
{
    public static async Task<(int Status, string? Database, string? ChangeFeed)> GetAsync(HttpClient client)
    {
        using var response = await client.GetAsync(new Uri("/readyz", UriKind.Relative));
        var body = System.Text.Json.Nodes.JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        return ((int)response.StatusCode, (string?)body["checks"]?["database"], (string?)body["checks"]?["change_feed"]);
    }

    /// <summary>Waits until ready (the change feed reconnects with backoff), or gives the last answer.</summary>
    public static async Task<(int Status, string? Database, string? ChangeFeed)> WaitAsync(HttpClient client, TimeSpan timeout)
    {
        var deadline = WallClock.Ticks() + timeout.Ticks;
        while (true)
        {
            var ready = await GetAsync(client);
            if (ready.Status == 200 || WallClock.Ticks() > deadline)
            {
                return ready;
            }

            await Task.Delay(100);
        }
    }
}
