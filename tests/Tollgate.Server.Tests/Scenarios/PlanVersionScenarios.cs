using Microsoft.Extensions.DependencyInjection;
using Tollgate.Core.Catalog;
using Tollgate.Core.Subscriptions;
using Tollgate.Core.Usage;
using Tollgate.Server.Tests.Support;
using Tollgate.Storage;
using Tollgate.Testing;

namespace Tollgate.Server.Tests.Scenarios;

/// <summary>
/// Plan versions over time, on a manual clock (issue 15, grandfathering; polar #11427): a server starts with a catalog
/// whose Pro plan allows 300 messages a month, 3 projects and no HD export; a customer subscribes; the operator edits
/// the catalog (500 messages, 5 projects, HD export, a higher price) and restarts the server on the same database.
/// The old subscriber keeps what it bought, renewal after renewal, while a new subscriber gets the new terms, until the
/// operator migrates version 1; then the next renewal grants the new allowance. The books balance throughout.
/// </summary>
public abstract class PlanVersionScenarios : IAsyncLifetime
{
    protected abstract DatabaseProvider Provider { get; }

    private readonly ManualTimeProvider _clock = new(new DateTimeOffset(2025, 3, 10, 0, 0, 0, TimeSpan.Zero));
    private TestDatabase _database = null!;
    private string _catalog = null!;
    private TollgateApp App { get; set; } = null!;

    private static DateTimeOffset Utc(int y, int m, int d) => new(y, m, d, 0, 0, 0, TimeSpan.Zero);

    private static string Catalog(long messages, long projects, bool hd, long price) => $$"""
        features:
          messages: { type: metered }
          projects: { type: count }
          hd_export: { type: boolean }
        plans:
          free:
            default: true
            features:
              messages: { limit: 10, reset: month }
              projects: { limit: 1 }
          pro:
            interval: month
            price: { amount: {{price}}, currency: USD }
            features:
              messages: { limit: {{messages}}, reset: month }
              projects: { limit: {{projects}} }
              hd_export: {{(hd ? "true" : "false")}}
          team:
            interval: month
            price: { amount: 9900, currency: USD }
            features:
              messages: { limit: 5000, reset: month }
        """;

    public async ValueTask InitializeAsync()
    {
        _catalog = Path.Combine(Path.GetTempPath(), $"tollgate-versions-{Guid.NewGuid():N}.yaml");
        _database = await TestDatabase.CreateAsync(Provider, _clock, migrate: false);
        await StartAsync(Catalog(300, 3, hd: false, price: 1900));
    }

    public async ValueTask DisposeAsync()
    {
        await App.DisposeAsync();
        await _database.DisposeAsync();
        File.Delete(_catalog);
        GC.SuppressFinalize(this);
    }

    /// <summary>(Re)starts the server on the same database with <paramref name="catalog"/>, as an operator who edited
    /// catalog.yaml and restarted it.</summary>
    private async Task StartAsync(string catalog)
    {
        if (App is not null)
        {
            await App.DisposeAsync();
        }

        await File.WriteAllTextAsync(_catalog, catalog);
        App = await TollgateApp.StartAsync(Provider, _clock, settings: new Dictionary<string, string?> { ["Tollgate:Catalog"] = _catalog },
            database: _database.Borrow());
    }

    private SubscriptionService Subscriptions => App.Services.GetRequiredService<SubscriptionService>();

    private async Task<Subscription> SubscribeAsync(string customer, DateTimeOffset start, DateTimeOffset end)
    {
        _clock.Set(start);
        return await Subscriptions.StartAsync(customer, "pro", "sandbox", null, null, SubscriptionStatus.Active, start, end);
    }

    private async Task RenewAsync(Subscription subscription, DateTimeOffset start, DateTimeOffset end)
    {
        _clock.Set(start);
        await Subscriptions.RenewAsync(subscription.Id, start, end);
    }

    private async Task<long> MessagesAsync(string customer) => (long)(await App.BalanceAsync(customer, "messages"))["available"]!;

    private async Task<long> ProjectsLimitAsync(string customer) => (long)(await App.CheckAsync(customer, "projects"))["balance"]!["limit"]!;

    private async Task<List<string>> CapabilitiesAsync(string customer) =>
        [.. (await Json.ReadAsync(await App.Client.GetAsync($"/v1/customers/{customer}/capabilities"), 200))["capabilities"]!.AsArray().Select(c => (string)c!)];

