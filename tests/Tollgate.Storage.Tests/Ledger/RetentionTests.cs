using Tollgate.Core.Idempotency;
using Tollgate.Core.Ledger;
using Tollgate.Core.Payments;
using Tollgate.Storage.Stores;

namespace Tollgate.Storage.Tests.Ledger;

/// <summary>
/// The retention sweep (issue 18) deletes what only guards a caller's retries once past the idempotency window, and
/// empties old processed webhook payloads, in batches, on both databases; what guards an effect forever stays.
/// </summary>
public abstract class RetentionTests : LedgerTestBase
{
    private static readonly RetentionOptions Week = new(TimeSpan.FromDays(7), TimeSpan.FromDays(90), 1000);

    private Task<RetentionReport> SweepAsync(RetentionOptions? options = null) =>
        Db.Database.Retention.SweepOnceAsync(options ?? Week, Clock.GetUtcNow(), CancellationToken.None);

    [Fact]
    public async Task Retry_InsideTheWindow_Replays_AfterIt_IsANewRequest_WhileGrantsStayGuarded()
    {
        var customer = NewCustomer();
        var grant = new GrantRequest(customer, "credits", 100, LotSource.Payment, "grant:pay_1");
        await Ledger.GrantAsync(grant);
        var consume = new ConsumeRequest(customer, "credits", 10, "usage:k1");
        await Ledger.ConsumeAsync(consume);
        var idempotency = Db.Database.Idempotency;
        await idempotency.TryStoreAsync("key_a", "k1", new StoredResponse("hash", 200, "{}"), Clock.GetUtcNow(), CancellationToken.None);

        // Six days later, inside the window: nothing is removed and the retry replays.
        Clock.Advance(TimeSpan.FromDays(6));
        Assert.Equal(0, (await SweepAsync()).Total);
        Assert.True((await Ledger.ConsumeAsync(consume)).Replayed);
        Assert.NotNull(await idempotency.GetAsync("key_a", "k1", CancellationToken.None));
        Assert.Equal(90, (await Balance(customer, "credits")).Available);

        // Past the window: the usage's operation and the API response are gone, the grant's guard is not.
        Clock.Advance(TimeSpan.FromDays(2));
        var report = await SweepAsync();
        Assert.Equal(new RetentionReport(1, 1, 0), report);
        Assert.Null(await idempotency.GetAsync("key_a", "k1", CancellationToken.None));
        var again = await Ledger.ConsumeAsync(consume);
        Assert.False(again.Replayed);
        Assert.Equal(80, (await Balance(customer, "credits")).Available);
        // A payment's webhook replayed a year on still grants nothing twice.
        Clock.Advance(TimeSpan.FromDays(365));
        await SweepAsync();
        Assert.True((await Ledger.GrantAsync(grant)).Replayed);
        Assert.Equal(80, (await Balance(customer, "credits")).Available);
        await AssertBooksBalance(customer);
    }

    [Fact]
    public async Task Sweep_WorksInBatches_OldestFirst()
    {
        var customer = NewCustomer();
        await Grant(customer, "credits", 1000);
        for (var i = 0; i < 5; i++)
        {
            await Ledger.ConsumeAsync(new ConsumeRequest(customer, "credits", 1, $"usage:b{i}"));
            Clock.Advance(TimeSpan.FromMinutes(1));
        }

        // Only the first three are past the window at this instant.
        Clock.Advance(TimeSpan.FromDays(7) - TimeSpan.FromMinutes(2));
        var small = Week with { BatchSize = 2 };
        Assert.Equal(2, (await SweepAsync(small)).Operations);
        Assert.Equal(1, (await SweepAsync(small)).Operations);
        Assert.Equal(0, (await SweepAsync(small)).Operations);
        // The two newer keys still replay; the oldest is a new request.
        Assert.True((await Ledger.ConsumeAsync(new ConsumeRequest(customer, "credits", 1, "usage:b4"))).Replayed);
        Assert.True((await Ledger.ConsumeAsync(new ConsumeRequest(customer, "credits", 1, "usage:b3"))).Replayed);
        Assert.False((await Ledger.ConsumeAsync(new ConsumeRequest(customer, "credits", 1, "usage:b0"))).Replayed);
        await AssertBooksBalance(customer);
    }

