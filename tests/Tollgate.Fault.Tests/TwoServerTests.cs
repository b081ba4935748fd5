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
}
