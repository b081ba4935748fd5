using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Tollgate.Core.Ledger;
using Tollgate.Core.Payments;
using Tollgate.Server.Tests.Support;
using Tollgate.Storage;
using Tollgate.Testing.Fakes;

namespace Tollgate.Server.Tests.Payments;

/// <summary>
/// Issue 9's money bugs, pinned: every payment and every paid period grants once, whatever order, repetition or
/// customer the provider's signed events come with. Events are the documented samples, signed as the providers sign
/// them, delivered to /webhooks/*; balances are read back through the API.
/// </summary>
public abstract class PaymentSafety : IAsyncLifetime
{
    private const string ProProduct = "prod_d1AY2Sadk9YAvLI0pj97f";

    private FakeServer _creem = null!;
    private FakeServer _stripe = null!;
    private string _catalog = null!;

    protected abstract DatabaseProvider Provider { get; }

    protected TollgateApp App { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        _creem = await FakeCreem.StartAsync();
        _stripe = await FakeStripe.StartAsync();
        _catalog = Path.Combine(Path.GetTempPath(), $"tollgate-catalog-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(_catalog, $$"""
            features:
              credits: { type: credits }
              ai_messages: { type: metered, credit_cost: 1 }
              hd_export: { type: boolean }
            plans:
              free:
                default: true
                features:
                  ai_messages: { limit: 5, reset: month }
              pro:
                interval: month
                providers: { creem: { product: {{ProProduct}} }, stripe: { price: price_1QPro } }
                features:
                  hd_export: true
                  ai_messages: { limit: 100, reset: month }
                  credits: { grant: 50, reset: month }
              basic:
                interval: month
                providers: { creem: { product: prod_basic } }
                features:
                  ai_messages: { limit: 10, reset: month }
              small:
                interval: month
                providers: { creem: { product: prod_small } }
                features:
                  credits: { grant: 100, reset: month }
              mid:
                interval: month
                providers: { creem: { product: prod_mid } }
                features:
                  credits: { grant: 200, reset: month }
              big:
                interval: month
                providers: { creem: { product: prod_big } }
                features:
                  credits: { grant: 400, reset: month }
              roll:
                interval: month
                providers: { creem: { product: prod_roll } }
                features:
                  credits: { grant: 50, reset: month, rollover: { max: 40 } }
              lifetime:
                interval: once
                providers: { creem: { product: prod_lifetime } }
                features:
                  hd_export: true
            packs:
              pack:
                credits: 100
                providers: { creem: { product: prod_pack }, stripe: { price: price_pack } }
            """, TestContext.Current.CancellationToken);
        App = await TollgateApp.StartAsync(Provider, settings: new Dictionary<string, string?>
        {
            ["Tollgate:Catalog"] = _catalog,
            ["Tollgate:Providers:Default"] = "creem",
            ["Tollgate:Providers:Creem:ApiKey"] = FakeCreem.ApiKey,
            ["Tollgate:Providers:Creem:WebhookSecret"] = SignedWebhooks.CreemSecret,
            ["Tollgate:Providers:Creem:BaseUrl"] = _creem.BaseUrl.ToString(),
            ["Tollgate:Providers:Stripe:SecretKey"] = FakeStripe.SecretKey,
            ["Tollgate:Providers:Stripe:WebhookSecrets:0"] = SignedWebhooks.StripeSecret,
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

    private async Task<JsonObject> DeliverCreemAsync(string body) => await Json.ReadAsync(await Deliver(SignedWebhooks.Creem(body)), 200);

    private static JsonObject Metadata(string customer, string product) =>
        new() { ["tollgate_customer_id"] = customer, ["tollgate_product"] = product };

    /// <summary>The documented checkout.completed of a subscription: it names the subscription, but no period.</summary>
    private static string CreemSubscriptionCheckout(string eventId, string customer, string subscriptionId, DateTimeOffset at, string orderId)
    {
        var e = SignedWebhooks.Sample("creem", "checkout.completed");
        e["id"] = eventId;
        e["created_at"] = at.ToUnixTimeMilliseconds();
        var o = e["object"]!.AsObject();
        o["request_id"] = null;
        o["order"]!["id"] = orderId;
        o["subscription"]!["id"] = subscriptionId;
        o["metadata"] = Metadata(customer, "pro");
        o["subscription"]!["metadata"] = Metadata(customer, "pro");
        return e.ToJsonString();
    }

    /// <summary>The documented checkout.completed, turned into a one-time purchase (a pack or a lifetime plan).</summary>
    private static string CreemOneTimeCheckout(string eventId, string customer, string product, string creemProduct, string orderId)
    {
        var e = SignedWebhooks.Sample("creem", "checkout.completed");
        e["id"] = eventId;
        var o = e["object"]!.AsObject();
        o["request_id"] = null;
        o.Remove("subscription");
        o["order"]!["id"] = orderId;
        o["order"]!["product"] = creemProduct;
        o["order"]!["type"] = "onetime";
        o["product"]!["id"] = creemProduct;
        o["product"]!["billing_type"] = "onetime";
        o["metadata"] = Metadata(customer, product);
        return e.ToJsonString();
    }

    /// <summary>A documented subscription.* event for one subscription, at a time, with its period.</summary>
    private static string CreemSubscription(string sample, string eventId, string customer, string subscriptionId, DateTimeOffset at,
        DateTimeOffset periodStart, DateTimeOffset periodEnd, string? transaction = null, string product = ProProduct)
    {
        var e = SignedWebhooks.Sample("creem", sample);
        e["id"] = eventId;
        e["created_at"] = at.ToUnixTimeMilliseconds();
        var o = e["object"]!.AsObject();
        o["id"] = subscriptionId;
        o["product"]!["id"] = product;
        o["metadata"] = Metadata(customer, "pro");
        o["current_period_start_date"] = periodStart.ToString("O");
        o["current_period_end_date"] = periodEnd.ToString("O");
        if (transaction is not null)
        {
            o["last_transaction_id"] = transaction;
        }

        return e.ToJsonString();
    }

    [Fact]
    public async Task Bug9_1_Creem_TheFirstPaidMonth_IsGrantedOnce_AndARenewalDeliveredTwiceGrantsOnce()
    {
        var c = TollgateApp.NewCustomer();
        var t0 = App.Clock.GetUtcNow();
        var t1 = t0.AddMonths(1);
        var active = SignedWebhooks.Sample("creem", "subscription.active");
        active["id"] = "evt_active";
        active["created_at"] = t0.ToUnixTimeMilliseconds();
        active["object"]!["id"] = "sub_first";
        active["object"]!["product"]!["id"] = ProProduct;
        active["object"]!["metadata"] = Metadata(c, "pro");

        // Creem's order: checkout.completed and subscription.active (neither names a period), then subscription.paid.
        await DeliverCreemAsync(CreemSubscriptionCheckout("evt_checkout", c, "sub_first", t0, "ord_first"));
        await DeliverCreemAsync(active.ToJsonString());
        var beforePayment = await App.BalanceAsync(c, "credits");
        await DeliverCreemAsync(CreemSubscription("subscription.paid", "evt_paid_1", c, "sub_first", t0.AddSeconds(2), t0, t1, "tran_first"));
        var firstMonth = await App.BalanceAsync(c, "credits");
        var messages = await App.BalanceAsync(c, "ai_messages");

        App.Clock.Set(t1.AddMinutes(1));
        var renewal = CreemSubscription("subscription.paid", "evt_paid_2", c, "sub_first", t1, t1, t1.AddMonths(1), "tran_second");
        await DeliverCreemAsync(renewal);
        await DeliverCreemAsync(renewal);
        await DeliverCreemAsync(renewal.Replace("evt_paid_2", "evt_paid_2_resent", StringComparison.Ordinal));
        var secondMonth = await App.BalanceAsync(c, "credits");

        Assert.Equal(50, (long)firstMonth["available"]!);
        Assert.Equal(0, (long)beforePayment["available"]!);
        Assert.Equal(100, (long)messages["available"]!);
        Assert.Equal(50, (long)secondMonth["available"]!);
        Assert.Equal(["subscription_period"], secondMonth["lots"]!.AsArray().Select(l => (string)l!["source"]!).Distinct());
    }

    [Fact]
    public async Task Rollover_ThroughCreem_ARenewalDeliveredTwiceAtOnceCarriesOnce_AndARefundOfTheEndedPeriodClawsTheCarryBack()
    {
        var c = TollgateApp.NewCustomer();
        var t0 = App.Clock.GetUtcNow();
        var t1 = t0.AddMonths(1);
        await DeliverCreemAsync(CreemSubscription("subscription.paid", "evt_roll_1", c, "sub_roll", t0, t0, t1, "tran_roll_1", "prod_roll"));
        await Json.ReadAsync(await App.UseAsync(c, "credits", 20), 200);

        App.Clock.Set(t1.AddMinutes(1));
        var renewal = CreemSubscription("subscription.paid", "evt_roll_2", c, "sub_roll", t1, t1, t1.AddMonths(1), "tran_roll_2", "prod_roll");
        await Task.WhenAll(
            Task.Run(() => DeliverCreemAsync(renewal)),
            Task.Run(() => DeliverCreemAsync(renewal.Replace("evt_roll_2", "evt_roll_2_resent", StringComparison.Ordinal))));
        var renewed = await App.BalanceAsync(c, "credits");

        var refund = SignedWebhooks.Sample("creem", "refund.created");
        refund["id"] = "evt_roll_refund";
        refund["object"]!["transaction"]!["id"] = "tran_roll_1";
        refund["object"]!["subscription"]!["id"] = "sub_roll";
        var refunded = await DeliverCreemAsync(refund.ToJsonString());
        var lots = await App.Services.GetRequiredService<LedgerEngine>().GetAllLotsAsync(c);

        Assert.Equal(80, (long)renewed["available"]!); // 50 of the new month and 30 carried
        Assert.Equal(["rollover", "subscription_period"], renewed["lots"]!.AsArray().Select(l => (string)l!["source"]!).Order());
        Assert.Equal("applied", (string)refunded["status"]!);
        var carry = Assert.Single(lots, l => l.Source == LotSource.Rollover);
        Assert.Equal((30L, 30L, 0L), (carry.Amount, carry.Clawed, carry.Remaining));
        Assert.Equal(50, lots.Single(l => l.Source == LotSource.SubscriptionPeriod && l.ExpiresAt > t1).Remaining); // the paid new month is not refunded
        await Books.AssertBalancedAsync(App, c);
    }

    [Fact]
    public async Task Bug9_1_Stripe_TheFirstPaidMonth_IsGrantedOnce_InStripesEventOrder()
    {
        var c = TollgateApp.NewCustomer();
        var now = App.Clock.GetUtcNow();
        var checkout = await Json.ReadAsync(await App.PostAsync("/v1/checkouts", new { customer_id = c, product = "pro", provider = "stripe" }), 201);
        var completed = SignedWebhooks.Sample("stripe", "checkout.session.completed.subscription");
        completed["data"]!["object"]!["client_reference_id"] = (string)checkout["id"]!;
        completed["created"] = now.ToUnixTimeSeconds();
        var created = SignedWebhooks.Sample("stripe", "customer.subscription.updated.basil");
        created["id"] = "evt_sub_created";
        created["type"] = "customer.subscription.created";
        created["created"] = now.ToUnixTimeSeconds();
        var sub = created["data"]!["object"]!.AsObject();
        sub["metadata"] = Metadata(c, "pro");
        sub["cancel_at_period_end"] = false;
        var item = sub["items"]!["data"]![0]!.AsObject();
        item["current_period_start"] = now.ToUnixTimeSeconds();
        item["current_period_end"] = now.AddMonths(1).ToUnixTimeSeconds();
        var invoice = SignedWebhooks.Sample("stripe", "invoice.paid.basil");
        invoice["created"] = now.ToUnixTimeSeconds();

        await Json.ReadAsync(await Deliver(SignedWebhooks.Stripe(completed.ToJsonString(), now)), 200);
        await Json.ReadAsync(await Deliver(SignedWebhooks.Stripe(created.ToJsonString(), now)), 200);
        await Json.ReadAsync(await Deliver(SignedWebhooks.Stripe(invoice.ToJsonString(), now)), 200);
        invoice["id"] = "evt_invoice_resent";
        await Json.ReadAsync(await Deliver(SignedWebhooks.Stripe(invoice.ToJsonString(), now)), 200);

        Assert.Equal(50, (long)(await App.BalanceAsync(c, "credits"))["available"]!);
        Assert.Equal(100, (long)(await App.BalanceAsync(c, "ai_messages"))["available"]!);
    }

    [Fact]
    public async Task Bug9_1_AnImmediateUpgrade_ToAPlanWithCreditsTheOldOneLacked_GrantsThemOnce()
    {
        var c = TollgateApp.NewCustomer();
        var t0 = App.Clock.GetUtcNow();
        await DeliverCreemAsync(CreemSubscription("subscription.paid", "evt_basic", c, "sub_up", t0, t0, t0.AddMonths(1), "tran_basic", "prod_basic"));
        App.Clock.Advance(TimeSpan.FromDays(3));

        await DeliverCreemAsync(CreemSubscription("subscription.update", "evt_to_small", c, "sub_up", t0.AddDays(3), t0, t0.AddMonths(1), product: "prod_small"));

        Assert.Equal(100, (long)(await App.BalanceAsync(c, "credits"))["available"]!);
    }

    [Fact]
    public async Task Bug9_1_UpgradeDowngradeUpgrade_InOnePeriod_GrantsTheLargestAllowanceOnce()
    {
        var c = TollgateApp.NewCustomer();
        var t0 = App.Clock.GetUtcNow();
        var end = t0.AddMonths(1);
        await DeliverCreemAsync(CreemSubscription("subscription.paid", "evt_small", c, "sub_ud", t0, t0, end, "tran_small", "prod_small"));
        var onSmall = await App.BalanceAsync(c, "credits");

        App.Clock.Advance(TimeSpan.FromDays(1));
        await DeliverCreemAsync(CreemSubscription("subscription.update", "evt_mid", c, "sub_ud", t0.AddDays(1), t0, end, product: "prod_mid"));
        var onMid = await App.BalanceAsync(c, "credits");
        App.Clock.Advance(TimeSpan.FromDays(1));
        await DeliverCreemAsync(CreemSubscription("subscription.update", "evt_back", c, "sub_ud", t0.AddDays(2), t0, end, product: "prod_small"));
        App.Clock.Advance(TimeSpan.FromDays(1));
        await DeliverCreemAsync(CreemSubscription("subscription.update", "evt_big", c, "sub_ud", t0.AddDays(3), t0, end, product: "prod_big"));
        var onBig = await App.BalanceAsync(c, "credits");

        Assert.Equal((100L, 200L, 400L), ((long)onSmall["available"]!, (long)onMid["available"]!, (long)onBig["available"]!));
    }

    [Fact]
    public async Task Bug9_4_Creem_ASecondEventForTheSameOrder_NamingAnotherCustomer_GrantsNothingMore()
    {
        var (buyer, other) = (TollgateApp.NewCustomer(), TollgateApp.NewCustomer());

        await DeliverCreemAsync(CreemOneTimeCheckout("evt_buy", buyer, "pack", "prod_pack", "ord_once"));
        var second = await DeliverCreemAsync(CreemOneTimeCheckout("evt_buy_again", other, "pack", "prod_pack", "ord_once"));

        Assert.Equal(100, (long)(await App.BalanceAsync(buyer, "credits"))["available"]!);
        Assert.Equal(0, (long)(await App.BalanceAsync(other, "credits"))["available"]!);
        Assert.Equal(buyer, Assert.Single(await Payments.ListPaymentsAsync(buyer, CancellationToken.None)).CustomerId);
        Assert.Empty(await Payments.ListPaymentsAsync(other, CancellationToken.None));
        Assert.Equal("applied", (string)second["status"]!);
    }

    [Fact]
    public async Task Bug9_1_Race_TheFirstMonthsEvents_ArrivingAtOnceInAnyOrder_GrantTheMonthOnce()
    {
        // Providers retry and deliver in parallel: checkout.completed, subscription.active (no period) and
        // subscription.paid (the period), each also resent under a new event id, all at once. Whatever order they are
        // applied in, the first month is owed once: a calendar-window grant written beside the period's would stay.
        // On PostgreSQL the events that first saw the subscription each inserted it: all but one failed on its unique
        // provider id and were left to the retry worker, so the paid month arrived only after its backoff.
        var random = new Random(91);
        for (var round = 0; round < 4; round++)
        {
            var c = TollgateApp.NewCustomer();
            var t0 = App.Clock.GetUtcNow();
            var subscription = $"sub_first_race_{round}";
            var active = SignedWebhooks.Sample("creem", "subscription.active");
            active["id"] = $"evt_active_race_{round}";
            active["created_at"] = t0.AddSeconds(1).ToUnixTimeMilliseconds();
            active["object"]!["id"] = subscription;
            active["object"]!["product"]!["id"] = ProProduct;
            active["object"]!["metadata"] = Metadata(c, "pro");
            var once = new[]
            {
                CreemSubscriptionCheckout($"evt_checkout_race_{round}", c, subscription, t0, $"ord_first_race_{round}"),
                active.ToJsonString(),
                CreemSubscription("subscription.paid", $"evt_paid_race_{round}", c, subscription, t0.AddSeconds(2), t0, t0.AddMonths(1),
                    $"tran_first_race_{round}"),
            };
            var bodies = once.Concat(once.Select(b => b.Replace("\"evt_", "\"evt_resent_", StringComparison.Ordinal)))
                .OrderBy(_ => random.Next()).ToList();

            var answers = await Task.WhenAll(bodies.Select(body => Task.Run(() => DeliverCreemAsync(body))));

            var credits = await App.BalanceAsync(c, "credits");
            Assert.True((50L, 100L) == ((long)credits["available"]!, (long)(await App.BalanceAsync(c, "ai_messages"))["available"]!),
                $"round {round}: credits {credits.ToJsonString()}; subscription "
                + (await Json.ReadAsync(await App.Client.GetAsync($"/v1/customers/{c}/subscriptions"), 200)).ToJsonString()
                + "; events " + string.Join(", ", answers.Select(a => a.ToJsonString()))
                + "; errors " + string.Join(" | ", (await App.Services.GetRequiredService<IWebhookInbox>().ListAsync(null, 50, CancellationToken.None))
                    .Select(e => $"{e.EventType} {e.Status} {e.LastError}")));
            Assert.Equal(["subscription_period"], credits["lots"]!.AsArray().Select(l => (string)l!["source"]!));
            // Applied while the provider waits for the answer, every one: none left to the retry worker's backoff.
            Assert.All(answers, a => Assert.Equal("applied", (string)a["status"]!));
            await Books.AssertBalancedAsync(App, c);
        }
    }

    [Fact]
    public async Task Bug9_4_Race_EventsForOneOrder_NamingManyCustomers_AtOnce_GrantOnce_ToOneCustomer()
    {
        // A forged or replayed stream of signed events for one paid order, each naming another customer, all at once:
        // the grant is keyed by the provider's order, so exactly one customer gets the pack, once.
        var customers = Enumerable.Range(0, 12).Select(_ => TollgateApp.NewCustomer()).ToList();

        await Task.WhenAll(customers.Select((customer, i) =>
            Task.Run(() => DeliverCreemAsync(CreemOneTimeCheckout($"evt_order_race_{i}", customer, "pack", "prod_pack", "ord_race")))));

        var balances = new List<long>();
        foreach (var customer in customers)
        {
            balances.Add((long)(await App.BalanceAsync(customer, "credits"))["available"]!);
            await Books.AssertBalancedAsync(App, customer);
        }

        Assert.Equal(100, balances.Sum());
        Assert.Equal(1, balances.Count(b => b == 100));
        var buyer = customers[balances.IndexOf(100)];
        Assert.Equal(buyer, Assert.Single(await Payments.ListPaymentsAsync(buyer, CancellationToken.None)).CustomerId);
        Assert.Equal(1, await App.CountRowsAsync("payments"));
    }

    [Fact]
    public async Task Race_OneNewProviderSubscription_NamingManyCustomers_AtOnce_IsRecordedOnce_AndItsMonthGrantedOnce()
    {
        // Since migration 0017 one provider subscription belongs to one customer through its customer_keys row, not a
        // unique index across customers. Its first paid month delivered at once under eight event ids, each naming
        // another customer: one subscription is recorded (the others' inserts find the key taken and are run again,
        // finding it), its payment once, its month granted once, to one customer.
        var customers = Enumerable.Range(0, 8).Select(_ => TollgateApp.NewCustomer()).ToList();
        var t0 = App.Clock.GetUtcNow();

        var answers = await Task.WhenAll(customers.Select((c, i) => Task.Run(() => DeliverCreemAsync(
            CreemSubscription("subscription.paid", $"evt_owner_race_{i}", c, "sub_owner_race", t0, t0, t0.AddMonths(1), "tran_owner_race")))));

        var credits = new List<long>();
        foreach (var customer in customers)
        {
            credits.Add((long)(await App.BalanceAsync(customer, "credits"))["available"]!);
            await Books.AssertBalancedAsync(App, customer);
        }

        Assert.Equal([0, 0, 0, 0, 0, 0, 0, 50], credits.Order().ToArray());
        var owner = customers[credits.IndexOf(50)];
        Assert.Equal(1, await App.CountRowsAsync("subscriptions"));
        Assert.Equal(1, await App.CountRowsAsync($"subscriptions WHERE customer_id = '{owner}' AND provider_subscription_id = 'sub_owner_race'"));
        Assert.Equal(1, await App.CountRowsAsync($"customer_keys WHERE kind = 'provider_subscription' AND key = 'sub_owner_race' AND customer_id = '{owner}'"));
        Assert.Equal(1, await App.CountRowsAsync("payments"));
        Assert.All(answers, a => Assert.Equal("applied", (string)a["status"]!));
    }

    [Fact]
    public async Task Bug9_4_Creem_ALifetimeOrderDeliveredAgainForAnotherCustomer_GivesThePlanOnlyToTheBuyer()
    {
        var (buyer, other) = (TollgateApp.NewCustomer(), TollgateApp.NewCustomer());

        await DeliverCreemAsync(CreemOneTimeCheckout("evt_life", buyer, "lifetime", "prod_lifetime", "ord_life"));
        await DeliverCreemAsync(CreemOneTimeCheckout("evt_life_again", other, "lifetime", "prod_lifetime", "ord_life"));

        Assert.True((bool)(await App.CheckAsync(buyer, "hd_export"))["allowed"]!);
        Assert.False((bool)(await App.CheckAsync(other, "hd_export"))["allowed"]!);
        var subscriptions = await Json.ReadAsync(await App.Client.GetAsync($"/v1/customers/{other}/subscriptions"), 200);
        Assert.Empty(subscriptions["subscriptions"]!.AsArray());
    }

    [Fact]
    public async Task Bug9_4_Stripe_ASecondSessionEventForTheSamePaymentIntent_NamingAnotherCustomer_GrantsNothingMore()
    {
        var (buyer, other) = (TollgateApp.NewCustomer(), TollgateApp.NewCustomer());
        var now = App.Clock.GetUtcNow();
        string Paid(string eventId, string customer)
        {
            var e = SignedWebhooks.Sample("stripe", "checkout.session.completed.payment");
            e["id"] = eventId;
            e["data"]!["object"]!["client_reference_id"] = null;
            e["data"]!["object"]!["metadata"] = Metadata(customer, "pack");
            return e.ToJsonString();
        }

        await Json.ReadAsync(await Deliver(SignedWebhooks.Stripe(Paid("evt_pi_1", buyer), now)), 200);
        await Json.ReadAsync(await Deliver(SignedWebhooks.Stripe(Paid("evt_pi_2", other), now)), 200);

        Assert.Equal(100, (long)(await App.BalanceAsync(buyer, "credits"))["available"]!);
        Assert.Equal(0, (long)(await App.BalanceAsync(other, "credits"))["available"]!);
    }

    [Fact]
    public async Task Bug9_8_ConcurrentEventsForOneSubscription_LeaveTheNewestEventsState()
    {
        const int Events = 24;
        var random = new Random(98);
        var t0 = App.Clock.GetUtcNow();
        for (var round = 0; round < 3; round++)
        {
            var c = TollgateApp.NewCustomer();
            var subscription = $"sub_race_{round}";
            await DeliverCreemAsync(CreemSubscription("subscription.paid", $"evt_start_{round}", c, subscription, t0, t0, t0.AddMonths(1), $"tran_{round}"));
            // Only the newest event schedules the cancellation: an older event written after it would undo it.
            var bodies = Enumerable.Range(1, Events)
                .Select(i => CreemSubscription(i == Events ? "subscription.scheduled_cancel" : "subscription.update", $"evt_race_{round}_{i}", c, subscription,
                    t0.AddSeconds(i), t0, t0.AddMonths(1)))
                .OrderBy(_ => random.Next())
                .ToList();

            await Task.WhenAll(bodies.Select(body => Task.Run(() => DeliverCreemAsync(body))));
            var stored = await Json.ReadAsync(await App.Client.GetAsync($"/v1/customers/{c}/subscriptions"), 200);

            Assert.True((bool)stored["subscriptions"]![0]!["cancel_at_period_end"]!, $"round {round}: an older event overwrote the newest");
        }
    }
}

public sealed class SqlitePaymentSafety : PaymentSafety
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresPaymentSafety : PaymentSafety
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
