using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Tollgate.Core.Subscriptions;
using Tollgate.Server.Tests.Support;
using Tollgate.Storage;
using Tollgate.Testing.Fakes;

namespace Tollgate.Server.Tests.Trials;

/// <summary>
/// Trials (issue 15, API.md §6.5): a card-less trial started through the API, once per customer and plan, ever; its
/// features and allowances while it runs; the fall-back to the free plan at its end (a month boundary included); a
/// paid subscription replacing it; provider trials (Stripe <c>trialing</c>, Creem <c>subscription.trialing</c>) counted
/// as the trial had; checkouts passing the trial to Stripe only to a customer who has not had one. Fake provider
/// servers and signed webhooks; the books balance after each.
/// </summary>
public abstract class TrialTests : IAsyncLifetime
{
    private FakeServer _creem = null!;
    private FakeServer _stripe = null!;
    private string _catalog = null!;

    protected abstract DatabaseProvider Provider { get; }

    private TollgateApp App { get; set; } = null!;

    private static DateTimeOffset Utc(int y, int m, int d, int h = 0, int min = 0, int s = 0) => new(y, m, d, h, min, s, TimeSpan.Zero);

    public async ValueTask InitializeAsync()
    {
        _creem = await FakeCreem.StartAsync();
        _stripe = await FakeStripe.StartAsync();
        _catalog = Path.Combine(Path.GetTempPath(), $"tollgate-trials-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(_catalog, """
            features:
              credits: { type: credits }
              ai_messages: { type: metered, credit_cost: 1 }
              hd_export: { type: boolean }
            plans:
              free:
                default: true
                features:
                  ai_messages: { limit: 5, reset: month }
              basic:
                interval: month
                price: { amount: 900, currency: USD }
                providers: { stripe: { price: price_basic } }
                features:
                  ai_messages: { limit: 20, reset: month }
              pro:
                interval: month
                trial_days: 14
                price: { amount: 2900, currency: USD }
                providers: { creem: { product: prod_d1AY2Sadk9YAvLI0pj97f }, stripe: { price: price_1QPro } }
                features:
                  hd_export: true
                  ai_messages: { limit: 100, reset: month }
                  credits: { grant: 300, reset: month }
            """);
        App = await TollgateApp.StartAsync(Provider, settings: new Dictionary<string, string?>
        {
            ["Tollgate:Catalog"] = _catalog,
            ["Tollgate:Providers:Default"] = "stripe",
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

    private Task<HttpResponseMessage> StartTrialAsync(string customer, string plan = "pro", string? key = null) =>
        App.PostAsync($"/v1/customers/{customer}/trials", new { plan }, key ?? App.Key());

    private async Task<JsonObject> CustomerAsync(string customer) => await Json.ReadAsync(await App.Client.GetAsync($"/v1/customers/{customer}"), 200);

    private async Task<IReadOnlyList<string>> CapabilitiesAsync(string customer) =>
        [.. (await Json.ReadAsync(await App.Client.GetAsync($"/v1/customers/{customer}/capabilities"), 200))["capabilities"]!.AsArray()
            .Select(c => (string)c!)];

    private async Task<long> AvailableAsync(string customer, string feature) => (long)(await App.BalanceAsync(customer, feature))["available"]!;

    /// <summary>A signed Stripe <c>customer.subscription.updated</c> for the customer's pro plan.</summary>
    private async Task DeliverStripeSubscriptionAsync(string customer, string subscriptionId, string status, DateTimeOffset start, DateTimeOffset end,
        string eventId, string product = "pro")
    {
        var e = SignedWebhooks.Sample("stripe", "customer.subscription.updated.basil");
        e["id"] = eventId;
        e["created"] = App.Clock.GetUtcNow().ToUnixTimeSeconds();
        var sub = e["data"]!["object"]!.AsObject();
        sub["id"] = subscriptionId;
        sub["status"] = status;
        sub["metadata"] = new JsonObject { ["tollgate_customer_id"] = customer, ["tollgate_product"] = product };
        sub["cancel_at_period_end"] = false;
        var item = sub["items"]!["data"]![0]!.AsObject();
        if (product == "basic")
        {
            item["price"]!["id"] = "price_basic"; // the catalog's stripe price of basic
            item["price"]!["lookup_key"] = null;
        }

        item["current_period_start"] = start.ToUnixTimeSeconds();
        item["current_period_end"] = end.ToUnixTimeSeconds();
        await Json.ReadAsync(await App.Client.SendAsync(SignedWebhooks.Stripe(e.ToJsonString(), App.Clock.GetUtcNow())), 200);
    }

    [Fact]
    public async Task StartingATrial_Is201Trialing_CardLess_WithThePlansFeaturesAndItsAllowanceForTheTrial()
    {
        var c = TollgateApp.NewCustomer();
        var now = App.Clock.GetUtcNow();

        var trial = await Json.ReadAsync(await StartTrialAsync(c), 201);
        var customer = await CustomerAsync(c);

        Assert.Equal(("pro", "tollgate", "trialing"), ((string)trial["plan"]!, (string)trial["provider"]!, (string)trial["status"]!));
        Assert.Equal((int)customer["subscriptions"]!.AsArray().Single()!["plan_version"]!, (int?)trial["plan_version"]); // the answer names the version stored
        Assert.Equal((now, now.AddDays(14), now.AddDays(14)),
            ((DateTimeOffset)trial["current_period_start"]!, (DateTimeOffset)trial["current_period_end"]!, (DateTimeOffset)trial["trial_ends_at"]!));
        Assert.Equal("pro", (string)customer["plan"]!);
        Assert.Contains("feature:hd_export", await CapabilitiesAsync(c));
        Assert.Equal((300L, 100L), (await AvailableAsync(c, "credits"), await AvailableAsync(c, "ai_messages")));
        var lot = (await App.BalanceAsync(c, "credits"))["lots"]!.AsArray().Single()!;
        Assert.Equal(now.AddDays(14), (DateTimeOffset)lot["expires_at"]!); // the trial's allowance ends with the trial
        var cancel = await Json.ProblemAsync(await App.PostAsync($"/v1/subscriptions/{trial["id"]}/cancel", new { at_period_end = false }), 409, "conflict");
        Assert.Contains("card-less trial", (string)cancel["detail"]!, StringComparison.Ordinal);
        var events = await EventTypesAsync(c);
        Assert.Contains(events, e => e.Type == "subscription.created" && (string)e.Data["status"]! == "trialing" && (string)e.Data["provider"]! == "tollgate");
        Assert.Contains(events, e => e.Type == "customer.capabilities_changed" && e.Data["capabilities"]!.AsArray().Any(x => (string)x! == "feature:hd_export"));
        Assert.Empty(_stripe.Requests); // card-less: no provider was asked
        Assert.Empty(_creem.Requests);
        await Books.AssertBalancedAsync(App, c);
    }

    [Fact]
    public async Task ATrial_IsOncePerCustomerAndPlan_Ever_AndRefusalsWriteNothing()
    {
        var c = TollgateApp.NewCustomer();
        await Json.ReadAsync(await StartTrialAsync(c), 201);

        var again = await Json.ProblemAsync(await StartTrialAsync(c), 409, "not_eligible");
        App.Clock.Advance(TimeSpan.FromDays(30)); // the trial ended long ago
        var afterEnd = await Json.ProblemAsync(await StartTrialAsync(c), 409, "not_eligible");
        var noTrial = await Json.ProblemAsync(await StartTrialAsync(c, "basic"), 409, "not_eligible");
        var freePlan = await Json.ProblemAsync(await StartTrialAsync(c, "free"), 409, "not_eligible");
        var unknown = await Json.ProblemAsync(await StartTrialAsync(c, "platinum"), 404, "unknown_product");
        await Json.ProblemAsync(await App.PostAsync($"/v1/customers/{c}/trials", new { }, App.Key()), 400, "invalid_request");
        await Json.ProblemAsync(await App.PostAsync($"/v1/customers/{c}/trials", new { plan = "" }, App.Key()), 400, "invalid_request");
        await Json.ProblemAsync(await App.PostAsync($"/v1/customers/{c}/trials", new { plan = "  " }, App.Key()), 400, "invalid_request");
        await Json.ProblemAsync(await App.PostAsync("/v1/customers/bad%20id/trials", new { plan = "pro" }, App.Key()), 400, "invalid_request");
        await Json.ProblemAsync(await App.PostAsync($"/v1/customers/{c}/trials", new { plan = "pro" }), 400, "invalid_request"); // no key

        Assert.Contains("tried once", (string)again["detail"]!, StringComparison.Ordinal);
        Assert.Contains("tried once", (string)afterEnd["detail"]!, StringComparison.Ordinal);
        Assert.Contains("offers no trial", (string)noTrial["detail"]!, StringComparison.Ordinal);
        Assert.Contains("offers no trial", (string)freePlan["detail"]!, StringComparison.Ordinal);
        Assert.Contains("platinum", (string)unknown["detail"]!, StringComparison.Ordinal);
        Assert.Equal(1, await App.CountRowsAsync("trials"));
        Assert.Equal(1, await App.CountRowsAsync("subscriptions"));
        Assert.Equal(1, await App.CountRowsAsync("customers"));
    }

    [Fact]
    public async Task TheSameKey_ReplaysTheTrial_AnotherBodyUnderIt_Is422()
    {
        var c = TollgateApp.NewCustomer();
        var key = App.Key();

        using var first = await StartTrialAsync(c, key: key);
        using var replay = await StartTrialAsync(c, key: key);
        await Json.ProblemAsync(await StartTrialAsync(c, "basic", key), 422, "idempotency_key_reused");

        Assert.Equal((201, 201), ((int)first.StatusCode, (int)replay.StatusCode));
        Assert.Equal(await first.Content.ReadAsStringAsync(), await replay.Content.ReadAsStringAsync());
        Assert.Equal(1, await App.CountRowsAsync("subscriptions"));
        Assert.Equal(300, await AvailableAsync(c, "credits"));
    }

    [Fact]
    public async Task EightConcurrentStarts_GiveExactlyOneTrial_AndOneAllowance()
    {
        var c = TollgateApp.NewCustomer();
        var sameKey = TollgateApp.NewCustomer();
        var key = App.Key();

        // Eight keys racing for one customer's trial, and eight calls racing under one key for another customer's.
        var racing = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => StartTrialAsync(c))));
        var oneKey = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => StartTrialAsync(sameKey, key: key))));

        Assert.Equal([201, 409, 409, 409, 409, 409, 409, 409], racing.Select(r => (int)r.StatusCode).Order());
        Assert.All(oneKey, r => Assert.Equal(201, (int)r.StatusCode)); // one effect, one answer, replayed to all
        Assert.Single((await Task.WhenAll(oneKey.Select(r => r.Content.ReadAsStringAsync()))).Distinct());
        foreach (var customer in new[] { c, sameKey })
        {
            Assert.Single((await CustomerAsync(customer))["subscriptions"]!.AsArray());
            Assert.Equal(300, await AvailableAsync(customer, "credits"));
            await Books.AssertBalancedAsync(App, customer);
        }

        Assert.Equal(2, await App.CountRowsAsync("trials"));
        Assert.Equal(2, await App.CountRowsAsync("ledger_lots WHERE feature = 'credits'"));
    }

    [Fact]
    public async Task APaidSubscriptionToThePlan_RefusesItsTrial()
    {
        var c = TollgateApp.NewCustomer();
        var now = App.Clock.GetUtcNow();
        await DeliverStripeSubscriptionAsync(c, "sub_paid_1", "active", now, now.AddMonths(1), "evt_paid_1");

        var refused = await Json.ProblemAsync(await StartTrialAsync(c), 409, "not_eligible");

        Assert.Contains("already has 'pro'", (string)refused["detail"]!, StringComparison.Ordinal);
        Assert.Equal(0, await App.CountRowsAsync("trials"));
    }

    [Fact]
    public async Task Products_ShowTheTrialDays_AndWhetherTheCustomerMayStartIt()
    {
        var c = TollgateApp.NewCustomer();
        static Dictionary<string, JsonObject> Plans(JsonObject products) =>
            products["plans"]!.AsArray().ToDictionary(p => (string)p!["id"]!, p => p!.AsObject());

        var anonymous = Plans(await Json.ReadAsync(await App.Client.GetAsync("/v1/products"), 200));
        var before = Plans(await Json.ReadAsync(await App.Client.GetAsync($"/v1/products?customer_id={c}"), 200));
        await Json.ReadAsync(await StartTrialAsync(c), 201);
        var after = Plans(await Json.ReadAsync(await App.Client.GetAsync($"/v1/products?customer_id={c}"), 200));

        Assert.Equal(14, (int)anonymous["pro"]["trial_days"]!);
        Assert.False(anonymous["pro"].ContainsKey("trial_eligible"));
        Assert.False(anonymous["basic"].ContainsKey("trial_days"));
        Assert.True((bool)before["pro"]["trial_eligible"]!);
        Assert.False((bool)after["pro"]["trial_eligible"]!);
        Assert.True((bool)after["pro"]["eligible"]!); // buying the plan stays open: that is how a trial converts
    }

    [Fact]
    public async Task AtTheTrialsEnd_TheCustomerFallsBackToTheFreePlan_AndTheSweepMarksItExpired()
    {
        var c = TollgateApp.NewCustomer();
        var start = App.Clock.GetUtcNow();
        await Json.ReadAsync(await StartTrialAsync(c), 201);
        await Json.ReadAsync(await App.UseAsync(c, "credits", 120), 200);

        App.Clock.Set(start.AddDays(14).AddSeconds(-1));
        var lastSecond = (await CustomerAsync(c))["plan"]!.GetValue<string>();
        var sweptEarly = await App.Services.GetRequiredService<TrialService>().ExpireEndedAsync();
        App.Clock.Set(start.AddDays(14));
        var ended = await CustomerAsync(c);
        var capabilities = await CapabilitiesAsync(c);
        var (credits, messages) = (await AvailableAsync(c, "credits"), await AvailableAsync(c, "ai_messages"));
        var swept = await App.Services.GetRequiredService<TrialService>().ExpireEndedAsync();
        var sweptAgain = await App.Services.GetRequiredService<TrialService>().ExpireEndedAsync();

        Assert.Equal(("pro", 0), (lastSecond, sweptEarly));
        Assert.Equal("free", (string)ended["plan"]!);
        Assert.DoesNotContain("feature:hd_export", capabilities);
        Assert.Equal((0L, 5L), (credits, messages)); // the trial's credits ended with it; the free plan's month is there
        Assert.Equal((1, 0), (swept, sweptAgain));
        Assert.Equal("expired", (string)(await CustomerAsync(c))["subscriptions"]![0]!["status"]!);
        Assert.Contains(await EventTypesAsync(c), e => e.Type == "subscription.updated" && (string)e.Data["status"]! == "expired");
        await Json.ProblemAsync(await StartTrialAsync(c), 409, "not_eligible");
        await Books.AssertBalancedAsync(App, c);
    }

    [Fact]
    public async Task ATrialEndingExactlyAtAMonthBoundary_GivesThePlanUntilTheLastInstant_ThenTheFreePlansNewMonth()
    {
        var c = TollgateApp.NewCustomer();
        App.Clock.Set(Utc(2026, 1, 18)); // 14 days: ends 1 February 00:00, the free plan's new month
        var trial = await Json.ReadAsync(await StartTrialAsync(c), 201);
        await Json.ReadAsync(await App.UseAsync(c, "ai_messages", 30), 200);

        App.Clock.Set(Utc(2026, 1, 31, 23, 59, 59));
        var lastInstant = (Plan: (string)(await CustomerAsync(c))["plan"]!, Credits: await AvailableAsync(c, "credits"),
            Messages: await AvailableAsync(c, "ai_messages"));
        App.Clock.Set(Utc(2026, 2, 1));
        var boundary = (Plan: (string)(await CustomerAsync(c))["plan"]!, Credits: await AvailableAsync(c, "credits"),
            Messages: await AvailableAsync(c, "ai_messages"));
        App.Clock.Set(Utc(2026, 3, 1));
        var nextMonth = await AvailableAsync(c, "ai_messages");

        Assert.Equal(Utc(2026, 2, 1), (DateTimeOffset)trial["trial_ends_at"]!);
        Assert.Equal(("pro", 300L, 70L), lastInstant);
        Assert.Equal(("free", 0L, 5L), boundary);
        Assert.Equal(5, nextMonth);
        // The trial's allowance was granted once, for the trial; nothing of pro came with February or March.
        Assert.Equal(1, await App.CountRowsAsync($"ledger_lots WHERE customer_id = '{c}' AND feature = 'credits'"));
        await Books.AssertBalancedAsync(App, c);
    }

    [Fact]
    public async Task ATrialConvertedToPaid_IsReplacedByTheSubscription_ItsAllowanceNotStackedOnThePaidPeriods()
    {
        var c = TollgateApp.NewCustomer();
        var start = App.Clock.GetUtcNow();
        var trial = await Json.ReadAsync(await StartTrialAsync(c), 201);
        await Json.ReadAsync(await App.UseAsync(c, "credits", 100), 200);

        App.Clock.Advance(TimeSpan.FromDays(5));
        // Buying the plan during the trial: allowed, and no second trial goes to Stripe.
        await Json.ReadAsync(await App.PostAsync("/v1/checkouts", new { customer_id = c, product = "pro" }), 201);
        var sent = _stripe.Requests.Single(r => r.Path == "/v1/checkout/sessions").FormMap();
        var paidAt = App.Clock.GetUtcNow();
        await DeliverStripeSubscriptionAsync(c, "sub_conv_1", "active", paidAt, paidAt.AddMonths(1), "evt_conv_1");
        await DeliverStripeSubscriptionAsync(c, "sub_conv_1", "active", paidAt, paidAt.AddMonths(1), "evt_conv_2"); // applied again
        var converted = await CustomerAsync(c);
        var credits = await AvailableAsync(c, "credits");
        App.Clock.Set(start.AddDays(14)); // where the trial would have ended
        var afterTrialEnd = (Plan: (string)(await CustomerAsync(c))["plan"]!, Credits: await AvailableAsync(c, "credits"));

        Assert.False(sent.ContainsKey("subscription_data[trial_period_days]"));
        Assert.Equal("pro", (string)converted["plan"]!);
        var statuses = converted["subscriptions"]!.AsArray().ToDictionary(s => (string)s!["provider"]!, s => (string)s!["status"]!);
        Assert.Equal(("canceled", "active"), (statuses["tollgate"], statuses["stripe"]));
        Assert.Equal(300, credits); // the paid period's 300; the trial's unused 200 were retired, not added
        Assert.Equal(("pro", 300L), afterTrialEnd);
        var events = await EventTypesAsync(c);
        Assert.Contains(events, e => e.Type == "subscription.canceled" && (string)e.Data["subscription_id"]! == (string)trial["id"]!
            && (string)e.Data["replaced_by"]! != null);
        await Books.AssertBalancedAsync(App, c);
    }

    [Fact]
    public async Task APlanAlreadyHeld_RenewedOrUpdated_DoesNotEndATrialOfAnotherPlan()
    {
        var c = TollgateApp.NewCustomer();
        var start = App.Clock.GetUtcNow();
        await DeliverStripeSubscriptionAsync(c, "sub_basic_held", "active", start, start.AddMonths(1), "evt_basic_1", "basic");
        App.Clock.Advance(TimeSpan.FromDays(1));
        var trial = await Json.ReadAsync(await StartTrialAsync(c), 201);

        App.Clock.Advance(TimeSpan.FromDays(1));
        // The plan already held is updated (and the same update delivered again): nothing starts giving access here.
        await DeliverStripeSubscriptionAsync(c, "sub_basic_held", "active", start, start.AddMonths(1), "evt_basic_2", "basic");
        await DeliverStripeSubscriptionAsync(c, "sub_basic_held", "active", start, start.AddMonths(1), "evt_basic_3", "basic");
        var customer = await CustomerAsync(c);

        var statuses = customer["subscriptions"]!.AsArray().ToDictionary(x => (string)x!["id"]!, x => (string)x!["status"]!);
        Assert.Equal("trialing", statuses[(string)trial["id"]!]);
        Assert.Equal("active", statuses.Single(kv => kv.Key != (string)trial["id"]!).Value);
        Assert.Equal("pro", (string)customer["plan"]!);
        Assert.Contains("feature:hd_export", await CapabilitiesAsync(c));
        Assert.Equal(300, await AvailableAsync(c, "credits")); // the trial's allowance stands
        Assert.DoesNotContain(await EventTypesAsync(c), e => e.Type == "subscription.canceled");
        await Books.AssertBalancedAsync(App, c);
    }

    [Fact]
    public async Task Checkouts_PassTheTrialToStripe_OnlyForAPlanWithTrialDays_ToACustomerWhoHasNotHadOne()
    {
        var fresh = TollgateApp.NewCustomer();
        var tried = TollgateApp.NewCustomer();
        await Json.ReadAsync(await StartTrialAsync(tried), 201);

        await Json.ReadAsync(await App.PostAsync("/v1/checkouts", new { customer_id = fresh, product = "pro" }), 201);
        await Json.ReadAsync(await App.PostAsync("/v1/checkouts", new { customer_id = fresh, product = "basic" }), 201);
        await Json.ReadAsync(await App.PostAsync("/v1/checkouts", new { customer_id = tried, product = "pro" }), 201);
        var forms = _stripe.Requests.Where(r => r.Path == "/v1/checkout/sessions").Select(r => r.FormMap()).ToList();

        Assert.Equal("14", forms[0]["subscription_data[trial_period_days]"]);
        Assert.False(forms[1].ContainsKey("subscription_data[trial_period_days]"));
        Assert.False(forms[2].ContainsKey("subscription_data[trial_period_days]"));
    }

    [Fact]
    public async Task AStripeTrial_IsRecordedTrialing_AndCountsAsTheTrialHad_ASecondOneGivesNothingUntilPaid()
    {
        var c = TollgateApp.NewCustomer();
        var now = App.Clock.GetUtcNow();
        await DeliverStripeSubscriptionAsync(c, "sub_trial_1", "trialing", now, now.AddDays(14), "evt_trial_1");
        var trialing = await CustomerAsync(c);
        var refused = await Json.ProblemAsync(await StartTrialAsync(c), 409, "not_eligible");
        await Json.ReadAsync(await App.PostAsync("/v1/checkouts", new { customer_id = TollgateApp.NewCustomer(), product = "pro" }), 201);

        // The first trial is canceled; a second Stripe subscription of the plan comes in trialing.
        var deleted = SignedWebhooks.Sample("stripe", "customer.subscription.deleted.basil");
        deleted["id"] = "evt_trial_1_deleted";
        deleted["created"] = now.AddDays(1).ToUnixTimeSeconds();
        deleted["data"]!["object"]!["id"] = "sub_trial_1";
        App.Clock.Advance(TimeSpan.FromDays(1));
        await Json.ReadAsync(await App.Client.SendAsync(SignedWebhooks.Stripe(deleted.ToJsonString(), App.Clock.GetUtcNow())), 200);
        await DeliverStripeSubscriptionAsync(c, "sub_trial_2", "trialing", App.Clock.GetUtcNow(), App.Clock.GetUtcNow().AddDays(14), "evt_trial_2");
        var second = await CustomerAsync(c);

        Assert.Equal(("pro", "trialing"), ((string)trialing["plan"]!, (string)trialing["subscriptions"]![0]!["status"]!));
        Assert.Contains("tried once", (string)refused["detail"]!, StringComparison.Ordinal);
        Assert.Equal(1, await App.CountRowsAsync($"trials WHERE customer_id = '{c}' AND source = 'stripe'"));
        Assert.Equal("free", (string)second["plan"]!);
        Assert.Contains(second["subscriptions"]!.AsArray(), s => (string)s!["status"]! == "incomplete");
        await Books.AssertBalancedAsync(App, c);
    }

    [Fact]
    public async Task ACreemTrial_IsRecordedTrialing_GivesThePlan_AndCountsAsTheTrialHad()
    {
        var c = TollgateApp.NewCustomer();
        var e = SignedWebhooks.Sample("creem", "subscription.trialing");
        e["created_at"] = App.Clock.GetUtcNow().ToUnixTimeMilliseconds();
        var o = e["object"]!.AsObject();
        o["product"]!["id"] = "prod_d1AY2Sadk9YAvLI0pj97f";
        o["metadata"] = new JsonObject { ["tollgate_customer_id"] = c, ["tollgate_product"] = "pro" };
        o["current_period_start_date"] = App.Clock.GetUtcNow().ToString("O");
        o["current_period_end_date"] = App.Clock.GetUtcNow().AddDays(7).ToString("O");

        await Json.ReadAsync(await App.Client.SendAsync(SignedWebhooks.Creem(e.ToJsonString())), 200);
        var customer = await CustomerAsync(c);
        var refused = await Json.ProblemAsync(await StartTrialAsync(c), 409, "not_eligible");

        Assert.Equal(("pro", "creem", "trialing"), ((string)customer["plan"]!, (string)customer["subscriptions"]![0]!["provider"]!,
            (string)customer["subscriptions"]![0]!["status"]!));
        Assert.Contains("feature:hd_export", await CapabilitiesAsync(c));
        Assert.Equal(300, await AvailableAsync(c, "credits")); // the trial period's allowance, once
        Assert.Contains("tried once", (string)refused["detail"]!, StringComparison.Ordinal);
        Assert.Equal(1, await App.CountRowsAsync($"trials WHERE customer_id = '{c}' AND source = 'creem'"));
        await Books.AssertBalancedAsync(App, c);
    }

    private async Task<List<(string Type, JsonObject Data)>> EventTypesAsync(string customer)
    {
        await using var connection = App.Database.Options.Provider == DatabaseProvider.Postgres
            ? (System.Data.Common.DbConnection)new Npgsql.NpgsqlConnection(App.Database.Options.ConnectionString)
            : new Microsoft.Data.Sqlite.SqliteConnection(App.Database.Options.ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT payload FROM events WHERE customer_id = '{customer}' ORDER BY seq";
        var events = new List<(string, JsonObject)>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var e = JsonNode.Parse(reader.GetString(0))!.AsObject();
            events.Add(((string)e["type"]!, e["data"]!.AsObject()));
        }

        return events;
    }
}

public sealed class SqliteTrialTests : TrialTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresTrialTests : TrialTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
