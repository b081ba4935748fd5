using System.Text;
using System.Text.Json.Nodes;
using Tollgate.Core.Payments;
using Tollgate.Providers.Stripe;
using Tollgate.Testing.Fakes;
using static Tollgate.Providers.Tests.TestSupport;

namespace Tollgate.Providers.Tests.Stripe;

public sealed class StripeEventTests
{
    private static readonly IPaymentProvider Provider = PaymentProviders.CreateStripe(
        SharedHttp, new StripeOptions { SecretKey = FakeStripe.SecretKey }, TimeProvider.System);

    private static DateTimeOffset At(long unixSeconds) => DateTimeOffset.FromUnixTimeSeconds(unixSeconds);

    private static JsonNode Object(JsonNode e) => e["data"]!["object"]!;

    [Fact]
    public void CheckoutSessionCompleted_Subscription()
    {
        var parsed = Provider.ParseWebhook(Resource("stripe/checkout.session.completed.subscription.json"));

        Assert.Equal(("stripe", "evt_1Q0checkoutSubs0001", "checkout.session.completed"), (parsed.Provider, parsed.EventId, parsed.EventType));
        Assert.Equal(At(1735689600), parsed.OccurredAt);
        Assert.Equal(
            new CheckoutCompleted(
                new PaymentLink("user_42", null, null, "cus_RExample42", null, "ada@example.com"),
                "cs_test_a1SubsExample0001",
                null,
                "sub_1QExample42",
                CheckoutMode.Subscription,
                true,
                2000,
                "USD"),
            Assert.Single(parsed.Facts));
    }

    [Fact]
    public void CheckoutSessionCompleted_Payment_NamesThePaymentIntent()
    {
        var parsed = Provider.ParseWebhook(Resource("stripe/checkout.session.completed.payment.json"));

        Assert.Equal(
            new CheckoutCompleted(
                new PaymentLink("user_42", null, null, null, null, "ada@example.com"),
                "cs_test_a1PayExample0001",
                "pi_1QExample77",
                null,
                CheckoutMode.Payment,
                true,
                4900,
                "USD"),
            Assert.Single(parsed.Facts));
    }

    [Theory]
    [InlineData("unpaid", false)]
    [InlineData("no_payment_required", true)]
    public void CheckoutSessionCompleted_PaidFollowsPaymentStatus(string paymentStatus, bool paid)
    {
        var body = Edited("stripe/checkout.session.completed.payment.json", e => Object(e)["payment_status"] = paymentStatus);

        Assert.Equal(paid, Assert.IsType<CheckoutCompleted>(Assert.Single(Provider.ParseWebhook(body).Facts)).Paid);
    }

    [Fact]
    public void CheckoutSessionAsyncPaymentSucceeded_CompletesTheCheckout()
    {
        var body = Edited("stripe/checkout.session.completed.payment.json", e => e["type"] = "checkout.session.async_payment_succeeded");

        var fact = Assert.IsType<CheckoutCompleted>(Assert.Single(Provider.ParseWebhook(body).Facts));

        Assert.Equal(("cs_test_a1PayExample0001", true), (fact.ProviderCheckoutId, fact.Paid));
    }

    [Fact]
    public void CheckoutSessionCompleted_ReadsTollgateMetadataAndCustomer()
    {
        var body = Edited("stripe/checkout.session.completed.payment.json", e =>
        {
            Object(e)["metadata"] = new JsonObject { ["tollgate_customer_id"] = "user_42", ["tollgate_product"] = "pack_60" };
            Object(e)["customer"] = "cus_RExample77";
            Object(e)["customer_details"] = null;
            Object(e)["customer_email"] = "grace@example.com";
        });

        var link = Assert.Single(Provider.ParseWebhook(body).Facts).Link;

        Assert.Equal(new PaymentLink("user_42", "user_42", "pack_60", "cus_RExample77", null, "grace@example.com"), link);
    }

    [Fact]
    public void CheckoutSessionCompleted_SetupMode_GivesNoFact()
    {
        var body = Edited("stripe/checkout.session.completed.payment.json", e => Object(e)["mode"] = "setup");

        Assert.Empty(Provider.ParseWebhook(body).Facts);
    }

