using System.Text;
using Tollgate.Core.Payments;
using Tollgate.Providers.Apple;
using Tollgate.Testing.Fakes;

namespace Tollgate.Providers.Tests.Apple;

/// <summary>App Store notifications and forwarded transactions, read into Tollgate's normalized facts.</summary>
public sealed class AppleEventTests
{
    private const string Monthly = "com.example.pro.monthly";
    private const string Basic = "com.example.basic.monthly";
    private static readonly DateTimeOffset T0 = new(2026, 1, 15, 9, 0, 0, TimeSpan.Zero);
    private static readonly FakeAppStore Store = new(AppleTestPki.Default);
    private static readonly AppleAppStore Provider = PaymentProviders.CreateApple(
        new AppleOptions { BundleId = FakeAppStore.BundleId, AdditionalRoots = [AppleTestPki.Default.Root] }, TimeProvider.System);

    private static AppleTransactionPayload Period(string id, DateTimeOffset start, string product = Monthly) =>
        new(id, product, AppleTransactionPayload.AutoRenewable, start) { OriginalTransactionId = "1000", ExpiresDate = start.AddMonths(1) };

    private static AppleRenewalPayload Renewal(DateTimeOffset at, string? next = null, bool autoRenew = true, DateTimeOffset? grace = null) =>
        new("1000", Monthly, at) { AutoRenewProductId = next, AutoRenew = autoRenew, GracePeriodExpiresDate = grace };

    private static ProviderEvent Parse(string type, string? subtype, AppleTransactionPayload? t, AppleRenewalPayload? r = null, int? status = null,
        string uuid = "5a1b3c4d-0000-4000-8000-000000000001")
    {
        var body = Encoding.UTF8.GetBytes(Store.Body(Store.Notification(type, subtype, T0.AddMinutes(1), t, r, status, uuid)));
        Assert.Equal(WebhookVerification.Valid, Provider.VerifyWebhook(new Dictionary<string, string>(), body, T0));
        return Provider.ParseWebhook(body);
    }

    [Fact]
    public void Subscribed_IsTheSubscriptionsStateAndItsFirstPaidPeriod()
    {
        var e = Parse("SUBSCRIBED", "INITIAL_BUY", Period("1000", T0) with { AppAccountToken = "6f0c3a5e-3c1f-4f37-8f62-0f7f8b1d2e3a" }, Renewal(T0), status: 1);

        Assert.Equal(("apple", "5a1b3c4d-0000-4000-8000-000000000001", "SUBSCRIBED.INITIAL_BUY", T0.AddMinutes(1)),
            (e.Provider, e.EventId, e.EventType, e.OccurredAt));
        var snapshot = Assert.IsType<SubscriptionSnapshot>(e.Facts[0]);
        Assert.Equal(("1000", ProviderSubscriptionStatus.Active, T0, T0.AddMonths(1), false, T0.AddMonths(1)),
            (snapshot.ProviderSubscriptionId, snapshot.Status, snapshot.CurrentPeriodStart, snapshot.CurrentPeriodEnd, snapshot.CancelAtPeriodEnd, snapshot.AccessEndsAt));
        Assert.Equal(("6f0c3a5e-3c1f-4f37-8f62-0f7f8b1d2e3a", Monthly, null), (snapshot.Link.ProviderCustomerId, snapshot.Link.ProviderProductRef, snapshot.Link.CustomerId));
        var paid = Assert.IsType<SubscriptionPaymentSucceeded>(e.Facts[1]);
        Assert.Equal(("1000", "1000", 499L, "USD", T0, T0.AddMonths(1)),
            (paid.ProviderSubscriptionId, paid.ProviderPaymentId, paid.Amount, paid.Currency, paid.PeriodStart, paid.PeriodEnd));
        Assert.Equal(2, e.Facts.Count);
    }

    [Fact]
    public void DidRenew_PaysTheNextPeriod_UnderTheSameOriginalTransaction()
    {
        var e = Parse("DID_RENEW", null, Period("1001", T0.AddMonths(1)), Renewal(T0.AddMonths(1)), status: 1);

        var paid = Assert.IsType<SubscriptionPaymentSucceeded>(e.Facts[1]);
        Assert.Equal(("1000", "1001", T0.AddMonths(1), T0.AddMonths(2)), (paid.ProviderSubscriptionId, paid.ProviderPaymentId, paid.PeriodStart, paid.PeriodEnd));
    }

    [Theory]
    [InlineData("AUTO_RENEW_DISABLED", false, true)]
    [InlineData("AUTO_RENEW_ENABLED", true, false)]
    public void DidChangeRenewalStatus_CancelsAtPeriodEnd_OrResumes(string subtype, bool autoRenew, bool cancelAtPeriodEnd)
    {
        var e = Parse("DID_CHANGE_RENEWAL_STATUS", subtype, Period("1000", T0), Renewal(T0, autoRenew: autoRenew), status: 1);

        var snapshot = Assert.IsType<SubscriptionSnapshot>(Assert.Single(e.Facts));
        Assert.Equal((ProviderSubscriptionStatus.Active, cancelAtPeriodEnd), (snapshot.Status, snapshot.CancelAtPeriodEnd));
    }

