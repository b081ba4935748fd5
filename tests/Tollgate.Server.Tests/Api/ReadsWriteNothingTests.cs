using Tollgate.Server.Tests.Support;
using Tollgate.Storage;

namespace Tollgate.Server.Tests.Api;

/// <summary>
/// Issue 9, item 5 ("reads create customers"): balances, checks and refused usage or holds for an unknown id each
/// wrote a customer, a free-plan lot, an entry and an operation. DESIGN.md, "Free plan": reads answer from the plan
/// without writing anything; the allowance of a period is written on the customer's first write in that period.
/// </summary>
public abstract class ReadsWriteNothingTests : AppTestBase
{
    private static readonly string[] CustomerTables = ["customers", "ledger_lots", "ledger_entries", "ledger_operations", "ledger_holds"];

    [Fact]
    public async Task Bug_Issue9_5_ReadsAndRefusals_OfAnUnknownCustomer_WriteNothing_AndAnswerFromTheDefaultPlan()
    {
        var c = TollgateApp.NewCustomer();

        var balance = await App.BalanceAsync(c, "ai_messages");
        var check = await App.CheckAsync(c, "ai_messages", 50);
        var checkCredits = await App.CheckAsync(c, "credits", 1);
        await Json.ReadAsync(await Client.GetAsync($"/v1/customers/{c}/capabilities"), 200);
        await Json.ProblemAsync(await App.UseAsync(c, "credits", 5), 402, "insufficient_balance");
        await Json.ProblemAsync(await App.UseAsync(c, "ai_messages", 51), 402, "quota_exceeded");
        await Json.ProblemAsync(await App.PostAsync("/v1/holds", new { customer_id = c, feature = "credits", amount = 5 }, App.Key()), 402,
            "insufficient_balance");
        await Json.ProblemAsync(await App.UseAsync(c, "projects", 2), 402, "limit_reached");

        // The default plan's allowance is shown as it will be written...
        Assert.Equal((50L, 50L), ((long)balance["available"]!, (long)balance["limit"]!));
        Assert.Single(balance["lots"]!.AsArray());
        Assert.True((bool)check["allowed"]!);
        Assert.Equal((false, "insufficient_balance"), ((bool)checkCredits["allowed"]!, (string?)checkCredits["reason"]));
        // ...and nothing about the customer is stored.
        foreach (var table in CustomerTables)
        {
            Assert.True(await App.CountRowsAsync(table) == 0, $"{table} has rows after reads and refusals only");
        }

        await Json.ProblemAsync(await Client.GetAsync($"/v1/customers/{c}"), 404, "customer_not_found");
    }

    [Fact]
    public async Task FirstRealWrite_WritesTheAllowanceWithIt_InOneTransaction_Once()
    {
        var c = TollgateApp.NewCustomer();
        var promised = (string)(await App.BalanceAsync(c, "ai_messages"))["lots"]!.AsArray().Single()!["id"]!;

        var used = await Json.ReadAsync(await App.UseAsync(c, "ai_messages", 3), 200);
        var again = await Json.ReadAsync(await App.UseAsync(c, "ai_messages", 4), 200);

        Assert.Equal((47L, 43L), ((long)used["remaining"]!, (long)again["remaining"]!));
        var balance = await App.BalanceAsync(c, "ai_messages");
        Assert.Equal(43, (long)balance["available"]!);
        Assert.Equal(promised, (string)balance["lots"]!.AsArray().Single()!["id"]!);
        Assert.Equal(1, await App.CountRowsAsync("customers"));
        Assert.Equal(1, await App.CountRowsAsync("ledger_lots"));
        // One grant of the month's allowance, two consumes; operations: the allowance and the two usages.
        Assert.Equal(3, await App.CountRowsAsync("ledger_entries"));
        Assert.Equal(3, await App.CountRowsAsync("ledger_operations"));
        var ledger = await Json.ReadAsync(await Client.GetAsync($"/v1/customers/{c}/ledger"), 200);
        Assert.Equal(["consume", "consume", "grant"], ledger["entries"]!.AsArray().Select(e => (string)e!["type"]!));
    }

    [Fact]
    public async Task Bug_Issue9_5_ARefusedWriteOfAKnownCustomer_DoesNotWriteTheNewWindowsAllowance()
    {
        var c = TollgateApp.NewCustomer();
        await Json.ReadAsync(await App.UseAsync(c, "ai_messages", 1), 200);
        Assert.Equal(1, await App.CountRowsAsync("ledger_lots"));

        // A new month: its allowance is due, and a refused call must not write it (the old month's lot expiring is
        // time's doing, written by whichever write or sweep comes first).
        App.Clock.Advance(TimeSpan.FromDays(31));
        await Json.ProblemAsync(await App.UseAsync(c, "credits", 1), 402, "insufficient_balance");

        Assert.Equal(1, await App.CountRowsAsync("ledger_lots"));
        Assert.Equal(50, (long)(await App.BalanceAsync(c, "ai_messages"))["available"]!);
        Assert.Equal(49, (long)(await Json.ReadAsync(await App.UseAsync(c, "ai_messages", 1), 200))["remaining"]!);
        Assert.Equal(2, await App.CountRowsAsync("ledger_lots"));
    }
}

public sealed class SqliteReadsWriteNothingTests : ReadsWriteNothingTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresReadsWriteNothingTests : ReadsWriteNothingTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
