using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Tollgate.Core.Payments;
using Tollgate.Server.Tests.Support;
using Tollgate.Storage;
using Tollgate.Testing.Fakes;

namespace Tollgate.Server.Tests.Payments;

/// <summary>
/// Creem and Stripe end to end: checkouts sent to fake provider servers speaking the documented APIs, and webhooks
/// built from the documented sample payloads, signed as the providers sign them, delivered to /webhooks/*.
/// </summary>
public abstract class ProviderWebhooks : IAsyncLifetime
{
    private FakeServer _creem = null!;
    private FakeServer _stripe = null!;
    private string _catalog = null!;

    protected abstract DatabaseProvider Provider { get; }

    protected TollgateApp App { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        _creem = await FakeCreem.StartAsync();
        _stripe = await FakeStripe.StartAsync();
        _catalog = SignedWebhooks.CatalogFile();
        App = await TollgateApp.StartAsync(Provider, settings: new Dictionary<string, string?>
        {
            ["Tollgate:Catalog"] = _catalog,
            ["Tollgate:Providers:Default"] = "creem",
            ["Tollgate:Providers:Creem:ApiKey"] = FakeCreem.ApiKey,
            ["Tollgate:Providers:Creem:WebhookSecret"] = SignedWebhooks.CreemSecret,
            ["Tollgate:Providers:Creem:BaseUrl"] = _creem.BaseUrl.ToString(),
            ["Tollgate:Providers:Stripe:SecretKey"] = FakeStripe.SecretKey,
            ["Tollgate:Providers:Stripe:WebhookSecrets:0"] = SignedWebhooks.StripeSecret,
            ["Tollgate:Providers:Stripe:WebhookSecrets:1"] = SignedWebhooks.StripeOldSecret,
            ["Tollgate:Providers:Stripe:BaseUrl"] = _stripe.BaseUrl.ToString(),
        });
    }

    public async ValueTask DisposeAsync()
    {
        await App.DisposeAsync();
        await _creem.DisposeAsync();
        await _stripe.DisposeAsync();
        File.Delete(_catalog);
        GC.SuppressFinalize(this);
    }

    private IPaymentStore Payments => App.Services.GetRequiredService<IPaymentStore>();

    private Task<HttpResponseMessage> Deliver(HttpRequestMessage request) => App.Client.SendAsync(request);

    /// <summary>The customer's outbound events (API.md §6.3), oldest first, as the outbox stored them: written in the
    /// webhook's own transaction, so they are there when the webhook's 200 is.</summary>
    private async Task<List<(string Type, JsonObject Data)>> EventsAsync(string customer)
    {
        await using var connection = App.Database.Options.Provider == DatabaseProvider.Postgres
            ? (System.Data.Common.DbConnection)new Npgsql.NpgsqlConnection(App.Database.Options.ConnectionString)
            : new Microsoft.Data.Sqlite.SqliteConnection(App.Database.Options.ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT payload FROM events WHERE customer_id = @c ORDER BY seq";
        var p = command.CreateParameter();
        p.ParameterName = "@c";
        p.Value = customer;
        command.Parameters.Add(p);
        var events = new List<(string, JsonObject)>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var e = JsonNode.Parse(reader.GetString(0))!.AsObject();
            events.Add(((string)e["type"]!, e["data"]!.AsObject()));
        }

        return events;
    }

    private async Task<string> StartCheckoutAsync(string customer, string product, string provider)
    {
        var checkout = await Json.ReadAsync(await App.PostAsync("/v1/checkouts", new { customer_id = customer, product, provider }), 201);
        return (string)checkout["id"]!;
    }

