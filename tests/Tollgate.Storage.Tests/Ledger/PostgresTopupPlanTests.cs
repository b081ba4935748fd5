using Npgsql;
using Tollgate.Core.Ledger;
using Tollgate.Storage.Common;
using Tollgate.Storage.Postgres;
using Tollgate.Testing;

namespace Tollgate.Storage.Tests.Ledger;

/// <summary>
/// A ledger batch's auto top-up statement (<c>TopupSql.TriggerAll</c>) runs on its generic plan. Left to itself,
/// PostgreSQL's plan cache planned it again for every batch: a custom plan sees each array's length and always looks
/// cheaper than the generic plan, and that planning cost several times the statement's execution (docs/benchmarks.md,
/// "Planning every batch's top-up statement"). The setting is the statement's alone: the transaction, and the pooled
/// connection after it, go on with the session's own mode.
/// </summary>
public sealed class PostgresTopupPlanTests : IAsyncLifetime
{
    private readonly ManualTimeProvider _clock = new();
    private TestDatabase _db = null!;

    public async ValueTask InitializeAsync() => _db = await TestDatabase.CreateAsync(DatabaseProvider.Postgres, _clock);

    public async ValueTask DisposeAsync() => await _db.DisposeAsync();

    [Fact]
    public async Task EveryBatch_RunsTheTopupStatementOnItsGenericPlan_AndLeavesTheSessionsMode()
    {
        // One connection in the pool, so the statements the batches prepared can be read back from it.
        var options = _db.Options with { ConnectionString = new NpgsqlConnectionStringBuilder(_db.Options.ConnectionString) { MaxPoolSize = 1 }.ToString() };
        await using var database = TollgateDatabase.Create(options, _clock);
        database.AutoTopupFeature = "credits";
        await using var ledger = new LedgerEngine(database.Ledger, _clock, new LedgerOptions());
        const string customer = "cus_plan";
        Assert.True((await ledger.GrantAsync(new GrantRequest(customer, "credits", 1_000, LotSource.Payment, "grant"))).Succeeded);
        // Every usage lowers the credits balance, so every batch sends the top-up statement; more batches than the five
        // custom plans PostgreSQL tries before it compares.
        const int usages = 20;
        for (var i = 0; i < usages; i++)
        {
            Assert.True((await ledger.ConsumeAsync(new ConsumeRequest(customer, "credits", 1, $"use-{i}"))).Succeeded);
        }

        // A flow's ledger write: its statements are deferred into the flow's transaction, and whatever the flow runs after
        // them must run under the session's mode, not the top-up statement's.
        string inFlow;
        await using (var transaction = database.Transactions.Begin())
        {
            Assert.True((await ledger.ConsumeAsync(new ConsumeRequest(customer, "credits", 1, "use-in-flow"))).Succeeded);
            var flow = (PostgresFlowTransaction)AmbientTransaction.For(database)!;
            await using var batch = new NpgsqlBatch(await flow.OpenAsync(CancellationToken.None));
            flow.TakePending(batch);
            var pending = batch.BatchCommands.Count;
            Assert.Contains(batch.BatchCommands.ToList<NpgsqlBatchCommand>(), c => c.CommandText.StartsWith("INSERT INTO topup_charges", StringComparison.Ordinal));
            batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT current_setting('plan_cache_mode')"));
            await using (var reader = await batch.ExecuteReaderAsync())
            {
                Assert.True(await reader.ReadAsync(), $"no answer after {pending} deferred statements");
                inFlow = reader.GetString(0);
            }

            await transaction.CommitAsync(CancellationToken.None);
        }

        Assert.Equal("auto", inFlow);
        Assert.Equal(1_000 - usages - 1, (await ledger.GetBalancesAsync(customer)).For("credits").Available);
        var source = (NpgsqlDataSource)database.GetType().GetProperty("DataSource")!.GetValue(database)!;
        await using var command = source.CreateCommand("""
            SELECT count(*), coalesce(sum(generic_plans), 0), coalesce(sum(custom_plans), 0), current_setting('plan_cache_mode')
            FROM pg_prepared_statements WHERE statement LIKE 'INSERT INTO topup_charges%'
            """);
        await using var answer = await command.ExecuteReaderAsync();
        Assert.True(await answer.ReadAsync());
        Assert.Equal(1, answer.GetInt64(0));
        // Npgsql prepares a statement on its fifth use (Auto Prepare Min Usages): the runs before are not counted here.
        Assert.True(answer.GetInt64(1) >= usages - 4, $"generic plans: {answer.GetInt64(1)}");
        Assert.Equal(0, answer.GetInt64(2));
        Assert.Equal("auto", answer.GetString(3));
    }
}
