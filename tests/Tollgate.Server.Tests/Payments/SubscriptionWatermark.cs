using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Tollgate.Core.Subscriptions;
using Tollgate.Server.Tests.Support;
using Tollgate.Storage;
using Tollgate.Testing.Fakes;

namespace Tollgate.Server.Tests.Payments;

/// <summary>
/// Rule: a subscription's state follows the provider's own event times, and every applied event advances the
/// watermark. Created at t0, updated at t2, then a stale event from t1 arrives last: t2's state stands. (The only
/// other ordering test sends its stale event right after creation, so a watermark that never moved past the
/// creation time passed it.) Creem and Stripe, on SQLite and PostgreSQL.
/// </summary>
public abstract class SubscriptionWatermark : IAsyncLifetime
{
    private FakeServer _creem = null!;
    private FakeServer _stripe = null!;
    private string _catalog = null!;

    protected abstract DatabaseProvider Provider { get; }

    private TollgateApp App { get; set; } = null!;

    public async ValueTask InitializeAsync()
    {
        _creem = await FakeCreem.StartAsync();
        _stripe = await FakeStripe.StartAsync();
        _catalog = SignedWebhooks.CatalogFile();
        App = await TollgateApp.StartAsync(Provider, settings: new Dictionary<string, string?>
        {
            ["Tollgate:Catalog"] = _catalog,
            // Both real providers are enabled, so one must be named the default (API.md §2).
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

    private ISubscriptionStore Subscriptions => App.Services.GetRequiredService<ISubscriptionStore>();

    private static string Creem(string sample, string eventId, string customer, DateTimeOffset at, DateTimeOffset periodStart)
    {
        var e = SignedWebhooks.Sample("creem", sample);
        e["id"] = eventId;
        e["created_at"] = at.ToUnixTimeMilliseconds();
        var o = e["object"]!.AsObject();
        o["id"] = "sub_watermark";
        o["product"]!["id"] = "prod_d1AY2Sadk9YAvLI0pj97f";
        o["metadata"] = new JsonObject { ["tollgate_customer_id"] = customer, ["tollgate_product"] = "pro" };
        o["current_period_start_date"] = periodStart.ToString("O");
        o["current_period_end_date"] = periodStart.AddMonths(1).ToString("O");
        return e.ToJsonString();
    }

    private static string Stripe(string eventId, string customer, DateTimeOffset at, DateTimeOffset periodStart, bool cancelAtPeriodEnd)
    {
        var e = SignedWebhooks.Sample("stripe", "customer.subscription.updated.basil");
        e["id"] = eventId;
        e["created"] = at.ToUnixTimeSeconds();
        var sub = e["data"]!["object"]!.AsObject();
        sub["metadata"] = new JsonObject { ["tollgate_customer_id"] = customer, ["tollgate_product"] = "pro" };
        sub["cancel_at_period_end"] = cancelAtPeriodEnd;
        var item = sub["items"]!["data"]![0]!.AsObject();
        item["current_period_start"] = periodStart.ToUnixTimeSeconds();
        item["current_period_end"] = periodStart.AddMonths(1).ToUnixTimeSeconds();
        return e.ToJsonString();
    }

    private async Task DeliverAsync(HttpRequestMessage request) => await Json.ReadAsync(await App.Client.SendAsync(request), 200);

    [Fact]
    public async Task Rule_Creem_CreatedAtT0_UpdatedAtT2_StaleT1ArrivingLast_T2sStateStands()
    {
        var c = TollgateApp.NewCustomer();
        var t0 = App.Clock.GetUtcNow();
        var (t1, t2) = (t0.AddHours(1), t0.AddHours(2));

        await DeliverAsync(SignedWebhooks.Creem(Creem("subscription.active", "evt_t0", c, t0, t0)));
        await DeliverAsync(SignedWebhooks.Creem(Creem("subscription.scheduled_cancel", "evt_t2", c, t2, t0)));
        await DeliverAsync(SignedWebhooks.Creem(Creem("subscription.update", "evt_t1", c, t1, t0)));

        var stored = await Subscriptions.FindByProviderIdAsync("creem", "sub_watermark", CancellationToken.None);
        Assert.Equal((SubscriptionStatus.Active, true, t2), (stored!.Status, stored.CancelAtPeriodEnd, stored.ProviderUpdatedAt));
        var listed = await Json.ReadAsync(await App.Client.GetAsync($"/v1/customers/{c}/subscriptions"), 200);
        Assert.True((bool)listed["subscriptions"]![0]!["cancel_at_period_end"]!);
    }

    [Fact]
    public async Task Rule_Stripe_CreatedAtT0_UpdatedAtT2_StaleT1ArrivingLast_T2sStateStands()
    {
        var c = TollgateApp.NewCustomer();
        var t0 = App.Clock.GetUtcNow();
        var (t1, t2) = (t0.AddHours(1), t0.AddHours(2));

        await DeliverAsync(SignedWebhooks.Stripe(Stripe("evt_t0", c, t0, t0, cancelAtPeriodEnd: false), App.Clock.GetUtcNow()));
        await DeliverAsync(SignedWebhooks.Stripe(Stripe("evt_t2", c, t2, t0, cancelAtPeriodEnd: true), App.Clock.GetUtcNow()));
        await DeliverAsync(SignedWebhooks.Stripe(Stripe("evt_t1", c, t1, t0, cancelAtPeriodEnd: false), App.Clock.GetUtcNow()));

        var stored = await Subscriptions.FindByProviderIdAsync("stripe", "sub_1QExample42", CancellationToken.None);
        Assert.Equal((SubscriptionStatus.Active, true, t2), (stored!.Status, stored.CancelAtPeriodEnd, stored.ProviderUpdatedAt));
    }

    [Fact]
    public async Task Rule_AnEventAtTheSameInstantAsTheWatermark_StillApplies()
    {
        // Ties are not stale: only a strictly older event is ignored (providers send several events per second).
        var c = TollgateApp.NewCustomer();
        var t0 = App.Clock.GetUtcNow();

        await DeliverAsync(SignedWebhooks.Creem(Creem("subscription.active", "evt_a", c, t0, t0)));
        await DeliverAsync(SignedWebhooks.Creem(Creem("subscription.scheduled_cancel", "evt_b", c, t0, t0)));

        var stored = await Subscriptions.FindByProviderIdAsync("creem", "sub_watermark", CancellationToken.None);
        Assert.True(stored!.CancelAtPeriodEnd);
    }
}

public sealed class SqliteSubscriptionWatermark : SubscriptionWatermark
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresSubscriptionWatermark : SubscriptionWatermark
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