    /// <summary>The documented checkout.completed, turned into a one-time purchase of the catalog's pack.</summary>
    private static string CreemPackPaid(string eventId, string checkoutId, string customer, string orderId = "ord_4aDwWXjMLpes4Kj4XqNnUA")
    {
        var e = SignedWebhooks.Sample("creem", "checkout.completed");
        e["id"] = eventId;
        var o = e["object"]!.AsObject();
        o["request_id"] = checkoutId;
        o.Remove("subscription");
        o["order"]!["id"] = orderId;
        o["order"]!["product"] = "prod_pack";
        o["order"]!["type"] = "onetime";
        o["product"]!["id"] = "prod_pack";
        o["product"]!["billing_type"] = "onetime";
        o["metadata"] = new JsonObject { ["tollgate_customer_id"] = customer, ["tollgate_product"] = "pack" };
        return e.ToJsonString();
    }

    private static string CreemSubscription(string sample, string eventId, string customer, string subscriptionId, DateTimeOffset at,
        DateTimeOffset periodStart, DateTimeOffset periodEnd, string? transaction = null)
    {
        var e = SignedWebhooks.Sample("creem", sample);
        e["id"] = eventId;
        e["created_at"] = at.ToUnixTimeMilliseconds();
        var o = e["object"]!.AsObject();
        o["id"] = subscriptionId;
        o["product"]!["id"] = "prod_d1AY2Sadk9YAvLI0pj97f";
        o["metadata"] = new JsonObject { ["tollgate_customer_id"] = customer, ["tollgate_product"] = "pro" };
        o["current_period_start_date"] = periodStart.ToString("O");
        o["current_period_end_date"] = periodEnd.ToString("O");
        if (transaction is not null)
        {
            o["last_transaction_id"] = transaction;
        }

        return e.ToJsonString();
    }

    [Fact]
    public async Task Creem_APackPurchase_SendsTheDocumentedCheckout_AndItsWebhookGrantsTheCreditsOnce()
    {
        var c = TollgateApp.NewCustomer();
        var checkoutId = await StartCheckoutAsync(c, "pack", "creem");
        var sent = _creem.Requests.Single(r => r.Path == "/v1/checkouts").Json();
        var body = CreemPackPaid("evt_pack_1", checkoutId, c);

        var first = await Json.ReadAsync(await Deliver(SignedWebhooks.Creem(body)), 200);
        var duplicate = await Json.ReadAsync(await Deliver(SignedWebhooks.Creem(body)), 200);
        var checkout = await Json.ReadAsync(await App.Client.GetAsync($"/v1/checkouts/{checkoutId}"), 200);

        Assert.Equal(("prod_pack", checkoutId), (sent.GetProperty("product_id").GetString(), sent.GetProperty("request_id").GetString()));
        Assert.Equal((c, "pack"), (sent.GetProperty("metadata").GetProperty("tollgate_customer_id").GetString(),
            sent.GetProperty("metadata").GetProperty("tollgate_product").GetString()));
        Assert.Equal(("applied", false), ((string)first["status"]!, (bool)first["duplicate"]!));
        Assert.True((bool)duplicate["duplicate"]!);
        Assert.Equal("completed", (string)checkout["status"]!);
        Assert.Equal(100, (long)(await App.BalanceAsync(c, "credits"))["available"]!);
        var payment = (await Payments.ListPaymentsAsync(c, CancellationToken.None)).Single();
        Assert.Equal((PaymentStatus.Completed, "ord_4aDwWXjMLpes4Kj4XqNnUA", 1000L, "EUR"), (payment.Status, payment.ProviderPaymentId, payment.Amount, payment.Currency));
        Assert.Equal(1, await App.CountRowsAsync("webhook_events"));
    }

