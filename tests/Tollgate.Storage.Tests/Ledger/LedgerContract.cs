using Tollgate.Core.Ledger;

namespace Tollgate.Storage.Tests.Ledger;

/// <summary>The ledger's contract, run on SQLite and on PostgreSQL (see the two subclasses at the end).</summary>
public abstract class LedgerContract : LedgerTestBase
{
    private static readonly Spill ToCredits = new("credits", 1);

    [Fact]
    public async Task Grant_AddsALot_VisibleInBalancesAndLedger()
    {
        var c = NewCustomer();
        var result = await Grant(c, "credits", 60, LotSource.Payment, "pay_1", Clock.GetUtcNow().AddDays(365));

        Assert.True(result.Succeeded);
        Assert.StartsWith("lot_", result.LotId);
        Assert.Equal(60, result.Balance);
        var balance = await Balance(c, "credits");
        Assert.Equal(60, balance.Available);
        var lot = Assert.Single(balance.Lots);
        Assert.Equal((60, 60, "pay_1", LotSource.Payment), (lot.Amount, lot.Remaining, lot.SourceRef, lot.Source));
        var entry = Assert.Single(await AllEntries(c));
        Assert.Equal((EntryType.Grant, 60L, 60L, result.EntryId), (entry.Type, entry.Amount, entry.BalanceAfter, entry.EntryId));
    }

    [Fact]
    public async Task Grant_ReplayedWithSameKey_ReturnsFirstResultAndGrantsOnce()
    {
        var c = NewCustomer();
        var request = new GrantRequest(c, "credits", 100, LotSource.Payment, "order-42") { SourceRef = "pay_42" };

        var first = await Ledger.GrantAsync(request);
        var second = await Ledger.GrantAsync(request);

        Assert.False(first.Replayed);
        Assert.True(second.Replayed);
        Assert.Equal(first.LotId, second.LotId);
        Assert.Equal(first.EntryId, second.EntryId);
        Assert.Equal(100, (await Balance(c, "credits")).Available);
        Assert.Single(await AllEntries(c));
    }

    [Fact]
    public async Task Grant_KeyReusedWithDifferentRequest_IsRefusedAndChangesNothing()
    {
        var c = NewCustomer();
        await Ledger.GrantAsync(new GrantRequest(c, "credits", 100, LotSource.Payment, "k"));

        var reused = await Ledger.GrantAsync(new GrantRequest(c, "credits", 101, LotSource.Payment, "k"));

        Assert.Equal(LedgerRefusal.KeyReused, reused.Refusal);
        Assert.Equal(100, (await Balance(c, "credits")).Available);
    }

    [Fact]
    public async Task Grant_SameKeyForDifferentCustomers_AreIndependent()
    {
        var a = NewCustomer();
        var b = NewCustomer();

        var first = await Ledger.GrantAsync(new GrantRequest(a, "credits", 5, LotSource.Admin, "same"));
        var second = await Ledger.GrantAsync(new GrantRequest(b, "credits", 5, LotSource.Admin, "same"));

        Assert.False(second.Replayed);
        Assert.NotEqual(first.LotId, second.LotId);
    }

    [Fact]
    public async Task Grant_WhenTheBalanceWouldOverflow_IsRefusedAndChangesNothing()
    {
        var c = NewCustomer();
        await Grant(c, "credits", long.MaxValue - 1);

        var result = await Grant(c, "credits", 2);

        Assert.Equal(LedgerRefusal.Overflow, result.Refusal);
        Assert.Equal(long.MaxValue - 1, (await Balance(c, "credits")).Available);
        Assert.True((await Grant(c, "credits", 1)).Succeeded);
    }