    private async Task<int?> StoredVersionAsync(string subscriptionId) =>
        (await App.Services.GetRequiredService<ISubscriptionStore>().GetAsync(subscriptionId, CancellationToken.None))!.PlanVersion;

    /// <summary>The customer's <c>customer.capabilities_changed</c> events, oldest first: (capabilities, previous).</summary>
    private async Task<List<(string[] Capabilities, string[] Previous)>> CapabilityEventsAsync(string customer)
    {
        await using var connection = Provider == DatabaseProvider.Postgres
            ? (System.Data.Common.DbConnection)new Npgsql.NpgsqlConnection(_database.Options.ConnectionString)
            : new Microsoft.Data.Sqlite.SqliteConnection(_database.Options.ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT payload FROM events WHERE customer_id = @c ORDER BY seq";
        var p = command.CreateParameter();
        p.ParameterName = "@c";
        p.Value = customer;
        command.Parameters.Add(p);
        var events = new List<(string[], string[])>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var e = System.Text.Json.Nodes.JsonNode.Parse(reader.GetString(0))!.AsObject();
            if ((string)e["type"]! == "customer.capabilities_changed")
            {
                events.Add(([.. e["data"]!["capabilities"]!.AsArray().Select(n => (string)n!)], [.. e["data"]!["previous"]!.AsArray().Select(n => (string)n!)]));
            }
        }

        return events;
    }

    private Task<HttpResponseMessage> MigrateAsync(string plan, object body) => App.PostAsync($"/v1/plans/{plan}/migrate", body);

    [Fact]
    public async Task AnEditedCatalog_LeavesTheOldSubscriberOnItsVersion_UntilMigrated_AndTheNextRenewalThenGrantsTheNewAllowance()
    {
        var old = TollgateApp.NewCustomer();
        var oldSub = await SubscribeAsync(old, Utc(2025, 3, 10), Utc(2025, 4, 10));
        var firstPeriod = await MessagesAsync(old);

        _clock.Set(Utc(2025, 3, 20));
        await StartAsync(Catalog(500, 5, hd: true, price: 2900)); // the operator edits catalog.yaml and restarts
        var fresh = TollgateApp.NewCustomer();
        var freshSub = await SubscribeAsync(fresh, Utc(2025, 3, 20), Utc(2025, 4, 20));
        var freshTerms = (await MessagesAsync(fresh), await ProjectsLimitAsync(fresh), await CapabilitiesAsync(fresh));

        await RenewAsync(oldSub, Utc(2025, 4, 10), Utc(2025, 5, 10)); // the old subscriber's next period: still v1
        var oldRenewed = await MessagesAsync(old);
        var oldProjects = await ProjectsLimitAsync(old);
        var oldCapabilities = await CapabilitiesAsync(old);
        var oldPrice = (await App.Services.GetRequiredService<Gate>().PlanAsync(old))!.Primary.Price;
        await Json.ProblemAsync(await App.UseAsync(old, "projects", 4), 402, "limit_reached"); // v1's limit is 3

        var storedBefore = (await StoredVersionAsync(oldSub.Id), await StoredVersionAsync(freshSub.Id));
        var eventsBefore = (await CapabilityEventsAsync(old)).Count;
        var migrated = await Json.ReadAsync(await MigrateAsync("pro", new { from_version = 1 }), 200);
        var again = await Json.ReadAsync(await MigrateAsync("pro", new { from_version = 1 }), 200); // nothing left on v1
        var migrationEvents = (await CapabilityEventsAsync(old)).Skip(eventsBefore).ToList();
        var inPeriod = await MessagesAsync(old); // the period already granted is not changed by a migration
        var migratedCapabilities = await CapabilitiesAsync(old); // but the cached view went: access follows v2 at once
        await RenewAsync(oldSub, Utc(2025, 5, 10), Utc(2025, 6, 10));
        var migratedRenewal = await MessagesAsync(old);

        Assert.Equal(300, firstPeriod);
        Assert.Equal((500L, 5L), (freshTerms.Item1, freshTerms.Item2));
        Assert.Contains("feature:hd_export", freshTerms.Item3);
        Assert.Equal(((int?)1, (int?)2), storedBefore);
        Assert.Equal(300, oldRenewed);
        Assert.Equal(3, oldProjects);
        Assert.DoesNotContain("feature:hd_export", oldCapabilities);
        Assert.Equal(1900, oldPrice!.Value.Amount); // the price the portal shows is the one it was sold at
        Assert.Equal((1L, 2L, 1L), ((long)migrated["migrated"]!, (long)migrated["to_version"]!, (long)migrated["from_version"]!));
        Assert.Equal(0, (long)again["migrated"]!);
        // The move turned HD export on: apps hear it once (the second call moved nothing and said nothing).
        var change = Assert.Single(migrationEvents);
        Assert.Contains("feature:hd_export", change.Capabilities);
        Assert.DoesNotContain("feature:hd_export", change.Previous);
        Assert.Equal(300, inPeriod);
        Assert.Contains("feature:hd_export", migratedCapabilities);
        Assert.Equal(500, migratedRenewal);
        Assert.Equal(5, await ProjectsLimitAsync(old));
        Assert.Equal(2, await StoredVersionAsync(oldSub.Id));
        await Books.AssertBalancedAsync(App, old);
        await Books.AssertBalancedAsync(App, fresh);
    }

