using System.Text.Json.Nodes;
using Tollgate.Core.Ledger;
using Tollgate.Core.Payments;
using Tollgate.Core.Subscriptions;

namespace Tollgate.Storage.Tests.Payments;

/// <summary>
/// Rules of the payment applier when money goes back: a refund's share of a pack's credits, rounded up on the
/// cumulative refunded total; a full refund, a refund reaching the amount paid and a dispute claw everything (what is
/// spent becomes debt) and revoke a lifetime plan; each reversal once, by its id; a refund reversed gives back what it
/// took; a consumption request noted once for the operator; a reversal of a payment not recorded yet waits for it.
/// Each test names its rule. Run on SQLite and PostgreSQL.
/// </summary>
public abstract class ApplierReversalRules : ApplierTestBase
{
    private async Task<string> BuyPack(string order = "ord_1")
    {
        var c = NewCustomer();
        await Apply(Paid(For(c, "pack"), order));
        Drain();
        return c;
    }

    private static RefundIssued Refund(string id, long amount, bool full = false, bool cumulative = false, string order = "ord_1") =>
        new(For(null), id, [order, "ch_" + order], amount, "USD", full, cumulative);

    [Fact]
    public async Task Rule_AReversalOfAPaymentNotRecordedYet_WaitsForIt_ForAKnownCustomer_AndIsUnmatchedOtherwise()
    {
        var c = NewCustomer();
        Assert.Equal(ApplyOutcome.Later(c, "ref_1: the payment it reverses (ord_x, ch_x) is not recorded yet"),
            await Apply(new RefundIssued(For(c), "ref_1", ["ord_x", "ch_x"], 500, "USD", true)));
        Assert.Equal(ApplyOutcome.Unmatched("ref_2 names no payment or customer Tollgate knows"),
            await Apply(new RefundIssued(For(null), "ref_2", ["ord_x"], 500, "USD", true)));
        Assert.Equal(ApplyOutcome.Later(c, "dp_1: the payment it reverses (ord_x) is not recorded yet"),
            await Apply(new DisputeOpened(For(c), "dp_1", ["ord_x"], 500, "USD")));
        Assert.Equal(ApplyOutcome.Unmatched("dp_2 names no payment or customer Tollgate knows"),
            await Apply(new DisputeOpened(For(null), "dp_2", ["ord_x"], 500, "USD")));
        Assert.Empty(Drain());
    }

    [Fact]
    public async Task Rule_APartialRefundOfAPack_ClawsItsShareRoundedUp_OnTheCumulativeRefundedTotal_AndThePaymentStaysCompleted()
    {
        var c = await BuyPack(); // 100 credits for 500

        Assert.Equal(ApplyOutcome.Applied(c), await Apply(Refund("ref_1", 1)));   // ⌈100 × 1/500⌉ = 1
        await Apply(Refund("ref_2", 1));                                          // ⌈100 × 2/500⌉ = 1: nothing more
        await Apply(Refund("ref_3", 7));                                          // ⌈100 × 9/500⌉ = 2: one more

        var payment = await PaymentOf("ord_1");
        Assert.Equal((PaymentStatus.Completed, 9L, 2L), (payment.Status, payment.RefundedAmount, payment.CreditsClawed));
        Assert.Equal(98, await Credits(c));

        var events = Emitted.Drain();
        Assert.Equal(["payment.refunded", "payment.refunded", "payment.refunded"], events.Select(e => e.Type));
        Assert.Equal([1L, 0L, 1L], events.Select(e => (long)e.Data["credits_clawed"]!));
        Assert.All(events, e => Assert.Equal("completed", (string?)e.Data["status"]));
        Assert.True(JsonNode.DeepEquals(new JsonObject
        {
            ["payment_id"] = payment.Id, ["provider"] = Creem, ["product"] = "pack", ["kind"] = "pack", ["amount"] = 500, ["currency"] = "USD",
            ["subscription_id"] = null, ["status"] = "completed", ["reversal_id"] = "ref_1", ["credits_clawed"] = 1, ["customer_id"] = c,
        }, events[0].Data), events[0].Data.ToJsonString());

        var clawbacks = (await Ledger.GetEntriesAsync(c, "credits", 10)).Entries.Where(e => e.Type == EntryType.Clawback).OrderBy(e => e.Seq).ToList();
        Assert.Equal(["refunded of pack (creem ref_1)", "refunded of pack (creem ref_3)"], clawbacks.Select(e => e.Reference));
        Assert.Equal([-1L, -1L], clawbacks.Select(e => e.Amount));
    }

