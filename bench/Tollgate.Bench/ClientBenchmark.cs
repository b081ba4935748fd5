using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Tollgate.Client;

namespace Tollgate.Bench;

/// <summary>Something that answers <see cref="ITollgate"/> for the client suite: <see cref="TollgateClient"/> over HTTP
/// to the server process, or the engine embedded in the bench process (<see cref="EmbeddedTollgate"/>, which ignores the
/// HTTP client, a pool of as many connections as the cell has callers).</summary>
internal sealed record TollgateTarget(string Name, Func<ServerProcess, EmbeddedTollgate, HttpClient, ITollgate> Create);

/// <summary>A call of the client suite, through raw HTTP (<c>Target</c> null) or an <see cref="ITollgate"/>.</summary>
internal sealed record ClientCall(string Name, string? Target, bool IsUsage);

/// <summary>One measured cell of the client suite, with the CPU it cost per request (as in the http suite).</summary>
internal sealed record ClientCell(string Database, ClientCall Call, int Callers, Measurement Run, long Ok, long Refused, long Errors, string? FirstError,
    double ServerCpuUs, double BenchCpuUs, double PostgresCpuUs, double OtherCpuUs);

/// <summary>
/// <see cref="ITollgate.CheckAsync"/> and <see cref="ITollgate.UseAsync"/> of one credit on one hot customer through each
/// <see cref="TollgateTarget"/>, beside the same calls as raw HTTP and <c>GET /healthz</c> (the baseline), all against
/// the same server process in the same run, at 1 and 64 concurrent callers (<c>--connections</c>). The in-process target
/// is an app of the bench's own with Tollgate embedded by <c>AddTollgate()</c>, on a database of its own (another SQLite
/// file, another PostgreSQL schema). After each usage cell the books are checked through /v1 of whichever host took the
/// calls: the customer's credits fell by exactly the number of successes.
/// </summary>
internal sealed class ClientBenchmark(BenchOptions options)
{
    private const long GrantAmount = 1_000_000_000;
    private const string Customer = "hot";
    private static readonly string RunId = Guid.NewGuid().ToString("N")[..8];
    private static readonly byte[] Body = Encoding.UTF8.GetBytes($$"""{"customer_id":"{{Customer}}","feature":"credits","amount":1}""");

    private const string InProcess = "in-process";

    private static readonly TollgateTarget[] Targets =
    [
        new(InProcess, (_, embedded, _) => embedded.Tollgate),
        new("Tollgate.Client", (server, _, http) => new TollgateClient(http, new TollgateClientOptions
        {
            BaseAddress = server.BaseAddress,
            SecretKey = ServerProcess.ApiKey,
        })),
    ];

    private EmbeddedTollgate? _embedded;

    private static readonly ClientCall Healthz = new("GET /healthz", null, false);

    private int _cells;

    public async Task<List<ClientCell>> RunAsync()
    {
        var calls = new List<ClientCall> { Healthz, new("POST /v1/check", null, false) };
        calls.AddRange(Targets.Select(t => new ClientCall("CheckAsync", t.Name, false)));
        calls.Add(new("POST /v1/usage", null, true));
        calls.AddRange(Targets.Select(t => new ClientCall("UseAsync", t.Name, true)));

        var results = new List<ClientCell>();
        foreach (var postgres in options.Databases)
        {
            var dbName = postgres is null ? "SQLite" : "PostgreSQL";
            var bench = await BenchDatabase.CreateAsync(postgres);
            var embeddedDatabase = await BenchDatabase.CreateAsync(postgres);
            try
            {
                await using var server = await ServerProcess.StartAsync(options.Server, bench);
                await using var embedded = await EmbeddedTollgate.StartAsync(embeddedDatabase);
                _embedded = embedded;
                using var admin = server.CreateClient(4);
                await GrantAsync(admin);
                await GrantAsync(embedded.Admin);
                Console.Error.WriteLine($"{dbName}: server at {server.BaseAddress}, embedded app at {embedded.Admin.BaseAddress}; customer '{Customer}' "
                    + $"granted {GrantAmount:N0} credits in each");
                foreach (var call in calls)
                {
                    // JIT and pools, for every path a cell takes.
                    await RunCellOnceAsync(server, admin, dbName, call, 16, TimeSpan.Zero, TimeSpan.FromSeconds(2));
                }

                foreach (var callers in options.ClientCallers)
                {
                    foreach (var call in calls)
                    {
                        var cell = await RunCellAsync(server, admin, dbName, call, callers);
                        results.Add(cell);
                        Report(cell, results.First(r => r.Database == dbName && r.Callers == callers && r.Call == Healthz));
                    }
                }
            }
            finally
            {
                _embedded = null;
                await bench.Drop();
                await embeddedDatabase.Drop();
            }
        }

        return results;
    }