    [Fact]
    public async Task Creem_ASecondPaidPurchaseOfAOncePerCustomerPack_StillGrants_AndIsFlagged()
    {
        var c = TollgateApp.NewCustomer();
        string Welcome(string eventId, string orderId)
        {
            var e = JsonNode.Parse(CreemPackPaid(eventId, "chk_not_ours", c, orderId))!.AsObject();
            e["object"]!["product"]!["id"] = "prod_welcome";
            e["object"]!["metadata"] = new JsonObject { ["tollgate_customer_id"] = c, ["tollgate_product"] = "welcome" };
            return e.ToJsonString();
        }

        await Json.ReadAsync(await Deliver(SignedWebhooks.Creem(Welcome("evt_w1", "ord_w1"))), 200);
        await Json.ReadAsync(await Deliver(SignedWebhooks.Creem(Welcome("evt_w2", "ord_w2"))), 200);

        Assert.Equal(120, (long)(await App.BalanceAsync(c, "credits"))["available"]!);
        var payments = await Payments.ListPaymentsAsync(c, CancellationToken.None);
        Assert.Equal(2, payments.Count);
        Assert.Single(payments, p => p.Flag is not null && p.ProviderPaymentId == "ord_w2");
        Assert.Contains(await Payments.ListFlaggedPaymentsAsync(10, CancellationToken.None), p => p.ProviderPaymentId == "ord_w2");
    }

    [Fact]
    public async Task Creem_AnotherEventForTheSamePayment_DoesNotGrantAgain()
    {
        var c = TollgateApp.NewCustomer();
        var checkoutId = await StartCheckoutAsync(c, "pack", "creem");

        await Json.ReadAsync(await Deliver(SignedWebhooks.Creem(CreemPackPaid("evt_a", checkoutId, c))), 200);
        await Json.ReadAsync(await Deliver(SignedWebhooks.Creem(CreemPackPaid("evt_b", checkoutId, c))), 200);

        Assert.Equal(100, (long)(await App.BalanceAsync(c, "credits"))["available"]!);
        Assert.Single(await Payments.ListPaymentsAsync(c, CancellationToken.None));
    }

    [Theory]
    [InlineData("forged")]
    [InlineData("missing")]
    [InlineData("wrong secret")]
    [InlineData("altered body")]
    public async Task Creem_ABadSignature_Is401_AndNothingIsStored(string how)
    {
        var body = CreemPackPaid("evt_bad", "chk_x", "c1");
        var request = how switch
        {
            "forged" => WithHeader(SignedWebhooks.Post("/webhooks/creem", body), "creem-signature", new string('a', 64)),
            "missing" => SignedWebhooks.Post("/webhooks/creem", body),
            "wrong secret" => SignedWebhooks.Creem(body, "whsec_someone_else"),
            _ => Altered(SignedWebhooks.Creem(body), body.Replace("\"amount\":1000", "\"amount\":1", StringComparison.Ordinal)),
        };

        await Json.ProblemAsync(await Deliver(request), 401, "invalid_signature");

        Assert.Equal(0, await App.CountRowsAsync("webhook_events"));
        Assert.Equal(0, (long)(await App.BalanceAsync("c1", "credits"))["available"]!);
    }

    [Fact]
    public async Task AValidSignatureOverMalformedJson_Is400_AndIsKeptAsRejected_NeverApplied()
    {
        await Json.ProblemAsync(await Deliver(SignedWebhooks.Creem("{\"id\": \"evt_1\", \"eventType\": ")), 400, "invalid_request");
        await Json.ProblemAsync(await Deliver(SignedWebhooks.Creem("[1,2,3]")), 400, "invalid_request");
        await Json.ProblemAsync(await Deliver(SignedWebhooks.Stripe("not json", App.Clock.GetUtcNow())), 400, "invalid_request");

        var stored = await App.Services.GetRequiredService<IWebhookInbox>().ListAsync(null, 10, CancellationToken.None);
        Assert.Equal(3, stored.Count);
        Assert.All(stored, e => Assert.Equal((WebhookStatus.Rejected, null), (e.Status, e.NextAttemptAt)));
    }

    [Fact]
    public async Task UnknownEventTypes_AreAcknowledgedAndIgnored()
    {
        var e = SignedWebhooks.Sample("creem", "subscription.active");
        e["eventType"] = "subscription.renamed";

        var answer = await Json.ReadAsync(await Deliver(SignedWebhooks.Creem(e.ToJsonString())), 200);

        Assert.Equal("ignored", (string)answer["status"]!);
        Assert.Equal(WebhookStatus.Ignored, (await App.Services.GetRequiredService<IWebhookInbox>().ListAsync(null, 10, CancellationToken.None)).Single().Status);
    }

