using System.Data.Common;
using System.Globalization;
using Tollgate.Core.Subscriptions;
using Tollgate.Core.Common;
using Tollgate.Storage.Tests.Ledger;

namespace Tollgate.Storage.Tests.Subscriptions;

/// <summary>
/// The dashboard's subscription counts (issue 18, migration 0019): kept counts plus unfolded changes equal, after every
/// step, the subscriptions counted live — through new subscriptions, status and plan changes, saves the ordering rule
/// skips, refused saves, flows committed and rolled back, and folds; and under saves of the same subscriptions racing
/// with folds on two servers, at every moment (one statement compares the three tables in one snapshot). On both
/// databases.
/// </summary>
public abstract class SubscriptionCountsTests : LedgerTestBase
{
    private static readonly string[] Plans = ["basic", "pro", "team"];
    private static readonly SubscriptionStatus[] Statuses =
        [SubscriptionStatus.Active, SubscriptionStatus.Trialing, SubscriptionStatus.PastDue, SubscriptionStatus.Canceled];

    /// <summary>Plan and status pairs where kept counts plus changes differ from the subscriptions: one statement, one
    /// snapshot, so it is exact at any moment, not only between writes.</summary>
    private const string Mismatches = """
        SELECT count(*) FROM (
            SELECT plan_id, status FROM (
                SELECT plan_id, status, count AS n FROM subscription_counts
                UNION ALL SELECT plan_id, status, delta FROM subscription_count_changes
                UNION ALL SELECT plan_id, status, -1 FROM subscriptions
            ) x GROUP BY plan_id, status HAVING sum(n) <> 0
        ) wrong
        """;

    private ISubscriptionStore Store => Db.Database.Subscriptions;

    private static Subscription New(string id, string customer, string plan, SubscriptionStatus status, DateTimeOffset at) =>
        new(id, customer, plan, "creem", "prov_" + id, null, status, at, at.AddMonths(1), false, null, null, at, at, at);

    private static Subscription At(Subscription s, DateTimeOffset at, SubscriptionStatus? status = null, string? plan = null) => s with
    {
        Status = status ?? s.Status,
        PlanId = plan ?? s.PlanId,
        ProviderUpdatedAt = at,
        UpdatedAt = at,
    };

    [Fact]
    public async Task Counts_EqualTheSubscriptionsCounted_AfterEverySaveSkipRefusalFlowAndFold()
    {
        var t = Clock.GetUtcNow();
        var random = new Random(19);
        var subscriptions = new List<Subscription>();
        for (var i = 0; i < 30; i++)
        {
            var s = New($"sub_c{i}", NewCustomer(), Plans[i % 3], Statuses[i % 4], t);
            Assert.True(await Store.SaveAsync(s, CancellationToken.None));
            subscriptions.Add(s);
        }

        await AssertExactAsync("after 30 new subscriptions");
        Assert.Equal(30, await CountAsync("SELECT count(*) FROM subscription_count_changes")); // +1 each: a new one has no row to take away
        Assert.Equal(30, await Db.Database.SubscriptionCounts.FoldAsync(1_000, CancellationToken.None));
        Assert.Equal(0, await CountAsync("SELECT count(*) FROM subscription_count_changes"));
        await AssertExactAsync("after a fold");

        // Status and plan changes, some of them saves the ordering rule skips (an older provider time than the stored one).
        for (var step = 1; step <= 60; step++)
        {
            var i = random.Next(subscriptions.Count);
            var current = subscriptions[i];
            var stale = step % 5 == 0;
            var at = stale ? current.ProviderUpdatedAt!.Value.AddSeconds(-1) : t.AddSeconds(step);
            var next = At(current, at, Statuses[random.Next(Statuses.Length)], step % 3 == 0 ? Plans[random.Next(Plans.Length)] : null);
            var saved = await Store.SaveAsync(next, CancellationToken.None);
            Assert.Equal(!stale, saved);
            if (saved)
            {
                subscriptions[i] = next;
            }

            await AssertExactAsync($"step {step}{(stale ? " (skipped)" : "")}");
            if (step % 7 == 0)
            {
                await Db.Database.SubscriptionCounts.FoldAsync(step % 2 == 0 ? 3 : 1_000, CancellationToken.None);
                await AssertExactAsync($"fold after step {step}");
            }
        }

        // A save refused because its provider subscription is another customer's: nothing appended, nothing counted.
        var changes = await CountAsync("SELECT count(*) FROM subscription_count_changes");
        var thief = New("sub_thief", NewCustomer(), "pro", SubscriptionStatus.Active, t) with { ProviderSubscriptionId = subscriptions[0].ProviderSubscriptionId };
        await Assert.ThrowsAnyAsync<DbException>(() => Store.SaveAsync(thief, CancellationToken.None));
        Assert.Equal(changes, await CountAsync("SELECT count(*) FROM subscription_count_changes"));
        await AssertExactAsync("after a refused save");

        // In a flow: counted when it commits, not when it rolls back.
        await using (var flow = Db.Database.Transactions.Begin())
        {
            Assert.True(await Store.SaveAsync(At(subscriptions[1], t.AddMinutes(10), SubscriptionStatus.PastDue, "team"), CancellationToken.None));
            Assert.True(await Store.SaveAsync(New("sub_flow", NewCustomer(), "basic", SubscriptionStatus.Trialing, t), CancellationToken.None));
            await flow.CommitAsync(CancellationToken.None);
        }

        await AssertExactAsync("after a committed flow");
        await using (var rolledBack = Db.Database.Transactions.Begin())
        {
            Assert.True(await Store.SaveAsync(At(subscriptions[2], t.AddMinutes(11), SubscriptionStatus.Canceled, "pro"), CancellationToken.None));
            Assert.True(await Store.SaveAsync(New("sub_gone", NewCustomer(), "basic", SubscriptionStatus.Active, t), CancellationToken.None));
        }

        await AssertExactAsync("after a rolled-back flow");
        while (await Db.Database.SubscriptionCounts.FoldAsync(4, CancellationToken.None) == 4)
        {
        }

        Assert.Equal(0, await CountAsync("SELECT count(*) FROM subscription_count_changes"));
        await AssertExactAsync("after folding everything in batches of 4");
    }

