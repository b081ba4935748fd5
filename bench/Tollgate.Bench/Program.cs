using System.Globalization;
using System.Text;
using Tollgate.Bench;

// dotnet run -c Release --project bench/Tollgate.Bench -- ledger [--postgres "<connection string>"] [--duration 5] [--callers 1,8,32,64]
var options = BenchOptions.Parse(args);
var markdown = new StringBuilder();
switch (options.Suite)
{
    case "ledger":
        var results = await new LedgerBenchmark(options).RunAsync();
        markdown.AppendLine("| database | shape | callers | Tollgate req/s | p50 ms | p99 ms | baseline req/s | p50 ms | p99 ms | Tollgate ÷ baseline |");
        markdown.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var pair in results.Chunk(2))
        {
            var (engine, baseline) = (pair[0], pair[1]);
            markdown.AppendLine(CultureInfo.InvariantCulture,
                $"| {engine.Database} | {engine.Shape} | {engine.Callers} | {engine.PerSecond:F0} | {engine.P50Ms:F2} | {engine.P99Ms:F2} | {baseline.PerSecond:F0} | {baseline.P50Ms:F2} | {baseline.P99Ms:F2} | {engine.PerSecond / baseline.PerSecond:F1}× |");
        }

        break;
    default:
        Console.Error.WriteLine($"unknown suite '{options.Suite}'; suites: ledger");
        return 64;
}

Console.WriteLine(markdown);
return 0;
