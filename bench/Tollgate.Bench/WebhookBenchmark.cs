using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Tollgate.Bench;

/// <summary>One measured cell of the webhooks suite: signed Creem deliveries (or the healthz baseline) in a closed loop.</summary>
internal sealed record WebhookCell(string Database, string Load, int Connections, Measurement Run, long Applied, long Duplicates, long Errors,
    string? FirstError, double ServerCpuUs)
{
    /// <summary>The part of <see cref="ServerCpuUs"/> the server's tiered-compilation thread used (<see cref="ServerProcess.JitTicks"/>).</summary>
    public double ServerJitCpuUs { get; init; }

    /// <summary>CPU per delivery of every <c>postgres</c> process (0 on SQLite, whose work is the server's own).</summary>
    public double PostgresCpuUs { get; init; }

    /// <summary>CPU per delivery of this process: the load generator signing and sending.</summary>
    public double BenchCpuUs { get; init; }

    /// <summary>Cores busy on average during the cell.</summary>
    public double MachineBusy { get; init; }
}

/// <summary>A burst: a fixed list of deliveries sent as fast as the connections allow, then the books checked.</summary>
internal sealed record WebhookBurst(string Database, int Deliveries, int Events, int Connections, double Seconds, double P50Ms, double P99Ms,
    long Errors, string? FirstError, WebhookBooks Books)
{
    /// <summary>The server's resident memory right after the burst (before the books are checked), in MiB.</summary>
    public double RssAfterMiB { get; init; }
}

/// <summary>What the database holds after a run against what was sent: every event stored once and applied, one payment
/// and one pack of credits per event, and every customer's balance exactly its purchases.</summary>
internal sealed record WebhookBooks(long EventsSent, long EventsStored, long EventsApplied, long Payments, long CreditsGranted,
    int CustomersChecked, int CustomersWrong)
{
    public bool Balanced => EventsStored == EventsSent && EventsApplied == EventsSent && Payments == EventsSent
        && CreditsGranted == EventsSent * CreemDeliveries.PackCredits && CustomersWrong == 0;
}

/// <summary>
/// Webhook ingestion over HTTP on loopback: Creem <c>checkout.completed</c> deliveries, each verified (HMAC of the raw
/// body), stored in the inbox (unique by event id), deduplicated and applied (a payment recorded and a pack's credits
/// granted) before the 200 — 10% of deliveries are exact repeats of an earlier one. Baseline in the same run: the same
/// server answering <c>GET /healthz</c>. Then a burst of 10,000 deliveries (1,000 of them duplicates, many sent while
/// their original is still in flight), and the books: no event lost, none applied twice.
/// </summary>
internal sealed class WebhookBenchmark(BenchOptions options)
{
    private const int Customers = 1000;
    private const double DuplicateShare = 0.10;
    private const int BurstDeliveries = 10_000;
    private const int BurstConnections = 64;

    /// <summary>Issue 10's target for signed webhook ingestion on PostgreSQL at 64 connections, deliveries per second.</summary>
    private const double TargetPerSecond = 2000;
    private static readonly Uri HealthzUri = new("/healthz", UriKind.Relative);

