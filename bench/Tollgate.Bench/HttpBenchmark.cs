using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Tollgate.Bench;

/// <summary>The calls of the http suite.</summary>
internal enum HttpCall
{
    /// <summary><c>GET /healthz</c>: HTTP alone (its database check is cached for a second).</summary>
    Healthz,

    /// <summary><c>POST /v1/check</c> of 1 credit.</summary>
    Check,

    /// <summary><c>POST /v1/usage</c> of 1 credit, with a fresh Idempotency-Key.</summary>
    Usage,

    /// <summary>One cycle of two requests: <c>POST /v1/holds</c> of 2 credits (fresh Idempotency-Key), then
    /// <c>POST /v1/holds/{id}/settle</c> of 1 (the other is released). A success is both answered as expected.</summary>
    HoldSettle,
}

/// <summary>One measured cell of the http suite, with where the CPU of the machine went, per request (warm-up included):
/// the server process, this process (the load generator), every <c>postgres</c> process, and the rest (kernel threads
/// doing fsync and loopback work, and anything else running: on a shared machine, mostly noise).</summary>
internal sealed record HttpCell(string Database, HttpCall Call, string Shape, int Connections, Measurement Run, long Ok, long Refused, long Errors,
    string? FirstError, double ServerCpuUs, double BenchCpuUs, double PostgresCpuUs, double OtherCpuUs, double MachineBusy)
{
    /// <summary>The part of <see cref="ServerCpuUs"/> the server's tiered-compilation thread used (<see cref="ServerProcess.JitTicks"/>).</summary>
    public double ServerJitCpuUs { get; init; }

    /// <summary>The server's CPU per request without its tiered-compilation thread: what the requests themselves cost.</summary>
    public double ServerRequestCpuUs => ServerCpuUs - ServerJitCpuUs;
}

/// <summary>What the http suite measures beside its cells, per database, in the same run: the ledger engine alone (hot
/// customer, as many callers as the most connections), the seed teams' per-request baseline (spread, same callers;
/// PostgreSQL), a usage run at a fixed arrival rate, and a long usage run after which the server's memory is read.</summary>
internal sealed record HttpExtras(string Database, Measurement Engine, Measurement? Baseline, OpenLoopResult? OpenLoop, LongRun? LongRun)
{
    /// <summary><c>GET /healthz</c> at the same fixed rate just before the usage run: the latency the machine and the load
    /// generator add to any request at that rate.</summary>
    public OpenLoopResult? OpenLoopHealthz { get; init; }
}

/// <summary>A long closed-loop usage run (spread over 1,000 customers) and the server's resident memory around it.</summary>
internal sealed record LongRun(long Requests, long Ok, long Errors, double Seconds, double RssBeforeMiB, double RssAfterMiB, bool BooksExact);

/// <summary>
/// <c>/v1/check</c> and <c>/v1/usage</c> over HTTP on loopback against <c>GET /healthz</c> of the same server (the cost
/// of HTTP alone), at several numbers of concurrent connections, one hot customer and spread over 1,000. The server
/// runs in its own process on a fresh database; the load generator is this process. After each usage cell the books
/// are checked through the API: the credits available fell by exactly the number of 200 answers.
/// </summary>
internal sealed class HttpBenchmark(BenchOptions options)
{
    private const long GrantAmount = 1_000_000_000;
    private const int SpreadCustomers = 1000;
    /// <summary>The least warm-up of each call on a fresh server.</summary>
    private static readonly TimeSpan ServerWarmup = TimeSpan.FromSeconds(2);
    private static readonly Uri HealthzUri = new("/healthz", UriKind.Relative);
    private static readonly Uri CheckUri = new("/v1/check", UriKind.Relative);
    private static readonly Uri UsageUri = new("/v1/usage", UriKind.Relative);
    private static readonly Uri HoldsUri = new("/v1/holds", UriKind.Relative);
    private static readonly byte[] SettleOne = """{"amount":1}"""u8.ToArray();
    private static readonly string RunId = Guid.NewGuid().ToString("N")[..8];

    /// <summary>Share of the machine's busy CPU that may go elsewhere before a cell is run again.</summary>
    private const double MaxNoise = 0.15;

    private readonly Dictionary<string, Customers> _shapes = new()
    {
        ["hot"] = new Customers(["hot"]),
        ["spread"] = new Customers(Enumerable.Range(0, SpreadCustomers).Select(i => $"c{i.ToString(CultureInfo.InvariantCulture)}").ToArray()),
    };

