using System.Text.Json.Nodes;
using Tollgate.Core.Ledger;
using Tollgate.Core.Payments;
using Tollgate.Core.Subscriptions;

namespace Tollgate.Storage.Tests.Payments;

/// <summary>
/// Rules of the payment applier for one-time purchases: which outcome an event gets (applied, unmatched, later) and
/// for whom; a pack's payment recorded once and its credits granted once, times the quantity, expiring after the pack's
/// days; a second purchase of a once-per-customer pack flagged; a payment already recorded for another customer granting
/// nothing more; Tollgate's checkout completed (or failed) once with its event; a lifetime plan started once. Each test
/// names its rule. Run on SQLite and PostgreSQL.
/// </summary>
public abstract class PaymentApplierRules : ApplierTestBase
{
    /// <summary>A fact the applier has no rule for (a provider may add one before Tollgate knows it).</summary>
    private sealed record UnknownFact(PaymentLink Link) : PaymentFact(Link);

    [Fact]
    public async Task Rule_AnEventWithoutFacts_OrWithOnlyFactsTollgateDoesNotHandle_IsIgnored_ForNoOne()
    {
        Assert.Equal(new ApplyOutcome(WebhookStatus.Ignored, null, null), await Apply());
        Assert.Equal(new ApplyOutcome(WebhookStatus.Ignored, null, null), await Apply(new UnknownFact(For(NewCustomer()))));
    }

    [Fact]
    public async Task Rule_OfAnEventsFacts_TheWorstOutcomeWins_LaterOverUnmatchedOverApplied_AndTheFirstCustomerNamedIsKept()
    {
        var (c, d) = (NewCustomer(), NewCustomer());
        var applied = (string customer) => new CheckoutCompleted(For(customer), "ch_" + customer, null, null, CheckoutMode.Payment, false, null, null);
        var unmatched = new CheckoutCompleted(For(null), "ch_nobody", null, null, CheckoutMode.Payment, false, null, null);
        var later = new SubscriptionPaymentSucceeded(For(d), "sub_unknown", "tran_1", 1900, "USD", null, null);
        const string Unmatched = "checkout ch_nobody names no customer Tollgate knows";
        const string Later = "subscription sub_unknown is not known yet; its creation event has not arrived";

        Assert.Equal(ApplyOutcome.Applied(c), await Apply(applied(c)));
        Assert.Equal(ApplyOutcome.Applied(c), await Apply(applied(c), applied(d)));
        Assert.Equal(ApplyOutcome.Applied(c), await Apply(new UnknownFact(For(d)), applied(c)));
        Assert.Equal(ApplyOutcome.Applied(c), await Apply(applied(c), new UnknownFact(For(d))));
        Assert.Equal(new ApplyOutcome(WebhookStatus.Unmatched, c, Unmatched), await Apply(applied(c), unmatched));
        Assert.Equal(new ApplyOutcome(WebhookStatus.Unmatched, c, Unmatched), await Apply(unmatched, applied(c)));
        Assert.Equal(new ApplyOutcome(WebhookStatus.Failed, d, Later), await Apply(applied(c), later));
        Assert.Equal(new ApplyOutcome(WebhookStatus.Failed, d, Later), await Apply(later, applied(c)));
        Assert.Equal(new ApplyOutcome(WebhookStatus.Failed, d, Later), await Apply(later, unmatched));
        Assert.Equal(new ApplyOutcome(WebhookStatus.Failed, d, Later), await Apply(unmatched, later));
    }