    [Fact]
    public void SubscriptionUpdated_Basil_ReadsThePeriodFromTheItem()
    {
        var parsed = Provider.ParseWebhook(Resource("stripe/customer.subscription.updated.basil.json"));

        Assert.Equal(At(1735693200), parsed.OccurredAt);
        Assert.Equal(
            new SubscriptionSnapshot(
                new PaymentLink(null, null, null, "cus_RExample42", "price_1QPro"),
                "sub_1QExample42",
                ProviderSubscriptionStatus.Active,
                At(1735689500),
                At(1738368000),
                true,
                At(1735693200)) { Quantity = 1 },
            Assert.Single(parsed.Facts));
    }

    [Fact]
    public void SubscriptionUpdated_PreBasil_ReadsThePeriodFromTheSubscription()
    {
        var parsed = Provider.ParseWebhook(Resource("stripe/customer.subscription.updated.pre-basil.json"));

        Assert.Equal(
            new SubscriptionSnapshot(
                new PaymentLink(null, null, null, "cus_RExample42", "price_1QPro"),
                "sub_1QExample42",
                ProviderSubscriptionStatus.Active,
                At(1735689500),
                At(1738368000),
                false,
                null) { Quantity = 1 },
            Assert.Single(parsed.Facts));
    }

    [Fact]
    public void SubscriptionUpdated_ReadsTollgateMetadataFromSubscriptionData()
    {
        var body = Edited("stripe/customer.subscription.updated.basil.json", e =>
            Object(e)["metadata"] = new JsonObject { ["tollgate_customer_id"] = "user_42", ["tollgate_product"] = "pro" });

        var link = Assert.Single(Provider.ParseWebhook(body).Facts).Link;

        Assert.Equal(("user_42", "pro"), (link.CustomerId, link.Product));
    }

    [Fact]
    public void SubscriptionUpdated_ReadsTheSeatsFromTheFirstItemsQuantity()
    {
        var body = Edited("stripe/customer.subscription.updated.basil.json", e => Object(e)["items"]!["data"]![0]!["quantity"] = 7);

        var fact = Assert.IsType<SubscriptionSnapshot>(Assert.Single(Provider.ParseWebhook(body).Facts));

        Assert.Equal(7, fact.Quantity);
    }

    [Fact]
    public void SubscriptionDeleted_IsCanceled()
    {
        var fact = Assert.IsType<SubscriptionSnapshot>(Assert.Single(Provider.ParseWebhook(Resource("stripe/customer.subscription.deleted.basil.json")).Facts));

        Assert.Equal(("sub_1QExample42", ProviderSubscriptionStatus.Canceled, false), (fact.ProviderSubscriptionId, fact.Status, fact.CancelAtPeriodEnd));
        Assert.Equal(At(1735693200), fact.CanceledAt);
    }

    [Theory]
    [InlineData("customer.subscription.created", "incomplete", ProviderSubscriptionStatus.Incomplete)]
    [InlineData("customer.subscription.updated", "incomplete_expired", ProviderSubscriptionStatus.Expired)]
    [InlineData("customer.subscription.created", "trialing", ProviderSubscriptionStatus.Trialing)]
    [InlineData("customer.subscription.updated", "active", ProviderSubscriptionStatus.Active)]
    [InlineData("customer.subscription.updated", "past_due", ProviderSubscriptionStatus.PastDue)]
    [InlineData("customer.subscription.updated", "canceled", ProviderSubscriptionStatus.Canceled)]
    [InlineData("customer.subscription.updated", "unpaid", ProviderSubscriptionStatus.Expired)]
    [InlineData("customer.subscription.paused", "paused", ProviderSubscriptionStatus.Paused)]
    [InlineData("customer.subscription.resumed", "active", ProviderSubscriptionStatus.Active)]
    [InlineData("customer.subscription.deleted", "active", ProviderSubscriptionStatus.Canceled)]
    public void SubscriptionEvents_MapTheStatus(string type, string status, ProviderSubscriptionStatus expected)
    {
        var body = Edited("stripe/customer.subscription.updated.basil.json", e =>
        {
            e["type"] = type;
            Object(e)["status"] = status;
        });

        var fact = Assert.IsType<SubscriptionSnapshot>(Assert.Single(Provider.ParseWebhook(body).Facts));

        Assert.Equal(expected, fact.Status);
    }

