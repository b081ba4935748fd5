using Tollgate.Core.Ledger;

namespace Tollgate.Storage.Tests.Ledger;

/// <summary>
/// Rules of what the engine accepts, checked before a request reaches a lane (fail closed: a request the rules cannot
/// mean is an error to its caller, never a write). Each test names the rule, and checks that nothing was written.
/// The mutation run of <c>LedgerEngine.cs</c> found every one of these checks removable without a failing test.
/// Run on SQLite and on PostgreSQL (subclasses at the end).
/// </summary>
public abstract class LedgerInputRules : LedgerTestBase
{
    private const string Credits = "credits";

    /// <summary>Asserts <paramref name="write"/> throws <typeparamref name="T"/> and the customer's books are untouched.</summary>
    private async Task<T> RefusedAndNothingWritten<T>(string customer, Func<Task> write)
        where T : Exception
    {
        var before = await Balance(customer, Credits);
        var entriesBefore = (await AllEntries(customer)).Count;

        var error = await Assert.ThrowsAnyAsync<T>(write);

        var after = await Balance(customer, Credits);
        Assert.Equal((before.Available, before.Held, before.Debt), (after.Available, after.Held, after.Debt));
        Assert.Equal(entriesBefore, (await AllEntries(customer)).Count);
        return error;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public async Task Rule_AGrantConsumeOrHoldOfLessThanOneUnit_IsAnError(long amount)
    {
        var c = NewCustomer();
        await Grant(c, Credits, 10);

        await RefusedAndNothingWritten<ArgumentOutOfRangeException>(c,
            () => Ledger.GrantAsync(new GrantRequest(c, Credits, amount, LotSource.Payment, Key())));
        await RefusedAndNothingWritten<ArgumentOutOfRangeException>(c,
            () => Ledger.ConsumeAsync(new ConsumeRequest(c, Credits, amount, Key())));
        await RefusedAndNothingWritten<ArgumentOutOfRangeException>(c,
            () => Ledger.HoldAsync(new HoldRequest(c, Credits, amount, TimeSpan.FromMinutes(5), Key())));
        Assert.Equal(10, (await Balance(c, Credits)).Available);
    }

    [Fact]
    public async Task Rule_OneUnit_IsTheSmallestGrantConsumeAndHold()
    {
        var c = NewCustomer();

        var granted = await Ledger.GrantAsync(new GrantRequest(c, Credits, 1, LotSource.Payment, Key()));
        var held = await Ledger.HoldAsync(new HoldRequest(c, Credits, 1, TimeSpan.FromMinutes(5), Key()));
        await Ledger.ReleaseAsync(new ReleaseRequest(held.HoldId));
        var consumed = await Ledger.ConsumeAsync(new ConsumeRequest(c, Credits, 1, Key()));

        Assert.True(granted.Succeeded && held.Succeeded && consumed.Succeeded);
        Assert.Equal(0, (await Balance(c, Credits)).Available);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-60)]
    public async Task Rule_AHoldWithoutAPositiveTtl_IsAnError(int seconds)
    {
        var c = NewCustomer();
        await Grant(c, Credits, 10);

        await RefusedAndNothingWritten<ArgumentOutOfRangeException>(c,
            () => Ledger.HoldAsync(new HoldRequest(c, Credits, 1, TimeSpan.FromSeconds(seconds), Key())));
        Assert.Equal((10L, 0L), ((await Balance(c, Credits)).Available, (await Balance(c, Credits)).Held));
    }

