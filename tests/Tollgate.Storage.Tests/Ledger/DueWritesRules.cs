using Tollgate.Core.Ledger;

namespace Tollgate.Storage.Tests.Ledger;

/// <summary>
/// Rules of <see cref="DueWrites"/>, the writes a customer's plan owes (allowance grants, rollovers, the end of the
/// default plan's allowances). Each is keyed and written at most once: which keys it names decides which stored
/// operations a write loads and whether a cached view may be trusted, and "nothing owed" decides whether a write of
/// its own happens at all. The pure rules first, then the same rules through the engine. Each test names the rule.
/// </summary>
public abstract class DueWritesRules : LedgerTestBase
{
    private static GrantRequest Allowance(string customer, string key) =>
        new(customer, "ai_messages", 50, LotSource.PlanAllowance, key) { SourceRef = "allowance:default" };

    private static CarryRequest Carry(string customer, string key, DateTimeOffset start) =>
        new(customer, "ai_messages", 10, start, start.AddDays(30), "allowance:sub_1", key);

    private static RetireRequest Retire(string customer, string key) => new(customer, "allowance:default", key);

    [Fact]
    public void Rule_NothingIsOwed_OnlyWhenThereIsNoGrantNoCarryAndNoRetirement()
    {
        var c = NewCustomer();
        var now = DateTimeOffset.UnixEpoch;

        Assert.True(DueWrites.None.IsEmpty);
        Assert.True(new DueWrites([], null).IsEmpty);
        Assert.False(new DueWrites([Allowance(c, "g")], null).IsEmpty);
        Assert.False(new DueWrites([], Retire(c, "r")).IsEmpty);
        Assert.False(new DueWrites([], null) { Carries = [Carry(c, "k", now)] }.IsEmpty);
        Assert.Empty(DueWrites.None.Keys);
        Assert.Empty(new DueWrites([], null).Carries);
    }

    [Fact]
    public void Rule_TheKeysOfWhatIsOwed_AreEveryGrantsThenEveryCarrysThenTheRetirements()
    {
        var c = NewCustomer();
        var now = DateTimeOffset.UnixEpoch;
        var due = new DueWrites([Allowance(c, "g1"), Allowance(c, "g2")], Retire(c, "r"))
        {
            Carries = [Carry(c, "k1", now), Carry(c, "k2", now)],
        };

        Assert.Equal(["g1", "g2", "k1", "k2", "r"], due.Keys);
        Assert.Equal(["g1", "k1"], new DueWrites([Allowance(c, "g1")], null) { Carries = [Carry(c, "k1", now)] }.Keys);
        Assert.Equal(["r"], new DueWrites([], Retire(c, "r")).Keys);
    }

    [Fact]
    public void Rule_WhatIsOwedLessWhatIsWritten_LeavesOutExactlyTheWrittenKeys_AndNothingLeftIsNone()
    {
        var c = NewCustomer();
        var now = DateTimeOffset.UnixEpoch;
        var due = new DueWrites([Allowance(c, "g1"), Allowance(c, "g2")], Retire(c, "r"))
        {
            Carries = [Carry(c, "k1", now), Carry(c, "k2", now)],
        };

        // Nothing written: the same writes, unchanged.
        Assert.Same(due, due.Except(_ => false));
        // Some of each written: the rest, each kind kept apart.
        var rest = due.Except(key => key is "g1" or "k2" or "r");
        Assert.Equal(["g2", "k1"], rest.Keys);
        Assert.Equal(["g2"], rest.Grants.Select(g => g.IdempotencyKey));
        Assert.Equal(["k1"], rest.Carries.Select(k => k.IdempotencyKey));
        Assert.Null(rest.Retire);
        // Only one kind partly written, the others untouched: still the rest, not the same writes again.
        Assert.Equal(["g1", "g2", "k2", "r"], due.Except(key => key == "k1").Keys);
        Assert.Equal(["g1", "k1", "k2", "r"], due.Except(key => key == "g2").Keys);
        // Only the retirement left: it stays.
        var retireOnly = due.Except(key => key != "r");
        Assert.Equal((0, 0, "r"), (retireOnly.Grants.Count, retireOnly.Carries.Count, retireOnly.Retire!.IdempotencyKey));
        Assert.False(retireOnly.IsEmpty);
        // Each kind alone left: not nothing.
        Assert.Equal(["g1"], due.Except(key => key != "g1").Keys);
        Assert.Equal(["k2"], due.Except(key => key != "k2").Keys);
        // Everything written: nothing owed.
        Assert.Same(DueWrites.None, due.Except(_ => true));
    }

