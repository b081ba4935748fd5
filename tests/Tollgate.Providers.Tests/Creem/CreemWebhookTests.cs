using System.Text;
using System.Text.Json.Nodes;
using Tollgate.Core.Payments;
using Tollgate.Providers.Creem;
using Tollgate.Testing.Fakes;
using static Tollgate.Providers.Tests.TestSupport;

namespace Tollgate.Providers.Tests.Creem;

public sealed class CreemWebhookTests
{
    private const string Secret = "whsec_test_secret_123";
    private static readonly DateTimeOffset Now = new(2026, 1, 15, 9, 0, 0, TimeSpan.Zero);
    private static readonly IPaymentProvider Provider = PaymentProviders.CreateCreem(
        SharedHttp, new CreemOptions { ApiKey = FakeCreem.ApiKey, WebhookSecret = Secret }, TimeProvider.System);

    private static Dictionary<string, string> Signed(byte[] body, string secret = Secret, string header = "creem-signature") =>
        new() { [header] = HmacHex(secret, body) };

    [Fact]
    public void Verify_ValidSignature_IsValid()
    {
        var body = Resource("creem/checkout.completed.json");

        Assert.Equal(WebhookVerification.Valid, Provider.VerifyWebhook(Signed(body), body, Now));
    }

    [Fact]
    public void Verify_KnownAnswer_MatchesAnIndependentHmac()
    {
        // HMAC-SHA256(key "whsec_test_secret_123", the resource's bytes), computed outside .NET.
        var body = Resource("creem/checkout.completed.json");
        var headers = new Dictionary<string, string>
        {
            ["creem-signature"] = "5a39688c31c2c229c104d43baa59b9fcdb637605f8da4103efd21ad87e23585e",
        };

        Assert.Equal(WebhookVerification.Valid, Provider.VerifyWebhook(headers, body, Now));
    }

    [Theory]
    [InlineData("Creem-Signature")]
    [InlineData("CREEM-SIGNATURE")]
    public void Verify_HeaderNameInAnyCase_IsFound(string header)
    {
        var body = Resource("creem/subscription.paid.json");

        Assert.Equal(WebhookVerification.Valid, Provider.VerifyWebhook(Signed(body, header: header), body, Now));
    }

    [Fact]
    public void Verify_TamperedBody_IsInvalid()
    {
        var body = Resource("creem/subscription.paid.json");
        var headers = Signed(body);
        var tampered = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(body).Replace("\"active\"", "\"canceled\"", StringComparison.Ordinal));

