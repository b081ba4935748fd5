using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Tollgate.Fault.Tests.Support;
using Tollgate.Storage;

namespace Tollgate.Fault.Tests;

/// <summary>DESIGN invariant 5 across processes: two servers on one PostgreSQL database race for one customer's last
/// credits; exactly the balance is spent, whichever server each request reaches.</summary>
public sealed class TwoServerTests
{
    [Fact]
    public async Task TwoServersOnOnePostgres_SpendExactlyTheBalance_NeverMore()
    {
        const int Balance = 500;
        const int Attempts = 1500;
        const int Lanes = 32;
        await using var database = await FaultDatabase.CreateAsync(DatabaseProvider.Postgres);
        await using var first = await ServerProcess.StartAsync(database);
        await using var second = await ServerProcess.StartAsync(database);
        using var a = first.CreateClient();
        using var b = second.CreateClient();
        var customer = "cus_race_" + Guid.NewGuid().ToString("N")[..8];
        await Api.GrantAsync(a, customer, Balance);

        var burst = new UsageBurst([a, b], customer, "credits", Attempts, Lanes, "race");
        await burst.RunAsync(TimeSpan.FromMinutes(3));
        var books = await database.BooksAsync(customer, "credits");
        var doubled = burst.Keys.Sum(k => Math.Max(0, books.EntriesFor(k) - 1));
        var availableA = await Api.AvailableAsync(a, customer);
        var availableB = await Api.AvailableAsync(b, customer);
        Figures.Report($"two servers, one PostgreSQL: {Attempts} attempts over {Lanes} lanes for {Balance} credits: acknowledged {burst.AcknowledgedCount}, "
            + $"refused 402 {burst.Refused}, charged {books.Charged}, doubled {doubled}, 5xx {burst.ServerErrors}; balance {availableA} / {availableB}");

        Assert.Equal((Balance, Attempts - Balance, Balance), (burst.AcknowledgedCount, burst.Refused, (int)books.Charged));
        Assert.Equal((0, 0, 0), (doubled, burst.Unsettled, burst.ServerErrors));
        Assert.Equal((0L, 0L), (availableA, availableB));
        Assert.True(books.Balanced);
    }

    [Fact]
    public async Task AThousandConcurrentCopiesOfOneSignedWebhook_AcrossTwoServers_GrantOnce()
    {
        const int Copies = 1000;
        const string secret = "whsec_fault_copies_0001";
        var creem = new Dictionary<string, string>
        {
            ["Tollgate__Providers__Creem__ApiKey"] = "creem_test_fault_copies",
            ["Tollgate__Providers__Creem__WebhookSecret"] = secret,
            ["Tollgate__Providers__Creem__BaseUrl"] = "http://127.0.0.1:9",
        };
        await using var database = await FaultDatabase.CreateAsync(DatabaseProvider.Postgres);
        await using var first = await ServerProcess.StartAsync(database, creem);
        await using var second = await ServerProcess.StartAsync(database, creem);
        using var a = first.CreateClient();
        using var b = second.CreateClient();
        var customer = "cus_copies_" + Guid.NewGuid().ToString("N")[..8];
        // The documented checkout.completed, as a one-time purchase of the demo catalog's starter pack (100 credits).
        var e = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "Resources", "creem", "checkout.completed.json"),
            TestContext.Current.CancellationToken))!.AsObject();
        var o = e["object"]!.AsObject();
        o.Remove("subscription");
        o["request_id"] = null;
        o["order"]!["type"] = "onetime";
        o["order"]!["product"] = "prod_697ay0pXFXrBYEVC7HS0MR";
        o["product"]!["id"] = "prod_697ay0pXFXrBYEVC7HS0MR";
        o["metadata"] = new JsonObject { ["tollgate_customer_id"] = customer, ["tollgate_product"] = "starter_pack" };
        var body = Encoding.UTF8.GetBytes(e.ToJsonString());
        var signature = Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), body));

        var statuses = await Task.WhenAll(Enumerable.Range(0, Copies).Select(i => Task.Run(async () =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/webhooks/creem") { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new("application/json");
            request.Headers.Add("creem-signature", signature);
            using var response = await (i % 2 == 0 ? a : b).SendAsync(request);
            return response.StatusCode;
        })));
        var books = await database.BooksAsync(customer, "credits");
        var available = await Api.AvailableAsync(a, customer);
        Figures.Report($"one signed webhook, {Copies} concurrent copies over two servers: 200 {statuses.Count(s => s == HttpStatusCode.OK)}, "
            + $"other {statuses.Count(s => s != HttpStatusCode.OK)}; credits granted {books.EntrySum} (the pack: 100)");

        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.OK, s));
        Assert.Equal((100L, 100L), (available, books.EntrySum));
    }
}