    [Fact]
    public async Task Reverse_WhenTheBalanceWithWhatIsHeldWouldOverflow_IsRefusedAsAGrantIs_NothingWritten_AndTheCustomerStillWorks()
    {
        var c = NewCustomer();
        await Grant(c, "credits", long.MaxValue - 10);
        var used = await Consume(c, "credits", 10);
        await Grant(c, "credits", 20);
        var hold = await Hold(c, "credits", 20);
        var usage = (await AllEntries(c)).Where(e => e.EntryId == used.EntryId).ToList();
        var entries = (await AllEntries(c)).Count;

        // Written, the 10 put back plus the 20 held would pass 64 bits when the hold comes back: its release, or its
        // TTL at the next load, would throw in every later write of this customer.
        var refused = await Ledger.ReverseAsync(new ReverseRequest(c, used.EntryId, usage));

        Assert.Equal(LedgerRefusal.Overflow, refused.Refusal);
        var balance = await Balance(c, "credits");
        Assert.Equal((long.MaxValue - 20, 20L, 0L), (balance.Available, balance.Held, balance.Debt));
        Assert.Equal(entries, (await AllEntries(c)).Count);

        // The customer still works; refused, the reversal was not remembered: once there is room it is written.
        Assert.True((await Ledger.ReleaseAsync(new ReleaseRequest(hold.HoldId))).Succeeded);
        Assert.True((await Consume(c, "credits", 10)).Succeeded);
        var reversed = await Ledger.ReverseAsync(new ReverseRequest(c, used.EntryId, usage));
        Assert.Equal((true, 10L), (reversed.Succeeded, reversed.Restored));
        Assert.Equal(long.MaxValue, (await Balance(c, "credits")).Available);
        await AssertBooksBalance(c);
    }

    [Fact]
    public async Task Consume_TakesAllOrNothing()
    {
        var c = NewCustomer();
        await Grant(c, "credits", 10);

        var refused = await Consume(c, "credits", 11);
        var taken = await Consume(c, "credits", 10);

        Assert.Equal(LedgerRefusal.InsufficientBalance, refused.Refusal);
        Assert.Equal("credits", refused.ShortFeature);
        Assert.Equal(10, refused.Remaining);
        Assert.True(taken.Succeeded);
        Assert.Equal(0, taken.Remaining);
        Assert.Equal(2, (await AllEntries(c)).Count);
        await AssertBooksBalance(c);
    }

    [Fact]
    public async Task Consume_BurnsSoonestExpiryFirst_ThenAllowancesBeforePacks_ThenOldest()
    {
        var c = NewCustomer();
        var now = Clock.GetUtcNow();
        var packNoExpiry = await Grant(c, "credits", 5, LotSource.Payment);
        var olderPack = await Grant(c, "credits", 5, LotSource.Payment, expiresAt: now.AddDays(30));
        var allowance = await Grant(c, "credits", 5, LotSource.SubscriptionPeriod, expiresAt: now.AddDays(30));
        var soonest = await Grant(c, "credits", 5, LotSource.Payment, expiresAt: now.AddDays(2));
        var newerPack = await Grant(c, "credits", 5, LotSource.Payment, expiresAt: now.AddDays(30));

        var result = await Consume(c, "credits", 23);

        Assert.Equal(
            [(soonest.LotId, 5L), (allowance.LotId, 5L), (olderPack.LotId, 5L), (newerPack.LotId, 5L), (packNoExpiry.LotId, 3L)],
            result.Draws.Select(d => (d.LotId, d.Amount)).ToArray());
        Assert.Equal(2, result.Remaining);
        await AssertBooksBalance(c);
    }

    [Fact]
    public async Task Consume_WithPriorityFirstBurnOrder_BurnsLowerPriorityBeforeSoonerExpiry()
    {
        await using var engine = new LedgerEngine(Db.Database.Ledger, Clock,
            new LedgerOptions { BurnOrders = new Dictionary<string, BurnOrder> { ["credits"] = BurnOrder.PriorityFirst } });
        var c = NewCustomer();
        var now = Clock.GetUtcNow();
        var pack = await engine.GrantAsync(new GrantRequest(c, "credits", 5, LotSource.Payment, "a") { ExpiresAt = now.AddDays(1) });
        var promo = await engine.GrantAsync(new GrantRequest(c, "credits", 5, LotSource.Promo, "b") { ExpiresAt = now.AddDays(9) });

        var result = await engine.ConsumeAsync(new ConsumeRequest(c, "credits", 6, "c"));

        Assert.Equal([(promo.LotId, 5L), (pack.LotId, 1L)], result.Draws.Select(d => (d.LotId, d.Amount)).ToArray());
    }