    [Fact]
    public async Task MigrationsRacingEachOtherAndSubscriptionSaves_MoveEachSubscriptionOnce_AndNoSaveUndoesTheMove()
    {
        var customers = Enumerable.Range(0, 6).Select(_ => TollgateApp.NewCustomer()).ToList();
        var subs = new List<Subscription>();
        foreach (var c in customers)
        {
            subs.Add(await SubscribeAsync(c, Utc(2025, 3, 10), Utc(2025, 4, 10)));
        }

        await StartAsync(Catalog(500, 5, hd: true, price: 2900));
        // Three migrations at once (an operator's retry, two servers) while each subscription is saved by a provider
        // event made on a read from before the move.
        var stale = await Task.WhenAll(subs.Select(s => App.Services.GetRequiredService<ISubscriptionStore>().GetAsync(s.Id, CancellationToken.None)));
        var migrations = Enumerable.Range(0, 3).Select(_ => Task.Run(async () =>
            (long)(await Json.ReadAsync(await MigrateAsync("pro", new { from_version = 1 }), 200))["migrated"]!)).ToList();
        var saves = stale.Select(s => Task.Run(() => Subscriptions.SaveAsync(s! with { CancelAtPeriodEnd = true, UpdatedAt = _clock.GetUtcNow() }))).ToList();
        var moved = await Task.WhenAll(migrations);
        Assert.All(await Task.WhenAll(saves), Assert.True);
        var versions = new List<int?>();
        var events = new List<int>();
        foreach (var (sub, c) in subs.Zip(customers))
        {
            versions.Add(await StoredVersionAsync(sub.Id));
            events.Add((await CapabilityEventsAsync(c)).Count(e => e.Capabilities.Contains("feature:hd_export") && !e.Previous.Contains("feature:hd_export")));
        }

        await RenewAsync(subs[0], Utc(2025, 4, 10), Utc(2025, 5, 10));

        Assert.Equal(customers.Count, moved.Sum());
        Assert.All(versions, v => Assert.Equal(2, v));
        Assert.All(events, n => Assert.Equal(1, n)); // the move reported once per customer
        Assert.True((await App.Services.GetRequiredService<ISubscriptionStore>().GetAsync(subs[1].Id, CancellationToken.None))!.CancelAtPeriodEnd); // the save landed
        Assert.Equal(500, await MessagesAsync(customers[0]));
        await Books.AssertBalancedAsync(App, customers[0]);
    }

    [Fact]
    public async Task RestartingWithTheSameTerms_StoresNoVersion_AndReformattingTheCatalogIsNotAChange()
    {
        var before = await App.CountRowsAsync("plan_versions");
        // The same terms, written differently: keys reordered, a feature moved; only what a plan sells is hashed.
        await StartAsync(Catalog(300, 3, hd: false, price: 1900).Replace("  hd_export: { type: boolean }\n", "", StringComparison.Ordinal)
            .Replace("features:\n  messages", "features:\n  hd_export: { type: boolean }\n  messages", StringComparison.Ordinal));
        var products = await Json.ReadAsync(await App.Client.GetAsync("/v1/products"), 200);

        Assert.Equal(3, before); // free, pro, team: version 1 each
        Assert.Equal(3, await App.CountRowsAsync("plan_versions"));
        Assert.All(products["plans"]!.AsArray(), p => Assert.Equal(1, (int)p!["version"]!));
    }