    [Fact]
    public async Task Rule_ACheckoutForNoKnownCustomer_IsUnmatched_AndANotYetPaidOne_IsAppliedWithoutAPayment()
    {
        var c = NewCustomer();
        Assert.Equal(ApplyOutcome.Unmatched("checkout ch_1 names no customer Tollgate knows"),
            await Apply(Paid(For(null, "pack"), "ord_1", checkout: "ch_1")));
        // A customer id that is not one (metadata can be anything) names no customer either.
        Assert.Equal(ApplyOutcome.Unmatched("checkout ch_2 names no customer Tollgate knows"),
            await Apply(Paid(For("not a customer id!", "pack"), "ord_2", checkout: "ch_2")));

        var awaiting = new CheckoutCompleted(For(c, "pack"), "ch_3", "ord_3", null, CheckoutMode.Payment, false, 500, "USD");
        Assert.Equal(ApplyOutcome.Applied(c), await Apply(awaiting));

        Assert.Null(await Payments.FindPaymentAsync(Creem, ["ord_1", "ord_2", "ord_3"], CancellationToken.None));
        Assert.Equal(0, await Credits(c));
        Assert.Empty(Drain());
    }

    [Fact]
    public async Task Rule_APaidCheckoutForAProductTheCatalogDoesNotKnow_IsUnmatched_NamingTheProduct_AndRecordsNothing()
    {
        var c = NewCustomer();
        Assert.Equal(ApplyOutcome.Unmatched("checkout ch_1 is for a product the catalog does not know (none named)"),
            await Apply(Paid(For(c, "teleport"), "ord_1", checkout: "ch_1")));

        // A checkout Tollgate started for a product since removed from the catalog names it.
        await Payments.InsertCheckoutAsync(NewCheckout("chk_old", c, "retired", "ch_2"), CancellationToken.None);
        Assert.Equal(ApplyOutcome.Unmatched("checkout ch_2 is for a product the catalog does not know (retired)"),
            await Apply(Paid(For(null), "ord_2", checkout: "ch_2")));

        Assert.Null(await Payments.FindPaymentAsync(Creem, ["ord_1", "ord_2"], CancellationToken.None));
        Assert.Equal(CheckoutStatus.Open, (await Payments.GetCheckoutAsync("chk_old", CancellationToken.None))!.Status);
        Assert.Empty(Drain());
    }

    [Fact]
    public async Task Rule_APackPaid_IsRecordedOnce_AndGrantsItsCreditsTimesTheQuantity_ExpiringAfterThePacksDays_UnderTheKeyOfThePayment()
    {
        var c = NewCustomer();
        Assert.Equal(ApplyOutcome.Applied(c), await Apply(Paid(For(c, "pack"), "ord_1", amount: 1500, quantity: 3)));

        var payment = await PaymentOf("ord_1");
        Assert.Equal((c, Creem, PaymentKind.Pack, "pack", PaymentStatus.Completed), (payment.CustomerId, payment.Provider, payment.Kind, payment.Product, payment.Status));
        Assert.Equal((1500L, "USD", "ch_ord_1", "payment:creem:ord_1", 300L), (payment.Amount, payment.Currency, payment.ProviderCheckoutId, payment.LedgerRef, payment.Credits));
        Assert.Equal((0L, 0L, (string?)null, (string?)null, (string?)null), (payment.RefundedAmount, payment.CreditsClawed, payment.Flag, payment.SubscriptionId, payment.CheckoutId));
        Assert.Equal("{}", payment.Payload);
        Assert.Equal(Clock.GetUtcNow(), payment.CreatedAt);

        var lot = Assert.Single(await Ledger.GetAllLotsAsync(c));
        Assert.Equal(("credits", 300L, LotSource.Payment, "payment:creem:ord_1"), (lot.Feature, lot.Amount, lot.Source, lot.SourceRef));
        Assert.Equal(payment.CreatedAt.AddDays(30), lot.ExpiresAt);
        var grant = Assert.Single((await Ledger.GetEntriesAsync(c, null, 10)).Entries);
        Assert.Equal(("pack × 3 (creem ord_1)", "grant:payment:creem:ord_1"), (grant.Reference, grant.OperationKey));

        var emitted = Assert.Single(Emitted.Drain());
        Assert.Equal(("payment.succeeded", c), (emitted.Type, emitted.CustomerId));
        Assert.True(JsonNode.DeepEquals(new JsonObject
        {
            ["payment_id"] = payment.Id, ["provider"] = Creem, ["product"] = "pack", ["kind"] = "pack", ["amount"] = 1500, ["currency"] = "USD",
            ["subscription_id"] = null, ["customer_id"] = c,
        }, emitted.Data), emitted.Data.ToJsonString());

        // The same payment again (a retried delivery, or another event naming it): nothing more.
        Assert.Equal(ApplyOutcome.Applied(c), await Apply(Paid(For(c, "pack"), "ord_1", amount: 1500, quantity: 3)));
        Assert.Equal(300, await Credits(c));
        Assert.Empty(Drain());

        // One unit: no "× 1" in the reference.
        await Apply(Paid(For(c, "pack"), "ord_2"));
        Assert.Contains((await Ledger.GetEntriesAsync(c, null, 10)).Entries, e => e.Reference == "pack (creem ord_2)");
        Assert.Equal(400, await Credits(c));
    }