    [Fact]
    public async Task Consume_ReplayedWithSameKey_ChargesOnce()
    {
        var c = NewCustomer();
        await Grant(c, "credits", 10);
        var request = new ConsumeRequest(c, "credits", 4, "usage-1");

        var first = await Ledger.ConsumeAsync(request);
        var replay = await Ledger.ConsumeAsync(request);
        var reused = await Ledger.ConsumeAsync(request with { Amount = 5 });

        Assert.True(replay.Replayed);
        Assert.Equal(first.EntryId, replay.EntryId);
        Assert.Equal(6, replay.Remaining);
        Assert.Equal(LedgerRefusal.KeyReused, reused.Refusal);
        Assert.Equal(6, (await Balance(c, "credits")).Available);
    }

    [Fact]
    public async Task Consume_ReplayedAfterTheBalanceRanOut_StillReturnsTheFirstResult()
    {
        // Regression: keys are checked optimistically at commit, so a replay that would now be refused must still
        // find its stored result instead of answering with the refusal.
        var c = NewCustomer();
        await Grant(c, "credits", 5);
        var request = new ConsumeRequest(c, "credits", 5, "usage-1");
        var first = await Ledger.ConsumeAsync(request);

        var replay = await Ledger.ConsumeAsync(request);
        var reused = await Ledger.ConsumeAsync(request with { Amount = 6 });

        Assert.True(replay.Replayed);
        Assert.Equal(first.EntryId, replay.EntryId);
        Assert.Equal(LedgerRefusal.KeyReused, reused.Refusal);
        Assert.Single(await AllEntries(c), e => e.Type == EntryType.Consume);
    }

    [Fact]
    public async Task Consume_RefusedThenRetriedWithSameKeyAfterTopUp_Succeeds()
    {
        var c = NewCustomer();
        var request = new ConsumeRequest(c, "credits", 4, "usage-1");

        var refused = await Ledger.ConsumeAsync(request);
        await Grant(c, "credits", 10);
        var retried = await Ledger.ConsumeAsync(request);

        Assert.Equal(LedgerRefusal.InsufficientBalance, refused.Refusal);
        Assert.True(retried.Succeeded);
        Assert.False(retried.Replayed);
    }

    [Fact]
    public async Task Consume_WithSpill_UsesTheAllowanceFirstThenCredits()
    {
        var c = NewCustomer();
        await Grant(c, "ai_messages", 3, LotSource.PlanAllowance);
        await Grant(c, "credits", 10);

        var result = await Consume(c, "ai_messages", 5, new Spill("credits", 2));

        Assert.True(result.Succeeded);
        Assert.Equal(0, result.Remaining);
        Assert.Equal(4, result.SpillCharged);
        Assert.Equal(6, result.SpillRemaining);
        Assert.Equal([("ai_messages", 3L), ("credits", 4L)], result.Draws.Select(d => (d.Feature, d.Amount)).ToArray());
        await AssertBooksBalance(c);
    }

    [Fact]
    public async Task Consume_WithSpill_WhenCreditsFallShort_ChangesNothing()
    {
        var c = NewCustomer();
        await Grant(c, "ai_messages", 3, LotSource.PlanAllowance);
        await Grant(c, "credits", 3);

        var result = await Consume(c, "ai_messages", 5, new Spill("credits", 2));

        Assert.Equal(LedgerRefusal.InsufficientBalance, result.Refusal);
        Assert.Equal("credits", result.ShortFeature);
        Assert.Equal(3, (await Balance(c, "ai_messages")).Available);
        Assert.Equal(3, (await Balance(c, "credits")).Available);
        Assert.Equal(2, (await AllEntries(c)).Count);
    }

