using Tollgate.Testing;

namespace Tollgate.Storage.Tests.Migrations;

public abstract class MigrationTests
{
    protected abstract DatabaseProvider Provider { get; }

    [Fact]
    public async Task TwoDataSources_MigratingTheSameEmptyDatabaseAtOnce_BothSucceed()
    {
        var time = new ManualTimeProvider();
        await using var test = await TestDatabase.CreateAsync(Provider, time, migrate: false);
        await using var second = test.OpenAnother(time);
        await using var third = test.OpenAnother(time);

        var reports = await Task.WhenAll(
            Task.Run(() => test.Database.MigrateAsync(CancellationToken.None)),
            Task.Run(() => second.MigrateAsync(CancellationToken.None)),
            Task.Run(() => third.MigrateAsync(CancellationToken.None)));

        Assert.All(reports, r => Assert.Equal(test.Database.LatestVersion, r.CurrentVersion));
        Assert.Equal(test.Database.MigrationCount, reports.Sum(r => r.Applied.Count));
        Assert.Equal(test.Database.LatestVersion, await second.GetSchemaVersionAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Migrate_OnAMigratedDatabase_AppliesNothing()
    {
        var time = new ManualTimeProvider();
        await using var test = await TestDatabase.CreateAsync(Provider, time);

        var again = await test.Database.MigrateAsync(CancellationToken.None);

        Assert.Empty(again.Applied);
        Assert.Equal(test.Database.LatestVersion, again.CurrentVersion);
    }

    [Fact]
    public async Task SchemaVersion_OfAnEmptyDatabase_IsZero()
    {
        var time = new ManualTimeProvider();
        await using var test = await TestDatabase.CreateAsync(Provider, time, migrate: false);

        Assert.Equal(0, await test.Database.GetSchemaVersionAsync(CancellationToken.None));
        Assert.True(test.Database.LatestVersion >= 1);
    }
}

public sealed class SqliteMigrationTests : MigrationTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresMigrationTests : MigrationTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