    [Fact]
    public async Task Rule_APackWithoutExpiry_GrantsCreditsThatNeverExpire_AndTheProviderOrderIdIsThePaymentsId_ElseItsCheckoutId()
    {
        var c = NewCustomer();
        await Apply(Paid(For(c, "starter"), "ord_1", amount: 100));
        await Apply(new CheckoutCompleted(For(c, "pack"), "ch_only", null, null, CheckoutMode.Payment, true, 500, "USD"));

        Assert.Equal("payment:creem:ch_only", (await PaymentOf("ch_only")).LedgerRef);
        var lots = await Ledger.GetAllLotsAsync(c);
        Assert.Null(Assert.Single(lots, l => l.SourceRef == "payment:creem:ord_1").ExpiresAt);
        Assert.NotNull(Assert.Single(lots, l => l.SourceRef == "payment:creem:ch_only").ExpiresAt);
        Assert.Equal(150, await Credits(c));
    }

    [Fact]
    public async Task Rule_ASecondPurchaseOfAOncePerCustomerPack_IsGranted_ForTheCustomerPaid_AndFlaggedForTheOperator()
    {
        var (c, d) = (NewCustomer(), NewCustomer());
        await Apply(Paid(For(c, "starter"), "ord_1", amount: 100));
        await Apply(Paid(For(d, "starter"), "ord_2", amount: 100));
        await Apply(Paid(For(c, "starter"), "ord_3", amount: 100));

        Assert.Null((await PaymentOf("ord_1")).Flag);
        Assert.Null((await PaymentOf("ord_2")).Flag);
        Assert.Equal("second purchase of once-per-customer pack starter; credits granted (the customer paid)", (await PaymentOf("ord_3")).Flag);
        Assert.Equal((100L, 50L), (await Credits(c), await Credits(d)));

        // A pack that is not once per customer is never flagged.
        await Apply(Paid(For(c, "pack"), "ord_4"));
        await Apply(Paid(For(c, "pack"), "ord_5"));
        Assert.Null((await PaymentOf("ord_5")).Flag);
    }

    [Fact]
    public async Task Rule_APaymentAlreadyRecordedForAnotherCustomer_GrantsNothingMore_AndTheOutcomeSaysWhoItBelongsTo()
    {
        var (c, d) = (NewCustomer(), NewCustomer());
        await Apply(Paid(For(c, "pack"), "ord_1"));
        Drain();

        Assert.Equal(new ApplyOutcome(WebhookStatus.Applied, c, $"payment ord_1 belongs to customer {c}; this event names {d}, who was granted nothing"),
            await Apply(Paid(For(d, "pack"), "ord_1")));
        Assert.Equal((100L, 0L), (await Credits(c), await Credits(d)));
        // What the payment was recorded as decides, not what the later event says (another pack, another quantity).
        await Apply(Paid(For(d, "starter"), "ord_1", quantity: 5));
        Assert.Equal((100L, 0L), (await Credits(c), await Credits(d)));
        Assert.Empty(Drain());
    }