        Assert.Equal(WebhookVerification.InvalidSignature, Provider.VerifyWebhook(headers, tampered, Now));
    }

    [Fact]
    public void Verify_ForgedSignature_IsInvalid()
    {
        var body = Resource("creem/subscription.paid.json");
        var headers = new Dictionary<string, string> { ["creem-signature"] = new string('a', 64) };

        Assert.Equal(WebhookVerification.InvalidSignature, Provider.VerifyWebhook(headers, body, Now));
    }

    [Theory]
    [InlineData("not-hex")]
    [InlineData("dd7bdd2cf1f6bac6e171c6c508c157b7cd3cc1fd196394277fb59ba0bdd9b87")]
    [InlineData("sha256=dd7bdd2cf1f6bac6e171c6c508c157b7cd3cc1fd196394277fb59ba0bdd9b87b")]
    public void Verify_MalformedSignature_IsInvalid(string signature)
    {
        var body = Resource("creem/subscription.paid.json");

        Assert.Equal(WebhookVerification.InvalidSignature, Provider.VerifyWebhook(new Dictionary<string, string> { ["creem-signature"] = signature }, body, Now));
    }

    [Fact]
    public void Verify_WrongSecret_IsInvalid()
    {
        var body = Resource("creem/subscription.paid.json");

        Assert.Equal(WebhookVerification.InvalidSignature, Provider.VerifyWebhook(Signed(body, "whsec_someone_else"), body, Now));
    }

    [Fact]
    public void Verify_MissingHeader_IsMissingSignature()
    {
        var body = Resource("creem/subscription.paid.json");
        var headers = new Dictionary<string, string> { ["x-creem-signature"] = HmacHex(Secret, body) };

        Assert.Equal(WebhookVerification.MissingSignature, Provider.VerifyWebhook(headers, body, Now));
    }

    [Fact]
    public void Verify_EmptyBody_IsValidOnlyWithTheEmptyBodysSignature()
    {
        Assert.Equal(WebhookVerification.Valid, Provider.VerifyWebhook(Signed([]), [], Now));
        Assert.Equal(WebhookVerification.InvalidSignature, Provider.VerifyWebhook(Signed(Resource("creem/subscription.paid.json")), [], Now));
    }

    [Fact]
    public void Verify_WithoutSecret_IsNotConfigured()
    {
        var provider = PaymentProviders.CreateCreem(SharedHttp, new CreemOptions { ApiKey = FakeCreem.ApiKey }, TimeProvider.System);
        var body = Resource("creem/subscription.paid.json");

        Assert.Equal(WebhookVerification.NotConfigured, provider.VerifyWebhook(Signed(body), body, Now));
    }

    [Fact]
    public void Parse_CheckoutCompleted_GivesThePaidCheckoutAndItsSubscription()
    {
        var parsed = Provider.ParseWebhook(Resource("creem/checkout.completed.json"));

        Assert.Equal("creem", parsed.Provider);
        Assert.Equal("evt_5WHHcZPv7VS0YUsberIuOz", parsed.EventId);
        Assert.Equal("checkout.completed", parsed.EventType);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1728734325927), parsed.OccurredAt);
        var link = new PaymentLink("my-request-id", null, null, "cust_1OcIK1GEuVvXZwD19tjq2z", "prod_d1AY2Sadk9YAvLI0pj97f", "customer@emaildomain");
        Assert.Collection(
            parsed.Facts,
            fact => Assert.Equal(
                new CheckoutCompleted(link, "ch_4l0N34kxo16AhRKUHFUuXr", "ord_4aDwWXjMLpes4Kj4XqNnUA", "sub_6pC2lNB6joCRQIZ1aMrTpi", CheckoutMode.Subscription, true, 1000, "EUR"),
                fact),
            fact => Assert.Equal(
                new SubscriptionSnapshot(link, "sub_6pC2lNB6joCRQIZ1aMrTpi", ProviderSubscriptionStatus.Active, null, null, false, null),
                fact));
    }

    [Fact]
    public void Parse_CheckoutCompleted_ReadsTollgateMetadata()
    {
        var body = Edited("creem/checkout.completed.json", e =>
        {
            e["object"]!["metadata"] = new JsonObject { ["tollgate_customer_id"] = "user_42", ["tollgate_product"] = "pro", ["campaign"] = "spring" };
        });

        var link = Provider.ParseWebhook(body).Facts[0].Link;

        Assert.Equal(("user_42", "pro"), (link.CustomerId, link.Product));
    }

    [Fact]
    public void Parse_CheckoutCompleted_WithoutSubscription_IsAOneTimePayment()
    {
        var body = Edited("creem/checkout.completed.json", e =>
        {
            var obj = e["object"]!.AsObject();
            obj.Remove("subscription");
            obj["order"]!["type"] = "onetime";
            obj["product"] = "prod_pack";
            obj["customer"] = "cust_1OcIK1GEuVvXZwD19tjq2z";
        });

        var fact = Assert.IsType<CheckoutCompleted>(Assert.Single(Provider.ParseWebhook(body).Facts));

        Assert.Equal(CheckoutMode.Payment, fact.Mode);
        Assert.Null(fact.ProviderSubscriptionId);
        Assert.Equal("ord_4aDwWXjMLpes4Kj4XqNnUA", fact.ProviderOrderId);
        Assert.Equal(new PaymentLink("my-request-id", null, null, "cust_1OcIK1GEuVvXZwD19tjq2z", "prod_pack"), fact.Link);
    }

    [Fact]
    public void Parse_CheckoutCompleted_WithPendingOrder_IsNotPaid()
    {
        var body = Edited("creem/checkout.completed.json", e => e["object"]!["order"]!["status"] = "pending");

        var fact = Assert.IsType<CheckoutCompleted>(Provider.ParseWebhook(body).Facts[0]);

        Assert.False(fact.Paid);
    }

    [Fact]
    public void Parse_SubscriptionActive_IgnoresTheSamplesStrayCanceledAt()
    {
        var parsed = Provider.ParseWebhook(Resource("creem/subscription.active.json"));

        var link = new PaymentLink(null, null, null, "cust_3biFPNt4Cz5YRDSdIqs7kc", "prod_AnVJ11ujp7x953ARpJvAF", "customer@emaildomain");
        Assert.Equal(
            new SubscriptionSnapshot(link, "sub_21lfZb67szyvMiXnm6SVi0", ProviderSubscriptionStatus.Active, null, null, false, null),
            Assert.Single(parsed.Facts));
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1728734325927), parsed.OccurredAt);
    }

    [Fact]
    public void Parse_SubscriptionPaid_GivesActiveSnapshotAndThePayment()
    {
        var parsed = Provider.ParseWebhook(Resource("creem/subscription.paid.json"));

        var link = new PaymentLink(null, null, null, "cust_1OcIK1GEuVvXZwD19tjq2z", "prod_d1AY2Sadk9YAvLI0pj97f", "customer@emaildomain");
        var start = DateTimeOffset.Parse("2024-10-12T11:58:38.000Z", System.Globalization.CultureInfo.InvariantCulture);
        var end = DateTimeOffset.Parse("2024-11-12T11:58:38.000Z", System.Globalization.CultureInfo.InvariantCulture);
        Assert.Collection(
            parsed.Facts,
            fact => Assert.Equal(new SubscriptionSnapshot(link, "sub_6pC2lNB6joCRQIZ1aMrTpi", ProviderSubscriptionStatus.Active, start, end, false, null), fact),
            fact => Assert.Equal(new SubscriptionPaymentSucceeded(link, "sub_6pC2lNB6joCRQIZ1aMrTpi", "tran_5yMaWzAl3jxuGJMCOrYWwk", null, null, start, end), fact));
    }

    [Fact]
    public void Parse_SubscriptionPaid_WithExpandedTransaction_ReadsTheAmountPaid()
    {
        var body = Edited("creem/subscription.paid.json", e => e["object"]!["last_transaction"] = new JsonObject
        {
            ["id"] = "tran_5yMaWzAl3jxuGJMCOrYWwk",
            ["amount"] = 1000,
            ["amount_paid"] = 1210,
            ["currency"] = "EUR",
            ["created_at"] = 1728734327109,
        });

        var payment = Assert.IsType<SubscriptionPaymentSucceeded>(Provider.ParseWebhook(body).Facts[1]);

        Assert.Equal((1210L, "EUR"), (payment.Amount, payment.Currency));
    }

    [Fact]
    public void Parse_SubscriptionPaid_ReadsTollgateMetadataCopiedFromTheCheckout()
    {
        var body = Edited("creem/subscription.paid.json", e =>
            e["object"]!["metadata"] = new JsonObject { ["tollgate_customer_id"] = "user_42", ["tollgate_product"] = "pro" });

        Assert.All(Provider.ParseWebhook(body).Facts, fact => Assert.Equal(("user_42", "pro"), (fact.Link.CustomerId, fact.Link.Product)));
    }

    [Theory]
    [InlineData("subscription.canceled", ProviderSubscriptionStatus.Canceled, false, "2024-10-12T11:58:57.813Z")]
    [InlineData("subscription.scheduled_cancel", ProviderSubscriptionStatus.Active, true, null)]
    [InlineData("subscription.past_due", ProviderSubscriptionStatus.PastDue, false, null)]
    public void Parse_SubscriptionLifecycle_OnTheSameSubscription(string type, ProviderSubscriptionStatus status, bool cancelAtPeriodEnd, string? canceledAt)
    {
        var fact = Assert.IsType<SubscriptionSnapshot>(Assert.Single(Provider.ParseWebhook(Resource($"creem/{type}.json")).Facts));

        Assert.Equal("sub_6pC2lNB6joCRQIZ1aMrTpi", fact.ProviderSubscriptionId);
        Assert.Equal(status, fact.Status);
        Assert.Equal(cancelAtPeriodEnd, fact.CancelAtPeriodEnd);
        Assert.Equal(canceledAt is null ? null : DateTimeOffset.Parse(canceledAt, System.Globalization.CultureInfo.InvariantCulture), fact.CanceledAt);
        Assert.Equal(new DateTimeOffset(2024, 10, 12, 11, 58, 38, TimeSpan.Zero), fact.CurrentPeriodStart);
        Assert.Equal(new DateTimeOffset(2024, 11, 12, 11, 58, 38, TimeSpan.Zero), fact.CurrentPeriodEnd);
        Assert.Equal("prod_d1AY2Sadk9YAvLI0pj97f", fact.Link.ProviderProductRef);
    }

    [Fact]
    public void Parse_SubscriptionExpired_IsExpired_ThoughTheSampleSaysActive()
    {
        var fact = Assert.IsType<SubscriptionSnapshot>(Assert.Single(Provider.ParseWebhook(Resource("creem/subscription.expired.json")).Facts));

        Assert.Equal("sub_7FgHvrOMC28tG5DEemoCli", fact.ProviderSubscriptionId);
        Assert.Equal(ProviderSubscriptionStatus.Expired, fact.Status);
        Assert.Equal("cust_3y4k2CELGsw7n9Eeeiw2hm", fact.Link.ProviderCustomerId);
        Assert.Equal("prod_3ELsC3Lt97orn81SOdgQI3", fact.Link.ProviderProductRef);
    }

    [Fact]
    public void Parse_SubscriptionUnpaid_IsExpired()
    {
        var body = Edited("creem/subscription.past_due.json", e =>
        {
            e["eventType"] = "subscription.unpaid";
            e["object"]!["status"] = "unpaid";
        });

        var fact = Assert.IsType<SubscriptionSnapshot>(Assert.Single(Provider.ParseWebhook(body).Facts));

        Assert.Equal(ProviderSubscriptionStatus.Expired, fact.Status);
    }

    [Theory]
    [InlineData("subscription.trialing", "sub_dxiauR8zZOwULx5QM70wJ", ProviderSubscriptionStatus.Trialing, "2025-02-19T11:18:25Z", "2025-02-26T11:18:25Z")]
    [InlineData("subscription.paused", "sub_3ZT1iYMeDBpiUpRTqq4veE", ProviderSubscriptionStatus.Paused, "2025-08-01T09:51:47Z", "2025-09-01T09:51:47Z")]
    [InlineData("subscription.update", "sub_2qAuJgWmXhXHAuef9k4Kur", ProviderSubscriptionStatus.Active, "2025-01-26T11:20:36Z", "2025-02-26T11:20:36Z")]
    public void Parse_OtherSubscriptionEvents(string type, string subscriptionId, ProviderSubscriptionStatus status, string start, string end)
    {
        var fact = Assert.IsType<SubscriptionSnapshot>(Assert.Single(Provider.ParseWebhook(Resource($"creem/{type}.json")).Facts));

        Assert.Equal(subscriptionId, fact.ProviderSubscriptionId);
        Assert.Equal(status, fact.Status);
        Assert.Equal(DateTimeOffset.Parse(start, System.Globalization.CultureInfo.InvariantCulture), fact.CurrentPeriodStart);
        Assert.Equal(DateTimeOffset.Parse(end, System.Globalization.CultureInfo.InvariantCulture), fact.CurrentPeriodEnd);
        Assert.False(fact.CancelAtPeriodEnd);
        Assert.Null(fact.CanceledAt);
    }

    [Fact]
    public void Parse_SubscriptionUpdate_ReadsTheSeatsFromTheFirstItemsUnits()
    {
        var body = Edited("creem/subscription.update.json", e => e["object"]!["items"]![0]!["units"] = 4);

        var fact = Assert.IsType<SubscriptionSnapshot>(Assert.Single(Provider.ParseWebhook(body).Facts));

        Assert.Equal(4, fact.Quantity);
    }

    [Fact]
    public void Parse_SubscriptionUpdate_WithScheduledCancelStatus_CancelsAtPeriodEnd()
    {
        var body = Edited("creem/subscription.update.json", e => e["object"]!["status"] = "scheduled_cancel");

        var fact = Assert.IsType<SubscriptionSnapshot>(Assert.Single(Provider.ParseWebhook(body).Facts));

        Assert.Equal((ProviderSubscriptionStatus.Active, true), (fact.Status, fact.CancelAtPeriodEnd));
    }

    [Fact]
    public void Parse_SubscriptionUpdate_WithUnknownStatus_GivesNoFact()
    {
        var body = Edited("creem/subscription.update.json", e => e["object"]!["status"] = "hibernating");

        Assert.Empty(Provider.ParseWebhook(body).Facts);
    }

    [Fact]
    public void Parse_RefundCreated_NamesEveryIdOfThePayment()
    {
        var parsed = Provider.ParseWebhook(Resource("creem/refund.created.json"));

        var refund = Assert.IsType<RefundIssued>(Assert.Single(parsed.Facts));
        Assert.Equal("ref_3DB9NQFvk18TJwSqd0N6bd", refund.ProviderRefundId);
        Assert.Equal(["tran_5yMaWzAl3jxuGJMCOrYWwk", "ord_4aDwWXjMLpes4Kj4XqNnUA", "ch_4l0N34kxo16AhRKUHFUuXr"], refund.PaymentIds);
        Assert.Equal((1210L, "EUR", true), (refund.Amount, refund.Currency, refund.FullyRefunded));
        Assert.Equal(
            new PaymentLink("my-request-id", null, null, "cust_1OcIK1GEuVvXZwD19tjq2z", "prod_d1AY2Sadk9YAvLI0pj97f", "customer@emaildomain"),
            refund.Link);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1728734351631), parsed.OccurredAt);
    }

    [Fact]
    public void Parse_RefundCreated_Partial_IsNotFull()
    {
        var body = Edited("creem/refund.created.json", e =>
        {
            e["object"]!["refund_amount"] = 500;
            e["object"]!["transaction"]!["status"] = "partialRefund";
        });

        var refund = Assert.IsType<RefundIssued>(Assert.Single(Provider.ParseWebhook(body).Facts));

        Assert.Equal((500L, false), (refund.Amount, refund.FullyRefunded));
    }

    [Fact]
    public void Parse_RefundCreated_ReadsTollgateMetadataFromTheCheckout()
    {
        var body = Edited("creem/refund.created.json", e =>
            e["object"]!["checkout"]!["metadata"] = new JsonObject { ["tollgate_customer_id"] = "user_42", ["tollgate_product"] = "pro" });

        var link = Assert.Single(Provider.ParseWebhook(body).Facts).Link;

        Assert.Equal(("user_42", "pro"), (link.CustomerId, link.Product));
    }

    [Fact]
    public void Parse_DisputeCreated_NamesEveryIdOfThePayment()
    {
        var dispute = Assert.IsType<DisputeOpened>(Assert.Single(Provider.ParseWebhook(Resource("creem/dispute.created.json")).Facts));

        Assert.Equal("disp_6vSsOdTANP5PhOzuDlUuXE", dispute.ProviderDisputeId);
        Assert.Equal(["tran_4Dk8CxWFdceRUQgMFhCCXX", "ord_57bf8042UmG8fFypxZrfnj", "ch_1bJMvqGGzHIftf4ewLXJeq"], dispute.PaymentIds);
        Assert.Equal((1331L, "EUR"), (dispute.Amount, dispute.Currency));
        Assert.Equal(
            new PaymentLink(null, null, null, "cust_OJPZd2GMxgo1MGPNXXBSN", "prod_3EFtQRQ9SNIizK3xwfxZHu", "customer@emaildomain"),
            dispute.Link);
    }

    [Fact]
    public void Parse_UnknownEventType_KeepsTheEventWithNoFacts()
    {
        var body = """{"id":"evt_1","eventType":"license.activated","created_at":1728734325927,"object":{"id":"lic_1"}}"""u8;

        var parsed = Provider.ParseWebhook(body);

        Assert.Equal(("evt_1", "license.activated"), (parsed.EventId, parsed.EventType));
        Assert.Empty(parsed.Facts);
    }

    [Theory]
    [InlineData("")]
    [InlineData("not json")]
    [InlineData("{\"id\":\"evt_1\",")]
    [InlineData("[1,2]")]
    [InlineData("{\"eventType\":\"checkout.completed\",\"created_at\":1,\"object\":{}}")]
    [InlineData("{\"id\":\"evt_1\",\"created_at\":1,\"object\":{}}")]
    [InlineData("{\"id\":\"evt_1\",\"eventType\":\"checkout.completed\",\"object\":{}}")]
    public void Parse_NotACreemEvent_IsAFormatException(string body)
    {
        Assert.Throws<FormatException>(() => Provider.ParseWebhook(Encoding.UTF8.GetBytes(body)));
    }
}