    private int _cells;

    public async Task<(List<HttpCell> Cells, List<HttpExtras> Extras)> RunAsync()
    {
        var results = new List<HttpCell>();
        var extras = new List<HttpExtras>();
        foreach (var postgres in options.Databases)
        {
            var dbName = postgres is null ? "SQLite" : "PostgreSQL";
            var most = options.Connections.Max();
            var ledger = new LedgerBenchmark(options);
            var engine = await ledger.MeasureEngineAsync(postgres, "hot", most) with { Database = dbName };
            Console.Error.WriteLine(FormattableString.Invariant(
                $"{dbName,-10} the ledger engine alone, hot, {most} callers: {engine.PerSecond:F0}/s (p50 {engine.P50Ms:F2} ms, p99 {engine.P99Ms:F2} ms)"));
            Measurement? baseline = null;
            if (postgres is not null)
            {
                baseline = await ledger.MeasureBaselineAsync(postgres, "spread", most) with { Database = dbName };
                Console.Error.WriteLine(FormattableString.Invariant(
                    $"{dbName,-10} per-request baseline, spread, {most} callers: {baseline.PerSecond:F0}/s (p50 {baseline.P50Ms:F2} ms, p99 {baseline.P99Ms:F2} ms)"));
            }

            // One server per build compared (--servers), each on a fresh database of its own; every cell runs on each in
            // turn, so the builds share the machine's state of the moment.
            var builds = options.Servers.Count > 0 ? options.Servers : [("", options.Server ?? "")];
            var runs = new List<(string Name, BenchDatabase Database, ServerProcess Server, HttpClient Admin)>();
            try
            {
                foreach (var (label, dll) in builds)
                {
                    var name = label.Length == 0 ? dbName : $"{dbName} ({label})";
                    var database = await BenchDatabase.CreateAsync(postgres);
                    runs.Add((name, database, null!, null!));
                    var server = await ServerProcess.StartAsync(dll.Length == 0 ? null : dll, database);
                    runs[^1] = (name, database, server, server.CreateClient(16));
                    var warm = new Customers(["warm"]);
                    await PrepareAsync(runs[^1].Admin, [.. warm.Ids, .. _shapes["hot"].Ids, .. _shapes["spread"].Ids]);
                    Console.Error.WriteLine($"{name}: server at {server.BaseAddress}, {1 + 1 + SpreadCustomers} customers granted {GrantAmount:N0} credits each");

                    // JIT (until its tiers settle: see BenchOptions.ServerWarmup) and pools of the server: each call in
                    // turn on a customer the measured cells never touch, the warm-up shared among them, 2 s each at least.
                    var calls = Enum.GetValues<HttpCall>();
                    var each = TimeSpan.FromTicks(Math.Max(ServerWarmup.Ticks, options.ServerWarmup.Ticks / calls.Length));
                    foreach (var call in calls)
                    {
                        await RunCellOnceAsync(server, runs[^1].Admin, name, call, "warm", warm, 16, TimeSpan.Zero, each);
                    }
                }

                foreach (var connections in options.Connections)
                {
                    var healthz = new Dictionary<string, HttpCell>();
                    foreach (var run in runs)
                    {
                        healthz[run.Name] = await RunCellAsync(run.Server, run.Admin, run.Name, HttpCall.Healthz, "—", _shapes["hot"], connections, options.Warmup, options.Duration);
                        results.Add(healthz[run.Name]);
                        Report(healthz[run.Name], healthz[run.Name]);
                    }

                    foreach (var (call, shape) in new[] { (HttpCall.Check, "hot"), (HttpCall.Check, "spread"), (HttpCall.Usage, "hot"), (HttpCall.Usage, "spread"), (HttpCall.HoldSettle, "hot") })
                    {
                        foreach (var run in runs)
                        {
                            var cell = await RunCellAsync(run.Server, run.Admin, run.Name, call, shape, _shapes[shape], connections, options.Warmup, options.Duration);
                            results.Add(cell);
                            Report(cell, healthz[run.Name]);
                        }
                    }
                }

                foreach (var run in runs)
                {
                    OpenLoopResult? open = null;
                    OpenLoopResult? openHealthz = null;
                    if (options.OpenLoopRate > 0)
                    {
                        openHealthz = await RunOpenLoopAsync(run.Server, run.Admin, run.Name, HttpCall.Healthz, _shapes["hot"]);
                        Console.Error.WriteLine(FormattableString.Invariant(
                            $"{run.Name,-10} healthz open loop at {openHealthz.Rate}/s: p50 {openHealthz.P50Ms:F2} ms, p99 {openHealthz.P99Ms:F2} ms, p99.9 {openHealthz.P999Ms:F2} ms, max {openHealthz.MaxMs:F2} ms; errors {openHealthz.Errors}"));
                        open = await RunOpenLoopAsync(run.Server, run.Admin, run.Name, HttpCall.Usage, _shapes["hot"]);
                        Console.Error.WriteLine(FormattableString.Invariant(
                            $"{run.Name,-10} usage open loop at {open.Rate}/s, hot: {open.AchievedPerSecond:F0}/s answered 200; latency from the scheduled instant ")
                            + FormattableString.Invariant($"p50 {open.P50Ms:F2} ms, p99 {open.P99Ms:F2} ms, p99.9 {open.P999Ms:F2} ms, max {open.MaxMs:F2} ms; errors {open.Errors}"));
                    }

                    extras.Add(new HttpExtras(run.Name, engine, baseline, open, null) { OpenLoopHealthz = openHealthz });
                }

                if (options.LongRun > 0)
                {
                    foreach (var run in runs)
                    {
                        var result = await RunLongAsync(run.Server, run.Admin, _shapes["spread"], most, options.LongRun);
                        Console.Error.WriteLine(FormattableString.Invariant(
                            $"{run.Name,-10} long run: {result.Requests:N0} usages (spread, {most} conns) in {result.Seconds:F0} s ({result.Ok / result.Seconds:F0}/s); ")
                            + FormattableString.Invariant($"server RSS {result.RssBeforeMiB:F0} → {result.RssAfterMiB:F0} MiB; books exact: {result.BooksExact}; errors {result.Errors}"));
                        var i = extras.FindIndex(e => e.Database == run.Name);
                        extras[i] = extras[i] with { LongRun = result };
                    }
                }
            }
            finally
            {
                foreach (var run in runs)
                {
                    run.Admin?.Dispose();
                    if (run.Server is not null)
                    {
                        await run.Server.DisposeAsync();
                    }

                    await run.Database.Drop();
                }
            }
        }

        return (results, extras);
    }

