using System.Collections.Concurrent;
using Tollgate.Core.Ledger;

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
}