    [Fact]
    public async Task Rule_ACheckoutTollgateStarted_FindsItsCustomerAndProduct_AndIsCompletedOnce_WithItsEvent()
    {
        var c = NewCustomer();
        await Payments.InsertCheckoutAsync(NewCheckout("chk_1", c, "pack", "ch_1"), CancellationToken.None);
        Clock.Advance(TimeSpan.FromMinutes(5));

        // By the provider's checkout id alone: no customer or product in the event.
        Assert.Equal(ApplyOutcome.Applied(c), await Apply(Paid(For(null), "ord_1", checkout: "ch_1")));
        var checkout = (await Payments.GetCheckoutAsync("chk_1", CancellationToken.None))!;
        Assert.Equal((CheckoutStatus.Completed, (string?)null, Clock.GetUtcNow(), (DateTimeOffset?)Clock.GetUtcNow()),
            (checkout.Status, checkout.Failure, checkout.UpdatedAt, checkout.CompletedAt));
        Assert.Equal("chk_1", (await PaymentOf("ord_1")).CheckoutId);
        Assert.Equal(100, await Credits(c));

        var events = Emitted.Drain();
        Assert.Equal(["payment.succeeded", "checkout.completed"], events.Select(e => e.Type));
        Assert.True(JsonNode.DeepEquals(new JsonObject { ["checkout_id"] = "chk_1", ["product"] = "pack", ["provider"] = Creem, ["customer_id"] = c },
            events[1].Data), events[1].Data.ToJsonString());

        Assert.Equal(ApplyOutcome.Applied(c), await Apply(Paid(For(null), "ord_1", checkout: "ch_1")));
        Assert.Empty(Drain());
        Assert.Equal(100, await Credits(c));
    }

    [Fact]
    public async Task Rule_ACheckoutNamedByTollgatesOwnId_BeatsTheMetadata_AndAFailedOneCompletesClearingItsFailure()
    {
        var (c, d) = (NewCustomer(), NewCustomer());
        await Payments.InsertCheckoutAsync(NewCheckout("chk_1", c, "pack", "ch_1") with { Status = CheckoutStatus.Failed, Failure = "card declined" },
            CancellationToken.None);

        // The provider's checkout id differs (a new session for the same checkout); the link carries Tollgate's id.
        Assert.Equal(ApplyOutcome.Applied(c), await Apply(Paid(For(d, "starter", checkoutId: "chk_1"), "ord_1", checkout: "ch_other")));
        var checkout = (await Payments.GetCheckoutAsync("chk_1", CancellationToken.None))!;
        Assert.Equal((CheckoutStatus.Completed, (string?)null), (checkout.Status, checkout.Failure));
        Assert.Equal(("pack", 100L, 0L), ((await PaymentOf("ord_1")).Product, await Credits(c), await Credits(d)));
    }

    [Fact]
    public async Task Rule_AFailedPaymentAttempt_FailsAnOpenCheckoutWithItsReason_ChangesNoOtherCheckout_AndIsUnmatchedForAnUnknownOne()
    {
        var c = NewCustomer();
        await Payments.InsertCheckoutAsync(NewCheckout("chk_1", c, "pack", "ch_1"), CancellationToken.None);
        await Payments.InsertCheckoutAsync(NewCheckout("chk_2", c, "pack", "ch_2") with { Status = CheckoutStatus.Completed }, CancellationToken.None);
        Clock.Advance(TimeSpan.FromMinutes(1));

        Assert.Equal(ApplyOutcome.Applied(c), await Apply(new CheckoutFailed(For(null), "ch_1", "card declined")));
        Assert.Equal(ApplyOutcome.Applied(c), await Apply(new CheckoutFailed(For(null), "ch_2", "card declined")));
        Assert.Equal(ApplyOutcome.Unmatched("failed checkout ch_3 is not one Tollgate started"), await Apply(new CheckoutFailed(For(c), "ch_3", "declined")));

        var failed = (await Payments.GetCheckoutAsync("chk_1", CancellationToken.None))!;
        Assert.Equal((CheckoutStatus.Failed, "card declined", Clock.GetUtcNow()), (failed.Status, failed.Failure, failed.UpdatedAt));
        var completed = (await Payments.GetCheckoutAsync("chk_2", CancellationToken.None))!;
        Assert.Equal((CheckoutStatus.Completed, (string?)null), (completed.Status, completed.Failure));
        Assert.Empty(Drain());
    }

