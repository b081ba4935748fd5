using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Tollgate.Core.Entitlements;
using Tollgate.Core.Usage;
using Tollgate.Server.Tests.Support;
using Tollgate.Storage;
using Tollgate.Testing;

namespace Tollgate.Server.Tests.Scenarios;

public abstract class GateBehaviour : AppTestBase
{
    [Fact]
    public async Task HundredParallelUsages_OnTheLastTenCredits_ExactlyTenSucceed()
    {
        var c = TollgateApp.NewCustomer();
        await App.GrantAsync(c, "credits", 10);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var calls = Enumerable.Range(0, 100).Select(async _ =>
        {
            await gate.Task;
            return (int)(await App.UseAsync(c, "credits", 1)).StatusCode;
        }).ToList();
        gate.SetResult();
        var statuses = await Task.WhenAll(calls);

        Assert.True(statuses.All(s => s is 200 or 402), string.Join(", ", statuses.Where(s => s is not (200 or 402))));
        Assert.Equal(10, statuses.Count(s => s == 200));
        Assert.Equal(90, statuses.Count(s => s == 402));
        Assert.Equal(0, (long)(await App.BalanceAsync(c, "credits"))["available"]!);
        var ledger = await Json.ReadAsync(await Client.GetAsync($"/v1/customers/{c}/ledger?feature=credits&limit=200"), 200);
        Assert.Equal(10, ledger["entries"]!.AsArray().Count(e => (string)e!["type"]! == "consume"));
    }

    [Fact]
    public async Task WhenTheDatabaseCannotBeRead_CheckAnswersUnavailable_NeverAllowed()
    {
        var c = TollgateApp.NewCustomer();
        await App.GrantAsync(c, "credits", 10);

        var restore = await BreakDatabaseAsync();
        try
        {
            // The cached views are dropped after the break, when none can be loaded or written again.
            App.Services.GetRequiredService<Gate>().InvalidateAll();
            var check = await App.CheckAsync(c, "credits", 1);
            var metered = await App.CheckAsync(TollgateApp.NewCustomer(), "ai_messages", 1);
            if ((bool)check["allowed"]!)
            {
                // For whoever reads this failure: whether the database itself could still be read, or the answer came
                // from memory.
                var read = await Record.ExceptionAsync(() => App.Database.Database.Ledger.ReadAsync(c, [], CancellationToken.None));
                Assert.Fail($"Allowed with the database broken; a direct read of the customer's ledger then {(read is null ? "succeeded" : "failed (" + read.GetType().Name + ")")}.");
            }

            Assert.Equal((false, "unavailable"), ((bool)check["allowed"]!, (string?)check["reason"]));
            Assert.Equal((false, "unavailable"), ((bool)metered["allowed"]!, (string?)metered["reason"]));
        }
        finally
        {
            await restore();
        }
    }

    /// <summary>Makes the database unreadable: the PostgreSQL schema is renamed away, the SQLite file's folder too.</summary>
    private async Task<Func<Task>> BreakDatabaseAsync()
    {
        if (Provider == DatabaseProvider.Postgres)
        {
            var builder = new NpgsqlConnectionStringBuilder(App.Database.Options.ConnectionString);
            var schema = builder.SearchPath!;
            builder.SearchPath = null;
            builder.Pooling = false;
            var admin = builder.ToString();
            await Execute(admin, $"ALTER SCHEMA {schema} RENAME TO {schema}_gone");
            return () => Execute(admin, $"ALTER SCHEMA {schema}_gone RENAME TO {schema}");
        }

        // The database's folder is renamed away in one step, so no new connection can open (or create) the file; then
        // the pools are cleared, so no connection opened before the rename is handed out again (an idle one is closed,
        // one in use is closed when it is returned). In the other order a full test run saw the check allowed, and a
        // direct read succeed, after the rename: a connection the app's background work opened between the clearing and
        // the rename, pooled, and then handed to the check, still reading the renamed file, explains both.
        var folder = Path.GetDirectoryName(new SqliteConnectionStringBuilder(App.Database.Options.ConnectionString).DataSource)!;
        // The folder must be this test's own (TestDatabase makes one per database), never a shared one such as /tmp.
        Assert.Equal("tollgate-tests", Path.GetFileName(Path.GetDirectoryName(folder)));
        var away = folder + "-gone";
        Directory.Move(folder, away);
        SqliteConnection.ClearAllPools();
        return () =>
        {
            SqliteConnection.ClearAllPools();
            Directory.Move(away, folder);
            return Task.CompletedTask;
        };
    }

    private static async Task Execute(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}

public sealed class SqliteGateBehaviour : GateBehaviour
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresGateBehaviour : GateBehaviour
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}

