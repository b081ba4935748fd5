using System.Collections.Concurrent;
using Npgsql;
using Tollgate.Core.Ledger;
using Tollgate.Core.Subscriptions;

namespace Tollgate.Storage.Tests.Ledger;

/// <summary>
/// PostgreSQL's change feed: every customer a ledger write changed is reported to another process listening on the
/// same database, after the write commits — including writes batched into one transaction for many customers, whose
/// ids share notifications (long ids overflow one notification's 8,000-byte payload).
/// </summary>
public sealed class PostgresChangeFeedTests : LedgerTestBase
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;

    protected override LedgerOptions Options => new() { Lanes = 1 };

    [Fact]
    public async Task EveryCustomerOfABatchedWrite_IsReportedToAnotherListener()
    {
        await using var other = Db.OpenAnother(Clock);
        var heard = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        var up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var stop = new CancellationTokenSource();
        var listening = other.ListenForChangesAsync(id => heard.AddOrUpdate(id, 1, (_, n) => n + 1), isUp =>
        {
            if (isUp)
            {
                up.TrySetResult();
            }
        }, stop.Token);
        await up.Task.WaitAsync(TimeSpan.FromSeconds(10));

        // 100 customers with ids of the longest allowed length (128 characters), granted at once: the engine's one
        // lane writes them in a few transactions, each naming up to ~13 kB of ids.
        var customers = Enumerable.Range(0, 100).Select(i => $"{i:D3}-{new string('x', 124)}").ToList();
        await Task.WhenAll(customers.Select(c => Grant(c, "credits", 1)));

        for (var i = 0; i < 200 && !customers.All(heard.ContainsKey); i++)
        {
            await Task.Delay(50);
        }

        await stop.CancelAsync();
        await listening;
        Assert.All(customers, c => Assert.True(heard.ContainsKey(c), $"no notification named {c[..3]}…"));
        // Other tests write to the same database (the channel is per database, not per schema): only check that every
        // payload was split into single ids.
        Assert.All(heard.Keys, id => Assert.DoesNotContain(',', id));
    }

    [Fact]
    public async Task ALedgerWrite_IsNotReportedToItsOwnServer_ButToOthers_AsLedgerOnly_AndASubscriptionChangeToAll()
    {
        await using var other = Db.OpenAnother(Clock);
        var own = new ConcurrentDictionary<string, bool>(StringComparer.Ordinal);
        var others = new ConcurrentDictionary<string, bool>(StringComparer.Ordinal);
        using var stop = new CancellationTokenSource();
        var listeners = await ListenAsync((Db.Database, own), (other, others), stop.Token);

        var c = NewCustomer();
        await Grant(c, "credits", 1);
        await Db.Database.Subscriptions.SaveAsync(new Subscription("sub_" + c, "s" + c, "pro", "sandbox", null, null, SubscriptionStatus.Active,
            null, null, false, null, null, null, Clock.GetUtcNow(), Clock.GetUtcNow()), CancellationToken.None);
        for (var i = 0; i < 200 && !(others.ContainsKey(c) && others.ContainsKey("s" + c) && own.ContainsKey("s" + c)); i++)
        {
            await Task.Delay(50);
        }

        // The subscription's notification came after the ledger's on the same channel: had the writer's own listener
        // heard its ledger write, it would have by now.
        await stop.CancelAsync();
        await Task.WhenAll(listeners);
        Assert.True(others.TryGetValue(c, out var ledgerOnly) && ledgerOnly, "another server did not hear the ledger write as ledger-only");
        Assert.False(others["s" + c], "another server heard a subscription change as ledger-only");
        Assert.False(own.ContainsKey(c), "the writing server heard its own ledger write");
        Assert.False(own["s" + c]);
    }

    [Fact]
    public async Task TheChangeFeedsConnection_NeverReachesThePool_WhosePooledConnectionsAreNotReset()
    {
        using var stop = new CancellationTokenSource();
        var heard = new ConcurrentDictionary<string, bool>(StringComparer.Ordinal);
        var listeners = await ListenAsync([(Db.Database, heard)], stop.Token);
        await stop.CancelAsync();
        await Task.WhenAll(listeners);

        // Every pooled connection (several, held at once so the pool hands out each it has) listens to nothing, and
        // is not reset on its way back to the pool (no DISCARD ALL / RESET ALL on its next checkout): a setting made
        // on it is still there when the pool hands it out again.
        var dataSource = (NpgsqlDataSource)Db.Database.GetType().GetProperty("DataSource")!.GetValue(Db.Database)!;
        foreach (var (sql, expected) in new[] { ("SET application_name = 'not_reset'", (object?)null), ("SHOW application_name", "not_reset"),
            ("RESET application_name", null) })
        {
            var connections = new List<NpgsqlConnection>();
            for (var i = 0; i < 5; i++)
            {
                connections.Add(await dataSource.OpenConnectionAsync());
            }

            foreach (var connection in connections)
            {
                await using (var listening = new NpgsqlCommand("SELECT count(*) FROM pg_listening_channels()", connection))
                {
                    Assert.Equal(0L, (long)(await listening.ExecuteScalarAsync())!);
                }

                await using (var command = new NpgsqlCommand(sql, connection))
                {
                    var value = await command.ExecuteScalarAsync();
                    if (expected is not null)
                    {
                        Assert.Equal(expected, value);
                    }
                }

                await connection.DisposeAsync();
            }
        }
    }

    private static Task<Task[]> ListenAsync((TollgateDatabase Database, ConcurrentDictionary<string, bool> Heard) first,
        (TollgateDatabase Database, ConcurrentDictionary<string, bool> Heard) second, CancellationToken stop) =>
        ListenAsync([first, second], stop);

    private static async Task<Task[]> ListenAsync(IReadOnlyList<(TollgateDatabase Database, ConcurrentDictionary<string, bool> Heard)> listeners,
        CancellationToken stop)
    {
        var tasks = new List<Task>();
        foreach (var (database, heard) in listeners)
        {
            var up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            tasks.Add(database.ListenForChangesAsync((CustomerChange change) => heard[change.CustomerId] = change.LedgerOnly, isUp =>
            {
                if (isUp)
                {
                    up.TrySetResult();
                }
            }, stop));
            await up.Task.WaitAsync(TimeSpan.FromSeconds(10));
        }

        return [.. tasks];
    }
}