    [Fact]
    public async Task Rule_ASpillIntoTheSameFeature_OrWithoutAFeature_OrAtNoCost_IsAnError_ForConsumesAndHolds()
    {
        var c = NewCustomer();
        await Grant(c, Credits, 10);
        await Grant(c, "ai_messages", 1, LotSource.PlanAllowance);
        (string Feature, Spill Spill)[] bad =
        [
            (Credits, new Spill(Credits, 1)),       // into itself
            ("ai_messages", new Spill("", 1)),      // into no feature
            ("ai_messages", new Spill(Credits, 0)), // at no cost
            ("ai_messages", new Spill(Credits, -2)),
        ];

        var itself = await RefusedAndNothingWritten<ArgumentException>(c,
            () => Ledger.ConsumeAsync(new ConsumeRequest(c, Credits, 2, Key()) { Spill = new Spill(Credits, 1) }));
        Assert.StartsWith("A feature cannot spill into itself.", itself.Message, StringComparison.Ordinal);
        foreach (var (feature, spill) in bad)
        {
            await RefusedAndNothingWritten<ArgumentException>(c,
                () => Ledger.ConsumeAsync(new ConsumeRequest(c, feature, 2, Key()) { Spill = spill }));
            await RefusedAndNothingWritten<ArgumentException>(c,
                () => Ledger.HoldAsync(new HoldRequest(c, feature, 2, TimeSpan.FromMinutes(5), Key()) { Spill = spill }));
        }

        Assert.Equal((10L, 1L), ((await Balance(c, Credits)).Available, (await Balance(c, "ai_messages")).Available));
    }

    [Fact]
    public async Task Rule_AConcurrencyHoldReservesSlotsNotCredits_SoItCannotSpill()
    {
        var c = NewCustomer();
        await Grant(c, Credits, 10);

        var error = await RefusedAndNothingWritten<ArgumentException>(c, () => Ledger.HoldAsync(
            new HoldRequest(c, "jobs", 1, TimeSpan.FromMinutes(5), Key()) { ConcurrencyLimit = 2, Spill = new Spill(Credits, 1) }));
        Assert.StartsWith("A concurrency hold reserves slots, not credits: it cannot spill.", error.Message, StringComparison.Ordinal);
        // Without the spill the same slot hold is taken.
        var slot = await Ledger.HoldAsync(new HoldRequest(c, "jobs", 1, TimeSpan.FromMinutes(5), Key()) { ConcurrencyLimit = 2 });
        Assert.True(slot.Succeeded, $"refused: {slot.Refusal}");
    }

    [Fact]
    public async Task Rule_ACountChangesByAtLeastOne_ADeltaOfZeroIsAnError()
    {
        var c = NewCustomer();
        await Ledger.CountAsync(new CountRequest(c, "seats", 2, Key()) { Limit = 5 });

        var error = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Ledger.CountAsync(new CountRequest(c, "seats", 0, Key()) { Limit = 5 }));
        Assert.StartsWith("A count changes by at least one.", error.Message, StringComparison.Ordinal);