    [Fact]
    public async Task Rule_ACumulativeRefundedAmount_ClawsTheShareOfWhatItAdds_AndReachingTheAmountPaid_IsAFullRefund()
    {
        var c = await BuyPack();

        await Apply(Refund("re_1", 250, cumulative: true));  // half: 50
        await Apply(Refund("re_2", 250, cumulative: true));  // the same total under another id: nothing more
        Assert.Equal((250L, 50L, PaymentStatus.Completed), await RefundState());
        await Apply(Refund("re_3", 500, cumulative: true));  // all of it: a full refund

        Assert.Equal((500L, 100L, PaymentStatus.Refunded), await RefundState());
        Assert.Equal((0L, 0L), (await Credits(c), await Debt(c)));
        Assert.Equal(["completed", "completed", "refunded"], Emitted.Drain().Select(e => (string)e.Data["status"]!));

        // A refund of the rest given as this refund's own amount (Creem) reaches the amount paid as well.
        var d = await BuyPack("ord_2");
        await Apply(Refund("ref_1", 200, order: "ord_2"));
        await Apply(Refund("ref_2", 300, order: "ord_2"));
        var second = await PaymentOf("ord_2");
        Assert.Equal((500L, 100L, PaymentStatus.Refunded), (second.RefundedAmount, second.CreditsClawed, second.Status));
        Assert.Equal(0, await Credits(d));
    }

    [Fact]
    public async Task Rule_AFullRefund_ClawsEveryCreditOfThePack_WhatWasSpentBecomingDebt_Once()
    {
        var c = await BuyPack();
        Assert.True((await Ledger.ConsumeAsync(new ConsumeRequest(c, "credits", 60, "use-60"))).Succeeded);

        Assert.Equal(ApplyOutcome.Applied(c), await Apply(Refund("ref_1", 500, full: true)));
        var payment = await PaymentOf("ord_1");
        Assert.Equal((PaymentStatus.Refunded, 500L, 100L), (payment.Status, payment.RefundedAmount, payment.CreditsClawed));
        Assert.Equal((0L, 60L), (await Credits(c), await Debt(c)));
        var refunded = Assert.Single(Emitted.Drain());
        Assert.Equal(("payment.refunded", "refunded", 100L), (refunded.Type, (string)refunded.Data["status"]!, (long)refunded.Data["credits_clawed"]!));

        // The same refund again (a retried delivery, or a replay): nothing more clawed, nothing counted twice.
        Assert.Equal(ApplyOutcome.Applied(c), await Apply(Refund("ref_1", 500, full: true)));
        payment = await PaymentOf("ord_1");
        Assert.Equal((500L, 100L), (payment.RefundedAmount, payment.CreditsClawed));
        Assert.Equal((0L, 60L), (await Credits(c), await Debt(c)));
        Assert.Empty(Drain());
    }

    [Fact]
    public async Task Rule_ADispute_ClawsEverythingWhateverItsAmount_AndMarksThePaymentDisputed()
    {
        var c = await BuyPack();

        Assert.Equal(ApplyOutcome.Applied(c), await Apply(new DisputeOpened(For(null), "dp_1", ["ord_1"], 100, "USD")));

        var payment = await PaymentOf("ord_1");
        Assert.Equal((PaymentStatus.Disputed, 100L, 100L), (payment.Status, payment.RefundedAmount, payment.CreditsClawed));
        Assert.Equal(0, await Credits(c));
        var disputed = Assert.Single(Emitted.Drain());
        Assert.Equal(("payment.disputed", "disputed", "dp_1"), (disputed.Type, (string)disputed.Data["status"]!, (string)disputed.Data["reversal_id"]!));
        Assert.Contains((await Ledger.GetEntriesAsync(c, "credits", 10)).Entries, e => e.Reference == "disputed of pack (creem dp_1)");
    }

    [Fact]
    public async Task Rule_ARefundTheProviderCallsFull_IsFull_WhateverItsAmount()
    {
        var c = await BuyPack();

        await Apply(Refund("ref_1", 100, full: true));

        var payment = await PaymentOf("ord_1");
        Assert.Equal((PaymentStatus.Refunded, 100L, 100L), (payment.Status, payment.RefundedAmount, payment.CreditsClawed));
        Assert.Equal(0, await Credits(c));
    }