    [Fact]
    public async Task Hold_ReservesCredits_AndSettlingPartOfIt_ReturnsTheRestToTheSameLots()
    {
        var c = NewCustomer();
        var now = Clock.GetUtcNow();
        var soon = await Grant(c, "credits", 30, expiresAt: now.AddDays(1));
        var later = await Grant(c, "credits", 30, expiresAt: now.AddDays(10));

        var hold = await Hold(c, "credits", 50);
        var during = await Balance(c, "credits");
        var settle = await Ledger.SettleAsync(new SettleRequest(hold.HoldId) { Amount = 35 });

        Assert.Equal((10L, 50L), (during.Available, during.Held));
        Assert.Equal([(soon.LotId, 30L), (later.LotId, 20L)], hold.Draws.Select(d => (d.LotId, d.Amount)).ToArray());
        Assert.Equal((HoldStatus.Settled, 35L, 15L), (settle.Status, settle.Settled, settle.Released));
        var after = await Balance(c, "credits");
        Assert.Equal((25L, 0L), (after.Available, after.Held));
        Assert.Equal(0, after.Lots.Single(l => l.LotId == later.LotId).Remaining - 25);
        Assert.DoesNotContain(after.Lots, l => l.LotId == soon.LotId);
        var settleEntry = (await AllEntries(c)).Last();
        Assert.Equal((EntryType.Settle, 15L, 35L), (settleEntry.Type, settleEntry.Amount, settleEntry.Settled!.Value));
        await AssertBooksBalance(c);
    }

    [Fact]
    public async Task Hold_Release_ReturnsEverything()
    {
        var c = NewCustomer();
        await Grant(c, "credits", 10);
        var hold = await Hold(c, "credits", 10);

        var released = await Ledger.ReleaseAsync(new ReleaseRequest(hold.HoldId));

        Assert.Equal((HoldStatus.Released, 0L, 10L), (released.Status, released.Settled, released.Released));
        Assert.Equal(10, (await Balance(c, "credits")).Available);
        await AssertBooksBalance(c);
    }

    [Fact]
    public async Task Hold_RefusalsLeaveEverythingAsItWas()
    {
        var c = NewCustomer();
        await Grant(c, "credits", 10);

        var tooBig = await Hold(c, "credits", 11);
        var hold = await Hold(c, "credits", 4);
        var overSettle = await Ledger.SettleAsync(new SettleRequest(hold.HoldId) { Amount = 5 });
        var unknown = await Ledger.SettleAsync(new SettleRequest("hold_nope"));
        var unknownRelease = await Ledger.ReleaseAsync(new ReleaseRequest("hold_nope"));
        await Ledger.SettleAsync(new SettleRequest(hold.HoldId));
        var again = await Ledger.SettleAsync(new SettleRequest(hold.HoldId));
        var releaseSettled = await Ledger.ReleaseAsync(new ReleaseRequest(hold.HoldId));

        Assert.Equal(LedgerRefusal.InsufficientBalance, tooBig.Refusal);
        Assert.Equal(LedgerRefusal.AmountExceedsHold, overSettle.Refusal);
        Assert.Equal(LedgerRefusal.HoldNotFound, unknown.Refusal);
        Assert.Equal(LedgerRefusal.HoldNotFound, unknownRelease.Refusal);
        Assert.Equal(LedgerRefusal.HoldNotActive, again.Refusal);
        Assert.Equal(LedgerRefusal.HoldNotActive, releaseSettled.Refusal);
        Assert.Equal(6, (await Balance(c, "credits")).Available);
        await AssertBooksBalance(c);
    }

    [Fact]
    public async Task Hold_ReplayedWithSameKey_ReservesOnce()
    {
        var c = NewCustomer();
        await Grant(c, "credits", 10);
        var request = new HoldRequest(c, "credits", 4, TimeSpan.FromMinutes(5), "job-1");

        var first = await Ledger.HoldAsync(request);
        var replay = await Ledger.HoldAsync(request);

        Assert.True(replay.Replayed);
        Assert.Equal(first.HoldId, replay.HoldId);
        Assert.Equal((6L, 4L), ((await Balance(c, "credits")).Available, (await Balance(c, "credits")).Held));
    }