    [Fact]
    public async Task Rule_ALifetimePlanPaid_StartsOneSubscriptionWithoutPeriods_KeyedByItsPayment_AndLinksThePaymentToIt()
    {
        var c = NewCustomer();
        Assert.Equal(ApplyOutcome.Applied(c), await Apply(Paid(For(c, "lifetime", providerCustomer: "cust_1"), "ord_L", amount: 9900)));

        var subscription = await SubscriptionOf("payment:ord_L");
        Assert.Equal((c, "lifetime", SubscriptionStatus.Active, "cust_1"), (subscription.CustomerId, subscription.PlanId, subscription.Status, subscription.ProviderCustomerId));
        Assert.Equal(((DateTimeOffset?)null, (DateTimeOffset?)null), (subscription.CurrentPeriodStart, subscription.CurrentPeriodEnd));
        var payment = await PaymentOf("ord_L");
        Assert.Equal((PaymentKind.Lifetime, "lifetime", subscription.Id, "allowance:" + subscription.Id, 0L),
            (payment.Kind, payment.Product, payment.SubscriptionId, payment.LedgerRef, payment.Credits));
        Assert.Equal(["payment.succeeded", "subscription.created"], Drain());
        Assert.Equal(c, await Payments.FindCustomerByProviderIdAsync(Creem, "cust_1", CancellationToken.None));

        // Again, and again for another customer: one subscription, for the customer who paid.
        var d = NewCustomer();
        Assert.Equal(ApplyOutcome.Applied(c), await Apply(Paid(For(c, "lifetime"), "ord_L", amount: 9900)));
        Assert.Equal(c, (await Apply(Paid(For(d, "lifetime"), "ord_L", amount: 9900))).CustomerId);
        Assert.Single(await Db.Database.Subscriptions.ListByCustomerAsync(c, CancellationToken.None));
        Assert.Empty(await Db.Database.Subscriptions.ListByCustomerAsync(d, CancellationToken.None));
        Assert.Empty(Drain());
    }

    [Fact]
    public async Task Rule_TheProductComesFromTheCheckout_ThenTheMetadata_ThenTheProvidersProductMapping_AndTheCustomerFromALinkedProviderCustomer()
    {
        var c = NewCustomer();
        await Payments.LinkProviderCustomerAsync(Creem, "cust_c", c, Clock.GetUtcNow(), CancellationToken.None);

        // Neither Tollgate's checkout nor metadata: the provider customer linked before, the product by its Creem id.
        Assert.Equal(ApplyOutcome.Applied(c), await Apply(Paid(For(null, providerCustomer: "cust_c", productRef: "prod_starter"), "ord_1", amount: 100)));
        Assert.Equal("starter", (await PaymentOf("ord_1")).Product);
        // The metadata's product beats the mapping.
        await Apply(Paid(For(c, "pack", productRef: "prod_starter"), "ord_2"));
        Assert.Equal("pack", (await PaymentOf("ord_2")).Product);
        // An unknown product in the metadata falls back on the mapping.
        await Apply(Paid(For(c, "teleport", productRef: "prod_pack"), "ord_3"));
        Assert.Equal("pack", (await PaymentOf("ord_3")).Product);
        // A provider customer not linked yet is linked to the customer the event names.
        await Apply(Paid(For(c, "pack", providerCustomer: "cust_new"), "ord_4"));
        Assert.Equal(c, await Payments.FindCustomerByProviderIdAsync(Creem, "cust_new", CancellationToken.None));
        Assert.Equal(350, await Credits(c));
    }