    public async Task<(List<WebhookCell> Cells, List<WebhookBurst> Bursts)> RunAsync()
    {
        var cells = new List<WebhookCell>();
        var bursts = new List<WebhookBurst>();
        foreach (var postgres in options.Databases)
        {
            var dbName = postgres is null ? "SQLite" : "PostgreSQL";
            var bench = await BenchDatabase.CreateAsync(postgres);
            try
            {
                await using var server = await ServerProcess.StartAsync(options.Server, bench, new Dictionary<string, string>
                {
                    ["Tollgate__Providers__Creem__ApiKey"] = "creem_test_bench",
                    ["Tollgate__Providers__Creem__WebhookSecret"] = CreemDeliveries.WebhookSecret,
                    // Receiving webhooks calls nothing at Creem; an address that refuses makes sure of it.
                    ["Tollgate__Providers__Creem__BaseUrl"] = "http://127.0.0.1:9",
                });
                var sent = new Sent(new CreemDeliveries());
                Console.Error.WriteLine($"{dbName}: server at {server.BaseAddress}, Creem enabled");

                // JIT (until its tiers settle: see BenchOptions.ServerWarmup) and pools of the server.
                await RunCellOnceAsync(server, dbName, "warm", 16, TimeSpan.Zero, options.ServerWarmup, sent);
                foreach (var connections in options.Connections)
                {
                    var healthz = await RunCellOnceAsync(server, dbName, "healthz", connections, options.Warmup, options.Duration, sent);
                    var webhooks = await RunCellOnceAsync(server, dbName, "webhooks", connections, options.Warmup, options.Duration, sent);
                    cells.Add(healthz);
                    cells.Add(webhooks);
                    Console.Error.WriteLine(FormattableString.Invariant(
                        $"{dbName,-10} {connections,3} conns: healthz {healthz.Run.PerSecond:F0}/s, webhooks {webhooks.Run.PerSecond:F0}/s ")
                        + FormattableString.Invariant($"(p50 {webhooks.Run.P50Ms:F2} ms, p99 {webhooks.Run.P99Ms:F2} ms, server {webhooks.ServerCpuUs:F0} µs CPU each, tier-up JIT {webhooks.ServerJitCpuUs:F0} of it, postgres {webhooks.PostgresCpuUs:F0}, bench {webhooks.BenchCpuUs:F0}); ")
                        + $"{webhooks.Applied} applied, {webhooks.Duplicates} duplicates, {webhooks.Errors} errors{(webhooks.FirstError is null ? "" : $" (first: {webhooks.FirstError})")}");
                }

                var burst = await RunBurstAsync(server, bench, dbName, sent);
                bursts.Add(burst);
                Console.Error.WriteLine(FormattableString.Invariant(
                    $"{dbName}: burst of {burst.Deliveries:N0} deliveries ({burst.Events:N0} events) in {burst.Seconds:F2} s; books balanced: {burst.Books.Balanced} ({burst.Books})"));
            }
            finally
            {
                await bench.Drop();
            }
        }

        return (cells, bursts);
    }

    public static string Markdown(IReadOnlyList<WebhookCell> cells, IReadOnlyList<WebhookBurst> bursts)
    {
        var markdown = new StringBuilder();
        markdown.AppendLine("| database | conns | healthz req/s | webhooks deliveries/s | p50 ms | p99 ms | ÷ healthz | server CPU µs/delivery | of which tier-up JIT | PostgreSQL CPU µs/delivery | bench CPU µs/delivery | applied | duplicates | errors |");
        markdown.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var pair in cells.Chunk(2))
        {
            var (healthz, webhooks) = (pair[0], pair[1]);
            markdown.AppendLine(CultureInfo.InvariantCulture,
                $"| {webhooks.Database} | {webhooks.Connections} | {healthz.Run.PerSecond:F0} | {webhooks.Run.PerSecond:F0} | {webhooks.Run.P50Ms:F2} | {webhooks.Run.P99Ms:F2} | "
                + $"{webhooks.Run.PerSecond / healthz.Run.PerSecond:F2}× | {webhooks.ServerCpuUs:F0} | {webhooks.ServerJitCpuUs:F0} | {webhooks.PostgresCpuUs:F0} | {webhooks.BenchCpuUs:F0} | {webhooks.Applied} | {webhooks.Duplicates} | {webhooks.Errors} |");
        }

        // Issue 10's target, 2,000 deliveries/s, against what the machine's cores allow at the CPU a delivery cost here.
        foreach (var webhooks in cells.Where(c => c.Load == "webhooks" && c.MachineBusy > 0))
        {
            markdown.AppendLine();
            markdown.AppendLine(FormattableString.Invariant($"- {webhooks.Database}, {webhooks.Connections} connections: ")
                + CpuCeiling.Describe(webhooks.MachineBusy, webhooks.Run.PerSecond, TargetPerSecond, "delivery"));
        }

        markdown.AppendLine();
        markdown.AppendLine("| database | burst | events | conns | seconds | deliveries/s | p50 ms | p99 ms | errors | events stored / applied | payments | credits granted | customers checked (wrong) | no loss, no double grant | server RSS after |");
        markdown.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|");
        foreach (var b in bursts)
        {
            markdown.AppendLine(CultureInfo.InvariantCulture,
                $"| {b.Database} | {b.Deliveries:N0} | {b.Events:N0} | {b.Connections} | {b.Seconds:F2} | {b.Deliveries / b.Seconds:F0} | {b.P50Ms:F2} | {b.P99Ms:F2} | {b.Errors} | "
                + $"{b.Books.EventsStored:N0} / {b.Books.EventsApplied:N0} of {b.Books.EventsSent:N0} | {b.Books.Payments:N0} | {b.Books.CreditsGranted:N0} | "
                + $"{b.Books.CustomersChecked:N0} ({b.Books.CustomersWrong}) | {(b.Books.Balanced ? "yes" : "**NO**")} | {b.RssAfterMiB:F0} MiB |");
        }