    [Fact]
    public async Task Hold_PastItsTtl_IsNeitherHeldNorSettleable_AndTheSweepWritesTheRelease()
    {
        var c = NewCustomer();
        await Grant(c, "credits", 10);
        var hold = await Hold(c, "credits", 8, TimeSpan.FromMinutes(10));

        Clock.Advance(TimeSpan.FromMinutes(10) - TimeSpan.FromTicks(10));
        var justBefore = await Balance(c, "credits");
        Clock.Advance(TimeSpan.FromTicks(10));
        var atExpiry = await Balance(c, "credits");
        var view = await Ledger.GetHoldAsync(hold.HoldId);
        var settle = await Ledger.SettleAsync(new SettleRequest(hold.HoldId));

        Assert.Equal((2L, 8L), (justBefore.Available, justBefore.Held));
        Assert.Equal((10L, 0L), (atExpiry.Available, atExpiry.Held));
        Assert.Equal(HoldStatus.Expired, view!.Status);
        Assert.Equal(LedgerRefusal.HoldNotActive, settle.Refusal);
        Assert.Equal(HoldStatus.Expired, settle.Status);
        var release = (await AllEntries(c)).Last();
        Assert.Equal((EntryType.Release, 8L, hold.ExpiresAt), (release.Type, release.Amount, release.At));
        await AssertBooksBalance(c);
    }

    [Fact]
    public async Task Expiry_HappensAtTheExactInstant_EvenBeforeTheSweep()
    {
        var c = NewCustomer();
        var expiresAt = Clock.GetUtcNow().AddDays(30);
        await Grant(c, "credits", 10, expiresAt: expiresAt);
        await Consume(c, "credits", 4);

        Clock.Set(expiresAt.AddTicks(-10));
        var before = await Balance(c, "credits");
        var spendBefore = await Consume(c, "credits", 1);
        Clock.Set(expiresAt);
        var at = await Balance(c, "credits");
        var spendAt = await Consume(c, "credits", 1);

        Assert.Equal(6, before.Available);
        Assert.True(spendBefore.Succeeded);
        Assert.Equal(0, at.Available);
        Assert.Equal(LedgerRefusal.InsufficientBalance, spendAt.Refusal);
        var expire = Assert.Single(await AllEntries(c), e => e.Type == EntryType.Expire);
        Assert.Equal((-5L, expiresAt, 0L), (expire.Amount, expire.At, expire.BalanceAfter));
        await AssertBooksBalance(c);
    }

    [Fact]
    public async Task Sweep_WritesDueExpiries_OnceOnly()
    {
        var c = NewCustomer();
        var expiresAt = Clock.GetUtcNow().AddHours(1);
        await Grant(c, "credits", 10, expiresAt: expiresAt);
        await Grant(c, "credits", 7);

        Clock.Set(expiresAt.AddMinutes(1));
        var swept = await Ledger.SweepAsync();
        var sweptAgain = await Ledger.SweepAsync();

        Assert.Equal(1, swept);
        Assert.Equal(0, sweptAgain);
        Assert.Single(await AllEntries(c), e => e.Type == EntryType.Expire);
        Assert.Equal(7, (await Balance(c, "credits")).Available);
        await AssertBooksBalance(c);
    }

    [Fact]
    public async Task Expiry_NeverTakesHeldCredits_AndCreditsReleasedAfterExpiryExpireThen()
    {
        var c = NewCustomer();
        var expiresAt = Clock.GetUtcNow().AddHours(1);
        await Grant(c, "credits", 50, expiresAt: expiresAt);
        var settled = await Hold(c, "credits", 20, TimeSpan.FromHours(5));
        var released = await Hold(c, "credits", 10, TimeSpan.FromHours(5));

        Clock.Set(expiresAt.AddMinutes(5));
        var afterExpiry = await Balance(c, "credits");
        var settle = await Ledger.SettleAsync(new SettleRequest(settled.HoldId) { Amount = 15 });
        var release = await Ledger.ReleaseAsync(new ReleaseRequest(released.HoldId));

        Assert.Equal((0L, 30L), (afterExpiry.Available, afterExpiry.Held));
        Assert.Equal((15L, 5L), (settle.Settled, settle.Released));
        Assert.True(release.Succeeded);
        var final = await Balance(c, "credits");
        Assert.Equal((0L, 0L), (final.Available, final.Held));
        var expiries = (await AllEntries(c)).Where(e => e.Type == EntryType.Expire).Select(e => e.Amount).ToArray();
        Assert.Equal([-20L, -5L, -10L], expiries);
        await AssertBooksBalance(c);
    }

