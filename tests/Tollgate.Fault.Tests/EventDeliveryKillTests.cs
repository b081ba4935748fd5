using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Tollgate.Fault.Tests.Support;
using Tollgate.Storage;
using Tollgate.Testing.Fakes;

namespace Tollgate.Fault.Tests;

/// <summary>
/// DESIGN invariant 7 under SIGKILL: the server is killed while deliveries are in flight to a slow receiver and
/// started again on the same database. Every event must still arrive (its claim comes back when the lease ends), in
/// order per customer. An attempt the receiver got but whose answer never reached Tollgate is sent again: Standard
/// Webhooks allows that (receivers deduplicate on webhook-id); the test counts those duplicates and bounds them by what
/// can be in flight (one per endpoint and customer).
/// </summary>
public abstract class EventDeliveryKillTests
{
    private const int Customers = 6;
    private const int EventsPerCustomer = 10;

    protected abstract DatabaseProvider Provider { get; }

    [Fact]
    public async Task KillDashNine_MidDelivery_LosesNoEvent_AndResendsOnlyUnacknowledgedAttempts()
    {
        await using var database = await FaultDatabase.CreateAsync(Provider);
        await using var receiver = await EventReceiver.StartAsync();
        receiver.Delay = TimeSpan.FromMilliseconds(400);
        await using var server = await ServerProcess.StartAsync(database,
            new Dictionary<string, string> { ["Tollgate__Webhooks__AllowPrivateAddresses"] = "true" });
        using var client = server.CreateClient();
        var created = await client.PostAsJsonAsync("/v1/webhook-endpoints", new { url = receiver.Url.ToString() });
        Assert.Equal(201, (int)created.StatusCode);
        receiver.Trust((string)(await created.Content.ReadFromJsonAsync<JsonObject>())!["secret"]!);

        var customers = Enumerable.Range(0, Customers).Select(i => $"cus_evkill_{i}_{Guid.NewGuid():N}"[..24]).ToList();
        for (var round = 0; round < EventsPerCustomer; round++)
        {
            await Task.WhenAll(customers.Select(c => GrantAsync(client, c, round)));
        }

        const int total = Customers * EventsPerCustomer;
        await receiver.WaitForAsync(r => r.Count >= 8, TimeSpan.FromSeconds(60));
        await server.KillAsync();
        var atKill = receiver.Received.Count;
        await server.StartAgainAsync();

        // The killed server's claims come back when their lease (60 s) ends.
        var received = await receiver.WaitForAsync(r => r.Select(e => e.WebhookId).Distinct().Count() >= total, TimeSpan.FromSeconds(180));
        await Task.Delay(TimeSpan.FromSeconds(3));
        received = receiver.Received;
        var distinct = received.Select(e => e.WebhookId).Distinct().Count();
        var duplicates = received.Count - distinct;
        Figures.Report($"events kill -9 ({database.Name}): {total} events to a receiver answering in 400 ms; killed after {atKill} requests; "
            + $"received {received.Count}, distinct {distinct}, duplicates of unacknowledged attempts {duplicates}");

        Assert.Equal(total, distinct);
        Assert.InRange(duplicates, 0, Customers);
        Assert.All(received, e => Assert.True(e.Verified, $"{e.WebhookId} did not verify"));
        foreach (var group in received.GroupBy(e => e.CustomerId))
        {
            // First arrivals in sequence order: a resend only repeats the last attempt, it never overtakes.
            var firsts = group.DistinctBy(e => e.WebhookId).Select(e => e.Sequence).ToList();
            Assert.Equal(Enumerable.Range(1, EventsPerCustomer).Select(i => (long)i), firsts);
        }
    }

    private static async Task GrantAsync(HttpClient client, string customer, int round)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/customers/{customer}/grants")
        {
            Content = JsonContent.Create(new { feature = "credits", amount = round + 1, reason = "event kill test" }),
        };
        request.Headers.Add("Idempotency-Key", $"grant-{customer}-{round}");
        using var response = await client.SendAsync(request);
        Assert.Equal(201, (int)response.StatusCode);
    }
}

public sealed class SqliteEventDeliveryKillTests : EventDeliveryKillTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresEventDeliveryKillTests : EventDeliveryKillTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