    public static string Markdown(IReadOnlyList<ClientCell> results)
    {
        var markdown = new StringBuilder();
        markdown.AppendLine("| database | call | through | callers | req/s | p50 ms | p99 ms | ÷ healthz | +p50 ms | CPU µs/req: server | bench | postgres | other | refused | errors |");
        markdown.AppendLine("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var cell in results)
        {
            var healthz = Baseline(results, cell);
            markdown.AppendLine(CultureInfo.InvariantCulture,
                $"| {cell.Database} | {cell.Call.Name} | {cell.Call.Target ?? "raw HTTP"} | {cell.Callers} | {cell.Run.PerSecond:F0} | {cell.Run.P50Ms:F2} | "
                + $"{cell.Run.P99Ms:F2} | {cell.Run.PerSecond / healthz.Run.PerSecond:F2}× | {cell.Run.P50Ms - healthz.Run.P50Ms:F2} | {cell.ServerCpuUs:F0} | "
                + $"{cell.BenchCpuUs:F0} | {cell.PostgresCpuUs:F0} | {cell.OtherCpuUs:F0} | {cell.Refused} | {cell.Errors} |");
        }

        markdown.AppendLine();
        foreach (var cell in results.Where(c => c.Call.Target is not null))
        {
            var raw = results.First(r => r.Database == cell.Database && r.Callers == cell.Callers && r.Call.Target is null && r.Call.IsUsage == cell.Call.IsUsage
                && r.Call != Healthz);
            markdown.AppendLine(CultureInfo.InvariantCulture,
                $"- {cell.Database}, {cell.Callers} caller(s): {cell.Call.Name} through {cell.Call.Target} {cell.Run.PerSecond / raw.Run.PerSecond:F2}× the "
                + $"throughput of raw {raw.Call.Name}, p50 {cell.Run.P50Ms - raw.Run.P50Ms:+0.00;-0.00} ms, load generator CPU {cell.BenchCpuUs - raw.BenchCpuUs:+0;-0} µs/req");
        }

        foreach (var cell in results.Where(c => c.Call.Target == InProcess))
        {
            var remote = results.First(r => r.Database == cell.Database && r.Callers == cell.Callers && r.Call.Target is { } t && t != InProcess
                && r.Call.Name == cell.Call.Name);
            markdown.AppendLine(CultureInfo.InvariantCulture,
                $"- {cell.Database}, {cell.Callers} caller(s): {cell.Call.Name} in process {cell.Run.PerSecond / remote.Run.PerSecond:F2}× the throughput "
                + $"of {remote.Call.Target}, p50 {cell.Run.P50Ms:F2} against {remote.Run.P50Ms:F2} ms, p99 {cell.Run.P99Ms:F2} against {remote.Run.P99Ms:F2} ms");
        }

        var errors = results.Where(c => c.Errors > 0).ToList();
        markdown.AppendLine(errors.Count == 0
            ? "- errors: 0 in every cell; books exact after every usage cell"
            : "- ERRORS: " + string.Join("; ", errors.Select(e => $"{e.Database} {e.Call.Name} {e.Callers}: {e.Errors} (first: {e.FirstError})")));
        return markdown.ToString();
    }

    private static ClientCell Baseline(IReadOnlyList<ClientCell> results, ClientCell cell) =>
        results.First(r => r.Database == cell.Database && r.Callers == cell.Callers && r.Call == Healthz);

    private static void Report(ClientCell cell, ClientCell healthz) => Console.Error.WriteLine(
        FormattableString.Invariant($"{cell.Database,-10} {cell.Call.Name,-15} {cell.Call.Target ?? "raw HTTP",-16} {cell.Callers,3} callers: ")
        + FormattableString.Invariant($"{cell.Run.PerSecond,7:F0}/s (p50 {cell.Run.P50Ms:F2} ms, p99 {cell.Run.P99Ms:F2} ms) ×{cell.Run.PerSecond / healthz.Run.PerSecond:F2} of healthz; ")
        + FormattableString.Invariant($"CPU µs/req server {cell.ServerCpuUs:F0}, bench {cell.BenchCpuUs:F0}, postgres {cell.PostgresCpuUs:F0}, other {cell.OtherCpuUs:F0}; ")
        + FormattableString.Invariant($"refused {cell.Refused}, errors {cell.Errors}") + (cell.FirstError is null ? "" : $" (first: {cell.FirstError})"));

    /// <summary>One run of a cell, after waiting (up to a minute) for the machine to be quiet. Unlike the http suite, a
    /// disturbed cell is not run again: the comparison here is between neighbouring cells of one run (client against raw
    /// HTTP against healthz), and the "other" column shows how much of the machine something else took.</summary>
    private Task<ClientCell> RunCellAsync(ServerProcess server, HttpClient admin, string dbName, ClientCall call, int callers) =>
        RunCellOnceAsync(server, admin, dbName, call, callers, options.Warmup, options.Duration);

    private async Task<ClientCell> RunCellOnceAsync(ServerProcess server, HttpClient admin, string dbName, ClientCall call, int callers, TimeSpan warmup,
        TimeSpan duration)
    {
        await CpuSample.WaitForQuietAsync(server);
        using var http = server.CreateClient(callers);
        var tollgate = call.Target is null ? null : Targets.Single(t => t.Name == call.Target).Create(server, _embedded!, http);
        // The books of the host that took the calls: the server process's, or the embedded app's.
        var books = call.Target == InProcess ? _embedded!.Admin : admin;
        var keys = $"{RunId}-{Interlocked.Increment(ref _cells)}-";
        var before = call.IsUsage ? await AvailableAsync(books) : 0;
        var counts = new Counts();
        var cpu = CpuSample.Take(server);
        var run = await Measure.ClosedLoopAsync(callers, warmup, duration, (_, sequence) => tollgate is null
            ? SendRawAsync(http, call, keys + sequence.ToString(CultureInfo.InvariantCulture), counts)
            : CallAsync(tollgate, call, counts));
        var used = CpuSample.Take(server) - cpu;

        if (call.IsUsage)
        {
            var after = await AvailableAsync(books);
            if (before - after != counts.Ok)
            {
                throw new InvalidOperationException($"{dbName} {call.Name} {call.Target ?? "raw"} {callers}: books do not add up: {counts.Ok} successes, "
                    + $"credits fell by {before - after} ({counts.Refused} refused, {counts.Errors} errors, first: {counts.First}).");
            }
        }

        var total = Math.Max(1, counts.Ok + counts.Refused + counts.Errors);
        return new ClientCell(dbName, call, callers, new Measurement(call.Name, dbName, "hot", callers, run.Requests, run.Succeeded, run.Seconds, run.P50, run.P99),
            counts.Ok, counts.Refused, counts.Errors, counts.First,
            used.Server.TotalMicroseconds / total, used.Bench.TotalMicroseconds / total, used.Postgres.TotalMicroseconds / total,
            Math.Max(0, (used.Machine - used.Server - used.Bench - used.Postgres).TotalMicroseconds) / total);
    }

    private static async Task<bool> CallAsync(ITollgate tollgate, ClientCall call, Counts counts)
    {
        try
        {
            var refusal = call.IsUsage
                ? (await tollgate.UseAsync(new UsageRequest(Customer, "credits", 1))).Refusal
                : (await tollgate.CheckAsync(new CheckRequest(Customer, "credits"))).Refusal;
            return counts.Count(refusal is null ? 200 : 402, refusal?.Code);
        }
        catch (TollgateException ex)
        {
            return counts.Count(0, ex.Message);
        }
    }

    private static async Task<bool> SendRawAsync(HttpClient http, ClientCall call, string key, Counts counts)
    {
        using var request = call == Healthz
            ? new HttpRequestMessage(HttpMethod.Get, new Uri("/healthz", UriKind.Relative))
            : new HttpRequestMessage(HttpMethod.Post, new Uri(call.IsUsage ? "/v1/usage" : "/v1/check", UriKind.Relative)) { Content = Json(Body) };
        if (call.IsUsage)
        {
            request.Headers.TryAddWithoutValidation("Idempotency-Key", key);
        }

        try
        {
            using var response = await http.SendAsync(request);
            var body = await response.Content.ReadAsByteArrayAsync();
            var status = (int)response.StatusCode;
            // A check that says no is a 200 with "allowed":false: counted as refused.
            return status == 200 && call.Name == "POST /v1/check" && body.AsSpan().IndexOf("\"allowed\":true"u8) < 0
                ? counts.Count(402, Encoding.UTF8.GetString(body))
                : counts.Count(status, status == 200 ? null : Encoding.UTF8.GetString(body));
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return counts.Count(0, ex.Message);
        }
    }

    private static async Task GrantAsync(HttpClient admin)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri($"/v1/customers/{Customer}/grants", UriKind.Relative))
        {
            Content = Json(Encoding.UTF8.GetBytes($$"""{"feature":"credits","amount":{{GrantAmount}},"reason":"bench"}""")),
        };
        request.Headers.TryAddWithoutValidation("Idempotency-Key", $"{RunId}-grant");
        using var response = await admin.SendAsync(request);
        if (response.StatusCode != HttpStatusCode.Created)
        {
            throw new InvalidOperationException($"grant: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }

    /// <summary>The hot customer's credits available, through raw HTTP (the books check must not trust the client it checks).</summary>
    private static async Task<long> AvailableAsync(HttpClient admin)
    {
        var text = await admin.GetStringAsync(new Uri($"/v1/customers/{Customer}/balances", UriKind.Relative));
        using var json = System.Text.Json.JsonDocument.Parse(text);
        return json.RootElement.GetProperty("balances").EnumerateArray().Single(b => b.GetProperty("feature").GetString() == "credits")
            .GetProperty("available").GetInt64();
    }

    private static ByteArrayContent Json(byte[] json)
    {
        var content = new ByteArrayContent(json);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }

    /// <summary>Answers of a cell over its whole run (warm-up included): 200 ok, 402 refused, anything else an error.</summary>
    private sealed class Counts
    {
        public long Ok;
        public long Refused;
        public long Errors;
        public string? First;

        public bool Count(int status, string? what)
        {
            switch (status)
            {
                case 200:
                    Interlocked.Increment(ref Ok);
                    return true;
                case 402:
                    Interlocked.Increment(ref Refused);
                    break;
                default:
                    Interlocked.Increment(ref Errors);
                    break;
            }

            if (what is not null)
            {
                Interlocked.CompareExchange(ref First, $"{status}: {(what.Length > 300 ? what[..300] : what)}", null);
            }

            return false;
        }
    }
}