    [Fact]
    public async Task Clawback_TakesNewestLotsFirst_SpentCreditsBecomeDebt_RepaidByTheNextGrant()
    {
        var c = NewCustomer();
        await Grant(c, "credits", 100, sourceRef: "pay_A");
        await Grant(c, "credits", 40, sourceRef: "pay_B");
        await Consume(c, "credits", 120); // pay_A is oldest: 100 from A, 20 from B

        var clawback = await Ledger.ClawbackAsync(new ClawbackRequest(c, "pay_A", "refund-A"));
        var owing = await Balance(c, "credits");
        var topUp = await Grant(c, "credits", 150, sourceRef: "pay_C");
        var after = await Balance(c, "credits");

        Assert.Equal((0L, 0L, 100L), (clawback.Clawed, clawback.RevokedFromHolds, clawback.DebtCreated));
        Assert.Equal((20L, 100L, -80L), (owing.Available, owing.Debt, owing.Balance));
        Assert.Equal(100, topUp.DebtRepaid);
        Assert.Equal((70L, 0L), (after.Available, after.Debt));
        var debtEntry = Assert.Single(await AllEntries(c), e => e.Type == EntryType.Debt);
        Assert.Equal(-100, debtEntry.Amount);
        await AssertBooksBalance(c);
    }

    [Fact]
    public async Task Clawback_RemovesWhatRemains_NewestLotOfTheSourceFirst_AndStopsAtAPartialAmount()
    {
        var c = NewCustomer();
        var older = await Grant(c, "credits", 30, LotSource.SubscriptionPeriod, "sub_1");
        var newer = await Grant(c, "credits", 30, LotSource.SubscriptionPeriod, "sub_1");
        await Grant(c, "credits", 10, sourceRef: "other");

        var partial = await Ledger.ClawbackAsync(new ClawbackRequest(c, "sub_1", "r1") { Amount = 40 });

        Assert.Equal((40L, 0L), (partial.Clawed, partial.DebtCreated));
        var lots = (await Balance(c, "credits")).Lots;
        Assert.DoesNotContain(lots, l => l.LotId == newer.LotId);
        Assert.Equal(20, lots.Single(l => l.LotId == older.LotId).Remaining);
        var rest = await Ledger.ClawbackAsync(new ClawbackRequest(c, "sub_1", "r2"));
        Assert.Equal(20, rest.Clawed);
        var nothingLeft = await Ledger.ClawbackAsync(new ClawbackRequest(c, "sub_1", "r3"));
        Assert.Equal((0L, 0L), (nothingLeft.Clawed, nothingLeft.DebtCreated));
        Assert.Equal(10, (await Balance(c, "credits")).Available);
        await AssertBooksBalance(c);
    }

    [Fact]
    public async Task Clawback_ReplayedWithSameKey_ClawsOnce_AndAnUnknownSourceIsRefused()
    {
        var c = NewCustomer();
        await Grant(c, "credits", 50, sourceRef: "pay_1");
        await Consume(c, "credits", 10);

        var first = await Ledger.ClawbackAsync(new ClawbackRequest(c, "pay_1", "refund"));
        var replay = await Ledger.ClawbackAsync(new ClawbackRequest(c, "pay_1", "refund"));
        var unknown = await Ledger.ClawbackAsync(new ClawbackRequest(c, "pay_unknown", "refund-x"));

        Assert.True(replay.Replayed);
        Assert.Equal((first.Clawed, first.DebtCreated), (replay.Clawed, replay.DebtCreated));
        Assert.Equal(LedgerRefusal.SourceNotFound, unknown.Refusal);
        Assert.Equal(10, (await Balance(c, "credits")).Debt);
        await AssertBooksBalance(c);
    }