    [Fact]
    public async Task Saves_OfTheSameSubscriptions_RacingFoldsOnTwoServers_CountEveryStateOnce_AtEveryMoment()
    {
        var t = Clock.GetUtcNow();
        await using var second = Db.OpenAnother(Clock);
        var servers = new[] { Db.Database, second };
        // Few subscriptions, many writers: saves of one subscription meet (each must take away the state the other left).
        var subscriptions = Enumerable.Range(0, 8).Select(i => New($"sub_r{i}", NewCustomer(), Plans[i % 3], SubscriptionStatus.Active, t)).ToArray();
        foreach (var s in subscriptions)
        {
            Assert.True(await Store.SaveAsync(s, CancellationToken.None));
        }

        var postgres = Provider == DatabaseProvider.Postgres;
        var writes = postgres ? 150 : 60;
        using var stop = new CancellationTokenSource();
        var movedSoFar = 0;
        var folds = servers.SelectMany(server => Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
        {
            var moved = 0;
            while (!stop.IsCancellationRequested)
            {
                var step = await server.SubscriptionCounts.FoldAsync(5, CancellationToken.None);
                moved += step;
                Interlocked.Add(ref movedSoFar, step);
            }

            return moved;
        }))).ToList();
        var wrongSeen = 0;
        var checks = 0;
        var checker = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                wrongSeen += (int)await CountAsync(Mismatches);
                Interlocked.Increment(ref checks);
            }
        });
        var writers = Enumerable.Range(0, 6).Select(w => Task.Run(async () =>
        {
            var random = new Random(w);
            // The race must happen: on a loaded machine SQLite's one writer at a time could let the writes finish before
            // a fold or a check had its turn, so the writers go on until both have run (capped at 50× the writes).
            for (var n = 0; n < writes || ((Volatile.Read(ref movedSoFar) == 0 || Volatile.Read(ref checks) == 0) && n < writes * 50); n++)
            {
                var s = subscriptions[random.Next(subscriptions.Length)];
                // Provider times across writers interleave, so some saves are skipped as older than what is stored.
                var at = t.AddMilliseconds((n * 6) + random.Next(0, 40));
                await servers[(w + n) % 2].Subscriptions.SaveAsync(At(s, at, Statuses[random.Next(Statuses.Length)], Plans[random.Next(Plans.Length)]),
                    CancellationToken.None);
            }
        })).ToList();
        await Task.WhenAll(writers);
        await stop.CancelAsync();
        var moved = (await Task.WhenAll(folds)).Sum();
        await checker;

        Assert.True(checks > 0);
        Assert.Equal(0, wrongSeen);
        Assert.True(moved > 0, "the folds moved nothing: the race did not race");
        await AssertExactAsync("after the race");
        while (await Db.Database.SubscriptionCounts.FoldAsync(100, CancellationToken.None) > 0)
        {
        }

        Assert.Equal(0, await CountAsync("SELECT count(*) FROM subscription_count_changes"));
        await AssertExactAsync("after the last fold");
    }

    /// <summary>The dashboard's read (every status) equals the subscriptions counted live, and the one-statement check
    /// agrees.</summary>
    private async Task AssertExactAsync(string step)
    {
        var expected = await QueryAsync("SELECT plan_id, status, count(*) FROM subscriptions GROUP BY plan_id, status",
            r => (r.GetString(0), SnakeCase<SubscriptionStatus>.Parse(r.GetString(1)), Convert.ToInt32(r.GetValue(2), CultureInfo.InvariantCulture)));
        var actual = await Store.CountByPlanAsync(Enum.GetValues<SubscriptionStatus>(), CancellationToken.None);
        static string Show(IEnumerable<(string Plan, SubscriptionStatus Status, int Count)> counts) =>
            string.Join("; ", counts.Where(c => c.Count != 0).Order().Select(c => $"{c.Plan}/{c.Status}={c.Count}"));
        Assert.True(Show(expected) == Show(actual), $"{step}: expected {Show(expected)} but got {Show(actual)}");
        Assert.Equal(0, await CountAsync(Mismatches));
    }

    private async Task<List<T>> QueryAsync<T>(string sql, Func<DbDataReader, T> map)
    {
        await using var connection = await OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<T>();
        while (await reader.ReadAsync())
        {
            rows.Add(map(reader));
        }

        return rows;
    }

    private async Task<long> CountAsync(string sql) => (await QueryAsync(sql, r => Convert.ToInt64(r.GetValue(0), CultureInfo.InvariantCulture)))[0];

    private Task<DbConnection> OpenAsync() => Db.OpenConnectionAsync();
}

public sealed class SqliteSubscriptionCountsTests : SubscriptionCountsTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresSubscriptionCountsTests : SubscriptionCountsTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
