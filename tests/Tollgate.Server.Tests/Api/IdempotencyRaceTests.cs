using System.Text.Json.Nodes;
using Tollgate.Server.Tests.Support;
using Tollgate.Storage;

namespace Tollgate.Server.Tests.Api;

/// <summary>
/// Issue 9, item 2 ("a charge that is never acknowledged"): two concurrent calls with one Idempotency-Key and
/// different bodies both answered 422 while one of them charged, and every retry of either body answered 422 forever.
/// The key's stored answer must be the answer of the call whose effect committed; the other call gets 422.
/// </summary>
public abstract class IdempotencyRaceTests : AppTestBase
{
    private const int Rounds = 100;

    [Fact]
    public async Task Bug_Issue9_2_TwoDifferentBodiesRacingOnOneKey_OneChargesAndOwnsTheKey_TheOtherIs422()
    {
        var c = TollgateApp.NewCustomer();
        var other = TollgateApp.NewCustomer();
        await App.GrantAsync(c, "credits", 10_000);
        await App.GrantAsync(other, "credits", 10_000);
        var charged = new Dictionary<string, long> { [c] = 0, [other] = 0 };

        for (var round = 0; round < Rounds; round++)
        {
            var key = App.Key();
            // Even rounds: the same customer, another amount. Odd rounds: another customer (another ledger lane on
            // PostgreSQL, so the two effects run in different transactions).
            var first = (Customer: c, Amount: 1L);
            var second = round % 2 == 0 ? (Customer: c, Amount: 2L) : (Customer: other, Amount: 3L);

            var answers = await RaceAsync(() => Use(first, key), () => Use(second, key));

            Assert.True(answers.Select(a => a.Status).Order().SequenceEqual([200, 422]),
                $"round {round}: answers {string.Join(", ", answers.Select(a => $"{a.Status} {a.Body}"))}");
            var (winner, loser, answer) = answers[0].Status == 200 ? (first, second, answers[0]) : (second, first, answers[1]);
            charged[winner.Customer] += winner.Amount;
            Assert.Equal(10_000 - charged[winner.Customer], (long)JsonNode.Parse(answer.Body)!["remaining"]!);

            // Every retry: the winner's body replays its own answer, the other body is refused, nothing charges again.
            using var replay = await Use(winner, key);
            Assert.Equal((200, answer.Body), ((int)replay.StatusCode, await replay.Content.ReadAsStringAsync()));
            await Json.ProblemAsync(await Use(loser, key), 422, "idempotency_key_reused");
        }

        // The books: each customer's balance fell by exactly what the winning calls charged, one consume entry per round.
        var entries = 0;
        foreach (var (customer, total) in charged)
        {
            Assert.Equal(10_000 - total, (long)(await App.BalanceAsync(customer, "credits"))["available"]!);
            var ledger = await Json.ReadAsync(await Client.GetAsync($"/v1/customers/{customer}/ledger?limit=200"), 200);
            var consumes = ledger["entries"]!.AsArray().Where(e => (string)e!["type"]! == "consume").ToList();
            Assert.Equal(-total, consumes.Sum(e => (long)e!["amount"]!));
            entries += consumes.Count;
        }

        Assert.Equal(Rounds, entries);
    }

    private Task<HttpResponseMessage> Use((string Customer, long Amount) call, string key) =>
        App.PostAsync("/v1/usage", new { customer_id = call.Customer, feature = "credits", amount = call.Amount }, key);

    [Fact]
    public async Task Bug_Issue9_2_TwoDifferentHoldsRacingOnOneKey_OneHoldsAndOwnsTheKey_TheOtherIs422()
    {
        var c = TollgateApp.NewCustomer();
        await App.GrantAsync(c, "credits", 10_000);
        long held = 0;

        for (var round = 0; round < Rounds / 4; round++)
        {
            var key = App.Key();
            object first = new { customer_id = c, feature = "credits", amount = 1 };
            object second = new { customer_id = c, feature = "credits", amount = 2 };

            var answers = await RaceAsync(() => App.PostAsync("/v1/holds", first, key), () => App.PostAsync("/v1/holds", second, key));

            Assert.True(answers.Select(a => a.Status).Order().SequenceEqual([201, 422]), $"round {round}: {answers[0].Status} {answers[1].Status}");
            var winner = answers.Single(a => a.Status == 201);
            held += (long)JsonNode.Parse(winner.Body)!["amount"]!;
            var replay = await App.PostAsync("/v1/holds", answers[0].Status == 201 ? first : second, key);
            Assert.Equal((201, winner.Body), ((int)replay.StatusCode, await replay.Content.ReadAsStringAsync()));
        }

        var balance = await App.BalanceAsync(c, "credits");
        Assert.Equal((10_000 - held, held), ((long)balance["available"]!, (long)balance["held"]!));
    }

    /// <summary>Sends both calls at once (released together, on the thread pool) and returns their answers in order.</summary>
    private static async Task<(int Status, string Body)[]> RaceAsync(params Func<Task<HttpResponseMessage>>[] calls)
    {
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var running = calls.Select(call => Task.Run(async () =>
        {
            await start.Task;
            using var response = await call();
            return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
        })).ToList();
        start.SetResult();
        return await Task.WhenAll(running);
    }
}

public sealed class SqliteIdempotencyRaceTests : IdempotencyRaceTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresIdempotencyRaceTests : IdempotencyRaceTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