/// <summary>An external access source may add feature capabilities only; an error, a hang past its timeout, an
/// unsure answer or a claim to a plan never grants anything.</summary>
public sealed class ExternalAccessSourceTests
{
    [Fact]
    public async Task AWorkingSource_AddsFeatureCapabilities_ButNeverPlans()
    {
        await using var app = await StartWith(new Source(_ => Task.FromResult(ExternalAccess.Of("feature:hd_export", "plan:pro", "plan:team"))));

        var check = await app.CheckAsync("c1", "hd_export");
        var capabilities = (await Json.ReadAsync(await app.Client.GetAsync("/v1/customers/c1/capabilities"), 200))["capabilities"]!.AsArray()
            .Select(x => (string)x!).ToList();

        Assert.True((bool)check["allowed"]!);
        Assert.Contains("feature:hd_export", capabilities);
        Assert.DoesNotContain("plan:pro", capabilities);
        Assert.DoesNotContain("plan:team", capabilities);
        Assert.Contains("plan:free", capabilities);
    }

    [Fact]
    public async Task ASourceThatThrows_GrantsNothing()
    {
        await using var app = await StartWith(new Source(_ => throw new InvalidOperationException("legacy membership service is down")));

        await AssertRefused(app);
    }

    [Fact]
    public async Task ASourceThatHangsPastItsTimeout_GrantsNothing()
    {
        var never = new TaskCompletionSource<ExternalAccess>();
        await using var app = await StartWith(new Source(_ => never.Task));

        await AssertRefused(app);
    }

    [Fact]
    public async Task ASourceThatIsUnsure_GrantsNothing()
    {
        await using var app = await StartWith(new Source(_ => Task.FromResult(new ExternalAccess(false, ["feature:hd_export"]))));

        await AssertRefused(app);
    }

    [Fact]
    public async Task ASourceClaimingAPlan_GrantsNeitherThePlanNorItsFeatures()
    {
        await using var app = await StartWith(new Source(_ => Task.FromResult(ExternalAccess.Of("plan:pro"))));

        await AssertRefused(app);
    }

    private static async Task AssertRefused(TollgateApp app)
    {
        var check = await app.CheckAsync("c1", "hd_export");
        var capabilities = (await Json.ReadAsync(await app.Client.GetAsync("/v1/customers/c1/capabilities"), 200))["capabilities"]!.AsArray()
            .Select(x => (string)x!).ToList();

        Assert.Equal((false, "not_entitled"), ((bool)check["allowed"]!, (string?)check["reason"]));
        Assert.DoesNotContain("feature:hd_export", capabilities);
        Assert.DoesNotContain("plan:pro", capabilities);
    }

    private static Task<TollgateApp> StartWith(IExternalAccessSource source) =>
        TollgateApp.StartAsync(DatabaseProvider.Sqlite, services: s => s.AddSingleton(source));

    private sealed class Source(Func<string, Task<ExternalAccess>> answer) : IExternalAccessSource
    {
        public Task<ExternalAccess> GetAsync(string customerId, CancellationToken cancellationToken) => answer(customerId);
    }
}

/// <summary>Two servers on one PostgreSQL: a write on one drops the other's cached view through LISTEN/NOTIFY.</summary>
public sealed class SharedDatabaseTests
{
    [Fact]
    public async Task AWriteOnOneServer_IsSeenByTheOthersCachedCheck()
    {
        var clock = new ManualTimeProvider();
        await using var a = await TollgateApp.StartAsync(DatabaseProvider.Postgres, clock);
        await using var b = await TollgateApp.StartAsync(DatabaseProvider.Postgres, clock, database: await ShareAsync(a));
        var c = TollgateApp.NewCustomer();
        await a.GrantAsync(c, "credits", 10);
        var gateB = b.Services.GetRequiredService<Gate>();
        await WaitUntil(() => gateB.CacheEnabled, "server B never heard the change feed");
        await WaitUntilAsync(async () => (bool)(await b.CheckAsync(c, "credits", 10))["allowed"]!, "B never saw the grant");

        await Json.ReadAsync(await a.UseAsync(c, "credits", 10), 200);

        await WaitUntilAsync(async () => !(bool)(await b.CheckAsync(c, "credits", 1))["allowed"]!, "B kept answering from a stale view");
    }

    private static Task<TestDatabase> ShareAsync(TollgateApp app) => Task.FromResult(app.Database.Borrow());

    private static Task WaitUntil(Func<bool> condition, string failure) => WaitUntilAsync(() => Task.FromResult(condition()), failure);

    /// <summary>Polls a condition that depends on a notification arriving; fails after 10 s.</summary>
    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string failure)
    {
        for (var i = 0; i < 200; i++)
        {
            if (await condition())
            {
                return;
            }

            await Task.Delay(50);
        }

        Assert.Fail(failure);
    }
}
