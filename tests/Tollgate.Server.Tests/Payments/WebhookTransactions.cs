using System.Data.Common;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Tollgate.Core.Payments;
using Tollgate.Server.Tests.Support;
using Tollgate.Storage;
using Tollgate.Testing.Fakes;

namespace Tollgate.Server.Tests.Payments;

/// <summary>
/// A webhook delivery is verified, stored, deduplicated and applied in one database transaction (issue 10): all of it
/// commits, or — when applying fails — nothing of the attempt is kept and the event alone is stored as failed, to be
/// retried. Concurrent deliveries of one event apply it once.
/// </summary>
public abstract class WebhookTransactions : IAsyncLifetime
{
    private FakeServer _creem = null!;
    private string _catalog = null!;

    protected abstract DatabaseProvider Provider { get; }

    protected TollgateApp App { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        _creem = await FakeCreem.StartAsync();
        _catalog = SignedWebhooks.CatalogFile();
        App = await TollgateApp.StartAsync(Provider, settings: new Dictionary<string, string?>
        {
            ["Tollgate:Catalog"] = _catalog,
            ["Tollgate:Providers:Creem:ApiKey"] = FakeCreem.ApiKey,
            ["Tollgate:Providers:Creem:WebhookSecret"] = SignedWebhooks.CreemSecret,
            ["Tollgate:Providers:Creem:BaseUrl"] = _creem.BaseUrl.ToString(),
        });
    }

    public async ValueTask DisposeAsync()
    {
        await App.DisposeAsync();
        await _creem.DisposeAsync();
        File.Delete(_catalog);
        GC.SuppressFinalize(this);
    }

    [Fact]
    public async Task AFailedApplication_KeepsNothingOfTheAttempt_TheEventIsStoredAsFailed_AndItsRetryAppliesItOnce()
    {
        var c = TollgateApp.NewCustomer();
        await ExecuteAsync(Provider == DatabaseProvider.Postgres
            ? "ALTER TABLE ledger_lots ADD CONSTRAINT test_no_lots CHECK (amount < 0) NOT VALID"
            : "CREATE TRIGGER test_no_lots BEFORE INSERT ON ledger_lots BEGIN SELECT RAISE(ABORT, 'test_no_lots'); END");

        var first = await Json.ReadAsync(await App.Client.SendAsync(SignedWebhooks.Creem(PackPaid("evt_fail_1", c, "ord_fail_1"))), 200);

        // The event is stored (answered 200, so the provider stops resending) and failed; its payment was not kept.
        Assert.Equal("failed", (string?)first["status"]);
        Assert.Equal(0, await App.CountRowsAsync("payments"));
        Assert.Equal(0, await App.CountRowsAsync("provider_customers"));
        var stored = await App.Services.GetRequiredService<IWebhookInbox>().GetAsync("creem", "evt_fail_1", CancellationToken.None);
        Assert.Equal((WebhookStatus.Failed, 1), (stored!.Status, stored.Attempts));
        Assert.Contains("test_no_lots", stored.LastError ?? "", StringComparison.Ordinal);

        await ExecuteAsync(Provider == DatabaseProvider.Postgres
            ? "ALTER TABLE ledger_lots DROP CONSTRAINT test_no_lots"
            : "DROP TRIGGER test_no_lots");
        App.Clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(1, await App.Services.GetRequiredService<WebhookProcessor>().RetryDueAsync());

        var retried = await App.Services.GetRequiredService<IWebhookInbox>().GetAsync("creem", "evt_fail_1", CancellationToken.None);
        Assert.Equal((WebhookStatus.Applied, 2), (retried!.Status, retried.Attempts));
        Assert.Equal(1, await App.CountRowsAsync("payments"));
        Assert.Equal(100, (long)(await App.BalanceAsync(c, "credits"))["available"]!);
    }

    [Fact]
    public async Task ConcurrentDeliveries_OfOneEventApplyItOnce_AndOfManyEventsApplyEach()
    {
        var c = TollgateApp.NewCustomer();
        var repeated = PackPaid("evt_repeat", c, "ord_repeat");
        var deliveries = Enumerable.Range(0, 16).Select(_ => repeated)
            .Concat(Enumerable.Range(0, 16).Select(i => PackPaid($"evt_many_{i}", c, $"ord_many_{i}")))
            .ToList();
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var answers = await Task.WhenAll(deliveries.Select(body => Task.Run(async () =>
        {
            await start.Task;
            using var response = await App.Client.SendAsync(SignedWebhooks.Creem(body));
            return ((int)response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject());
        })).Append(Task.Run(() =>
        {
            start.SetResult();
            return (0, new JsonObject());
        })));

        var delivered = answers.Where(a => a.Item1 != 0).ToList();
        Assert.All(delivered, a => Assert.Equal(200, a.Item1));
        Assert.Equal(16, delivered.Take(16).Count(a => (bool)a.Item2["duplicate"]!) + 1);
        Assert.All(delivered, a => Assert.Equal("applied", (string?)a.Item2["status"]));
        Assert.Equal(17, await App.CountRowsAsync("webhook_events"));
        Assert.Equal(17, await App.CountRowsAsync("payments"));
        Assert.Equal(1700, (long)(await App.BalanceAsync(c, "credits"))["available"]!);
    }

