using Tollgate.Core.Ledger;

namespace Tollgate.Storage.Tests.Ledger;

/// <summary>
/// Rules at their exact boundaries, where an off-by-one (<c>&lt;</c> for <c>&lt;=</c>) passes every test that stays
/// clear of the edge. Each test names the rule it guards; run on SQLite and on PostgreSQL (subclasses at the end).
/// </summary>
public abstract class LedgerBoundaryRules : LedgerTestBase
{
    private static readonly Spill TwoCreditsEach = new("credits", 2);

    [Fact]
    public async Task Rule_SpillSucceedsWhenCreditsExactlyCoverTheOverflow_AndLeavesZero()
    {
        // Allowance 3, credits 4, consume 5 at 2 credits each: the 2 units beyond the allowance cost exactly 4.
        var c = NewCustomer();
        await Grant(c, "ai_messages", 3, LotSource.PlanAllowance);
        await Grant(c, "credits", 4);

        var result = await Consume(c, "ai_messages", 5, TwoCreditsEach);

        Assert.True(result.Succeeded, $"refused: {result.Refusal} short of {result.ShortFeature}");
        Assert.Equal((0L, 4L, 0L), (result.Remaining, result.SpillCharged, result.SpillRemaining!.Value));
        Assert.Equal((0L, 0L), ((await Balance(c, "ai_messages")).Available, (await Balance(c, "credits")).Available));
        await AssertBooksBalance(c);
    }

    [Fact]
    public async Task Rule_SpillIsRefusedWhenCreditsFallOneShortOfTheOverflow_AndChangesNothing()
    {
        var c = NewCustomer();
        await Grant(c, "ai_messages", 3, LotSource.PlanAllowance);
        await Grant(c, "credits", 3);

        var result = await Consume(c, "ai_messages", 5, TwoCreditsEach);

        Assert.Equal((LedgerRefusal.InsufficientBalance, "credits"), (result.Refusal, result.ShortFeature));
        Assert.Equal((3L, 3L), ((await Balance(c, "ai_messages")).Available, (await Balance(c, "credits")).Available));
    }

    [Fact]
    public async Task Rule_HoldWithSpillSucceedsWhenCreditsExactlyCoverTheOverflow_AndSettlingItAllLeavesZero()
    {
        var c = NewCustomer();
        await Grant(c, "ai_messages", 3, LotSource.PlanAllowance);
        await Grant(c, "credits", 4);

        var hold = await Hold(c, "ai_messages", 5, spill: TwoCreditsEach);
        var settled = await Ledger.SettleAsync(new SettleRequest(hold.HoldId));

        Assert.True(hold.Succeeded, $"refused: {hold.Refusal} short of {hold.ShortFeature}");
        Assert.Equal((5L, 0L), (settled.Settled, settled.Released));
        Assert.Equal((0L, 0L), ((await Balance(c, "ai_messages")).Available, (await Balance(c, "credits")).Available));
        await AssertBooksBalance(c);
    }

    [Fact]
    public async Task Rule_ConsumeOfExactlyTheAvailableBalanceSucceeds_WithoutTouchingTheSpill()
    {
        var c = NewCustomer();
        await Grant(c, "ai_messages", 5, LotSource.PlanAllowance);
        await Grant(c, "credits", 4);

        var result = await Consume(c, "ai_messages", 5, TwoCreditsEach);

        Assert.Equal((0L, 0L, 4L), (result.Remaining, result.SpillCharged, result.SpillRemaining!.Value));
        Assert.Equal(["ai_messages"], result.Draws.Select(d => d.Feature).Distinct());
        await AssertBooksBalance(c);
    }

    [Theory]
    [InlineData(BurnOrder.ExpiringFirst)]
    [InlineData(BurnOrder.PriorityFirst)]
    public async Task Rule_AmongLotsEqualInExpiryAndPriority_TheOldestBurnsFirst_EvenAmongMany(BurnOrder order)
    {
        // Enough alike lots (40) that the sort cannot fall back on keeping their input order: only the age tie-break
        // decides (small lists are insertion-sorted, which would hide a missing tie-break).
        await using var engine = new LedgerEngine(Db.Database.Ledger, Clock,
            Options with { BurnOrders = new Dictionary<string, BurnOrder> { ["credits"] = order } });
        var c = NewCustomer();
        var expiresAt = Clock.GetUtcNow().AddDays(30);
        var lots = new List<string>();
        for (var i = 0; i < 40; i++)
        {
            var grant = await engine.GrantAsync(new GrantRequest(c, "credits", 1, LotSource.Payment, $"g{i}") { ExpiresAt = expiresAt });
            lots.Add(grant.LotId);
        }

        var result = await engine.ConsumeAsync(new ConsumeRequest(c, "credits", 25, "use"));

        Assert.Equal(lots.Take(25), result.Draws.Select(d => d.LotId));
    }
}

public sealed class SqliteLedgerBoundaryRules : LedgerBoundaryRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresLedgerBoundaryRules : LedgerBoundaryRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