    [Fact]
    public async Task Rule_ARetirementAloneIsOwed_AReadShowsIt_AndAWriteOfItsOwnWritesItOnce()
    {
        var c = NewCustomer();
        await Ledger.GrantAsync(Allowance(c, "allowance:w1"));
        var due = new DueWrites([], Retire(c, "retire:default"));

        var shown = Ledger.BalancesOf(await Ledger.ReadAsync(c, [.. due.Keys]), Clock.GetUtcNow(), due);
        Assert.Equal(50, (await Balance(c, "ai_messages")).Available);
        Assert.Equal(0, shown.For("ai_messages").Available);

        await Ledger.ApplyDueAsync(c, due);
        await Ledger.GrantAsync(Allowance(c, "allowance:w2"));
        await Ledger.ApplyDueAsync(c, due); // written before: the second lot of the source stays

        Assert.Equal(50, (await Balance(c, "ai_messages")).Available);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Rule_ARetirementEndsTheSpentLotsOfItsSourceToo_SoAUsageReversedAfterItDoesNotBringTheAllowanceBack(bool owed)
    {
        var c = NewCustomer();
        await Ledger.GrantAsync(new GrantRequest(c, "ai_messages", 10, LotSource.SubscriptionPeriod, Key())
        {
            SourceRef = "allowance:sub_1:1",
            ExpiresAt = Clock.GetUtcNow().AddDays(30),
        });
        var used = await Consume(c, "ai_messages", 10); // the lot is spent: nothing left to retire, and not live
        var retire = new RetireRequest(c, "allowance:sub_1:1", "retire:sub_1:1");
        if (owed)
        {
            await Ledger.ApplyDueAsync(c, new DueWrites([], retire));
        }
        else
        {
            Assert.Equal(0, (await Ledger.RetireAsync(retire)).Retired);
        }

        Clock.Advance(TimeSpan.FromMinutes(1));
        var consume = (await AllEntries(c)).Single(e => e.EntryId == used.EntryId);
        var reversed = await Ledger.ReverseAsync(new ReverseRequest(c, used.EntryId, [consume]));

        // The usage is undone, but what it gives back belongs to an allowance that ended: it comes back expired.
        Assert.True(reversed.Succeeded, $"refused: {reversed.Refusal}");
        Assert.Equal(0, (await Balance(c, "ai_messages")).Available);
        await AssertBooksBalance(c);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Rule_ACarryAloneIsOwed_AWriteOfItsOwnWritesIt_Once_WhetherOrNotTheSweepEndedThePeriodFirst(bool swept)
    {
        var c = NewCustomer();
        var start = Clock.GetUtcNow();
        await Ledger.GrantAsync(new GrantRequest(c, "ai_messages", 30, LotSource.SubscriptionPeriod, "allowance:sub_1:1")
        {
            SourceRef = "allowance:sub_1:1",
            ExpiresAt = start.AddDays(30),
        });
        Clock.Advance(TimeSpan.FromDays(30));
        if (swept)
        {
            // The ended period's lot is no longer live: the carry finds it by its source's prefix.
            Assert.Equal(1, await Ledger.SweepAsync());
        }

        var due = new DueWrites([], null) { Carries = [Carry(c, "rollover:sub_1:2", Clock.GetUtcNow())] };

        await Ledger.ApplyDueAsync(c, due);
        await Ledger.ApplyDueAsync(c, due);

        // 30 unused at the window's end, carried up to the cap of 10, once.
        Assert.Equal(10, (await Balance(c, "ai_messages")).Available);
        await AssertBooksBalance(c);
    }
}

public sealed class SqliteDueWritesRules : DueWritesRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresDueWritesRules : DueWritesRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