    /// <summary>
    /// The batched delivery path (PostgreSQL sends the inbox insert, the payment's rows, the ledger's writes and the inbox
    /// update with later statements or the commit): one event raced by 24 requests, one order delivered under 8 event
    /// ids at once, and an event with nothing to apply (whose inbox insert first reaches the database in the commit's
    /// batch) raced by 8. Each event is stored once, the order is paid and granted once, nothing else is written, and
    /// every answer is a 200 of the stored event.
    /// </summary>
    [Fact]
    public async Task BatchedDeliveries_RacedByManyRequests_StoreEachEventOnce_AndGrantTheOrderOnce()
    {
        var c = TollgateApp.NewCustomer();
        var ignored = JsonNode.Parse(PackPaid("evt_race_ignored", c, "ord_race_ignored"))!.AsObject();
        ignored["eventType"] = "checkout.viewed";
        var deliveries = Enumerable.Range(0, 24).Select(_ => PackPaid("evt_race_one", c, "ord_race_one"))
            .Concat(Enumerable.Range(0, 8).Select(i => PackPaid($"evt_race_order_{i}", c, "ord_race_shared")))
            .Concat(Enumerable.Range(0, 8).Select(_ => ignored.ToJsonString()))
            .ToList();
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var sends = deliveries.Select(body => Task.Run(async () =>
        {
            await start.Task;
            using var response = await App.Client.SendAsync(SignedWebhooks.Creem(body));
            return ((int)response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject());
        })).ToList();
        start.SetResult();
        var answers = await Task.WhenAll(sends);

        Assert.All(answers, a => Assert.Equal(200, a.Item1));
        // Of each raced event exactly one delivery stored it; every other one answers as a duplicate.
        Assert.Equal(23, answers.Take(24).Count(a => (bool?)a.Item2["duplicate"] == true));
        Assert.Equal(7, answers.Skip(32).Count(a => (bool?)a.Item2["duplicate"] == true));
        Assert.Equal(0, answers.Skip(24).Take(8).Count(a => (bool?)a.Item2["duplicate"] == true));
        Assert.All(answers.Take(32), a => Assert.Equal("applied", (string?)a.Item2["status"]));
        Assert.All(answers.Skip(32), a => Assert.Equal("ignored", (string?)a.Item2["status"]));

        // Books: 1 + 8 + 1 events, two orders each paid once (the 8 events of one order share its payment), 200 credits.
        Assert.Equal(10, await App.CountRowsAsync("webhook_events"));
        Assert.Equal(2, await App.CountRowsAsync("payments"));
        Assert.Equal(200, (long)(await App.BalanceAsync(c, "credits"))["available"]!);
        var inbox = App.Services.GetRequiredService<IWebhookInbox>();
        Assert.Equal(WebhookStatus.Ignored, (await inbox.GetAsync("creem", "evt_race_ignored", CancellationToken.None))!.Status);
        Assert.Equal((WebhookStatus.Applied, 1), ((await inbox.GetAsync("creem", "evt_race_one", CancellationToken.None))!.Status,
            (await inbox.GetAsync("creem", "evt_race_one", CancellationToken.None))!.Attempts));
    }

    /// <summary>The documented checkout.completed, turned into a one-time purchase of the catalog's pack.</summary>
    private static string PackPaid(string eventId, string customer, string orderId)
    {
        var e = SignedWebhooks.Sample("creem", "checkout.completed");
        e["id"] = eventId;
        var o = e["object"]!.AsObject();
        o["request_id"] = "ch_" + orderId;
        o.Remove("subscription");
        o["order"]!["id"] = orderId;
        o["order"]!["product"] = "prod_pack";
        o["order"]!["type"] = "onetime";
        o["product"]!["id"] = "prod_pack";
        o["product"]!["billing_type"] = "onetime";
        o["metadata"] = new JsonObject { ["tollgate_customer_id"] = customer, ["tollgate_product"] = "pack" };
        return e.ToJsonString();
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = Provider == DatabaseProvider.Postgres
            ? (DbConnection)new Npgsql.NpgsqlConnection(App.Database.Options.ConnectionString)
            : new Microsoft.Data.Sqlite.SqliteConnection(App.Database.Options.ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }
}

public sealed class SqliteWebhookTransactions : WebhookTransactions
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresWebhookTransactions : WebhookTransactions
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
