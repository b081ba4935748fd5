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