    [Fact]
    public async Task Products_ShowOnlyTheCurrentVersion_WithItsTerms()
    {
        await StartAsync(Catalog(500, 5, hd: true, price: 2900));

        var products = await Json.ReadAsync(await App.Client.GetAsync("/v1/products"), 200);
        var pro = products["plans"]!.AsArray().Single(p => (string)p!["id"]! == "pro")!;
        var team = products["plans"]!.AsArray().Single(p => (string)p!["id"]! == "team")!;

        Assert.Equal(2, (int)pro["version"]!);
        Assert.Equal(500, (long)pro["features"]!["messages"]!["limit"]!);
        Assert.Equal(2900, (long)pro["price"]!["amount"]!);
        Assert.Equal(1, (int)team["version"]!); // unchanged plans keep their version
        Assert.Single(products["plans"]!.AsArray(), p => (string)p!["id"]! == "pro");
    }

    [Fact]
    public async Task APlanChange_RecordsTheNewPlansCurrentVersion_AndASaveNeverMovesTheVersion()
    {
        var c = TollgateApp.NewCustomer();
        var sub = await SubscribeAsync(c, Utc(2025, 3, 10), Utc(2025, 4, 10));
        await StartAsync(Catalog(500, 5, hd: true, price: 2900));

        // A provider's event saved on the v1 subscription (cancel at period end, then resumed) keeps v1.
        await Subscriptions.CancelAsync(sub.Id, atPeriodEnd: true);
        await Subscriptions.ResumeAsync(sub.Id);
        var afterSaves = await StoredVersionAsync(sub.Id);
        await Subscriptions.ChangePlanAsync(sub.Id, "team", PlanChangePolicy.Immediate);
        var onTeam = await StoredVersionAsync(sub.Id);
        await Subscriptions.ChangePlanAsync(sub.Id, "pro", PlanChangePolicy.Immediate);

        Assert.Equal(1, afterSaves);
        Assert.Equal(1, onTeam); // team's current version
        Assert.Equal(2, await StoredVersionAsync(sub.Id)); // back on pro: pro's current version, not the one it left
        Assert.Equal(5, await ProjectsLimitAsync(c));
        await Books.AssertBalancedAsync(App, c);
    }

    [Fact]
    public async Task Migrate_RefusesBadInput_UnknownPlansAndVersions_AndTheCurrentVersion_ChangingNothing()
    {
        var c = TollgateApp.NewCustomer();
        var sub = await SubscribeAsync(c, Utc(2025, 3, 10), Utc(2025, 4, 10));
        await StartAsync(Catalog(500, 5, hd: true, price: 2900));

        await Json.ProblemAsync(await MigrateAsync("pro", new { }), 400, "invalid_request");
        await Json.ProblemAsync(await MigrateAsync("pro", new { from_version = 0 }), 400, "invalid_request");
        await Json.ProblemAsync(await MigrateAsync("pro", new { from_version = "one" }), 400, "invalid_request");
        await Json.ProblemAsync(await MigrateAsync("nope", new { from_version = 1 }), 404, "plan_not_found");
        await Json.ProblemAsync(await MigrateAsync("pro", new { from_version = 7 }), 404, "version_not_found");
        await Json.ProblemAsync(await MigrateAsync("pro", new { from_version = 2 }), 409, "already_current");
        await Json.ProblemAsync(await MigrateAsync("team", new { from_version = 1 }), 409, "already_current");

        Assert.Equal(1, await StoredVersionAsync(sub.Id));
    }

    [Fact]
    public async Task ServersStartingTogether_OnOneDatabase_StoreOneVersion()
    {
        // Eight registrations of the same edited catalog at once (servers started together after an edit): one row per
        // plan and version, and every one of them answers the same version.
        var catalog = CatalogLoader.Parse(Catalog(500, 5, hd: true, price: 2900), "catalog.yaml", []);
        var databases = Enumerable.Range(0, 8).Select(_ => _database.OpenAnother(_clock)).ToList();
        try
        {
            var plan = catalog.PlansById["pro"];
            var terms = PlanVersions.TermsOf(plan);
            var versions = await Task.WhenAll(databases.Select(d =>
                Task.Run(() => d.PlanVersions.RegisterAsync("pro", PlanVersions.Hash(terms), terms, _clock.GetUtcNow(), CancellationToken.None))));

            Assert.All(versions, v => Assert.Equal(2, v));
            Assert.Equal(4, await App.CountRowsAsync("plan_versions")); // free, pro (1 and 2), team
        }
        finally
        {
            foreach (var d in databases)
            {
                await d.DisposeAsync();
            }
        }
    }
}

public sealed class SqlitePlanVersionScenarios : PlanVersionScenarios
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresPlanVersionScenarios : PlanVersionScenarios
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