    [Fact]
    public void ADowngrade_IsScheduledForTheNextRenewal()
    {
        var e = Parse("DID_CHANGE_RENEWAL_PREF", "DOWNGRADE", Period("1000", T0), Renewal(T0, next: Basic), status: 1);

        Assert.IsType<SubscriptionSnapshot>(e.Facts[0]);
        var scheduled = Assert.IsType<PlanChangeScheduled>(e.Facts[1]);
        Assert.Equal(("1000", Basic), (scheduled.ProviderSubscriptionId, scheduled.ProviderProductRef));
        Assert.Equal(2, e.Facts.Count);
    }

    [Fact]
    public void AnUpgrade_TakesEffectNow_WithANewlyPaidPeriodOfTheNewProduct()
    {
        var upgraded = Period("1005", T0.AddDays(10), product: "com.example.max.monthly");

        var e = Parse("DID_CHANGE_RENEWAL_PREF", "UPGRADE", upgraded, Renewal(T0.AddDays(10), next: "com.example.max.monthly"), status: 1);

        Assert.Equal("com.example.max.monthly", Assert.IsType<SubscriptionSnapshot>(e.Facts[0]).Link.ProviderProductRef);
        Assert.Equal("1005", Assert.IsType<SubscriptionPaymentSucceeded>(e.Facts[1]).ProviderPaymentId);
        Assert.Equal(2, e.Facts.Count);
    }

    [Fact]
    public void AFailedRenewalInABillingGracePeriod_KeepsAccessUntilTheGraceEnds()
    {
        var graceEnd = T0.AddMonths(1).AddDays(16);

        var e = Parse("DID_FAIL_TO_RENEW", "GRACE_PERIOD", Period("1000", T0), Renewal(T0.AddMonths(1), grace: graceEnd), status: 4);

        var snapshot = Assert.IsType<SubscriptionSnapshot>(Assert.Single(e.Facts));
        Assert.Equal((ProviderSubscriptionStatus.PastDue, T0.AddMonths(1), graceEnd), (snapshot.Status, snapshot.CurrentPeriodEnd, snapshot.AccessEndsAt));
    }

    [Fact]
    public void AFailedRenewalWithoutGrace_EndsAccessAtThePeriodEnd()
    {
        var e = Parse("DID_FAIL_TO_RENEW", null, Period("1000", T0), Renewal(T0.AddMonths(1)), status: 3);

        var snapshot = Assert.IsType<SubscriptionSnapshot>(Assert.Single(e.Facts));
        Assert.Equal((ProviderSubscriptionStatus.PastDue, T0.AddMonths(1)), (snapshot.Status, snapshot.AccessEndsAt));
    }

    [Theory]
    [InlineData("EXPIRED", "VOLUNTARY", 2)]
    [InlineData("EXPIRED", "BILLING_RETRY", null)]
    [InlineData("GRACE_PERIOD_EXPIRED", null, null)]
    public void Expiry_EndsTheSubscription(string type, string? subtype, int? status)
    {
        var e = Parse(type, subtype, Period("1000", T0), Renewal(T0.AddMonths(1), autoRenew: false), status);

        Assert.Equal(ProviderSubscriptionStatus.Expired, Assert.IsType<SubscriptionSnapshot>(Assert.Single(e.Facts)).Status);
    }

    [Theory]
    [InlineData("REFUND")]
    [InlineData("REVOKE")]
    public void ARefundOrRevocation_ReversesTheTransactionInFull(string type)
    {
        var revoked = new AppleTransactionPayload("3000", "com.example.credits60", AppleTransactionPayload.Consumable, T0) { RevocationDate = T0.AddDays(3) };

        var e = Parse(type, null, revoked);

        var refund = Assert.IsType<RefundIssued>(Assert.Single(e.Facts));
        Assert.Equal(["3000"], refund.PaymentIds);
        Assert.Equal((499L, "USD", true), (refund.Amount, refund.Currency, refund.FullyRefunded));
        Assert.Equal("refund:3000:" + T0.AddDays(3).ToUnixTimeMilliseconds(), refund.ProviderRefundId);
    }

    [Fact]
    public void ARefundReversed_RestoresThePayment_KeyedByTheNotification()
    {
        var e = Parse("REFUND_REVERSED", null, new AppleTransactionPayload("3000", "com.example.credits60", AppleTransactionPayload.Consumable, T0),
            uuid: "5a1b3c4d-0000-4000-8000-00000000abcd");

        var reversed = Assert.IsType<RefundReversed>(Assert.Single(e.Facts));
        Assert.Equal("refund_reversed:5a1b3c4d-0000-4000-8000-00000000abcd", reversed.ProviderReversalId);
        Assert.Equal(["3000"], reversed.PaymentIds);
    }