    /// <summary>One table per database, with the check ÷ healthz ratio at the largest connection count, and the
    /// write path's targets (issue 10) against what was measured in the same run.</summary>
    public static string Markdown(IReadOnlyList<HttpCell> results, IReadOnlyList<HttpExtras> extras)
    {
        var markdown = new StringBuilder();
        foreach (var database in results.GroupBy(r => r.Database))
        {
            markdown.AppendLine(CultureInfo.InvariantCulture, $"**{database.Key}**").AppendLine();
            markdown.AppendLine("| call | shape | conns | req/s | p50 ms | p99 ms | ÷ healthz | +p50 ms | CPU µs/req: server | of which tier-up JIT | bench | postgres | other | refused | errors |");
            markdown.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var cell in database)
            {
                var healthz = database.First(h => h.Call == HttpCall.Healthz && h.Connections == cell.Connections);
                markdown.AppendLine(CultureInfo.InvariantCulture,
                    $"| {Name(cell.Call)} | {cell.Shape} | {cell.Connections} | {cell.Run.PerSecond:F0} | {cell.Run.P50Ms:F2} | {cell.Run.P99Ms:F2} | "
                    + $"{cell.Run.PerSecond / healthz.Run.PerSecond:F2}× | {cell.Run.P50Ms - healthz.Run.P50Ms:F2} | "
                    + $"{cell.ServerCpuUs:F0} | {cell.ServerJitCpuUs:F0} | {cell.BenchCpuUs:F0} | {cell.PostgresCpuUs:F0} | {cell.OtherCpuUs:F0} | {cell.Refused} | {cell.Errors} |");
            }

            var most = database.Max(c => c.Connections);
            var baseline = database.First(h => h.Call == HttpCall.Healthz && h.Connections == most);
            markdown.AppendLine();
            foreach (var check in database.Where(c => c.Call == HttpCall.Check && c.Connections == most))
            {
                var ratio = check.Run.PerSecond / baseline.Run.PerSecond;
                var verdict = ratio >= 0.5 ? "within 2× of healthz: target met" : "more than 2× below healthz: target NOT met";
                markdown.AppendLine(CultureInfo.InvariantCulture,
                    $"- check ÷ healthz at {most} connections, {check.Shape}: **{ratio:F2}×** ({check.Run.PerSecond:F0} vs {baseline.Run.PerSecond:F0} req/s) — {verdict}");
            }

            if (extras.FirstOrDefault(e => e.Database == database.Key) is { } extra)
            {
                AppendTargets(markdown, database.Key, [.. database], extra, most);
            }

            var errors = database.Where(c => c.Errors > 0).ToList();
            markdown.AppendLine(errors.Count == 0
                ? "- errors (answers other than 200/402, failed requests): 0 in every cell"
                : "- ERRORS: " + string.Join("; ", errors.Select(e => $"{Name(e.Call)} {e.Shape} {e.Connections}: {e.Errors} (first: {e.FirstError})")));
            markdown.AppendLine();
        }