    [Fact]
    public void SubscriptionWithUnknownStatus_GivesNoFact()
    {
        var body = Edited("stripe/customer.subscription.updated.basil.json", e => Object(e)["status"] = "hibernating");

        Assert.Empty(Provider.ParseWebhook(body).Facts);
    }

    [Fact]
    public void InvoicePaid_Basil_FindsTheSubscriptionUnderParent()
    {
        var parsed = Provider.ParseWebhook(Resource("stripe/invoice.paid.basil.json"));

        Assert.Equal(At(1735689560), parsed.OccurredAt);
        Assert.Equal(
            new SubscriptionPaymentSucceeded(
                new PaymentLink(null, null, null, "cus_RExample42", null),
                "sub_1QExample42",
                "in_1QExample42",
                2000,
                "USD",
                At(1735689500),
                At(1735689500)),
            Assert.Single(parsed.Facts));
    }

    [Fact]
    public void InvoicePaymentSucceeded_IsTheSamePayment()
    {
        var body = Edited("stripe/invoice.paid.basil.json", e => e["type"] = "invoice.payment_succeeded");

        var fact = Assert.IsType<SubscriptionPaymentSucceeded>(Assert.Single(Provider.ParseWebhook(body).Facts));

        Assert.Equal(("sub_1QExample42", "in_1QExample42"), (fact.ProviderSubscriptionId, fact.ProviderPaymentId));
    }

    [Fact]
    public void InvoicePaid_ReadsTollgateMetadataFromTheSubscriptionDetails()
    {
        var body = Edited("stripe/invoice.paid.basil.json", e =>
            Object(e)["parent"]!["subscription_details"]!["metadata"] = new JsonObject { ["tollgate_customer_id"] = "user_42", ["tollgate_product"] = "pro" });

        var link = Assert.Single(Provider.ParseWebhook(body).Facts).Link;

        Assert.Equal(("user_42", "pro"), (link.CustomerId, link.Product));
    }

    [Fact]
    public void InvoicePaid_PreBasil_ReadsTopLevelSubscriptionAndThePaidLinesPeriod()
    {
        var parsed = Provider.ParseWebhook(Resource("stripe/invoice.paid.pre-basil.json"));

        Assert.Equal(
            new SubscriptionPaymentSucceeded(
                new PaymentLink(null, null, null, "cus_RExample42", "price_1QPro"),
                "sub_1QExample42",
                "in_1QExample43",
                2000,
                "USD",
                At(1738368000),
                At(1741046400)),
            Assert.Single(parsed.Facts));
    }

    [Fact]
    public void InvoicePaid_PreBasil_ReadsLegacySubscriptionDetailsMetadata()
    {
        var body = Edited("stripe/invoice.paid.pre-basil.json", e =>
            Object(e)["subscription_details"]!["metadata"] = new JsonObject { ["tollgate_customer_id"] = "user_7", ["tollgate_product"] = "max" });

        var link = Assert.Single(Provider.ParseWebhook(body).Facts).Link;

        Assert.Equal(("user_7", "max"), (link.CustomerId, link.Product));
    }

    [Fact]
    public void InvoicePaid_NotForASubscription_GivesNoFact()
    {
        var body = Edited("stripe/invoice.paid.basil.json", e => Object(e)["parent"] = null);

        Assert.Empty(Provider.ParseWebhook(body).Facts);
    }

    [Fact]
    public void InvoicePaymentFailed_NamesTheSubscriptionAndAmountDue()
    {
        var parsed = Provider.ParseWebhook(Resource("stripe/invoice.payment_failed.basil.json"));

        Assert.Equal(
            new SubscriptionPaymentFailed(new PaymentLink(null, null, null, "cus_RExample42", null), "sub_1QExample42", "in_1QExample44", 2000, "USD"),
            Assert.Single(parsed.Facts));
    }

