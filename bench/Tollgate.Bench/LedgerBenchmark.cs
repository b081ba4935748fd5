using System.Globalization;
using Microsoft.Data.Sqlite;
using Npgsql;
using Tollgate.Core.Ledger;
using Tollgate.Storage;

namespace Tollgate.Bench;

/// <summary>
/// Consume throughput and latency of the ledger engine against the seed teams' baseline, in the same run, on one hot
/// customer and spread over 1,000 customers. After each cell the books are checked: every success is exactly one
/// entry and the balances dropped by exactly the successes. A final exhaustion run checks zero overspend.
/// </summary>
internal sealed class LedgerBenchmark(BenchOptions options)
{
    private const long Unlimited = 1_000_000_000_000;
    private const int SpreadCustomers = 1000;

    public async Task<List<Measurement>> RunAsync()
    {
        var results = new List<Measurement>();
        foreach (var postgres in options.Databases)
        {
            var dbName = postgres is null ? "SQLite" : "PostgreSQL";
            foreach (var shape in new[] { "hot", "spread" })
            {
                foreach (var callers in options.Callers)
                {
                    var engine = await MeasureEngineAsync(postgres, shape, callers);
                    var baseline = await MeasureBaselineAsync(postgres, shape, callers);
                    results.Add(engine with { Database = dbName });
                    results.Add(baseline with { Database = dbName });
                    Console.Error.WriteLine(
                        $"{dbName,-10} {shape,-6} {callers,3} callers: Tollgate {engine.PerSecond,9:F0}/s (p50 {engine.P50Ms:F2} ms, p99 {engine.P99Ms:F2} ms)"
                        + $"  baseline {baseline.PerSecond,8:F0}/s (p50 {baseline.P50Ms:F2} ms, p99 {baseline.P99Ms:F2} ms)  ×{engine.PerSecond / baseline.PerSecond:F1}");
                }
            }

            await CheckExhaustionAsync(postgres, dbName);
        }

        return results;
    }

    internal async Task<Measurement> MeasureEngineAsync(string? postgres, string shape, int callers)
    {
        var bench = await BenchDatabase.CreateAsync(postgres);
        try
        {
            await using var database = TollgateDatabase.Create(Options(bench), TimeProvider.System);
            await database.MigrateAsync(CancellationToken.None);
            await using var engine = new LedgerEngine(database.Ledger, TimeProvider.System, new LedgerOptions { Lanes = postgres is null ? 1 : options.Lanes, TransactionsPerLane = postgres is null ? 1 : options.InFlight });
            var customers = Customers(shape);
            await Task.WhenAll(customers.Select(c => engine.GrantAsync(new GrantRequest(c, "credits", Unlimited, LotSource.Payment, "seed"))));

            var run = await Measure.ClosedLoopAsync(callers, options.Warmup, options.Duration, async (caller, sequence) =>
            {
                var customer = customers[Random.Shared.Next(customers.Count)];
                var result = await engine.ConsumeAsync(new ConsumeRequest(customer, "credits", 1, $"use-{sequence}"));
                return result.Succeeded;
            });

            long remaining = 0;
            foreach (var customer in customers)
            {
                remaining += (await engine.GetBalancesAsync(customer)).For("credits").Available;
            }

            var entries = await CountConsumeEntriesAsync(bench);
            Check(remaining, entries, Unlimited * customers.Count, run.SucceededInAll, "Tollgate");
            return new Measurement("Tollgate", "", shape, callers, run.Requests, run.Succeeded, run.Seconds, run.P50, run.P99);
        }
        finally
        {
            await bench.Drop();
        }
    }

