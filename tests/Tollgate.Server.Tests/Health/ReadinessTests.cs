using System.Text.Json.Nodes;
using Tollgate.Server.Tests.Support;
using Tollgate.Storage;

namespace Tollgate.Server.Tests.Health;

public abstract class ReadinessTests : AppTestBase
{
    [Fact]
    public async Task Readyz_IsReady_WhenTheDatabaseIsReachableMigratedAndTheChangeFeedListens()
    {
        var body = await ReadyAsync(200);
        Assert.Equal("ready", (string?)body["status"]);
        var checks = body["checks"]!.AsObject();
        Assert.Equal("ok", (string?)checks["database"]);
        Assert.Equal("ok", (string?)checks["migrations"]);
        Assert.Equal("ok", (string?)checks["change_feed"]);
        Assert.Equal("no", (string?)checks["shutdown"]);
    }

    [Fact]
    public async Task Readyz_IsNotReady_WhenTheSchemaIsNotThisBuildsVersion_AndReadyAgainOnceItIs()
    {
        await ReadyAsync(200);
        await ExecuteAsync("CREATE TABLE readyz_saved AS SELECT * FROM tollgate_migrations WHERE version = (SELECT max(version) FROM tollgate_migrations)");
        await ExecuteAsync("DELETE FROM tollgate_migrations WHERE version = (SELECT version FROM readyz_saved)");
        App.Clock.Advance(TimeSpan.FromSeconds(2));

        using var response = await Client.GetAsync(new Uri("/readyz", UriKind.Relative));
        var body = await Json.ReadAsync(response, 503);
        Assert.Equal("not_ready", (string?)body["status"]);
        Assert.Equal("ok", (string?)body["checks"]!["database"]);
        Assert.StartsWith("schema version ", (string?)body["checks"]!["migrations"], StringComparison.Ordinal);
        // /healthz says the same: this server does not know this schema.
        Assert.Equal(503, (int)(await Client.GetAsync(new Uri("/healthz", UriKind.Relative))).StatusCode);

        await ExecuteAsync("INSERT INTO tollgate_migrations SELECT * FROM readyz_saved");
        App.Clock.Advance(TimeSpan.FromSeconds(2));
        await ReadyAsync(200);
    }

    [Fact]
    public async Task Readyz_NeedsNoKey_AndIsNotPartOfTheApiDocument()
    {
        await ReadyAsync(200);
        using var anonymous = App.App.GetTestClientWithoutKey();
        Assert.Equal(System.Net.HttpStatusCode.OK, (await anonymous.GetAsync(new Uri("/readyz", UriKind.Relative))).StatusCode);
        var document = await Json.ReadAsync(await Client.GetAsync(new Uri("/openapi/v1.json", UriKind.Relative)), 200);
        Assert.DoesNotContain("/readyz", document["paths"]!.AsObject().Select(p => p.Key));
    }

    /// <summary>Waits for the change feed on PostgreSQL (its LISTEN connects in the background), then expects
    /// <paramref name="status"/>.</summary>
    private async Task<JsonObject> ReadyAsync(int status)
    {
        for (var attempt = 0; ; attempt++)
        {
            using var response = await Client.GetAsync(new Uri("/readyz", UriKind.Relative));
            if ((int)response.StatusCode == status || attempt == 100)
            {
                return await Json.ReadAsync(response, status);
            }

            await Task.Delay(100, TestContext.Current.CancellationToken);
            App.Clock.Advance(TimeSpan.FromSeconds(2));
        }
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = App.Database.Options.Provider == DatabaseProvider.Postgres
            ? (System.Data.Common.DbConnection)new Npgsql.NpgsqlConnection(App.Database.Options.ConnectionString)
            : new Microsoft.Data.Sqlite.SqliteConnection(App.Database.Options.ConnectionString);
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
    }
}

public sealed class SqliteReadinessTests : ReadinessTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresReadinessTests : ReadinessTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