    [Fact]
    public void ChargeRefunded_NamesChargeAndPaymentIntent()
    {
        var parsed = Provider.ParseWebhook(Resource("stripe/charge.refunded.json"));

        var refund = Assert.IsType<RefundIssued>(Assert.Single(parsed.Facts));
        Assert.Equal("ch_3QExample77:4900", refund.ProviderRefundId);
        Assert.Equal(["ch_3QExample77", "pi_1QExample77"], refund.PaymentIds);
        Assert.Equal((4900L, "USD", true), (refund.Amount, refund.Currency, refund.FullyRefunded));
        Assert.Equal(new PaymentLink(null, null, null, "cus_RExample42", null), refund.Link);
        Assert.Equal(At(1736000000), parsed.OccurredAt);
    }

    [Fact]
    public void ChargeRefunded_Partial_WithExpandedRefunds_UsesTheLatestRefundAndTheInvoice()
    {
        var body = Edited("stripe/charge.refunded.json", e =>
        {
            var charge = Object(e);
            charge["amount_refunded"] = 1000;
            charge["refunded"] = false;
            charge["invoice"] = "in_1QExample42";
            charge["refunds"] = JsonNode.Parse("""{"object":"list","has_more":false,"data":[{"id":"re_1Nispe2eZvKYlo2Cd31jOCgZ","object":"refund","amount":1000}]}""");
        });

        var refund = Assert.IsType<RefundIssued>(Assert.Single(Provider.ParseWebhook(body).Facts));

        Assert.Equal("re_1Nispe2eZvKYlo2Cd31jOCgZ", refund.ProviderRefundId);
        Assert.Equal(["ch_3QExample77", "pi_1QExample77", "in_1QExample42"], refund.PaymentIds);
        Assert.Equal((1000L, false), (refund.Amount, refund.FullyRefunded));
    }

    [Fact]
    public void ChargeDisputeCreated_NamesChargeAndPaymentIntent()
    {
        var dispute = Assert.IsType<DisputeOpened>(Assert.Single(Provider.ParseWebhook(Resource("stripe/charge.dispute.created.json")).Facts));

        Assert.Equal("dp_1QExample77", dispute.ProviderDisputeId);
        Assert.Equal(["ch_3QExample77", "pi_1QExample77"], dispute.PaymentIds);
        Assert.Equal((4900L, "USD"), (dispute.Amount, dispute.Currency));
    }

    [Fact]
    public void UnknownType_KeepsTheEventWithNoFacts()
    {
        // Stripe's own envelope example (stripe.md §2.1).
        var body = """
            {"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","api_version":"2019-02-19","created":1686089970,
             "data":{"object":{"id":"seti_1NG8Du2eZvKYlo2C9XMqbR0x","object":"setup_intent","status":"requires_confirmation"}},
             "livemode":false,"pending_webhooks":0,"request":{"id":null,"idempotency_key":null},"type":"setup_intent.created"}
            """u8;

        var parsed = Provider.ParseWebhook(body);

        Assert.Equal(("evt_1NG8Du2eZvKYlo2CUI79vXWy", "setup_intent.created", At(1686089970)), (parsed.EventId, parsed.EventType, parsed.OccurredAt));
        Assert.Empty(parsed.Facts);
    }

    [Theory]
    [InlineData("")]
    [InlineData("<html></html>")]
    [InlineData("{\"id\":\"evt_1\"")]
    [InlineData("\"evt_1\"")]
    [InlineData("{\"type\":\"invoice.paid\",\"created\":1,\"data\":{\"object\":{}}}")]
    [InlineData("{\"id\":\"evt_1\",\"created\":1,\"data\":{\"object\":{}}}")]
    [InlineData("{\"id\":\"evt_1\",\"type\":\"invoice.paid\",\"data\":{\"object\":{}}}")]
    public void NotAStripeEvent_IsAFormatException(string body)
    {
        Assert.Throws<FormatException>(() => Provider.ParseWebhook(Encoding.UTF8.GetBytes(body)));
    }
}