    [Fact]
    public async Task OldProcessedWebhooks_LoseTheirPayload_KeepTheirId_OthersKeepEverything()
    {
        var inbox = Db.Database.Webhooks;
        var received = Clock.GetUtcNow();
        WebhookEvent Event(string id, WebhookStatus status) =>
            new("creem", id, "checkout.completed", received, received, "{\"id\":\"" + id + "\"}", status, 1, null, null, null, null);
        foreach (var (id, status) in new[] { ("applied", WebhookStatus.Applied), ("ignored", WebhookStatus.Ignored),
            ("failed", WebhookStatus.Failed), ("unmatched", WebhookStatus.Unmatched) })
        {
            Assert.True(await inbox.TryStoreAsync(Event(id, status), CancellationToken.None));
        }

        Clock.Advance(TimeSpan.FromDays(89));
        Assert.Equal(0, (await SweepAsync()).WebhookPayloads);
        Clock.Advance(TimeSpan.FromDays(2));
        Assert.Equal(2, (await SweepAsync()).WebhookPayloads);
        Assert.Equal(0, (await SweepAsync()).WebhookPayloads);

        Assert.Equal("", (await inbox.GetAsync("creem", "applied", CancellationToken.None))!.Payload);
        Assert.Equal("", (await inbox.GetAsync("creem", "ignored", CancellationToken.None))!.Payload);
        Assert.Equal("{\"id\":\"failed\"}", (await inbox.GetAsync("creem", "failed", CancellationToken.None))!.Payload);
        Assert.Equal("{\"id\":\"unmatched\"}", (await inbox.GetAsync("creem", "unmatched", CancellationToken.None))!.Payload);
        // The id still dedupes a redelivery.
        Assert.False(await inbox.TryStoreAsync(Event("applied", WebhookStatus.Received), CancellationToken.None));
        // Without a payload window, payloads stay.
        Assert.True(await inbox.TryStoreAsync(Event("later", WebhookStatus.Applied), CancellationToken.None));
        Clock.Advance(TimeSpan.FromDays(1000));
        Assert.Equal(0, (await SweepAsync(Week with { WebhookPayloadWindow = null })).WebhookPayloads);
    }
}

public sealed class SqliteRetentionTests : RetentionTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresRetentionTests : RetentionTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;

    /// <summary>The sweep's statements run with the generic plans <c>GrowthPlanTests</c> checks, never the per-instant
    /// custom plans PostgreSQL would otherwise choose (always for a prepared statement's first five runs; on a grown table
    /// for good, planning each afresh: docs/benchmarks.md, issue 18), and the setting ends with the pass: the pooled
    /// connection it ran on plans the next caller's statements as before.</summary>
    [Fact]
    public async Task Sweep_RunsOnGenericPlans_AndLeavesTheConnectionAsItFoundIt()
    {
        // One connection in the pool, so the statements the sweep prepared can be read back from it.
        var options = Db.Options with { ConnectionString = new Npgsql.NpgsqlConnectionStringBuilder(Db.Options.ConnectionString) { MaxPoolSize = 1 }.ToString() };
        await using var database = TollgateDatabase.Create(options, Clock);
        for (var pass = 0; pass < 8; pass++)
        {
            Clock.Advance(TimeSpan.FromDays(8));
            await database.Retention.SweepOnceAsync(RetentionOptions.Default, Clock.GetUtcNow(), CancellationToken.None);
        }

        // The pool's data source is the database's own (an internal type's public property).
        var source = (Npgsql.NpgsqlDataSource)database.GetType().GetProperty("DataSource")!.GetValue(database)!;
        await using var command = source.CreateCommand("""
            SELECT count(*), coalesce(sum(generic_plans), 0), coalesce(sum(custom_plans), 0), current_setting('plan_cache_mode')
            FROM pg_prepared_statements WHERE statement LIKE 'DELETE FROM api_idempotency%' OR statement LIKE 'DELETE FROM ledger_operations%'
                OR statement LIKE 'UPDATE webhook_events SET payload%'
            """);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal(3, reader.GetInt64(0));
        Assert.True(reader.GetInt64(1) >= 3 * 3, $"generic plans: {reader.GetInt64(1)}");
        Assert.Equal(0, reader.GetInt64(2));
        Assert.Equal("auto", reader.GetString(3));
    }
}