    [Fact]
    public async Task Rule_AFullRefund_CountsTheCreditsItRevokedFromARunningJobsHold_AsClawed()
    {
        var c = await BuyPack();
        Assert.True((await Ledger.HoldAsync(new HoldRequest(c, "credits", 30, TimeSpan.FromHours(1), "job-1"))).Succeeded);

        await Apply(Refund("ref_1", 500, full: true));

        Assert.Equal(100L, (await PaymentOf("ord_1")).CreditsClawed); // 70 available + 30 held
        var credits = (await Ledger.GetBalancesAsync(c)).For("credits");
        Assert.Equal((0L, 0L, 0L), (credits.Available, credits.Held, credits.Debt));
    }

    [Fact]
    public async Task Rule_AFullRefundOfAPeriodsPayment_ClawsThatPeriodsWholeAllowance_EveryFeatureOfIt_AndEndsTheSubscription()
    {
        var c = NewCustomer();
        var start = Clock.GetUtcNow();
        await Apply(Snapshot(For(c, productRef: "prod_pro"), "sub_1", start));
        await Apply(new SubscriptionPaymentSucceeded(For(null), "sub_1", "tran_1", 1900, "USD", start, start.AddMonths(1)));
        var before = await Ledger.GetBalancesAsync(c);
        Assert.Equal((10L, 100L), (before.For("credits").Available, before.For("ai_messages").Available));

        await Apply(new RefundIssued(For(null), "ref_1", ["tran_1"], 1900, "USD", true));

        var subscription = await SubscriptionOf("sub_1");
        var period = (await Ledger.GetAllLotsAsync(c)).Where(l => l.SourceRef?.StartsWith("allowance:" + subscription.Id, StringComparison.Ordinal) == true).ToList();
        Assert.Equal(["ai_messages", "credits"], period.Select(l => l.Feature).Order());
        Assert.All(period, l => Assert.Equal(0, l.Remaining));
        Assert.Equal(SubscriptionStatus.Canceled, subscription.Status);
        var after = await Ledger.GetBalancesAsync(c);
        Assert.Equal((0L, 3L), (after.For("credits").Available, after.For("ai_messages").Available)); // the free plan's 3 again
        Assert.Equal(110L, (await PaymentOf("tran_1")).CreditsClawed);
    }

    [Fact]
    public async Task Rule_AFullRefundOfALifetimePlan_RevokesIt_APartialOneDoesNot_AndItsReversalRestoresIt()
    {
        var c = NewCustomer();
        await Apply(Paid(For(c, "lifetime"), "ord_L", amount: 9900));
        var subscription = await SubscriptionOf("payment:ord_L");

        await Apply(Refund("ref_1", 100, order: "ord_L"));
        Assert.Equal(SubscriptionStatus.Active, (await SubscriptionOf("payment:ord_L")).Status);

        Clock.Advance(TimeSpan.FromDays(3));
        await Apply(Refund("ref_2", 9800, order: "ord_L"));
        var revoked = await SubscriptionOf("payment:ord_L");
        Assert.Equal((subscription.Id, SubscriptionStatus.Canceled, (DateTimeOffset?)Clock.GetUtcNow()), (revoked.Id, revoked.Status, revoked.CanceledAt));
        // Applied again after a crash between the record and the revocation: revoked once, nothing else.
        await Apply(Refund("ref_2", 9800, order: "ord_L"));
        Assert.Equal(revoked.UpdatedAt, (await SubscriptionOf("payment:ord_L")).UpdatedAt);
        Drain();

        Assert.Equal(ApplyOutcome.Applied(c), await Apply(new RefundReversed(For(null), "rr_1", ["ord_L"])));
        var restored = await SubscriptionOf("payment:ord_L");
        Assert.Equal((SubscriptionStatus.Active, (DateTimeOffset?)null), (restored.Status, restored.CanceledAt));
        var payment = await PaymentOf("ord_L");
        Assert.Equal((PaymentStatus.Completed, 0L, 0L), (payment.Status, payment.RefundedAmount, payment.CreditsClawed));
    }