        return markdown.ToString();
    }

    /// <summary>Issue 10's targets for the usage path, each with what this run measured.</summary>
    private static void AppendTargets(StringBuilder markdown, string database, IReadOnlyList<HttpCell> cells, HttpExtras extra, int most)
    {
        HttpCell? Cell(HttpCall call, string shape, int connections) =>
            cells.FirstOrDefault(c => c.Call == call && c.Shape == shape && c.Connections == connections);
        static string Verdict(bool met) => met ? "met" : "**NOT met**";

        var healthz = Cell(HttpCall.Healthz, "—", most);
        var usageHot = Cell(HttpCall.Usage, "hot", most);
        var usageSpread = Cell(HttpCall.Usage, "spread", most);
        var checkHot = Cell(HttpCall.Check, "hot", most);
        var single = Cell(HttpCall.Usage, "hot", 1);
        if (healthz is not null && usageHot is not null)
        {
            var ratio = usageHot.Run.PerSecond / healthz.Run.PerSecond;
            markdown.AppendLine(CultureInfo.InvariantCulture,
                $"- usage ÷ healthz at {most} connections, hot: **{ratio:F2}×** ({usageHot.Run.PerSecond:F0} vs {healthz.Run.PerSecond:F0} req/s) — target ≥ 0.2×: {Verdict(ratio >= 0.2)}");
            var ofEngine = usageHot.Run.PerSecond / extra.Engine.PerSecond;
            markdown.AppendLine(CultureInfo.InvariantCulture,
                $"- usage over HTTP ÷ the ledger engine alone (hot, {most} callers, this run): **{ofEngine:F2}×** ({usageHot.Run.PerSecond:F0} vs {extra.Engine.PerSecond:F0} req/s) — target ≥ 0.5×: {Verdict(ofEngine >= 0.5)}");
        }

        if (single is not null)
        {
            var limit = database.StartsWith("SQLite", StringComparison.Ordinal) ? 1.0 : 1.5;
            markdown.AppendLine(CultureInfo.InvariantCulture,
                $"- usage at 1 connection, hot: p50 **{single.Run.P50Ms:F2} ms** (p99 {single.Run.P99Ms:F2} ms) — target ≤ {limit:F1} ms: {Verdict(single.Run.P50Ms <= limit)}");
        }

        if (extra.Baseline is { } baseline && usageSpread is not null)
        {
            var ratio = usageSpread.Run.PerSecond / baseline.PerSecond;
            markdown.AppendLine(CultureInfo.InvariantCulture,
                $"- usage over HTTP, spread over 1,000 customers, {most} connections ÷ the per-request baseline (same shape and callers, in process, no HTTP): **{ratio:F1}×** ({usageSpread.Run.PerSecond:F0} vs {baseline.PerSecond:F0} req/s) — target ≥ 3×: {Verdict(ratio >= 3)}");
            markdown.AppendLine("  - " + CpuCeiling.Describe(usageSpread.MachineBusy, usageSpread.Run.PerSecond, 3 * baseline.PerSecond, "usage"));
        }

        if (usageHot is not null && checkHot is not null)
        {
            var ratio = usageHot.ServerCpuUs / checkHot.ServerCpuUs;
            markdown.AppendLine(CultureInfo.InvariantCulture,
                $"- server CPU per usage ÷ per check at {most} connections, hot: **{ratio:F1}×** ({usageHot.ServerCpuUs:F0} vs {checkHot.ServerCpuUs:F0} µs) — target ≤ 3×: {Verdict(ratio <= 3)}"
                + $"; without the server's tier-up JIT thread (a start-up cost, not the requests'): {usageHot.ServerRequestCpuUs / checkHot.ServerRequestCpuUs:F1}× ({usageHot.ServerRequestCpuUs:F0} vs {checkHot.ServerRequestCpuUs:F0} µs)");
        }

        if (Cell(HttpCall.HoldSettle, "hot", most) is { } cycle && usageHot is not null)
        {
            markdown.AppendLine(CultureInfo.InvariantCulture,
                $"- hold + settle (two requests, two ledger writes) at {most} connections, hot: {cycle.Run.PerSecond:F0} cycles/s, p50 {cycle.Run.P50Ms:F2} ms; ÷ usage: **{cycle.Run.PerSecond / usageHot.Run.PerSecond:F2}×**; server CPU per cycle {cycle.ServerCpuUs:F0} µs ({cycle.ServerCpuUs / usageHot.ServerCpuUs:F1}× a usage)");
        }

        if (extra.OpenLoop is { } open)
        {
            markdown.AppendLine(CultureInfo.InvariantCulture,
                $"- open loop, usage at a fixed {open.Rate:N0}/s for {open.Seconds:F0} s, hot: {open.AchievedPerSecond:F0}/s answered 200; latency from each request's scheduled instant p50 **{open.P50Ms:F2} ms**, p99 **{open.P99Ms:F2} ms**, p99.9 **{open.P999Ms:F2} ms**, max {open.MaxMs:F2} ms; errors {open.Errors}");
            if (extra.OpenLoopHealthz is { } floor)
            {
                markdown.AppendLine(CultureInfo.InvariantCulture,
                    $"  - baseline, `GET /healthz` at the same rate just before: p50 {floor.P50Ms:F2} ms, p99 {floor.P99Ms:F2} ms, p99.9 {floor.P999Ms:F2} ms, max {floor.MaxMs:F2} ms; usage ÷ healthz p50 {open.P50Ms / Math.Max(0.001, floor.P50Ms):F1}×, p99 {open.P99Ms / Math.Max(0.001, floor.P99Ms):F1}×");
            }
        }

        if (extra.LongRun is { } run)
        {
            markdown.AppendLine(CultureInfo.InvariantCulture,
                $"- long run: {run.Requests:N0} usages spread over 1,000 customers at {most} connections in {run.Seconds:F0} s ({run.Ok / run.Seconds:F0}/s); server RSS {run.RssBeforeMiB:F0} MiB before, **{run.RssAfterMiB:F0} MiB** after; books exact: {(run.BooksExact ? "yes" : "**NO**")}; errors {run.Errors}");
        }
    }

    private static string Name(HttpCall call) => call switch
    {
        HttpCall.Healthz => "GET /healthz",
        HttpCall.Check => "POST /v1/check",
        HttpCall.Usage => "POST /v1/usage",
        _ => "hold + settle",
    };

    private static void Report(HttpCell cell, HttpCell healthz) => Console.Error.WriteLine(
        FormattableString.Invariant($"{cell.Database,-10} {Name(cell.Call),-15} {cell.Shape,-6} {cell.Connections,3} conns: {cell.Run.PerSecond,7:F0}/s ")
        + FormattableString.Invariant($"(p50 {cell.Run.P50Ms:F2} ms, p99 {cell.Run.P99Ms:F2} ms) ×{cell.Run.PerSecond / healthz.Run.PerSecond:F2} of healthz; ")
        + FormattableString.Invariant($"CPU µs/req server {cell.ServerCpuUs:F0} (tier-up JIT {cell.ServerJitCpuUs:F0}), bench {cell.BenchCpuUs:F0}, postgres {cell.PostgresCpuUs:F0}, other {cell.OtherCpuUs:F0} ")
        + FormattableString.Invariant($"(machine {cell.MachineBusy:F2} of {Environment.ProcessorCount} cores busy); refused {cell.Refused}, errors {cell.Errors}")
        + (cell.FirstError is null ? "" : $" (first: {cell.FirstError})"));

    /// <summary>Runs a cell; when more than <see cref="MaxNoise"/> of the machine's busy time went to something other
    /// than the server, this process and PostgreSQL (another build on the shared machine), runs it again, up to twice,
    /// and keeps the quietest run.</summary>
    private async Task<HttpCell> RunCellAsync(ServerProcess server, HttpClient admin, string dbName, HttpCall call, string shape, Customers customers,
        int connections, TimeSpan warmup, TimeSpan duration)
    {
        HttpCell? best = null;
        for (var attempt = 1; attempt <= options.Attempts; attempt++)
        {
            var cell = await RunCellOnceAsync(server, admin, dbName, call, shape, customers, connections, warmup, duration);
            if (best is null || Noise(cell) < Noise(best))
            {
                best = cell;
            }

            if (Noise(cell) <= MaxNoise)
            {
                break;
            }

            Console.Error.WriteLine(FormattableString.Invariant(
                $"  ({Name(call)} {shape} {connections}: {Noise(cell):P0} of the machine's CPU went elsewhere{(attempt < options.Attempts ? "; again" : "; keeping the quietest run")})"));
        }

        return best!;

        static double Noise(HttpCell cell) =>
            cell.OtherCpuUs / Math.Max(1, cell.ServerCpuUs + cell.BenchCpuUs + cell.PostgresCpuUs + cell.OtherCpuUs);
    }

    /// <summary>A call at a fixed arrival rate (<see cref="OpenLoop"/>); after usage, the books are checked.</summary>
    private async Task<OpenLoopResult> RunOpenLoopAsync(ServerProcess server, HttpClient admin, string dbName, HttpCall call, Customers customers)
    {
        await CpuSample.WaitForQuietAsync(server);
        // Enough connections that no request waits for one at the client: only the server's own queueing shows.
        using var client = server.CreateClient(1024);
        var keys = $"{RunId}-open-";
        var counts = new Counts();
        var before = await AvailableAsync(admin, customers.Ids);
        var result = await OpenLoop.RunAsync(options.OpenLoopRate, options.Warmup, options.OpenLoopDuration,
            sequence => SendAsync(client, call, customers, keys, sequence, counts));
        var after = await AvailableAsync(admin, customers.Ids);
        if (call == HttpCall.Usage && before - after != counts.Ok)
        {
            throw new InvalidOperationException($"{dbName} open loop: books do not add up: {counts.Ok} answers 200, credits fell by {before - after}.");
        }

        return result with { Errors = counts.Errors };
    }

    /// <summary><paramref name="requests"/> usages as fast as <paramref name="connections"/> callers go, the books checked
    /// after, and the server's resident memory before and after.</summary>
    private async Task<LongRun> RunLongAsync(ServerProcess server, HttpClient admin, Customers customers, int connections, long requests)
    {
        await CpuSample.WaitForQuietAsync(server);
        using var client = server.CreateClient(connections);
        var keys = $"{RunId}-long-";
        var counts = new Counts();
        var before = await AvailableAsync(admin, customers.Ids);
        var rssBefore = server.RssMiB;
        long sequence = 0;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, connections).Select(async _ =>
        {
            await Task.Yield();
            for (var s = Interlocked.Increment(ref sequence); s <= requests; s = Interlocked.Increment(ref sequence))
            {
                await SendAsync(client, HttpCall.Usage, customers, keys, s, counts);
            }
        }));
        var seconds = clock.Elapsed.TotalSeconds;
        var rssAfter = server.RssMiB;
        var after = await AvailableAsync(admin, customers.Ids);
        return new LongRun(requests, counts.Ok, counts.Errors, seconds, rssBefore, rssAfter, before - after == counts.Ok);
    }

    private async Task<HttpCell> RunCellOnceAsync(ServerProcess server, HttpClient admin, string dbName, HttpCall call, string shape, Customers customers,
        int connections, TimeSpan warmup, TimeSpan duration)
    {
        await CpuSample.WaitForQuietAsync(server);
        using var client = server.CreateClient(connections);
        var keys = $"{RunId}-{Interlocked.Increment(ref _cells)}-";
        var writes = call is HttpCall.Usage or HttpCall.HoldSettle;
        var before = writes ? await AvailableAsync(admin, customers.Ids) : 0;
        var counts = new Counts();
        var cpu = CpuSample.Take(server);
        var run = await Measure.ClosedLoopAsync(connections, warmup, duration, (_, sequence) => SendAsync(client, call, customers, keys, sequence, counts));
        var used = CpuSample.Take(server) - cpu;

        if (writes)
        {
            // Usage and a hold+settle cycle each take exactly 1 credit when they succeed.
            var after = await AvailableAsync(admin, customers.Ids);
            if (before - after != counts.Ok)
            {
                throw new InvalidOperationException(
                    $"{dbName} {Name(call)} {shape} {connections}: books do not add up: {counts.Ok} answers 200, credits available fell by {before - after} "
                    + $"({counts.Refused} refused, {counts.Errors} errors{(counts.FirstError is null ? "" : $", first: {counts.FirstError}")}).");
            }
        }

        var total = Math.Max(1, counts.Total);
        return new HttpCell(dbName, call, shape, connections,
            new Measurement(Name(call), dbName, shape, connections, run.Requests, run.Succeeded, run.Seconds, run.P50, run.P99),
            counts.Ok, counts.Refused, counts.Errors, counts.FirstError,
            used.Server.TotalMicroseconds / total, used.Bench.TotalMicroseconds / total, used.Postgres.TotalMicroseconds / total,
            Math.Max(0, (used.Machine - used.Server - used.Bench - used.Postgres).TotalMicroseconds) / total,
            used.Machine / used.Wall) { ServerJitCpuUs = used.ServerJit.TotalMicroseconds / total };
    }

    private static async Task<bool> SendAsync(HttpClient client, HttpCall call, Customers customers, string keys, long sequence, Counts counts)
    {
        if (call == HttpCall.HoldSettle)
        {
            return await HoldAndSettleAsync(client, customers, keys, sequence, counts);
        }

        using var request = call == HttpCall.Healthz
            ? new HttpRequestMessage(HttpMethod.Get, HealthzUri)
            : new HttpRequestMessage(HttpMethod.Post, call == HttpCall.Check ? CheckUri : UsageUri) { Content = customers.RandomBody() };
        if (call == HttpCall.Usage)
        {
            request.Headers.TryAddWithoutValidation("Idempotency-Key", keys + sequence.ToString(CultureInfo.InvariantCulture));
        }

        try
        {
            using var response = await client.SendAsync(request);
            var body = await response.Content.ReadAsByteArrayAsync();
            switch (call, response.StatusCode)
            {
                case (HttpCall.Check, HttpStatusCode.OK) when body.AsSpan().IndexOf("\"allowed\":true"u8) >= 0:
                case (HttpCall.Usage or HttpCall.Healthz, HttpStatusCode.OK):
                    Interlocked.Increment(ref counts.Ok);
                    return true;
                case (HttpCall.Check, HttpStatusCode.OK):
                case (HttpCall.Usage, HttpStatusCode.PaymentRequired):
                    // A check that says no (e.g. reason "unavailable" when the database failed) or a usage refused.
                    Interlocked.Increment(ref counts.Refused);
                    counts.Note($"{(int)response.StatusCode} {Encoding.UTF8.GetString(body)}", error: false);
                    return false;
                default:
                    counts.Note($"{(int)response.StatusCode} {Encoding.UTF8.GetString(body)}", error: true);
                    return false;
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            counts.Note($"{ex.GetType().Name}: {ex.Message}", error: true);
            return false;
        }
    }

    /// <summary>A hold of 2 credits and its settlement of 1: the cycle a metered job (an LLM call, a render) goes through.</summary>
    private static async Task<bool> HoldAndSettleAsync(HttpClient client, Customers customers, string keys, long sequence, Counts counts)
    {
        try
        {
            using var hold = new HttpRequestMessage(HttpMethod.Post, HoldsUri) { Content = customers.RandomHoldBody() };
            hold.Headers.TryAddWithoutValidation("Idempotency-Key", keys + sequence.ToString(CultureInfo.InvariantCulture));
            using var held = await client.SendAsync(hold);
            var body = await held.Content.ReadAsByteArrayAsync();
            if (held.StatusCode == HttpStatusCode.PaymentRequired)
            {
                Interlocked.Increment(ref counts.Refused);
                counts.Note($"402 {Encoding.UTF8.GetString(body)}", error: false);
                return false;
            }

            if (held.StatusCode != HttpStatusCode.Created)
            {
                counts.Note($"hold {(int)held.StatusCode} {Encoding.UTF8.GetString(body)}", error: true);
                return false;
            }

            string id;
            using (var json = JsonDocument.Parse(body))
            {
                id = json.RootElement.GetProperty("id").GetString()!;
            }

            using var settle = new HttpRequestMessage(HttpMethod.Post, new Uri($"/v1/holds/{id}/settle", UriKind.Relative)) { Content = Json(SettleOne) };
            using var settled = await client.SendAsync(settle);
            body = await settled.Content.ReadAsByteArrayAsync();
            if (settled.StatusCode == HttpStatusCode.OK && body.AsSpan().IndexOf("\"settled\":1,"u8) >= 0)
            {
                Interlocked.Increment(ref counts.Ok);
                return true;
            }

            counts.Note($"settle {(int)settled.StatusCode} {Encoding.UTF8.GetString(body)}", error: true);
            return false;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            counts.Note($"{ex.GetType().Name}: {ex.Message}", error: true);
            return false;
        }
    }

    /// <summary>Grants every customer credits (a write, which also writes their plan's allowances) and reads their
    /// balances once.</summary>
    private static async Task PrepareAsync(HttpClient admin, IReadOnlyList<string> customers)
    {
        await Parallel.ForEachAsync(customers, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (customer, ct) =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri($"/v1/customers/{customer}/grants", UriKind.Relative))
            {
                Content = Json($$"""{"feature":"credits","amount":{{GrantAmount}},"reason":"bench"}"""),
            };
            request.Headers.TryAddWithoutValidation("Idempotency-Key", $"{RunId}-grant-{customer}");
            using var response = await admin.SendAsync(request, ct);
            if (response.StatusCode != HttpStatusCode.Created)
            {
                throw new InvalidOperationException($"grant to {customer}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)}");
            }
        });
        var available = await AvailableAsync(admin, customers);
        if (available != GrantAmount * customers.Count)
        {
            throw new InvalidOperationException($"after the grants {available} credits are available, expected {GrantAmount * customers.Count}.");
        }
    }

    /// <summary>The sum of the credits available to <paramref name="customers"/>, through <c>GET /v1/customers/{id}/balances</c>.</summary>
    private static async Task<long> AvailableAsync(HttpClient admin, IReadOnlyList<string> customers)
    {
        long sum = 0;
        await Parallel.ForEachAsync(customers, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (customer, ct) =>
        {
            using var response = await admin.GetAsync(new Uri($"/v1/customers/{customer}/balances", UriKind.Relative), ct);
            var text = await response.Content.ReadAsStringAsync(ct);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw new InvalidOperationException($"balances of {customer}: {(int)response.StatusCode} {text}");
            }

            using var json = JsonDocument.Parse(text);
            var credits = json.RootElement.GetProperty("balances").EnumerateArray().Single(b => b.GetProperty("feature").GetString() == "credits");
            Interlocked.Add(ref sum, credits.GetProperty("available").GetInt64());
        });
        return sum;
    }

    private static ByteArrayContent Json(string json) => Json(Encoding.UTF8.GetBytes(json));

    private static ByteArrayContent Json(byte[] json)
    {
        var content = new ByteArrayContent(json);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }

    /// <summary>The customers of a shape and their request bodies, serialised once.</summary>
    private sealed class Customers(string[] ids)
    {
        private readonly byte[][] _bodies = ids.Select(id => Encoding.UTF8.GetBytes($$"""{"customer_id":"{{id}}","feature":"credits","amount":1}""")).ToArray();

        private readonly byte[][] _holds = ids.Select(id => Encoding.UTF8.GetBytes($$"""{"customer_id":"{{id}}","feature":"credits","amount":2,"ttl_seconds":3600}""")).ToArray();

        public string[] Ids { get; } = ids;

        public ByteArrayContent RandomHoldBody() => Json(_holds[_holds.Length == 1 ? 0 : Random.Shared.Next(_holds.Length)]);

        public ByteArrayContent RandomBody() => Json(_bodies[_bodies.Length == 1 ? 0 : Random.Shared.Next(_bodies.Length)]);
    }

    /// <summary>Answers of a cell over its whole run (warm-up included).</summary>
    private sealed class Counts
    {
        public long Ok;
        public long Refused;
        private long _errors;
        private string? _first;

        public long Errors => Interlocked.Read(ref _errors);

        public long Total => Interlocked.Read(ref Ok) + Interlocked.Read(ref Refused) + Errors;

        public string? FirstError => _first;

        public void Note(string what, bool error)
        {
            if (error)
            {
                Interlocked.Increment(ref _errors);
            }

            Interlocked.CompareExchange(ref _first, (error ? "error " : "refused ") + (what.Length > 300 ? what[..300] : what), null);
        }
    }
}