    [Fact]
    public void AConsumptionRequest_NamesTheTransactionAndApplesReason()
    {
        var notification = Store.Notification("CONSUMPTION_REQUEST", null, T0.AddDays(2),
            new AppleTransactionPayload("3000", "com.example.credits60", AppleTransactionPayload.Consumable, T0));
        notification["data"]!["consumptionRequestReason"] = "UNINTENDED_PURCHASE";

        var e = Provider.ParseWebhook(Encoding.UTF8.GetBytes(Store.Body(notification)));

        var request = Assert.IsType<ConsumptionRequested>(Assert.Single(e.Facts));
        Assert.Equal(["3000"], request.PaymentIds);
        Assert.Equal("UNINTENDED_PURCHASE", request.Reason);
    }

    [Fact]
    public void TheTestNotification_HasNoFacts() => Assert.Empty(Parse("TEST", null, null).Facts);

    [Fact]
    public void AOneTimeChargeOfAConsumable_IsACompletedPurchase()
    {
        var e = Parse("ONE_TIME_CHARGE", null, new AppleTransactionPayload("3001", "com.example.credits60", AppleTransactionPayload.Consumable, T0));

        var purchase = Assert.IsType<CheckoutCompleted>(Assert.Single(e.Facts));
        Assert.Equal(("3001", "3001", CheckoutMode.Payment, true), (purchase.ProviderCheckoutId, purchase.ProviderOrderId, purchase.Mode, purchase.Paid));
    }

    [Fact]
    public void AForwardedTransaction_IsKeyedByItsTransactionId_AndDatedAtItsPurchase()
    {
        var check = Provider.CheckTransaction(Store.SignTransaction(Period("1000", T0) with { SignedDate = T0.AddDays(5) }), "cus_42");

        var e = check.Event!;
        Assert.Equal(("transaction:1000", "TRANSACTION", T0), (e.EventId, e.EventType, e.OccurredAt));
        Assert.Equal("cus_42", e.Facts[0].Link.CustomerId);
        Assert.Equal(ProviderSubscriptionStatus.Active, Assert.IsType<SubscriptionSnapshot>(e.Facts[0]).Status);
        // The inbox stores the forwarded transaction, and reads it back to the same event.
        var again = Provider.ParseWebhook(Encoding.UTF8.GetBytes(check.Payload!));
        Assert.Equal((e.EventId, e.OccurredAt, e.Facts.Count), (again.EventId, again.OccurredAt, again.Facts.Count));
        Assert.Equal("cus_42", again.Facts[1].Link.CustomerId);
    }

    [Fact]
    public void AForwardedTransactionOfAPeriodThatHadEnded_RecordsThePaymentWithoutMakingTheSubscriptionCurrent()
    {
        var check = Provider.CheckTransaction(Store.SignTransaction(Period("1000", T0) with { SignedDate = T0.AddMonths(2) }), "cus_42");

        Assert.Equal(ProviderSubscriptionStatus.Expired, Assert.IsType<SubscriptionSnapshot>(check.Event!.Facts[0]).Status);
        var paid = Assert.IsType<SubscriptionPaymentSucceeded>(check.Event.Facts[1]);
        Assert.Equal((T0, null), (paid.PeriodStart, paid.PeriodEnd));
    }

    [Fact]
    public void AForwardedRevokedTransaction_IsThePurchaseAndItsRefund_UnderAnotherId()
    {
        var revoked = new AppleTransactionPayload("3000", "com.example.credits60", AppleTransactionPayload.Consumable, T0) { RevocationDate = T0.AddDays(1) };

        var e = Provider.CheckTransaction(Store.SignTransaction(revoked), "cus_42").Event!;

        Assert.Equal("transaction:3000:revoked:" + T0.AddDays(1).ToUnixTimeMilliseconds(), e.EventId);
        Assert.IsType<CheckoutCompleted>(e.Facts[0]);
        Assert.IsType<RefundIssued>(e.Facts[1]);
    }

    [Theory]
    [InlineData(4990, "USD", 1, 499)]
    [InlineData(4995, "USD", 1, 500)]
    [InlineData(160000, "JPY", 1, 160)]
    [InlineData(1990, "KWD", 1, 1990)]
    [InlineData(990, "EUR", 3, 297)]
    public void PricesInMilliunits_BecomeMinorUnits(long milli, string currency, int quantity, long expected)
    {
        var t = new AppleTransactionPayload("3000", "com.example.credits60", AppleTransactionPayload.Consumable, T0)
        {
            Price = milli,
            Currency = currency,
            Quantity = quantity,
        };

        var purchase = Assert.IsType<CheckoutCompleted>(Assert.Single(Provider.CheckTransaction(Store.SignTransaction(t), "c").Event!.Facts));

        Assert.Equal((expected, currency, quantity), (purchase.Amount!.Value, purchase.Currency, purchase.Quantity));
    }
}