    internal async Task<Measurement> MeasureBaselineAsync(string? postgres, string shape, int callers)
    {
        var bench = await BenchDatabase.CreateAsync(postgres);
        try
        {
            await using var baseline = await Baseline.CreateAsync(bench);
            var customers = Customers(shape);
            await baseline.SeedAsync(customers, Unlimited);
            var run = await Measure.ClosedLoopAsync(callers, options.Warmup, options.Duration, (caller, sequence) =>
                baseline.ConsumeAsync(customers[Random.Shared.Next(customers.Count)], 1, $"use-{sequence}"));
            var (remaining, entries) = await baseline.TotalsAsync();
            Check(remaining, entries, Unlimited * customers.Count, run.SucceededInAll, "baseline");
            return new Measurement("baseline", "", shape, callers, run.Requests, run.Succeeded, run.Seconds, run.P50, run.P99);
        }
        finally
        {
            await bench.Drop();
        }
    }

    /// <summary>32 callers race for a balance of 500 units with 1,280 attempts: exactly 500 may succeed.</summary>
    private async Task CheckExhaustionAsync(string? postgres, string dbName)
    {
        const int units = 500;
        const int callers = 32;
        const int attemptsEach = 40;
        var bench = await BenchDatabase.CreateAsync(postgres);
        try
        {
            await using var database = TollgateDatabase.Create(Options(bench), TimeProvider.System);
            await database.MigrateAsync(CancellationToken.None);
            await using var engine = new LedgerEngine(database.Ledger, TimeProvider.System, new LedgerOptions { Lanes = postgres is null ? 1 : options.Lanes, TransactionsPerLane = postgres is null ? 1 : options.InFlight });
            await engine.GrantAsync(new GrantRequest("hot", "credits", units, LotSource.Payment, "seed"));
            var successes = await Task.WhenAll(Enumerable.Range(0, callers).Select(async caller =>
            {
                var ok = 0;
                for (var i = 0; i < attemptsEach; i++)
                {
                    ok += (await engine.ConsumeAsync(new ConsumeRequest("hot", "credits", 1, $"x-{caller}-{i}"))).Succeeded ? 1 : 0;
                }

                return ok;
            }));
            var left = (await engine.GetBalancesAsync("hot")).For("credits").Available;
            var entries = await CountConsumeEntriesAsync(bench);
            if (successes.Sum() != units || left != 0 || entries != units)
            {
                throw new InvalidOperationException($"{dbName}: overspend check failed: {successes.Sum()} successes, {left} left, {entries} entries.");
            }

            Console.Error.WriteLine($"{dbName}: zero overspend: {callers} callers × {attemptsEach} attempts on {units} units → {successes.Sum()} succeeded, {left} left.");
        }
        finally
        {
            await bench.Drop();
        }
    }

    private static void Check(long remaining, long entries, long initial, long succeeded, string system)
    {
        if (initial - remaining != succeeded || entries != succeeded)
        {
            throw new InvalidOperationException(
                $"{system}: books do not add up: {succeeded} successes, balance fell by {initial - remaining}, {entries} entries.");
        }
    }

    private static List<string> Customers(string shape) =>
        shape == "hot" ? ["hot"] : Enumerable.Range(0, SpreadCustomers).Select(i => $"c{i.ToString(CultureInfo.InvariantCulture)}").ToList();

    private static DatabaseOptions Options(BenchDatabase bench) =>
        new(bench.IsPostgres ? DatabaseProvider.Postgres : DatabaseProvider.Sqlite, bench.ConnectionString);

    private static async Task<long> CountConsumeEntriesAsync(BenchDatabase bench)
    {
        const string sql = "SELECT count(*) FROM ledger_entries WHERE type = 'consume'";
        if (bench.IsPostgres)
        {
            await using var source = NpgsqlDataSource.Create(bench.ConnectionString);
            await using var command = source.CreateCommand(sql);
            return (long)(await command.ExecuteScalarAsync())!;
        }

        await using var connection = new SqliteConnection(bench.ConnectionString);
        await connection.OpenAsync();
        await using var sqlite = connection.CreateCommand();
        sqlite.CommandText = sql;
        return (long)(await sqlite.ExecuteScalarAsync())!;
    }
}