    [Fact]
    public async Task AnEventForNobodyTollgateKnows_IsKeptAsUnmatched()
    {
        var answer = await Json.ReadAsync(await Deliver(SignedWebhooks.Creem(SignedWebhooks.Sample("creem", "checkout.completed").ToJsonString())), 200);

        Assert.Equal("unmatched", (string)answer["status"]!);
        var unmatched = await App.Services.GetRequiredService<IWebhookInbox>().ListAsync(WebhookStatus.Unmatched, 10, CancellationToken.None);
        Assert.Equal("evt_5WHHcZPv7VS0YUsberIuOz", Assert.Single(unmatched).EventId);
    }

    [Fact]
    public async Task Creem_SubscriptionLifecycle_WithRenewals_OnAFakeClock()
    {
        var c = TollgateApp.NewCustomer();
        var t0 = App.Clock.GetUtcNow();
        var t1 = t0.AddMonths(1);

        await Json.ReadAsync(await Deliver(SignedWebhooks.Creem(CreemSubscription("subscription.paid", "evt_p1", c, "sub_c1", t0, t0, t1, "tran_1"))), 200);
        var first = await Json.ReadAsync(await App.Client.GetAsync($"/v1/customers/{c}"), 200);
        await Json.ReadAsync(await App.UseAsync(c, "ai_messages", 80), 200);

        App.Clock.Set(t1.AddMinutes(5));
        await Json.ReadAsync(await Deliver(SignedWebhooks.Creem(CreemSubscription("subscription.paid", "evt_p2", c, "sub_c1", t1, t1, t1.AddMonths(1), "tran_2"))), 200);
        var renewed = await App.BalanceAsync(c, "ai_messages");
        await Json.ReadAsync(await Deliver(SignedWebhooks.Creem(CreemSubscription("subscription.scheduled_cancel", "evt_sc", c, "sub_c1", t1.AddDays(3), t1, t1.AddMonths(1)))), 200);
        var scheduled = await Json.ReadAsync(await App.Client.GetAsync($"/v1/customers/{c}/subscriptions"), 200);

        App.Clock.Set(t1.AddMonths(1).AddMinutes(1));
        await Json.ReadAsync(await Deliver(SignedWebhooks.Creem(CreemSubscription("subscription.canceled", "evt_c", c, "sub_c1", t1.AddMonths(1), t1, t1.AddMonths(1)))), 200);
        var ended = await Json.ReadAsync(await App.Client.GetAsync($"/v1/customers/{c}"), 200);

        Assert.Equal(("pro", "active"), ((string?)first["plan"], (string)first["subscriptions"]![0]!["status"]!));
        Assert.Equal((100L, 100L), ((long)renewed["available"]!, (long)renewed["limit"]!));
        Assert.True((bool)scheduled["subscriptions"]![0]!["cancel_at_period_end"]!);
        Assert.Equal(("free", "canceled"), ((string?)ended["plan"], (string)ended["subscriptions"]![0]!["status"]!));
        Assert.Equal(2, (await Payments.ListPaymentsAsync(c, CancellationToken.None)).Count);

        // What the app heard: started, paid, renewed into the second period (once), paid again, cancel scheduled, ended.
        var events = await EventsAsync(c);
        var subscriptionEvents = events.Where(e => e.Type.StartsWith("subscription.", StringComparison.Ordinal)).ToList();
        Assert.Equal(["subscription.created", "subscription.renewed", "subscription.updated", "subscription.canceled"], subscriptionEvents.Select(e => e.Type));
        var renewedEvent = subscriptionEvents[1].Data;
        Assert.Equal(("pro", "creem"), ((string)renewedEvent["plan"]!, (string)renewedEvent["provider"]!));
        Assert.Equal(t1, DateTimeOffset.Parse((string)renewedEvent["current_period_start"]!, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(2, events.Count(e => e.Type == "payment.succeeded"));
    }

    [Fact]
    public async Task Creem_PastDue_KeepsAccessUntilThePeriodEnds()
    {
        var c = TollgateApp.NewCustomer();
        var t0 = App.Clock.GetUtcNow();
        await Json.ReadAsync(await Deliver(SignedWebhooks.Creem(CreemSubscription("subscription.paid", "evt_p", c, "sub_pd", t0, t0, t0.AddMonths(1), "tran_p"))), 200);

        App.Clock.Set(t0.AddDays(20));
        await Json.ReadAsync(await Deliver(SignedWebhooks.Creem(CreemSubscription("subscription.past_due", "evt_pd", c, "sub_pd", t0.AddDays(20), t0, t0.AddMonths(1)))), 200);
        var during = await App.CheckAsync(c, "hd_export");
        App.Clock.Set(t0.AddMonths(1));
        var after = await App.CheckAsync(c, "hd_export");

        Assert.True((bool)during["allowed"]!);
        Assert.False((bool)after["allowed"]!);
    }

    [Fact]
    public async Task Creem_ADispute_ClawsBackThePacksCredits_AndMarksThePaymentDisputed()
    {
        var c = TollgateApp.NewCustomer();
        var checkoutId = await StartCheckoutAsync(c, "pack", "creem");
        await Json.ReadAsync(await Deliver(SignedWebhooks.Creem(CreemPackPaid("evt_buy", checkoutId, c, "ord_57bf8042UmG8fFypxZrfnj"))), 200);
        await Json.ReadAsync(await App.UseAsync(c, "credits", 10), 200);

        var answer = await Json.ReadAsync(await Deliver(SignedWebhooks.Creem(SignedWebhooks.Sample("creem", "dispute.created").ToJsonString())), 200);
        var balance = await App.BalanceAsync(c, "credits");

        Assert.Equal("applied", (string)answer["status"]!);
        Assert.Equal((0L, 10L), ((long)balance["available"]!, (long)balance["debt"]!));
        Assert.Equal(PaymentStatus.Disputed, (await Payments.ListPaymentsAsync(c, CancellationToken.None)).Single().Status);
        var disputed = Assert.Single(await EventsAsync(c), e => e.Type == "payment.disputed").Data;
        Assert.Equal(("disputed", 100L, "creem", "pack"),
            ((string)disputed["status"]!, (long)disputed["credits_clawed"]!, (string)disputed["provider"]!, (string)disputed["product"]!));
        Assert.DoesNotContain(await EventsAsync(c), e => e.Type == "payment.refunded");
    }

    [Fact]
    public async Task Creem_ACancelThatArrivesBeforeTheActivation_Wins()
    {
        var c = TollgateApp.NewCustomer();
        var t0 = App.Clock.GetUtcNow();
        var canceled = CreemSubscription("subscription.canceled", "evt_late", c, "sub_c2", t0.AddMinutes(2), t0, t0.AddMonths(1));
        var active = CreemSubscription("subscription.active", "evt_early", c, "sub_c2", t0, t0, t0.AddMonths(1));

        await Json.ReadAsync(await Deliver(SignedWebhooks.Creem(canceled)), 200);
        await Json.ReadAsync(await Deliver(SignedWebhooks.Creem(active)), 200);
        var customer = await Json.ReadAsync(await App.Client.GetAsync($"/v1/customers/{c}"), 200);

        Assert.Equal(("free", "canceled"), ((string?)customer["plan"], (string)customer["subscriptions"]![0]!["status"]!));
    }

    [Fact]
    public async Task Creem_ARefundAfterPartialSpend_BecomesDebt_RepaidByTheNextGrant()
    {
        var c = TollgateApp.NewCustomer();
        var checkoutId = await StartCheckoutAsync(c, "pack", "creem");
        await Json.ReadAsync(await Deliver(SignedWebhooks.Creem(CreemPackPaid("evt_buy", checkoutId, c))), 200);
        await Json.ReadAsync(await App.UseAsync(c, "credits", 30), 200);
        var refund = SignedWebhooks.Sample("creem", "refund.created");
        refund["object"]!["checkout"]!["request_id"] = checkoutId;

        var answer = await Json.ReadAsync(await Deliver(SignedWebhooks.Creem(refund.ToJsonString())), 200);
        var owing = await App.BalanceAsync(c, "credits");
        await App.GrantAsync(c, "credits", 50);
        var repaid = await App.BalanceAsync(c, "credits");

        Assert.Equal("applied", (string)answer["status"]!);
        Assert.Equal((0L, 30L), ((long)owing["available"]!, (long)owing["debt"]!));
        Assert.Equal((20L, 0L), ((long)repaid["available"]!, (long)repaid["debt"]!));
        Assert.Equal(PaymentStatus.Refunded, (await Payments.ListPaymentsAsync(c, CancellationToken.None)).Single().Status);
        var ledger = await Json.ReadAsync(await App.Client.GetAsync($"/v1/customers/{c}/ledger?feature=credits"), 200);
        Assert.Contains(ledger["entries"]!.AsArray(), e => (string)e!["type"]! == "debt" && (long)e["amount"]! == -30);

        // The app hears of the refund once, in the transaction that clawed the credits back (70 left, 30 owed).
        var refunded = Assert.Single(await EventsAsync(c), e => e.Type == "payment.refunded").Data;
        Assert.Equal(("refunded", 100L), ((string)refunded["status"]!, (long)refunded["credits_clawed"]!));
        Assert.Equal(0, (await EventsAsync(c)).Count(e => e.Type == "payment.disputed"));
    }

    [Fact]
    public async Task ARefundThatArrivesBeforeItsPayment_IsRetriedAndApplied_CreditsEndClawedBack()
    {
        var c = TollgateApp.NewCustomer();
        var checkoutId = await StartCheckoutAsync(c, "pack", "creem");
        var refund = SignedWebhooks.Sample("creem", "refund.created");
        refund["object"]!["checkout"]!["request_id"] = checkoutId;
        refund["object"]!["metadata"] = new JsonObject { ["tollgate_customer_id"] = c };

        var early = await Json.ReadAsync(await Deliver(SignedWebhooks.Creem(refund.ToJsonString())), 200);
        await Json.ReadAsync(await Deliver(SignedWebhooks.Creem(CreemPackPaid("evt_buy", checkoutId, c))), 200);
        var beforeRetry = await App.BalanceAsync(c, "credits");
        App.Clock.Advance(TimeSpan.FromMinutes(1));
        var retried = await App.Services.GetRequiredService<WebhookProcessor>().RetryDueAsync();

        Assert.Equal("failed", (string)early["status"]!);
        Assert.Equal(100, (long)beforeRetry["available"]!);
        Assert.Equal(1, retried);
        Assert.Equal(0, (long)(await App.BalanceAsync(c, "credits"))["available"]!);
        var stored = await App.Services.GetRequiredService<IWebhookInbox>().GetAsync("creem", "evt_61eTsJHUgInFw2BQKhTiPV", CancellationToken.None);
        Assert.Equal((WebhookStatus.Applied, 2), (stored!.Status, stored.Attempts));
    }

    [Fact]
    public async Task Stripe_APaymentCheckout_GrantsCredits_AndAChargeRefundClawsThemBack()
    {
        var c = TollgateApp.NewCustomer();
        var checkoutId = await StartCheckoutAsync(c, "pack", "stripe");
        var sent = _stripe.Requests.Single(r => r.Path == "/v1/checkout/sessions").FormMap();
        var completed = SignedWebhooks.Sample("stripe", "checkout.session.completed.payment");
        completed["data"]!["object"]!["client_reference_id"] = checkoutId;
        var refund = SignedWebhooks.Sample("stripe", "charge.refunded");

        var paid = await Json.ReadAsync(await Deliver(SignedWebhooks.Stripe(completed.ToJsonString(), App.Clock.GetUtcNow())), 200);
        var credited = await App.BalanceAsync(c, "credits");
        var refunded = await Json.ReadAsync(await Deliver(SignedWebhooks.Stripe(refund.ToJsonString(), App.Clock.GetUtcNow())), 200);

        Assert.Equal((checkoutId, "price_pack", "payment"), (sent["client_reference_id"], sent["line_items[0][price]"], sent["mode"]));
        Assert.Equal((c, "pack"), (sent["metadata[tollgate_customer_id]"], sent["metadata[tollgate_product]"]));
        Assert.Equal(("applied", 100L), ((string)paid["status"]!, (long)credited["available"]!));
        Assert.Equal("applied", (string)refunded["status"]!);
        Assert.Equal(0, (long)(await App.BalanceAsync(c, "credits"))["available"]!);
        Assert.Equal(PaymentStatus.Refunded, (await Payments.ListPaymentsAsync(c, CancellationToken.None)).Single().Status);
    }

    [Theory]
    [InlineData(-301, false)]
    [InlineData(301, false)]
    [InlineData(-299, true)]
    public async Task Stripe_TimestampsOutsideTheTolerance_Are401(int offsetSeconds, bool accepted)
    {
        var body = SignedWebhooks.Sample("stripe", "customer.subscription.updated.basil").ToJsonString();

        var response = await Deliver(SignedWebhooks.Stripe(body, App.Clock.GetUtcNow().AddSeconds(offsetSeconds)));

        if (accepted)
        {
            await Json.ReadAsync(response, 200);
        }
        else
        {
            await Json.ProblemAsync(response, 401, "invalid_signature");
            Assert.Equal(0, await App.CountRowsAsync("webhook_events"));
        }
    }

    [Fact]
    public async Task Stripe_DuringSecretRotation_EitherSecretIsAccepted_AnyOtherIsNot()
    {
        var now = App.Clock.GetUtcNow();
        var e = SignedWebhooks.Sample("stripe", "invoice.payment_failed.basil");

        e["id"] = "evt_new";
        await Json.ReadAsync(await Deliver(SignedWebhooks.Stripe(e.ToJsonString(), now, SignedWebhooks.StripeSecret)), 200);
        e["id"] = "evt_old";
        await Json.ReadAsync(await Deliver(SignedWebhooks.Stripe(e.ToJsonString(), now, SignedWebhooks.StripeOldSecret)), 200);
        e["id"] = "evt_both";
        await Json.ReadAsync(await Deliver(SignedWebhooks.Stripe(e.ToJsonString(), now, "whsec_unknown", SignedWebhooks.StripeOldSecret)), 200);
        e["id"] = "evt_none";
        await Json.ProblemAsync(await Deliver(SignedWebhooks.Stripe(e.ToJsonString(), now, "whsec_unknown")), 401, "invalid_signature");

        Assert.Equal(3, await App.CountRowsAsync("webhook_events"));
    }

    [Fact]
    public async Task Stripe_SubscriptionEvents_GiveThePlan_RecordTheInvoice_AndEndIt()
    {
        var c = TollgateApp.NewCustomer();
        var now = App.Clock.GetUtcNow();
        var updated = SignedWebhooks.Sample("stripe", "customer.subscription.updated.basil");
        var sub = updated["data"]!["object"]!.AsObject();
        sub["metadata"] = new JsonObject { ["tollgate_customer_id"] = c, ["tollgate_product"] = "pro" };
        sub["cancel_at_period_end"] = false;
        var item = sub["items"]!["data"]![0]!.AsObject();
        item["current_period_start"] = now.ToUnixTimeSeconds();
        item["current_period_end"] = now.AddMonths(1).ToUnixTimeSeconds();
        updated["created"] = now.ToUnixTimeSeconds();
        var invoice = SignedWebhooks.Sample("stripe", "invoice.paid.basil");
        invoice["created"] = now.ToUnixTimeSeconds();
        var deleted = SignedWebhooks.Sample("stripe", "customer.subscription.deleted.basil");
        deleted["created"] = now.AddDays(3).ToUnixTimeSeconds();

        await Json.ReadAsync(await Deliver(SignedWebhooks.Stripe(updated.ToJsonString(), now)), 200);
        var active = await Json.ReadAsync(await App.Client.GetAsync($"/v1/customers/{c}"), 200);
        var allowance = await App.BalanceAsync(c, "ai_messages");
        await Json.ReadAsync(await Deliver(SignedWebhooks.Stripe(invoice.ToJsonString(), now)), 200);
        App.Clock.Advance(TimeSpan.FromDays(3));
        await Json.ReadAsync(await Deliver(SignedWebhooks.Stripe(deleted.ToJsonString(), App.Clock.GetUtcNow())), 200);
        var ended = await Json.ReadAsync(await App.Client.GetAsync($"/v1/customers/{c}"), 200);

        Assert.Equal(("pro", "stripe"), ((string?)active["plan"], (string)active["subscriptions"]![0]!["provider"]!));
        Assert.Equal(100, (long)allowance["available"]!);
        var payment = (await Payments.ListPaymentsAsync(c, CancellationToken.None)).Single();
        Assert.Equal(("in_1QExample42", PaymentKind.Subscription, 2000L), (payment.ProviderPaymentId, payment.Kind, payment.Amount));
        Assert.Equal(("free", "canceled"), ((string?)ended["plan"], (string)ended["subscriptions"]![0]!["status"]!));
    }

    [Fact]
    public async Task ProviderDownDuringCheckout_Is502_AndNothingIsRecorded()
    {
        _creem.FailNext(FakeCreem.Error(500, "Internal Server Error", "database timeout"), FakeCreem.Error(500, "Internal Server Error", "database timeout"),
            FakeCreem.Error(500, "Internal Server Error", "database timeout"));

        var problem = await Json.ProblemAsync(await App.PostAsync("/v1/checkouts", new { customer_id = "c1", product = "pack", provider = "creem" }), 502,
            "provider_error");

        Assert.Contains("database timeout", (string?)problem["detail"]);
        Assert.DoesNotContain(FakeCreem.ApiKey, (string?)problem["detail"]);
        Assert.Equal(0, await App.CountRowsAsync("checkouts"));
    }

    [Fact]
    public async Task PricesComeFromTheProvider_AndWhenItFails_TheLastKnownPriceIsShownStale()
    {
        var fresh = await Json.ReadAsync(await App.Client.GetAsync("/v1/products?provider=creem"), 200);
        // Three attempts for each product priced (the pro plan, then the pack).
        _creem.FailNext(Enumerable.Repeat(FakeCreem.Error(503, "Service Unavailable"), 6).ToArray());
        App.Clock.Advance(PriceBook.Ttl + TimeSpan.FromSeconds(1));
        var stale = await Json.ReadAsync(await App.Client.GetAsync("/v1/products?provider=creem"), 200);

        var freshPack = fresh["packs"]![0]!["price"]!;
        var stalePack = stale["packs"]![0]!["price"]!;
        Assert.Equal((100L, "USD"), ((long)freshPack["amount"]!, (string)freshPack["currency"]!));
        Assert.Null(freshPack["stale"]);
        Assert.Equal((100L, true), ((long)stalePack["amount"]!, (bool)stalePack["stale"]!));
    }

    private static HttpRequestMessage WithHeader(HttpRequestMessage request, string name, string value)
    {
        request.Headers.Add(name, value);
        return request;
    }

    private static HttpRequestMessage Altered(HttpRequestMessage signed, string body)
    {
        signed.Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
        return signed;
    }
}

public sealed class SqliteProviderWebhooks : ProviderWebhooks
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresProviderWebhooks : ProviderWebhooks
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