    [Fact]
    public async Task Clawback_OfHeldCredits_SettledBecomesDebt_ReleasedVanishes()
    {
        var c = NewCustomer();
        await Grant(c, "credits", 30, sourceRef: "pay_1");
        var settled = await Hold(c, "credits", 10);
        var released = await Hold(c, "credits", 10);

        var clawback = await Ledger.ClawbackAsync(new ClawbackRequest(c, "pay_1", "refund"));
        var during = await Balance(c, "credits");
        await Ledger.SettleAsync(new SettleRequest(settled.HoldId) { Amount = 6 });
        await Ledger.ReleaseAsync(new ReleaseRequest(released.HoldId));

        Assert.Equal((10L, 20L, 0L), (clawback.Clawed, clawback.RevokedFromHolds, clawback.DebtCreated));
        Assert.Equal((0L, 0L), (during.Available, during.Held));
        var final = await Balance(c, "credits");
        Assert.Equal((0L, 0L, 6L), (final.Available, final.Held, final.Debt));
        await AssertBooksBalance(c);
    }

    [Fact]
    public async Task Clawback_AfterExpiry_DoesNotChargeExpiredCreditsAsDebt()
    {
        var c = NewCustomer();
        var expiresAt = Clock.GetUtcNow().AddDays(1);
        await Grant(c, "credits", 100, sourceRef: "pay_1", expiresAt: expiresAt);
        await Consume(c, "credits", 30);
        Clock.Set(expiresAt.AddDays(1));

        var clawback = await Ledger.ClawbackAsync(new ClawbackRequest(c, "pay_1", "refund"));

        Assert.Equal((0L, 30L), (clawback.Clawed, clawback.DebtCreated));
        await AssertBooksBalance(c);
    }

    [Fact]
    public async Task Retire_EndsASourcesLotsNow_WithoutDebt_AndHeldCreditsExpireWhenTheyComeBack()
    {
        var c = NewCustomer();
        await Grant(c, "msgs", 50, LotSource.PlanAllowance, "allowance:default", Clock.GetUtcNow().AddDays(10));
        await Grant(c, "msgs", 7, LotSource.Admin, "other");
        await Consume(c, "msgs", 20);
        var hold = await Hold(c, "msgs", 5);

        var retired = await Ledger.RetireAsync(new RetireRequest(c, "allowance:default", "retire-1"));
        var replay = await Ledger.RetireAsync(new RetireRequest(c, "allowance:default", "retire-1"));
        var after = await Balance(c, "msgs");
        await Ledger.ReleaseAsync(new ReleaseRequest(hold.HoldId));
        var released = await Balance(c, "msgs");

        Assert.Equal(25, retired.Retired);
        Assert.True(replay.Replayed);
        Assert.Equal((7L, 0L, 5L), (after.Available, after.Debt, after.Held));
        Assert.Equal((7L, 0L), (released.Available, released.Held));
        await AssertBooksBalance(c);
    }

    [Fact]
    public async Task Entries_ArePagedNewestFirst_AndFilterByFeature()
    {
        var c = NewCustomer();
        for (var i = 1; i <= 5; i++)
        {
            await Grant(c, "credits", i);
        }

        await Grant(c, "ai_messages", 9, LotSource.PlanAllowance);

        var first = await Ledger.GetEntriesAsync(c, "credits", limit: 2);
        var second = await Ledger.GetEntriesAsync(c, "credits", limit: 2, before: first.Next);
        var third = await Ledger.GetEntriesAsync(c, "credits", limit: 2, before: second.Next);

        Assert.Equal([5L, 4L], first.Entries.Select(e => e.Amount));
        Assert.Equal([3L, 2L], second.Entries.Select(e => e.Amount));
        Assert.Equal([1L], third.Entries.Select(e => e.Amount));
        Assert.Null(third.Next);
        Assert.Single((await Ledger.GetEntriesAsync(c, "ai_messages")).Entries);
    }

    [Fact]
    public async Task Balances_OfAnUnknownCustomer_AreEmpty()
    {
        var balances = await Ledger.GetBalancesAsync(NewCustomer());

        Assert.Empty(balances.Features);
        Assert.Equal(0, balances.For("credits").Available);
    }
}

public sealed class SqliteLedgerContract : LedgerContract
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresLedgerContract : LedgerContract
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
