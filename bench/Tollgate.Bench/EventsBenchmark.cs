using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Tollgate.Testing.Fakes;

namespace Tollgate.Bench;

/// <summary>One cell: a call in a closed loop, without or with an event endpoint registered.</summary>
internal sealed record EventsCell(string Database, string Call, string Endpoint, int Connections, Measurement Run, long Errors);

/// <summary>Delivery of a burst: events produced, how long producing them took, and when the receiver had them all.</summary>
internal sealed record EventsDrain(string Database, int Events, double ProduceSeconds, double DeliveredSeconds, int Received, int Distinct, bool AllVerified);

/// <summary>
/// What outbound events cost, over HTTP on loopback. The server runs a catalog whose credits feature declares
/// <c>alerts: [100, 20]</c> (so every write also runs the crossing check) and balances far above them. Cells, in one
/// run: <c>POST /v1/usage</c> (no event: the balance never crosses a threshold) and <c>POST /v1/customers/{id}/grants</c>
/// (one <c>credits.granted</c> event each), first with no endpoint registered, then with one (each event then also gets
/// a delivery row and is sent while the cell runs; each cell starts once the previous cell's events have arrived), then
/// without again (the endpoint deleted). Then a burst of grants, and the time until a local receiver
/// (verifying every signature with the StandardWebhooks package) has every event.
/// </summary>
internal sealed class EventsBenchmark(BenchOptions options)
{
    private const int Customers = 200;
    private const int BurstEvents = 5000;