    [Fact]
    public async Task Rule_EveryPaymentRecorded_HasAPaymentId()
    {
        var c = NewCustomer();
        await Apply(Paid(For(c, "pack"), "ord_1"));
        await Apply(Paid(For(c, "lifetime"), "ord_2", amount: 9900));
        await Apply(Snapshot(For(c, productRef: "prod_pro"), "sub_1", Clock.GetUtcNow()));
        await Apply(new SubscriptionPaymentSucceeded(For(null), "sub_1", "tran_1", 1900, "USD", null, null));
        await Apply(new SubscriptionPaymentFailed(For(null), "sub_1", "tran_2", 1900, "USD"));

        foreach (var id in new[] { "ord_1", "ord_2", "tran_1", "tran_2" })
        {
            Assert.StartsWith("pay_", (await PaymentOf(id)).Id);
        }
    }

    [Fact]
    public async Task Rule_AnOrderRecordedAsOneKindOfPurchase_IsNotGrantedAsAnother_ByALaterEventNamingIt()
    {
        var c = NewCustomer();
        // Recorded as a lifetime plan: a later event naming the same order as a pack grants no credits.
        await Apply(Paid(For(c, "lifetime"), "ord_1", amount: 9900));
        await Apply(Paid(For(c, "pack"), "ord_1"));
        Assert.Equal(0, await Credits(c));

        // Recorded as a pack: a later event naming it as the lifetime plan starts no subscription.
        await Apply(Paid(For(c, "pack"), "ord_2"));
        await Apply(Paid(For(c, "lifetime"), "ord_2", amount: 9900));
        Assert.Single(await Db.Database.Subscriptions.ListByCustomerAsync(c, CancellationToken.None)); // ord_1's
        Assert.Equal(100, await Credits(c));

        // A lifetime purchase refunded before this event was applied starts nothing either.
        var d = NewCustomer();
        await Apply(Paid(For(d, "lifetime"), "ord_3", amount: 9900));
        var subscription = Assert.Single(await Db.Database.Subscriptions.ListByCustomerAsync(d, CancellationToken.None));
        await Apply(new RefundIssued(For(null), "ref_3", ["ord_3"], 9900, "USD", true));
        await Apply(Paid(For(d, "lifetime"), "ord_3", amount: 9900));
        Assert.Equal(SubscriptionStatus.Canceled, Assert.Single(await Db.Database.Subscriptions.ListByCustomerAsync(d, CancellationToken.None)).Status);
        Assert.Equal(subscription.Id, (await PaymentOf("ord_3")).SubscriptionId);
    }

    [Fact]
    public async Task Rule_APackBoughtZeroTimes_GrantsNothing_AndFailsNothing()
    {
        var c = NewCustomer();
        Assert.Equal(ApplyOutcome.Applied(c), await Apply(Paid(For(c, "pack"), "ord_1", amount: 0, quantity: 0)));
        Assert.Equal(0L, (await PaymentOf("ord_1")).Credits);
        Assert.Empty(await Ledger.GetAllLotsAsync(c));
    }

    [Fact]
    public async Task Rule_ALifetimePlanBoughtByItsProviderProduct_WithoutMetadata_StartsItsSubscription()
    {
        var c = NewCustomer();
        await Payments.LinkProviderCustomerAsync(Creem, "cust_c", c, Clock.GetUtcNow(), CancellationToken.None);

        Assert.Equal(ApplyOutcome.Applied(c), await Apply(Paid(For(null, providerCustomer: "cust_c", productRef: "prod_lifetime"), "ord_1", amount: 9900)));

        Assert.Equal("lifetime", (await SubscriptionOf("payment:ord_1")).PlanId);
    }

    private Checkout NewCheckout(string id, string customer, string product, string providerCheckoutId) =>
        new(id, customer, product, Creem, providerCheckoutId, "https://pay.example/" + providerCheckoutId, CheckoutStatus.Open, null, null,
            new Dictionary<string, string>(), null, Clock.GetUtcNow(), Clock.GetUtcNow(), null);
}

public sealed class SqlitePaymentApplierRules : PaymentApplierRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresPaymentApplierRules : PaymentApplierRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