        var next = await Ledger.CountAsync(new CountRequest(c, "seats", 1, Key()) { Limit = 5 });
        Assert.Equal(3, next.Level);
    }

    [Theory]
    [InlineData("not a customer id")]
    [InlineData("")]
    public async Task Rule_AnInvalidCustomerId_IsAnErrorForEveryWrite(string customer)
    {
        var error = await Assert.ThrowsAnyAsync<ArgumentException>(() => Ledger.GrantAsync(new GrantRequest(customer, Credits, 1, LotSource.Payment, Key())));
        Assert.StartsWith($"'{customer}' is not a valid customer id.", error.Message, StringComparison.Ordinal);
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Ledger.ConsumeAsync(new ConsumeRequest(customer, Credits, 1, Key())));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Ledger.HoldAsync(new HoldRequest(customer, Credits, 1, TimeSpan.FromMinutes(1), Key())));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Ledger.CountAsync(new CountRequest(customer, "seats", 1, Key())));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Ledger.RetireAsync(new RetireRequest(customer, "src", Key())));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Ledger.ClawbackAsync(new ClawbackRequest(customer, "src", Key())));
        // Entries that name the same invalid customer: the id is refused before the entries are read.
        var entry = new EntryRecord(customer, 1, "ent_x", Credits, EntryType.Consume, -1, 0, DateTimeOffset.UnixEpoch, [], null, null, null);
        var reversal = await Assert.ThrowsAnyAsync<ArgumentException>(() => Ledger.ReverseAsync(new ReverseRequest(customer, "ent_x", [entry])));
        Assert.StartsWith($"'{customer}' is not a valid customer id.", reversal.Message, StringComparison.Ordinal);
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Ledger.ApplyDueAsync(customer,
            new DueWrites([new GrantRequest(NewCustomer(), Credits, 1, LotSource.PlanAllowance, Key())], null)));
    }

    [Fact]
    public async Task Rule_AWriteWithoutAFeatureOrAnIdempotencyKey_IsAnError()
    {
        var c = NewCustomer();
        await Grant(c, Credits, 10);

        await RefusedAndNothingWritten<ArgumentException>(c, () => Ledger.GrantAsync(new GrantRequest(c, "", 1, LotSource.Payment, Key())));
        await RefusedAndNothingWritten<ArgumentException>(c, () => Ledger.GrantAsync(new GrantRequest(c, Credits, 1, LotSource.Payment, "")));
        await RefusedAndNothingWritten<ArgumentException>(c, () => Ledger.ConsumeAsync(new ConsumeRequest(c, Credits, 1, "")));
        await RefusedAndNothingWritten<ArgumentException>(c, () => Ledger.HoldAsync(new HoldRequest(c, Credits, 1, TimeSpan.FromMinutes(1), "")));
        await RefusedAndNothingWritten<ArgumentException>(c, () => Ledger.CountAsync(new CountRequest(c, "", 1, Key())));
        await RefusedAndNothingWritten<ArgumentException>(c, () => Ledger.RetireAsync(new RetireRequest(c, "src", "")));
        await RefusedAndNothingWritten<ArgumentException>(c, () => Ledger.ClawbackAsync(new ClawbackRequest(c, "src", "")));
        // A clawback may leave its feature out (all features of the source), but one it names is not empty.
        await RefusedAndNothingWritten<ArgumentException>(c, () => Ledger.ClawbackAsync(new ClawbackRequest(c, "src", Key()) { Feature = "" }));
        // A reversal's key is the entry it reverses.
        var used = await Consume(c, Credits, 2);
        var consume = (await AllEntries(c)).Single(e => e.EntryId == used.EntryId);
        await RefusedAndNothingWritten<ArgumentException>(c, () => Ledger.ReverseAsync(new ReverseRequest(c, "", [consume])));
        Assert.Equal(8, (await Balance(c, Credits)).Available);
    }

    [Fact]
    public async Task Rule_ARetireOrClawbackNamesTheSourceItTakesFrom_AnEmptySourceIsAnError()
    {
        var c = NewCustomer();
        await Grant(c, Credits, 10, sourceRef: "");
        await Grant(c, Credits, 5, sourceRef: "payment:1");

        await RefusedAndNothingWritten<ArgumentException>(c, () => Ledger.RetireAsync(new RetireRequest(c, "", Key())));
        await RefusedAndNothingWritten<ArgumentException>(c, () => Ledger.ClawbackAsync(new ClawbackRequest(c, "", Key())));
        Assert.Equal(15, (await Balance(c, Credits)).Available);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-3)]
    public async Task Rule_AClawbackOfAnAmountTakesAtLeastOneUnit_NoAmountMeansAllTheSourceGranted(long amount)
    {
        var c = NewCustomer();
        await Grant(c, Credits, 10, sourceRef: "payment:1");

        await RefusedAndNothingWritten<ArgumentOutOfRangeException>(c,
            () => Ledger.ClawbackAsync(new ClawbackRequest(c, "payment:1", Key()) { Amount = amount, Feature = Credits }));
        var one = await Ledger.ClawbackAsync(new ClawbackRequest(c, "payment:1", Key()) { Amount = 1, Feature = Credits });
        var all = await Ledger.ClawbackAsync(new ClawbackRequest(c, "payment:1", Key()));

        Assert.Equal((1L, 9L), (one.Clawed, all.Clawed));
        Assert.Equal(0, (await Balance(c, Credits)).Available);
    }

    [Fact]
    public async Task Rule_ASettleOfANegativeAmountIsAnError_AndLeavesTheHoldActive()
    {
        var c = NewCustomer();
        await Grant(c, Credits, 10);
        var hold = await Hold(c, Credits, 4);

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Ledger.SettleAsync(new SettleRequest(hold.HoldId) { Amount = -1 }));

        Assert.Equal(HoldStatus.Active, (await Ledger.GetHoldAsync(hold.HoldId))!.Status);
        var zero = await Ledger.SettleAsync(new SettleRequest(hold.HoldId) { Amount = 0 });
        Assert.Equal((0L, 4L), (zero.Settled, zero.Released));
        Assert.Equal(10, (await Balance(c, Credits)).Available);
    }

    [Fact]
    public async Task Rule_AReversalTakesTheConsumeEntriesOfItsOwnCustomer_AnythingElseIsAnError()
    {
        var c = NewCustomer();
        var other = NewCustomer();
        await Grant(c, Credits, 10);
        await Grant(other, Credits, 10);
        var used = await Consume(c, Credits, 3);
        var usedByOther = await Consume(other, Credits, 3);
        var entries = await AllEntries(c);
        var consume = entries.Single(e => e.EntryId == used.EntryId);
        var grant = entries.First(e => e.Type == EntryType.Grant);
        var othersConsume = (await AllEntries(other)).Single(e => e.EntryId == usedByOther.EntryId);

        var none = await RefusedAndNothingWritten<ArgumentException>(c, () => Ledger.ReverseAsync(new ReverseRequest(c, used.EntryId, [])));
        Assert.StartsWith("A reversal takes the consume entries of one customer's usage.", none.Message, StringComparison.Ordinal);
        await RefusedAndNothingWritten<ArgumentException>(c, () => Ledger.ReverseAsync(new ReverseRequest(c, used.EntryId, [consume, grant])));
        await RefusedAndNothingWritten<ArgumentException>(c, () => Ledger.ReverseAsync(new ReverseRequest(c, used.EntryId, [consume, othersConsume])));
        Assert.Equal((7L, 7L), ((await Balance(c, Credits)).Available, (await Balance(other, Credits)).Available));

        // Its own consume entries alone are reversed.
        var reversed = await Ledger.ReverseAsync(new ReverseRequest(c, used.EntryId, [consume]));
        Assert.True(reversed.Succeeded, $"refused: {reversed.Refusal}");
        Assert.Equal(10, (await Balance(c, Credits)).Available);
    }

    [Fact]
    public async Task Rule_APageOfEntriesHoldsAtLeastOne_ALimitBelowOneIsAnError()
    {
        var c = NewCustomer();
        await Grant(c, Credits, 1);
        await Grant(c, Credits, 2);

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Ledger.GetEntriesAsync(c, limit: 0));

        var page = await Ledger.GetEntriesAsync(c, limit: 1);
        Assert.Equal(2, Assert.Single(page.Entries).Amount);
    }

    [Fact]
    public async Task Rule_AHoldReadsAsExpiredAtTheExactInstantOfItsTtl_BeforeTheSweepWritesIt()
    {
        var c = NewCustomer();
        await Grant(c, Credits, 10);
        var hold = await Hold(c, Credits, 4, ttl: TimeSpan.FromMinutes(10));

        Clock.Advance(TimeSpan.FromMinutes(10) - TimeSpan.FromTicks(10));
        Assert.Equal(HoldStatus.Active, (await Ledger.GetHoldAsync(hold.HoldId))!.Status);
        Clock.Advance(TimeSpan.FromTicks(10));
        var expired = (await Ledger.GetHoldAsync(hold.HoldId))!;

        Assert.Equal((HoldStatus.Expired, expired.ExpiresAt), (expired.Status, expired.ClosedAt));
        Assert.Equal((10L, 0L), ((await Balance(c, Credits)).Available, (await Balance(c, Credits)).Held));
    }

    [Fact]
    public async Task Rule_WritesAPlanOwesAreWrittenOnTheirOwn_WhenNonEmpty_AndOnce()
    {
        var c = NewCustomer();
        var due = new DueWrites([new GrantRequest(c, "ai_messages", 50, LotSource.PlanAllowance, "allowance:" + c)], null);

        await Ledger.ApplyDueAsync(c, DueWrites.None);
        Assert.Empty(await AllEntries(c));
        await Ledger.ApplyDueAsync(c, due);
        await Ledger.ApplyDueAsync(c, due);

        Assert.Equal(50, (await Balance(c, "ai_messages")).Available);
        Assert.Single(await AllEntries(c));
    }
}

public sealed class SqliteLedgerInputRules : LedgerInputRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresLedgerInputRules : LedgerInputRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
