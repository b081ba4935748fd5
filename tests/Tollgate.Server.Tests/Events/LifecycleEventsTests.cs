using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Tollgate.Core.Events;
using Tollgate.Core.Payments;
using Tollgate.Server.Tests.Support;
using Tollgate.Storage;
using Tollgate.Testing;
using Tollgate.Testing.Fakes;

namespace Tollgate.Server.Tests.Events;

/// <summary>
/// The events of API.md §6.3 beyond the ledger's: <c>checkout.expired</c> from the expiry sweep,
/// <c>customer.capabilities_changed</c> when a subscription change changes what the customer can do, and the
/// <c>subscription.*</c> event of a change asked through the API, written when it is made and not again when the
/// provider's webhook confirms it. Real server and database; Stripe is a fake speaking its documented API.
/// </summary>
public abstract class LifecycleEventsTests : IAsyncLifetime
{
    private readonly List<IAsyncDisposable> _owned = [];
    private string? _catalog;

    protected abstract DatabaseProvider Provider { get; }

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        for (var i = _owned.Count - 1; i >= 0; i--)
        {
            await _owned[i].DisposeAsync();
        }

        if (_catalog is not null)
        {
            File.Delete(_catalog);
        }

        GC.SuppressFinalize(this);
    }

    private async Task<TollgateApp> StripeAppAsync()
    {
        var stripe = await FakeStripe.StartAsync();
        _owned.Add(stripe);
        _catalog = SignedWebhooks.CatalogFile();
        var app = await TollgateApp.StartAsync(Provider, new ManualTimeProvider(TimeProvider.System.GetUtcNow()), settings: new Dictionary<string, string?>
        {
            ["Tollgate:Catalog"] = _catalog,
            ["Tollgate:Providers:Default"] = "stripe",
            ["Tollgate:Providers:Stripe:SecretKey"] = FakeStripe.SecretKey,
            ["Tollgate:Providers:Stripe:WebhookSecrets:0"] = SignedWebhooks.StripeSecret,
            ["Tollgate:Providers:Stripe:BaseUrl"] = stripe.BaseUrl.ToString(),
        });
        _owned.Add(app);
        return app;
    }

    /// <summary>The customer's events, oldest first: type and data.</summary>
    private static async Task<List<(string Type, JsonObject Data)>> EventsAsync(TollgateApp app, string customer)
    {
        await using var connection = app.Database.Options.Provider == DatabaseProvider.Postgres
            ? (System.Data.Common.DbConnection)new Npgsql.NpgsqlConnection(app.Database.Options.ConnectionString)
            : new Microsoft.Data.Sqlite.SqliteConnection(app.Database.Options.ConnectionString);
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

    private static string[] Strings(JsonNode? array) => [.. array!.AsArray().Select(n => (string)n!)];

    /// <summary>A Stripe subscription to <c>pro</c> for the customer, as its signed <c>customer.subscription.updated</c>
    /// reports it; returns Tollgate's subscription id.</summary>
    private static async Task<string> SubscribeOnStripeAsync(TollgateApp app, string customer, bool cancelAtPeriodEnd = false, int secondsLater = 0)
    {
        var now = app.Clock.GetUtcNow();
        var updated = SignedWebhooks.Sample("stripe", "customer.subscription.updated.basil");
        updated["id"] = "evt_" + Guid.NewGuid().ToString("N");
        updated["created"] = now.ToUnixTimeSeconds() + secondsLater;
        var sub = updated["data"]!["object"]!.AsObject();
        sub["id"] = "sub_" + customer;
        sub["metadata"] = new JsonObject { ["tollgate_customer_id"] = customer, ["tollgate_product"] = "pro" };
        sub["cancel_at_period_end"] = cancelAtPeriodEnd;
        var item = sub["items"]!["data"]![0]!.AsObject();
        item["current_period_start"] = now.ToUnixTimeSeconds();
        item["current_period_end"] = now.AddMonths(1).ToUnixTimeSeconds();
        await Json.ReadAsync(await app.Client.SendAsync(SignedWebhooks.Stripe(updated.ToJsonString(), now)), 200);
        var view = await Json.ReadAsync(await app.Client.GetAsync($"/v1/customers/{customer}"), 200);
        return (string)view["subscriptions"]![0]!["id"]!;
    }

    [Fact]
    public async Task CheckoutExpired_IsWrittenByTheExpirySweep_OncePerCheckout()
    {
        var app = await TollgateApp.StartAsync(Provider, new ManualTimeProvider(TimeProvider.System.GetUtcNow()));
        _owned.Add(app);
        var customer = TollgateApp.NewCustomer();
        var checkout = await Json.ReadAsync(await app.PostAsync("/v1/checkouts", new { customer_id = customer, product = "starter_pack" }), 201);
        var checkouts = app.Services.GetRequiredService<CheckoutService>();

        app.Clock.Advance(TimeSpan.FromHours(23));
        Assert.Equal(0, await checkouts.ExpireStaleAsync());
        Assert.DoesNotContain(await EventsAsync(app, customer), e => e.Type == EventTypes.CheckoutExpired);
        app.Clock.Advance(TimeSpan.FromHours(2));
        Assert.Equal(1, await checkouts.ExpireStaleAsync());
        Assert.Equal(0, await checkouts.ExpireStaleAsync());

        var expired = Assert.Single(await EventsAsync(app, customer), e => e.Type == EventTypes.CheckoutExpired);
        Assert.Equal(((string)checkout["id"]!, "starter_pack", "sandbox"),
            ((string)expired.Data["checkout_id"]!, (string)expired.Data["product"]!, (string)expired.Data["provider"]!));
        Assert.Equal("expired", (string)(await Json.ReadAsync(await app.Client.GetAsync($"/v1/checkouts/{checkout["id"]}"), 200))["status"]!);
    }

    [Fact]
    public async Task CapabilitiesChanged_WhenASubscriptionStarts_AndWhenTheApiCancelsIt_NotAgainWhenTheWebhookConfirms()
    {
        var app = await StripeAppAsync();
        var customer = TollgateApp.NewCustomer();
        await app.GrantAsync(customer, "credits", 5);
        var (periodStart, periodEnd) = (app.Clock.GetUtcNow().ToUnixTimeSeconds(), app.Clock.GetUtcNow().AddMonths(1).ToUnixTimeSeconds());
        var subscription = await SubscribeOnStripeAsync(app, customer);

        var started = Assert.Single(await EventsAsync(app, customer), e => e.Type == EventTypes.CapabilitiesChanged);
        Assert.Equal(["feature:ai_messages", "plan:free"], Strings(started.Data["previous"]));
        Assert.Equal(["feature:ai_messages", "feature:credits", "feature:hd_export", "plan:pro"], Strings(started.Data["capabilities"]));

        // Canceled now through the API: the app hears of it at once, in the transaction that records it.
        await Json.ReadAsync(await app.PostAsync($"/v1/subscriptions/{subscription}/cancel", new { at_period_end = false }), 202);
        var events = await EventsAsync(app, customer);
        Assert.Equal(2, events.Count(e => e.Type == EventTypes.CapabilitiesChanged));
        Assert.Equal(1, events.Count(e => e.Type == EventTypes.SubscriptionCreated));
        Assert.Equal(1, events.Count(e => e.Type == EventTypes.SubscriptionCanceled));
        var ended = events.Last(e => e.Type == EventTypes.CapabilitiesChanged);
        Assert.Equal(["feature:ai_messages", "plan:free"], Strings(ended.Data["capabilities"]));
        Assert.Equal("canceled", (string)events.Single(e => e.Type == EventTypes.SubscriptionCanceled).Data["status"]!);

        // Stripe's webhook confirming the cancellation changes nothing the app has not heard: no second event.
        var deleted = SignedWebhooks.Sample("stripe", "customer.subscription.deleted.basil");
        deleted["created"] = app.Clock.GetUtcNow().ToUnixTimeSeconds() + 5;
        deleted["data"]!["object"]!["id"] = "sub_" + customer;
        var deletedItem = deleted["data"]!["object"]!["items"]!["data"]![0]!.AsObject();
        deletedItem["current_period_start"] = periodStart;
        deletedItem["current_period_end"] = periodEnd;
        await Json.ReadAsync(await app.Client.SendAsync(SignedWebhooks.Stripe(deleted.ToJsonString(), app.Clock.GetUtcNow())), 200);
        Assert.Equal(events.Select(e => e.Type), (await EventsAsync(app, customer)).Select(e => e.Type));
    }

    [Fact]
    public async Task ApiCancelAtPeriodEnd_AndResume_AreReportedWhenMade_AndTheConfirmingWebhookSendsNothingMore()
    {
        var app = await StripeAppAsync();
        var customer = TollgateApp.NewCustomer();
        var subscription = await SubscribeOnStripeAsync(app, customer);
        var before = (await EventsAsync(app, customer)).Count;

        await Json.ReadAsync(await app.PostAsync($"/v1/subscriptions/{subscription}/cancel", new { at_period_end = true }), 202);
        var canceling = (await EventsAsync(app, customer)).Skip(before).ToList();
        var update = Assert.Single(canceling);
        Assert.Equal(EventTypes.SubscriptionUpdated, update.Type);
        Assert.True((bool)update.Data["cancel_at_period_end"]!);

        // The provider's own report of the same state, later.
        await SubscribeOnStripeAsync(app, customer, cancelAtPeriodEnd: true, secondsLater: 5);
        Assert.Equal(before + 1, (await EventsAsync(app, customer)).Count);

        await Json.ReadAsync(await app.PostAsync($"/v1/subscriptions/{subscription}/resume", null), 202);
        var resumed = (await EventsAsync(app, customer)).Last();
        Assert.Equal(EventTypes.SubscriptionUpdated, resumed.Type);
        Assert.False((bool)resumed.Data["cancel_at_period_end"]!);
        Assert.Equal(before + 2, (await EventsAsync(app, customer)).Count);
    }

    [Fact]
    public async Task Retention_PrunesOldDeliveredEvents_KeepsPendingAndRecentOnes_AndSequencesContinue()
    {
        var app = await TollgateApp.StartAsync(Provider, new ManualTimeProvider(TimeProvider.System.GetUtcNow()),
            settings: new Dictionary<string, string?> { ["Tollgate:Webhooks:AllowPrivateAddresses"] = "true" });
        _owned.Add(app);
        var receiver = await EventReceiver.StartAsync();
        _owned.Add(receiver);
        var endpoint = await Json.ReadAsync(await app.PostAsync("/v1/webhook-endpoints", new { url = receiver.Url.ToString() }), 201);
        receiver.Trust((string)endpoint["secret"]!);
        var (delivered, pending, recent) = (TollgateApp.NewCustomer(), TollgateApp.NewCustomer(), TollgateApp.NewCustomer());
        foreach (var amount in new[] { 1, 2, 3 })
        {
            await app.GrantAsync(delivered, "credits", amount);
        }

        await receiver.WaitForAsync(r => r.Count(e => e.CustomerId == delivered && e.Answered == 200) == 3);
        receiver.AnswerNext(500, times: 1000);
        await app.GrantAsync(pending, "credits", 1);
        await receiver.WaitForAsync(r => r.Any(e => e.CustomerId == pending));

        app.Clock.Advance(TimeSpan.FromDays(31));
        await app.GrantAsync(recent, "credits", 1);
        var database = app.Services.GetRequiredService<TollgateDatabase>();
        var pruned = await Tollgate.Server.Events.EventRetention.PruneAsync(database, TimeSpan.FromDays(30), app.Clock, CancellationToken.None);

        Assert.Equal(3, pruned);
        Assert.Empty(await EventsAsync(app, delivered));
        Assert.Single(await EventsAsync(app, pending));
        Assert.Single(await EventsAsync(app, recent));
        Assert.Equal(0, await CountAsync(app, $"event_deliveries WHERE customer_id = '{delivered}'"));
        Assert.Equal(0, await CountAsync(app, "event_attempts a WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.event_id = a.event_id)"));
        Assert.Equal(1, await CountAsync(app, $"event_deliveries WHERE customer_id = '{pending}' AND status = 'pending'"));
        Assert.Equal(0, await Tollgate.Server.Events.EventRetention.PruneAsync(database, TimeSpan.FromDays(30), app.Clock, CancellationToken.None));

        // The customer's numbering goes on from where it was: the app's receiver sees 4 after 1, 2, 3.
        await app.GrantAsync(delivered, "credits", 4);
        Assert.Equal(4, await SequenceAsync(app, delivered));
    }

    private static async Task<long> CountAsync(TollgateApp app, string from)
    {
        await using var connection = app.Database.Options.Provider == DatabaseProvider.Postgres
            ? (System.Data.Common.DbConnection)new Npgsql.NpgsqlConnection(app.Database.Options.ConnectionString)
            : new Microsoft.Data.Sqlite.SqliteConnection(app.Database.Options.ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM " + from;
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static async Task<long> SequenceAsync(TollgateApp app, string customer)
    {
        await using var connection = app.Database.Options.Provider == DatabaseProvider.Postgres
            ? (System.Data.Common.DbConnection)new Npgsql.NpgsqlConnection(app.Database.Options.ConnectionString)
            : new Microsoft.Data.Sqlite.SqliteConnection(app.Database.Options.ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT max(seq) FROM events WHERE customer_id = '{customer}'";
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }
}

public sealed class SqliteLifecycleEventsTests : LifecycleEventsTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresLifecycleEventsTests : LifecycleEventsTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
