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

    /// <summary>Migration 0023: a partial hour's entries are found between the first and last seq its rollup row keeps, not
    /// through an index on time. Servers whose clocks disagree write entries whose seq and time disagree (a later entry in
    /// an earlier hour); every entry of every partial range is still found, and no other, reversals included.</summary>
    [Fact]
    public async Task PartialHours_FindEveryEntryOfTheirRange_WhenSeqAndTimeDisagree()
    {
        var customer = NewCustomer();
        var day = new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);
        // In seq order; each amount a power of two, so that a sum names the entries it holds.
        (int Hour, int Minute)[] times = [(10, 50), (9, 55), (10, 5), (11, 20), (9, 40), (10, 30), (11, 5), (10, 55)];
        await ConsumeAtAsync(customer, day, times.Select((t, i) => (t.Hour, t.Minute, 1L << i)));
        // Two usages reversed, by the disagreeing clocks too: a reversal gives its usage's units back in its own hour (the
        // 10:50 one at 10:35, the 11:20 one at 09:45).
        var consumes = (await AllEntries(customer, "credits")).Where(e => e.Type == EntryType.Consume).OrderBy(e => e.Seq).ToList();
        foreach (var (usage, hour, minute) in new[] { (consumes[0], 10, 35), (consumes[3], 9, 45) })
        {
            Clock.Set(day.AddHours(hour).AddMinutes(minute));
            Assert.True((await Ledger.ReverseAsync(new ReverseRequest(customer, usage.EntryId, [usage]))).Succeeded);
        }

        var entries = await AllEntries(customer, "credits");
        var ranges = 0;
        for (var from = day.AddHours(9); from < day.AddHours(12); from = from.AddMinutes(10))
        {
            for (var to = from.AddMinutes(10); to <= day.AddHours(12); to = to.AddMinutes(10))
            {
                var expected = entries.Where(e => e.At >= from && e.At < to).Sum(e => e.UsedUnits);
                var actual = (await Ledger.GetDailyUsageAsync(customer, "credits", from, to)).Sum(d => d.Used);
                Assert.True(expected == actual, $"{from:HH:mm}–{to:HH:mm}: the entries say {expected}, the chart {actual}");
                ranges++;
            }
        }

        Assert.Equal(171, ranges);
        Assert.Equal((1L << times.Length) - 1 - 1 - 8, entries.Sum(e => e.UsedUnits));
        Assert.Equal((1L << times.Length) - 1 - 1 - 8, (await Ledger.GetDailyUsageAsync(customer, "credits", day, day.AddDays(1))).Sum(d => d.Used));
    }

    /// <summary>Migration 0023 on rows an earlier version wrote: entry keys without a seq and rollup rows without bounds (the
    /// column defaults, the widest range) are still read right, and the migration's backfill gives them their seq and
    /// exact bounds, recreating an hour's row that is missing.</summary>
    [Fact]
    public async Task Migration0023_GivesEarlierRowsTheirSeqAndBounds_AndTheyAreReadRightBeforeAndAfter()
    {
        var customer = NewCustomer();
        var day = new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);
        await ConsumeAtAsync(customer, day, [(9, 10, 3L), (9, 40, 5L), (10, 20, 7L), (9, 50, 11L), (11, 30, 13L)]);
        // The 09:10 usage reversed at 10:40: the 10:00 hour used 7 - 3.
        var first = (await AllEntries(customer, "credits")).Where(e => e.Type == EntryType.Consume).MinBy(e => e.Seq)!;
        Clock.Set(day.AddHours(10).AddMinutes(40));
        Assert.True((await Ledger.ReverseAsync(new ReverseRequest(customer, first.EntryId, [first]))).Succeeded);

        var entries = await AllEntries(customer);
        await ExecuteAsync($"UPDATE customer_keys SET seq = NULL WHERE customer_id = '{customer}'");
        await ExecuteAsync($"UPDATE ledger_usage_hourly SET first_seq = 0, last_seq = 9223372036854775807 WHERE customer_id = '{customer}'");
        Assert.Equal(0, await CountAsync($"SELECT count(*) FROM customer_keys WHERE customer_id = '{customer}' AND seq IS NOT NULL"));
        await AssertReadRight();

        using var stream = typeof(TollgateDatabase).Assembly.GetManifestResourceStream($"Tollgate.Migrations.{Provider}/0023_fewer_entry_indexes.sql")!;
        var script = string.Join('\n', new StreamReader(stream).ReadToEnd().Split('\n').Where(line => !line.TrimStart().StartsWith("--", StringComparison.Ordinal)));
        var backfill = script.Split(';').Select(x => x.Trim())
            .Where(x => x.StartsWith("UPDATE customer_keys", StringComparison.Ordinal) || x.StartsWith("INSERT INTO ledger_usage_hourly", StringComparison.Ordinal))
            .ToList();
        Assert.Equal(2, backfill.Count);
        // The 10:00 hour's row lost as well: the backfill writes it again, its units (the reversal's among them) with it.
        Assert.Equal(1, await CountAsync($"SELECT count(*) FROM ledger_usage_hourly WHERE customer_id = '{customer}' AND used = 4"));
        await ExecuteAsync($"DELETE FROM ledger_usage_hourly WHERE customer_id = '{customer}' AND used = 4");
        foreach (var statement in backfill)
        {
            await ExecuteAsync(statement);
        }

        Assert.Equal(0, await CountAsync($"SELECT count(*) FROM customer_keys WHERE customer_id = '{customer}' AND kind = 'entry' AND seq IS NULL"));
        // Per hour, in order: its units and the first and last seq of the entries that used them.
        var expected = entries.Where(e => e.UsedUnits != 0)
            .GroupBy(e => e.At.UtcDateTime.Date.AddHours(e.At.UtcDateTime.Hour)).OrderBy(g => g.Key)
            .Select(g => (g.Sum(e => e.UsedUnits), g.Min(e => e.Seq), g.Max(e => e.Seq))).ToList();
        Assert.Equal(3, expected.Count);
        Assert.Equal(expected, await HourlyRowsAsync(customer));
        await AssertReadRight();

        async Task AssertReadRight()
        {
            foreach (var entry in entries)
            {
                var found = await Ledger.FindEntryAsync(entry.EntryId);
                Assert.Equal((entry.CustomerId, entry.Seq, entry.Type, entry.Amount, entry.At), (found?.CustomerId, found?.Seq, found?.Type, found?.Amount, found?.At));
            }

            for (var from = day.AddHours(9); from < day.AddHours(12); from = from.AddMinutes(10))
            {
                var to = from.AddMinutes(50);
                Assert.Equal(entries.Where(e => e.At >= from && e.At < to).Sum(e => e.UsedUnits),
                    (await Ledger.GetDailyUsageAsync(customer, "credits", from, to)).Sum(d => d.Used));
            }
        }
    }

    /// <summary>Grants credits at 08:00 of <paramref name="day"/>, then consumes each amount at its time of that day, in the
    /// order given (the clock set back and forth, as servers whose clocks disagree would write them).</summary>
    private async Task ConsumeAtAsync(string customer, DateTimeOffset day, IEnumerable<(int Hour, int Minute, long Amount)> consumes)
    {
        Clock.Set(day.AddHours(8));
        await Grant(customer, "credits", 10_000);
        foreach (var (hour, minute, amount) in consumes)
        {
            Clock.Set(day.AddHours(hour).AddMinutes(minute));
            Assert.True((await Consume(customer, "credits", amount)).Succeeded);
        }
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = await Db.OpenConnectionAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    private async Task<List<(long Used, long FirstSeq, long LastSeq)>> HourlyRowsAsync(string customer)
    {
        await using var connection = await Db.OpenConnectionAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT used, first_seq, last_seq FROM ledger_usage_hourly WHERE customer_id = '{customer}' ORDER BY hour";
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<(long, long, long)>();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2)));
        }

        return rows;
    }

    private async Task<long> CountAsync(string sql)
    {
        await using var connection = await Db.OpenConnectionAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
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