    [Fact]
    public async Task Rule_ARefundReversed_GivesBackWhatTheRefundClawed_FromTheSameSource_RepayingTheDebtFirst_Once()
    {
        var c = await BuyPack();
        var bought = await PaymentOf("ord_1");
        await Ledger.ConsumeAsync(new ConsumeRequest(c, "credits", 60, "use-60"));
        await Apply(Refund("ref_1", 500, full: true));
        Assert.Equal((0L, 60L), (await Credits(c), await Debt(c)));
        Drain();

        Assert.Equal(ApplyOutcome.Applied(c), await Apply(new RefundReversed(For(null), "rr_1", ["ord_1"])));

        Assert.Equal((40L, 0L), (await Credits(c), await Debt(c)));
        var payment = await PaymentOf("ord_1");
        Assert.Equal((PaymentStatus.Completed, 0L, 0L), (payment.Status, payment.RefundedAmount, payment.CreditsClawed));
        var regrant = (await Ledger.GetEntriesAsync(c, "credits", 10)).Entries.First(e => e.Type == EntryType.Grant);
        Assert.Equal(("refund of pack reversed (creem rr_1)", "grant:creem:rr_1"), (regrant.Reference, regrant.OperationKey));
        var lot = (await Ledger.GetAllLotsAsync(c)).OrderBy(l => l.Seq).Last();
        Assert.Equal((100L, "payment:creem:ord_1", (DateTimeOffset?)bought.CreatedAt.AddDays(30)), (lot.Amount, lot.SourceRef, lot.ExpiresAt));

        // Again: the payment reads completed, nothing is given twice; a later refund can take the credits again.
        await Apply(new RefundReversed(For(null), "rr_1", ["ord_1"]));
        Assert.Equal(40, await Credits(c));
        await Apply(Refund("ref_2", 500, full: true));
        Assert.Equal((0L, 60L), (await Credits(c), await Debt(c)));
    }

    [Fact]
    public async Task Rule_ARefundReversedOfAPaymentNotRefunded_ChangesNothing_AndOfOneNotRecorded_IsUnmatched()
    {
        var c = await BuyPack();
        Assert.Equal(ApplyOutcome.Applied(c), await Apply(new RefundReversed(For(null), "rr_1", ["ord_1"])));
        Assert.Equal(100, await Credits(c));
        Assert.Equal(PaymentStatus.Completed, (await PaymentOf("ord_1")).Status);

        Assert.Equal(ApplyOutcome.Unmatched("rr_2 names no payment Tollgate recorded (ord_x, ch_x)"),
            await Apply(new RefundReversed(For(c), "rr_2", ["ord_x", "ch_x"])));
        Assert.Empty(Drain());
    }

    [Fact]
    public async Task Rule_AConsumptionRequest_IsNotedOnThePaymentForTheOperator_OncePerEvent()
    {
        var c = await BuyPack();
        Clock.Set(new DateTimeOffset(2026, 12, 2, 9, 30, 0, TimeSpan.Zero));
        var asked = Event(new ConsumptionRequested(For(null), ["ord_1"], "UNINTENDED_PURCHASE"));

        Assert.Equal(ApplyOutcome.Applied(c), await Applier.ApplyAsync(asked, "{}", CancellationToken.None));
        Assert.Equal(ApplyOutcome.Applied(c), await Applier.ApplyAsync(asked, "{}", CancellationToken.None));
        Assert.Equal($"creem consumption request {asked.EventId} (UNINTENDED_PURCHASE) at 2026-12-02 09:30 UTC: the customer asked for a refund, "
            + "tell the provider how much was used", (await PaymentOf("ord_1")).Flag);

        var d = await BuyPack("ord_2");
        var noReason = Event(new ConsumptionRequested(For(null), ["ord_2"], null));
        await Applier.ApplyAsync(noReason, "{}", CancellationToken.None);
        Assert.Contains("(no reason given)", (await PaymentOf("ord_2")).Flag);

        Assert.Equal(ApplyOutcome.Unmatched("consumption request for ord_x, ch_x, a payment Tollgate has not recorded"),
            await Apply(new ConsumptionRequested(For(d), ["ord_x", "ch_x"], null)));
        Assert.Equal(100, await Credits(c));
    }

    private async Task<(long Refunded, long Clawed, PaymentStatus Status)> RefundState()
    {
        var payment = await PaymentOf("ord_1");
        return (payment.RefundedAmount, payment.CreditsClawed, payment.Status);
    }
}

public sealed class SqliteApplierReversalRules : ApplierReversalRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresApplierReversalRules : ApplierReversalRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
