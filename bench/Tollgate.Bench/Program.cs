using System.Globalization;
using System.Text;
using Tollgate.Bench;

// dotnet run -c Release --project bench/Tollgate.Bench -- ledger [--postgres "<connection string>"] [--duration 5] [--callers 1,8,32,64]
// dotnet run -c Release --project bench/Tollgate.Bench -- http [--postgres "<connection string>"] [--duration 5] [--connections 1,16,64] [--server <tollgate.dll>]
//     [--servers label=<tollgate.dll>,label=<tollgate.dll>] [--quiet-wait 60] [--attempts 3]
//     [--open-loop-rate 5000] [--open-loop-duration 10] [--long-run 1000000] [--databases postgres]
// dotnet run -c Release --project bench/Tollgate.Bench -- client [--postgres "<connection string>"] [--duration 5] [--connections 1,64] [--server <tollgate.dll>]
// dotnet run -c Release --project bench/Tollgate.Bench -- webhooks [--postgres "<connection string>"] [--duration 5] [--connections 1,16,64] [--server <tollgate.dll>]
// dotnet run -c Release --project bench/Tollgate.Bench -- apple [--duration 5] [--callers 1,2]
// dotnet run -c Release --project bench/Tollgate.Bench -- events [--postgres "<connection string>"] [--duration 5] [--connections 1,16,64] [--server <tollgate.dll>]
// dotnet run -c Release --project bench/Tollgate.Bench -- growth --postgres "<connection string>" [--customers 50000] [--entries 20] [--big 241000]
//     [--iterations 30] [--warmup 5]
var options = BenchOptions.Parse(args);
var markdown = new StringBuilder();
var exitCode = 0;
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
    case "http":
        var (cells, extras) = await new HttpBenchmark(options).RunAsync();
        markdown.Append(HttpBenchmark.Markdown(cells, extras));
        if (cells.Any(c => c.Errors > 0) || extras.Any(e => e.OpenLoop is { Errors: > 0 } || e.OpenLoopHealthz is { Errors: > 0 } || e.LongRun is { BooksExact: false } or { Errors: > 0 }))
        {
            Console.Error.WriteLine($"http: {cells.Sum(c => c.Errors)} errors (answers other than 200/402 or failed requests); see the table.");
            exitCode = 1;
        }

        break;
    case "client":
        var clientCells = await new ClientBenchmark(options).RunAsync();
        markdown.Append(ClientBenchmark.Markdown(clientCells));
        if (clientCells.Any(c => c.Errors > 0))
        {
            Console.Error.WriteLine($"client: {clientCells.Sum(c => c.Errors)} errors; see the table.");
            exitCode = 1;
        }

        break;
    case "webhooks":
        var (webhookCells, bursts) = await new WebhookBenchmark(options).RunAsync();
        markdown.Append(WebhookBenchmark.Markdown(webhookCells, bursts));
        if (webhookCells.Any(c => c.Errors > 0) || bursts.Any(b => b.Errors > 0 || !b.Books.Balanced))
        {
            Console.Error.WriteLine("webhooks: errors, or books that do not balance; see the tables.");
            exitCode = 1;
        }

        break;
    case "apple":
        var appleCells = await new AppleBenchmark(options).RunAsync();
        markdown.Append(AppleBenchmark.Markdown(appleCells));
        if (appleCells.Any(c => c.Refused > 0))
        {
            Console.Error.WriteLine("apple: genuine signed data was refused; see the table.");
            exitCode = 1;
        }

        break;
    case "events":
        var (eventCells, drains) = await new EventsBenchmark(options).RunAsync();
        markdown.Append(EventsBenchmark.Markdown(eventCells, drains));
        if (eventCells.Any(c => c.Errors > 0) || drains.Any(d => d.Distinct != d.Events || !d.AllVerified))
        {
            Console.Error.WriteLine("events: errors, a missing event or a signature that did not verify; see the tables.");
            exitCode = 1;
        }

        break;
    case "growth":
        var (growthCells, growthSize) = await new GrowthBenchmark(options, GrowthOptions.Parse(args)).RunAsync();
        markdown.Append(GrowthBenchmark.Markdown(growthCells, growthSize));
        break;
    default:
        Console.Error.WriteLine($"unknown suite '{options.Suite}'; suites: ledger, http, client, webhooks, apple, events, growth");
        return 64;
}

Console.WriteLine(markdown);
return exitCode;
