using Npgsql;
using Tollgate.Storage.Postgres;
using Tollgate.Storage.Tests.Ledger;

namespace Tollgate.Storage.Tests.Scaling;

/// <summary>
/// PostgreSQL's pool (docs/operations.md, "Pool"): Tollgate caps it at <see cref="TollgateDatabase.DefaultPostgresPoolSize"/>
/// unless the connection string sizes it, because the database does the most work with few transactions at once; and
/// a small pool is safe only if nothing holds a pooled connection while it waits for another. A flow (a webhook being
/// applied) holds its connection from its first statement to its commit: every ledger read it makes runs on that
/// connection, and sees what the flow wrote. Here the pool has one connection, so a read that took a second one would
/// wait for the pool's timeout and fail.
/// </summary>
public sealed class PostgresPoolTests : LedgerTestBase
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;

    protected override bool OnePooledConnection => true;

    [Theory]
    [InlineData(null, TollgateDatabase.DefaultPostgresPoolSize)]
    [InlineData("Maximum Pool Size=37", 37)]
    [InlineData("MaxPoolSize=37", 37)]
    [InlineData("maximum pool size = 100", 100)]
    public async Task ThePool_IsCappedAtTheDefault_UnlessTheConnectionStringSizesIt(string? setting, int expected)
    {
        var unsized = new NpgsqlConnectionStringBuilder(Db.Options.ConnectionString);
        unsized.Remove("Maximum Pool Size");
        unsized.Remove("Timeout");
        var options = Db.Options with { ConnectionString = setting is null ? unsized.ToString() : $"{unsized};{setting}" };
        await using var database = TollgateDatabase.Create(options, Clock);

        var source = ((PostgresDatabase)database).DataSource;
        Assert.Equal(expected, new NpgsqlConnectionStringBuilder(source.ConnectionString).MaxPoolSize);
    }

    [Fact]
    public async Task InsideAFlow_EveryLedgerRead_RunsOnTheFlowsConnection_AndSeesWhatTheFlowWrote()
    {
        var c = NewCustomer();
        await using (Db.Database.Transactions.Begin())
        {
            var grant = await Grant(c, "credits", 100);
            var used = await Consume(c, "credits", 7);
            var hold = await Hold(c, "credits", 10);
            Assert.True(grant.Succeeded && used.Succeeded && hold.Succeeded);
            var store = Db.Database.Ledger;

            var state = await store.ReadAsync(c, [], CancellationToken.None);
            Assert.Equal((100L, 83L, 10L), (state.Lots.Single().Amount, state.Lots.Single().Remaining, state.Lots.Single().Held));
            Assert.Equal(83L, (await Ledger.GetBalancesAsync(c)).For("credits").Available);
            Assert.Equal(c, await store.FindHoldOwnerAsync(hold.HoldId, CancellationToken.None));
            Assert.Equal(10L, (await store.GetHoldAsync(hold.HoldId, CancellationToken.None))!.Amount);
            Assert.Equal(-7L, (await store.FindEntryAsync(used.EntryId, CancellationToken.None))!.Amount);
            Assert.Equal(3, (await store.GetEntriesAsync(c, null, 10, null, CancellationToken.None)).Entries.Count);
            Assert.Equal(100L, Assert.Single(await store.GetAllLotsAsync(c, CancellationToken.None)).Amount);
            Assert.Equal(7L, Assert.Single(await store.GetDailyUsageAsync(c, "credits", Clock.GetUtcNow().AddDays(-1), Clock.GetUtcNow().AddDays(1),
                CancellationToken.None)).Used);
        } // rolled back

        Assert.Empty((await Db.Database.Ledger.ReadAsync(c, [], CancellationToken.None)).Lots);
        Assert.Empty(await Db.Database.Ledger.GetAllLotsAsync(c, CancellationToken.None));
    }
}
