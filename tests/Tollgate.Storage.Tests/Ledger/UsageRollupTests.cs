using Tollgate.Core.Ledger;

namespace Tollgate.Storage.Tests.Ledger;

/// <summary>
/// The hourly usage rollup is written in the entries' transaction, so a chart read from it says what the entries say:
/// per UTC day, whole hours from the rollup and the partial hours at a range's edges from the entries. Checked against the
/// entries themselves after consumes, a settled hold, a spilled metered consume, counts and a replay, on both databases.
/// </summary>
public abstract class UsageRollupTests : LedgerTestBase
{
    [Fact]
    public async Task DailyUsage_AgreesWithTheEntries_ForWholeAndPartialHours()
    {
        var customer = NewCustomer();
        Clock.Set(new DateTimeOffset(2026, 3, 1, 9, 10, 0, TimeSpan.Zero));
        await Grant(customer, "credits", 10_000);
        await Grant(customer, "api_calls", 10, LotSource.SubscriptionPeriod);
        for (var hour = 0; hour < 60; hour += 5)
        {
            Clock.Set(new DateTimeOffset(2026, 3, 1, 9, 10, 0, TimeSpan.Zero).AddHours(hour));
            await Consume(customer, "credits", 3 + hour);
            var hold = await Hold(customer, "credits", 40);
            await Ledger.SettleAsync(new SettleRequest(hold.HoldId) { Amount = 25 });
            await Ledger.CountAsync(new CountRequest(customer, "seats", hour % 2 == 0 ? 2 : -1, Key()));
        }

        // A metered consume past its allowance spills to credits: its entry's units are more than its own lots paid.
        await Consume(customer, "api_calls", 15, new Spill("credits", 2));
        // A replay writes nothing, so it adds nothing to the day either.
        var key = Key();
        await Ledger.ConsumeAsync(new ConsumeRequest(customer, "credits", 7, key));
        await Ledger.ConsumeAsync(new ConsumeRequest(customer, "credits", 7, key));

        var entries = await AllEntries(customer);
        var ranges = new (DateTimeOffset From, DateTimeOffset To)[]
        {
            (new(2026, 3, 1, 0, 0, 0, TimeSpan.Zero), new(2026, 3, 4, 0, 0, 0, TimeSpan.Zero)),
            // Partial hours at both edges holding entries (every five hours at ten past), then within one hour.
            (new(2026, 3, 1, 14, 5, 0, TimeSpan.Zero), new(2026, 3, 3, 11, 40, 0, TimeSpan.Zero)),
            (new(2026, 3, 2, 4, 20, 0, TimeSpan.Zero), new(2026, 3, 2, 20, 45, 0, TimeSpan.Zero)),
            (new(2026, 3, 2, 20, 0, 0, TimeSpan.Zero), new(2026, 3, 3, 6, 30, 0, TimeSpan.Zero)),
            (new(2026, 3, 2, 5, 0, 0, TimeSpan.Zero), new(2026, 3, 2, 5, 30, 0, TimeSpan.Zero)),
        };
        foreach (var feature in new[] { "credits", "api_calls", "seats" })
        {
            foreach (var (from, to) in ranges)
            {
                var expected = entries.Where(e => e.Feature == feature && e.At >= from && e.At < to)
                    .GroupBy(e => new DateTimeOffset(e.At.UtcDateTime.Date, TimeSpan.Zero))
                    .Select(g => (Day: g.Key, Used: g.Sum(e => e.UsedUnits)))
                    .Where(d => d.Used != 0).OrderBy(d => d.Day).ToList();
                var actual = (await Ledger.GetDailyUsageAsync(customer, feature, from, to))
                    .GroupBy(d => d.Day).Select(g => (Day: g.Key, Used: g.Sum(d => d.Used)))
                    .Where(d => d.Used != 0).OrderBy(d => d.Day).ToList();

                // Credits are used every five hours: every range holds some.
                Assert.True(feature != "credits" || expected.Count > 0);
                Assert.Equal(expected, actual);
            }
        }

        // The spilled consume counts all 15 units of the metered feature, not the 10 its allowance paid.
        Assert.Equal(15, (await Ledger.GetDailyUsageAsync(customer, "api_calls", ranges[0].From, ranges[0].To)).Sum(d => d.Used));
    }
}

public sealed class SqliteUsageRollupTests : UsageRollupTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresUsageRollupTests : UsageRollupTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