        return markdown.ToString();
    }

    private static async Task<WebhookCell> RunCellOnceAsync(ServerProcess server, string dbName, string load, int connections, TimeSpan warmup,
        TimeSpan duration, Sent sent)
    {
        await CpuSample.WaitForQuietAsync(server);
        using var client = server.CreateClient(connections);
        var counts = new Counts();
        var cpu = CpuSample.Take(server);
        var run = await Measure.ClosedLoopAsync(connections, warmup, duration, async (_, _) =>
        {
            if (load == "healthz")
            {
                using var response = await client.GetAsync(HealthzUri);
                return response.StatusCode == HttpStatusCode.OK || counts.Error($"healthz {(int)response.StatusCode}");
            }

            return await DeliverAsync(client, sent.NextOrRepeat(), counts);
        });
        var used = CpuSample.Take(server) - cpu;
        var total = Math.Max(1, run.SucceededInAll + counts.Errors);
        return new WebhookCell(dbName, load, connections,
            new Measurement(load, dbName, "spread", connections, run.Requests, run.Succeeded, run.Seconds, run.P50, run.P99),
            counts.Applied, counts.Duplicates, counts.Errors, counts.FirstError, used.Server.TotalMicroseconds / total)
        {
            ServerJitCpuUs = used.ServerJit.TotalMicroseconds / total,
            PostgresCpuUs = used.Postgres.TotalMicroseconds / total,
            BenchCpuUs = used.Bench.TotalMicroseconds / total,
            MachineBusy = used.Machine / used.Wall,
        };
    }

    private static async Task<WebhookBurst> RunBurstAsync(ServerProcess server, BenchDatabase bench, string dbName, Sent sent)
    {
        var deliveries = sent.Burst(BurstDeliveries, (int)(BurstDeliveries * DuplicateShare));
        await CpuSample.WaitForQuietAsync(server);
        using var client = server.CreateClient(BurstConnections);
        var counts = new Counts();
        var latencies = new long[deliveries.Count];
        var next = -1;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, BurstConnections).Select(async _ =>
        {
            await Task.Yield();
            int i;
            while ((i = Interlocked.Increment(ref next)) < deliveries.Count)
            {
                var started = Stopwatch.GetTimestamp();
                await DeliverAsync(client, deliveries[i], counts);
                latencies[i] = Stopwatch.GetTimestamp() - started;
            }
        }));
        var seconds = clock.Elapsed.TotalSeconds;
        var rss = server.RssMiB;
        Array.Sort(latencies);
        double Percentile(double p) => latencies[Math.Min(latencies.Length - 1, (int)(p * latencies.Length))] * 1000.0 / Stopwatch.Frequency;
        var books = await CheckBooksAsync(server, bench, sent);
        return new WebhookBurst(dbName, deliveries.Count, deliveries.Select(d => d.EventId).Distinct().Count(), BurstConnections, seconds,
            Percentile(0.50), Percentile(0.99), counts.Errors, counts.FirstError, books) { RssAfterMiB = rss };
    }

    /// <summary>One delivery; a 200 that says the event was applied (or is a duplicate) is a success, anything else an error.</summary>
    private static async Task<bool> DeliverAsync(HttpClient client, CreemDelivery delivery, Counts counts)
    {
        try
        {
            using var request = delivery.ToRequest();
            using var response = await client.SendAsync(request);
            var body = await response.Content.ReadAsByteArrayAsync();
            if (response.StatusCode != HttpStatusCode.OK)
            {
                return counts.Error($"{(int)response.StatusCode} {Encoding.UTF8.GetString(body)}");
            }

            if (body.AsSpan().IndexOf("\"duplicate\":true"u8) >= 0)
            {
                Interlocked.Increment(ref counts.Duplicates);
                return true;
            }

            if (body.AsSpan().IndexOf("\"status\":\"applied\""u8) >= 0)
            {
                Interlocked.Increment(ref counts.Applied);
                return true;
            }

            return counts.Error($"200 but not applied: {Encoding.UTF8.GetString(body)}");
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return counts.Error($"{ex.GetType().Name}: {ex.Message}");
        }
    }

    /// <summary>Counts in the database against every event sent over the whole run, and each customer's credits through the API.</summary>
    private static async Task<WebhookBooks> CheckBooksAsync(ServerProcess server, BenchDatabase bench, Sent sent)
    {
        await using var source = bench.IsPostgres
            ? (DbDataSource)NpgsqlDataSource.Create(bench.ConnectionString)
            : SqliteFactory.Instance.CreateDataSource(bench.ConnectionString);

        async Task<long> Scalar(string sql)
        {
            await using var command = source.CreateCommand(sql);
            return Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
        }

        var stored = await Scalar("SELECT count(*) FROM webhook_events WHERE provider = 'creem'");
        var applied = await Scalar("SELECT count(*) FROM webhook_events WHERE provider = 'creem' AND status = 'applied'");
        var payments = await Scalar("SELECT count(*) FROM payments WHERE provider = 'creem' AND status = 'completed'");
        var credits = await Scalar("SELECT coalesce(sum(amount), 0) FROM ledger_entries WHERE feature = 'credits' AND type = 'grant'");

        using var admin = server.CreateClient(16);
        var wrong = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, Customers), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (customer, ct) =>
        {
            using var response = await admin.GetAsync(new Uri($"/v1/customers/{CreemDeliveries.CustomerId(customer)}/balances", UriKind.Relative), ct);
            var available = 0L;
            if (response.StatusCode == HttpStatusCode.OK)
            {
                using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(ct));
                available = json.RootElement.GetProperty("balances").EnumerateArray()
                    .Where(b => b.GetProperty("feature").GetString() == "credits").Sum(b => b.GetProperty("available").GetInt64());
            }

            if (available != sent.EventsOf(customer) * CreemDeliveries.PackCredits)
            {
                Interlocked.Increment(ref wrong);
            }
        });

        return new WebhookBooks(sent.Events, stored, applied, payments, credits, Customers, wrong);
    }

    /// <summary>Every event sent in a run, per customer, and the recent deliveries a duplicate repeats.</summary>
    private sealed class Sent(CreemDeliveries deliveries)
    {
        private const int Recent = 4096;
        private readonly long[] _perCustomer = new long[Customers];
        private readonly CreemDelivery?[] _recent = new CreemDelivery?[Recent];
        private long _events;
        private long _written;

        public long Events => Interlocked.Read(ref _events);

        public long EventsOf(int customer) => Interlocked.Read(ref _perCustomer[customer]);

        /// <summary>A repeat of one of the last few thousand deliveries one time in ten, otherwise a new event.</summary>
        public CreemDelivery NextOrRepeat()
        {
            var written = Interlocked.Read(ref _written);
            if (written > 0 && Random.Shared.NextDouble() < DuplicateShare
                && Volatile.Read(ref _recent[Random.Shared.NextInt64(Math.Min(written, Recent))]) is { } repeat)
            {
                return repeat;
            }

            var delivery = New();
            Volatile.Write(ref _recent[(Interlocked.Increment(ref _written) - 1) % Recent], delivery);
            return delivery;
        }

        /// <summary><paramref name="count"/> deliveries of which <paramref name="duplicates"/> repeat one of the others, each
        /// placed a little after its original (within the next 64), so most are sent while the original is in flight.</summary>
        public List<CreemDelivery> Burst(int count, int duplicates)
        {
            var originals = Enumerable.Range(0, count - duplicates).Select(_ => New()).ToList();
            var placed = originals.Select((d, i) => (Key: (double)i, Delivery: d)).ToList();
            for (var n = 0; n < duplicates; n++)
            {
                var i = Random.Shared.Next(originals.Count);
                placed.Add((i + Random.Shared.Next(64) + 0.5, originals[i]));
            }

            return placed.OrderBy(p => p.Key).Select(p => p.Delivery).ToList();
        }

        private CreemDelivery New()
        {
            var customer = Random.Shared.Next(Customers);
            Interlocked.Increment(ref _perCustomer[customer]);
            Interlocked.Increment(ref _events);
            return deliveries.Next(customer);
        }
    }

    private sealed class Counts
    {
        public long Applied;
        public long Duplicates;
        private long _errors;
        private string? _first;

        public long Errors => Interlocked.Read(ref _errors);

        public string? FirstError => _first;

        /// <summary>Counts an error; always false, so a caller can return it.</summary>
        public bool Error(string what)
        {
            Interlocked.Increment(ref _errors);
            Interlocked.CompareExchange(ref _first, what.Length > 300 ? what[..300] : what, null);
            return false;
        }
    }
}
