using Microsoft.Data.Sqlite;
using Tollgate.Core.Ledger;
using Tollgate.Storage.Sqlite;

namespace Tollgate.Storage.Tests.Ledger;

/// <summary>
/// SQLite loads a customer's ledger on every write, holds included: only the active ones and the closed ones a batch
/// names. Written as one <c>status = 'active' OR hold_id IN (…)</c>, the load searched the primary key by the customer
/// alone and read every hold the customer ever had, so a customer's writes slowed as its settled holds piled up (the
/// bench's hot customer: hold + settle from 680 to 285 cycles/s, usage from 2,100 to 650/s, over 15,000 holds).
/// </summary>
public sealed class SqliteHoldsLoadTests : LedgerTestBase
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_load_reads_the_active_holds_index_and_closed_holds_only_by_their_id()
    {
        await using var connection = new SqliteConnection(Db.Options.ConnectionString);
        await connection.OpenAsync(Ct);
        await using var command = connection.CreateCommand();
        command.CommandText = "EXPLAIN QUERY PLAN " + SqliteLedgerStore.HoldsLoadSql;
        command.Parameters.AddWithValue("$c", "cus_x");
        command.Parameters.AddWithValue("$ids", "[\"hold_1\"]");
        var plan = new List<string>();
        await using (var reader = await command.ExecuteReaderAsync(Ct))
        {
            while (await reader.ReadAsync(Ct))
            {
                plan.Add(reader.GetString(3));
            }
        }

        var text = string.Join(Environment.NewLine, plan);
        Assert.True(plan.Any(line => line.Contains("SEARCH ledger_holds USING INDEX ledger_holds_active (customer_id=?)", StringComparison.Ordinal)), text);
        Assert.True(plan.Any(line => line.Contains("(customer_id=? AND hold_id=?)", StringComparison.Ordinal)), text);
        // Neither search reads the table, nor all of one customer's holds through the primary key.
        Assert.False(plan.Any(line => line.TrimStart().StartsWith("SCAN ledger_holds", StringComparison.Ordinal)), text);
        Assert.False(plan.Any(line => line.Contains("ledger_holds_1 (customer_id=?)", StringComparison.Ordinal)), text);
    }

    [Fact]
    public async Task Among_many_closed_holds_the_active_ones_and_a_named_closed_one_are_loaded()
    {
        var customer = NewCustomer();
        await Grant(customer, "credits", 10_000);
        var first = await Hold(customer, "credits", 5);
        var firstSettled = await Ledger.SettleAsync(new SettleRequest(first.HoldId!) { Amount = 2 }, Ct);
        Assert.Null(firstSettled.Refusal);
        for (var i = 0; i < 60; i++)
        {
            var hold = await Hold(customer, "credits", 3);
            Assert.Null((await Ledger.ReleaseAsync(new ReleaseRequest(hold.HoldId!), Ct)).Refusal);
        }

        var open = await Hold(customer, "credits", 7);
        var other = await Hold(customer, "credits", 4);

        // A closed hold named again answers its first result (loaded by its id); the open ones still hold their credits.
        var again = await Ledger.SettleAsync(new SettleRequest(first.HoldId!) { Amount = 2 }, Ct);
        Assert.Equal(firstSettled.Settled, again.Settled);
        Assert.Equal(10_000 - 2 - 7 - 4, (await Balance(customer, "credits")).Available);
        Assert.Null((await Ledger.SettleAsync(new SettleRequest(open.HoldId!) { Amount = 7 }, Ct)).Refusal);
        Assert.Null((await Ledger.ReleaseAsync(new ReleaseRequest(other.HoldId!), Ct)).Refusal);
        Assert.Equal(10_000 - 2 - 7, (await Balance(customer, "credits")).Available);
        await AssertBooksBalance(customer);
    }
}