    public async Task<(List<EventsCell> Cells, List<EventsDrain> Drains)> RunAsync()
    {
        var cells = new List<EventsCell>();
        var drains = new List<EventsDrain>();
        var catalog = Path.Combine(Path.GetTempPath(), $"tollgate-bench-events-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(catalog, """
            features:
              credits: { type: credits, name: Credits, alerts: [100, 20] }
            plans:
              free:
                name: Free
                default: true
                features: {}
            """);
        try
        {
            foreach (var postgres in options.Databases)
            {
                var dbName = postgres is null ? "SQLite" : "PostgreSQL";
                var bench = await BenchDatabase.CreateAsync(postgres);
                try
                {
                    await using var server = await ServerProcess.StartAsync(options.Server, bench, new Dictionary<string, string>
                    {
                        ["Tollgate__Catalog"] = catalog,
                        ["Tollgate__Webhooks__AllowPrivateAddresses"] = "true",
                    });
                    await using var receiver = await EventReceiver.StartAsync();
                    using var admin = server.CreateClient(8);
                    var customers = Enumerable.Range(0, Customers).Select(i => $"cus_ev_{i:D4}").ToList();
                    await Task.WhenAll(customers.Select(c => GrantAsync(admin, c, 1_000_000_000, "seed-" + c)));

                    // A/B/A: without an endpoint, with one, and without again (the endpoint deleted), so that what the
                    // cells' order and the database's growth do to a figure shows as the gap between the two "none"
                    // passes instead of being taken for the endpoint's cost.
                    string? endpointId = null;
                    foreach (var endpoint in new[] { "none", "one", "none-after" })
                    {
                        if (endpoint == "one")
                        {
                            var created = await admin.PostAsJsonAsync("/v1/webhook-endpoints", new { url = receiver.Url.ToString() });
                            created.EnsureSuccessStatusCode();
                            var body = (await created.Content.ReadFromJsonAsync<JsonObject>())!;
                            receiver.Trust((string)body["secret"]!);
                            endpointId = (string)body["id"]!;
                        }
                        else if (endpoint == "none-after")
                        {
                            await WaitQuietAsync(receiver);
                            (await admin.DeleteAsync($"/v1/webhook-endpoints/{endpointId}")).EnsureSuccessStatusCode();
                        }

                        foreach (var connections in options.Connections)
                        {
                            foreach (var call in new[] { "usage", "grant" })
                            {
                                if (endpoint == "one")
                                {
                                    // The previous cell's events are still being delivered: let them arrive first, so
                                    // that each cell pays for its own events only.
                                    await WaitQuietAsync(receiver);
                                }

                                var cell = await RunCellAsync(server, dbName, call, endpoint, connections, customers);
                                cells.Add(cell);
                                Console.Error.WriteLine(FormattableString.Invariant(
                                    $"{dbName,-10} {call,-5} endpoint {endpoint,-10} {connections,3} conns: {cell.Run.PerSecond:F0}/s p50 {cell.Run.P50Ms:F2} ms p99 {cell.Run.P99Ms:F2} ms, {cell.Errors} errors"));
                            }
                        }
                    }

                    // The burst needs the endpoint back.
                    var again = await admin.PostAsJsonAsync("/v1/webhook-endpoints", new { url = receiver.Url.ToString() });
                    again.EnsureSuccessStatusCode();
                    receiver.Trust((string)(await again.Content.ReadFromJsonAsync<JsonObject>())!["secret"]!);

                    // Let the cells' own events drain, then time a burst.
                    var before = await WaitQuietAsync(receiver);
                    using var burstClient = server.CreateClient(64);
                    var clock = Stopwatch.StartNew();
                    var next = -1;
                    await Task.WhenAll(Enumerable.Range(0, 64).Select(async _ =>
                    {
                        int i;
                        while ((i = Interlocked.Increment(ref next)) < BurstEvents)
                        {
                            await GrantAsync(burstClient, customers[i % Customers], 1, $"burst-{i}");
                        }
                    }));
                    var produced = clock.Elapsed.TotalSeconds;
                    await receiver.WaitForAsync(r => r.Count >= before + BurstEvents, TimeSpan.FromMinutes(10));
                    var delivered = clock.Elapsed.TotalSeconds;
                    var burst = receiver.Received.Skip(before).ToList();
                    drains.Add(new EventsDrain(dbName, BurstEvents, produced, delivered, burst.Count, burst.Select(e => e.WebhookId).Distinct().Count(),
                        burst.All(e => e.Verified)));
                    Console.Error.WriteLine(FormattableString.Invariant(
                        $"{dbName}: burst of {BurstEvents} events produced in {produced:F2} s, all received after {delivered:F2} s ({BurstEvents / delivered:F0} events/s)"));
                }
                finally
                {
                    await bench.Drop();
                }
            }
        }
        finally
        {
            File.Delete(catalog);
        }

        return (cells, drains);
    }

    private static async Task<int> WaitQuietAsync(EventReceiver receiver)
    {
        var last = -1;
        while (receiver.Received.Count != last)
        {
            last = receiver.Received.Count;
            await Task.Delay(2000);
        }

        return last;
    }

    private async Task<EventsCell> RunCellAsync(ServerProcess server, string dbName, string call, string endpoint, int connections, List<string> customers)
    {
        using var client = server.CreateClient(connections);
        long errors = 0;
        var tag = Guid.NewGuid().ToString("N")[..8];
        var run = await Measure.ClosedLoopAsync(connections, options.Warmup, options.Duration, async (caller, n) =>
        {
            var customer = customers[(int)(n % customers.Count)];
            using var request = call == "usage"
                ? new HttpRequestMessage(HttpMethod.Post, "/v1/usage")
                {
                    Content = new StringContent($$"""{"customer_id":"{{customer}}","feature":"credits","amount":1}""", Encoding.UTF8, "application/json"),
                }
                : new HttpRequestMessage(HttpMethod.Post, $"/v1/customers/{customer}/grants")
                {
                    Content = new StringContent("""{"feature":"credits","amount":1,"reason":"bench"}""", Encoding.UTF8, "application/json"),
                };
            request.Headers.Add("Idempotency-Key", $"{call}-{tag}-{n}");
            try
            {
                using var response = await client.SendAsync(request);
                if ((int)response.StatusCode is 200 or 201)
                {
                    return true;
                }
            }
            catch (HttpRequestException)
            {
            }

            Interlocked.Increment(ref errors);
            return false;
        });
        return new EventsCell(dbName, call, endpoint, connections,
            new Measurement("Tollgate", dbName, call, connections, run.Requests, run.Succeeded, run.Seconds, run.P50, run.P99), errors);
    }

    private static async Task GrantAsync(HttpClient client, string customer, long amount, string key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/customers/{customer}/grants")
        {
            Content = new StringContent($$"""{"feature":"credits","amount":{{amount}},"reason":"bench"}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Idempotency-Key", key);
        using var response = await client.SendAsync(request);
        response.EnsureSuccessStatusCode();
    }

    public static string Markdown(List<EventsCell> cells, List<EventsDrain> drains)
    {
        var md = new StringBuilder();
        md.AppendLine("| database | call | connections | no endpoint req/s | p50 ms | p99 ms | one endpoint req/s | p50 ms | p99 ms | no endpoint again req/s | p50 ms | p99 ms | with ÷ mean without |");
        md.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var without in cells.Where(c => c.Endpoint == "none"))
        {
            EventsCell Pass(string endpoint) =>
                cells.Single(c => c.Endpoint == endpoint && c.Database == without.Database && c.Call == without.Call && c.Connections == without.Connections);
            var with = Pass("one");
            var after = Pass("none-after");
            var mean = (without.Run.PerSecond + after.Run.PerSecond) / 2;
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {without.Database} | {without.Call} | {without.Connections} | {without.Run.PerSecond:F0} | {without.Run.P50Ms:F2} | {without.Run.P99Ms:F2} | {with.Run.PerSecond:F0} | {with.Run.P50Ms:F2} | {with.Run.P99Ms:F2} | {after.Run.PerSecond:F0} | {after.Run.P50Ms:F2} | {after.Run.P99Ms:F2} | {with.Run.PerSecond / mean:F2}× |");
        }

        md.AppendLine();
        md.AppendLine("| database | events in the burst | produced in s | all received after s | events delivered/s | received | distinct | all signatures verified |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---|");
        foreach (var d in drains)
        {
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {d.Database} | {d.Events} | {d.ProduceSeconds:F2} | {d.DeliveredSeconds:F2} | {d.Events / d.DeliveredSeconds:F0} | {d.Received} | {d.Distinct} | {(d.AllVerified ? "yes" : "no")} |");
        }

        var errors = cells.Sum(c => c.Errors);
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Errors in the cells: {errors}.");
        return md.ToString();
    }
}
