using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using Tollgate.Core.Payments;
using Tollgate.Storage.Stores;
using Tollgate.Storage.Tests.Ledger;

namespace Tollgate.Storage.Tests.Payments;

/// <summary>
/// The revenue rollup (issue 18, migration 0018): the dashboard's revenue read from computed closed days plus the live
/// rest is, after every step, exactly the old live sum over payments (kept here as the oracle) — through refunds,
/// disputes and back-dated payments of computed days, before and after passes, days closing and leaving the window;
/// and under payment writes racing with two servers' passes, no change is lost. On both databases.
/// </summary>
public abstract class RevenueRollupTests : LedgerTestBase
{
    private static readonly string[] Currencies = ["USD", "EUR", "JPY"];
    private int _ids;

    private IPaymentStore Payments => Db.Database.Payments;

    protected DateOnly Today => DateOnly.FromDateTime(Clock.GetUtcNow().UtcDateTime);

    protected static DateTimeOffset Midnight(DateOnly day) => new(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);

    protected Task<RevenueRollupReport> PassAsync(TollgateDatabase? server = null) =>
        (server ?? Db.Database).RevenueRollup.RollUpAsync(Today.AddDays(-29), Today, Clock.GetUtcNow(), CancellationToken.None);

    [Fact]
    public async Task RevenueByDay_EqualsTheLiveSum_AfterEveryStep_ThroughRefundsDisputesBackdatedPaymentsAndPasses()
    {
        var random = new Random(18);
        var customers = Enumerable.Range(0, 5).Select(_ => NewCustomer()).ToList();
        var payments = new List<Payment>();
        // 40 days of payments, in three currencies and none, some not counted (pending, failed, no amount).
        for (var i = 0; i < 160; i++)
        {
            var created = Clock.GetUtcNow() - TimeSpan.FromMinutes(random.Next(0, 40 * 24 * 60));
            payments.Add(await InsertAsync(customers[random.Next(customers.Count)], created, random));
        }

        // The window's first day: it leaves the window below, after it was computed.
        var leaving = await InsertAsync(customers[2], Midnight(Today.AddDays(-29)) + TimeSpan.FromHours(1), random, PaymentStatus.Completed);
        var tampered = Today.AddDays(-3);
        payments.Add(await InsertAsync(customers[0], Midnight(tampered) + TimeSpan.FromHours(2), random, PaymentStatus.Completed));

        await AssertExactAsync("before any pass");
        var first = await PassAsync();
        Assert.Equal(29, first.DaysComputed); // every closed day of the window
        Assert.Equal(0, await CountAsync($"SELECT count(*) FROM payment_changes WHERE day < {Literal(Midnight(Today))}"));
        await AssertExactAsync("after the first pass");
        Assert.Equal(0, (await PassAsync()).DaysComputed); // nothing changed: nothing to compute

        // The computed rows are what the dashboard reads for those days (a computed day is not summed live again): a
        // tampered row shows, until a payment write of that day marks it live again.
        Assert.True(await ExecuteAsync($"UPDATE revenue_days SET amount = amount + 1 WHERE day = {Literal(Midnight(tampered))}") >= 1);
        Assert.False((await OracleAsync(Midnight(Today.AddDays(-29)), Clock.GetUtcNow())).SequenceEqual(await DashboardAsync()));
        var backdated = await InsertAsync(customers[0], Midnight(tampered) + TimeSpan.FromHours(5), random, PaymentStatus.Completed);
        await AssertExactAsync("a back-dated payment marks its computed day");

        // Refunds and disputes of closed, computed days: exact before the next pass (their days are marked) and after it.
        var closed = payments.Where(p => p.CreatedAt < Midnight(Today) && p.Amount is not null && p.Status == PaymentStatus.Completed).Take(12).ToList();
        for (var i = 0; i < closed.Count; i++)
        {
            var p = closed[i];
            if (i % 3 == 2)
            {
                Assert.True(await Payments.RecordReversalAsync(p, $"dp_{i}", null, null, 0, PaymentStatus.Disputed, Clock.GetUtcNow(), CancellationToken.None));
            }
            else
            {
                Assert.True(await Payments.RecordReversalAsync(p, $"re_{i}", 1 + i, null, 0, PaymentStatus.Refunded, Clock.GetUtcNow(), CancellationToken.None));
            }

            await AssertExactAsync($"reversal {i}");
            if (i % 4 == 3)
            {
                await PassAsync();
                await AssertExactAsync($"pass after reversal {i}");
            }
        }

        // A reversal recorded already changes nothing and leaves no marker; neither does a flag.
        await PassAsync();
        var markers = await CountAsync("SELECT count(*) FROM payment_changes");
        Assert.False(await Payments.RecordReversalAsync(closed[0], "re_0", 1, null, 0, PaymentStatus.Refunded, Clock.GetUtcNow(), CancellationToken.None));
        await Payments.AddFlagAsync(closed[1], "looked at", "looked", Clock.GetUtcNow(), CancellationToken.None);
        Assert.Equal(markers, await CountAsync("SELECT count(*) FROM payment_changes"));
        Assert.Equal(0, await CountAsync($"SELECT count(*) FROM payment_changes WHERE day < {Literal(Midnight(Today))}"));

        // A payment updated (a pending one completed, a completed one refunded in full) marks its day.
        var pending = payments.First(p => p.Status == PaymentStatus.Pending && p.Amount is not null && p.CreatedAt < Midnight(Today));
        await Payments.UpdatePaymentAsync(pending with { Status = PaymentStatus.Completed }, CancellationToken.None);
        await AssertExactAsync("a pending payment of a computed day completed");
        await Payments.UpdatePaymentAsync(backdated with { Status = PaymentStatus.Refunded, RefundedAmount = backdated.Amount!.Value }, CancellationToken.None);
        await AssertExactAsync("a payment of a computed day refunded in full");
        await PassAsync();
        await AssertExactAsync("pass after the updates");

        // In a flow's transaction (a webhook's; deferred on PostgreSQL): the marker commits with the write.
        await using (var flow = Db.Database.Transactions.Begin())
        {
            await InsertAsync(customers[1], Midnight(Today.AddDays(-5)) + TimeSpan.FromHours(1), random, PaymentStatus.Completed);
            Assert.True(await Payments.RecordReversalAsync(closed[3], "re_flow", 2, null, 0, PaymentStatus.Refunded, Clock.GetUtcNow(), CancellationToken.None));
            await flow.CommitAsync(CancellationToken.None);
        }

        await AssertExactAsync("writes of a flow");
        await using (var rolledBack = Db.Database.Transactions.Begin())
        {
            await InsertAsync(customers[1], Midnight(Today.AddDays(-6)) + TimeSpan.FromHours(1), random, PaymentStatus.Completed);
        }

        await PassAsync();
        await AssertExactAsync("pass after the flows");

        // Days pass: yesterday closes and is computed; days leave the window and their computed rows are dropped, so a
        // read of a longer range sums them live; a refund of a payment older than the window is exact too.
        Clock.Advance(TimeSpan.FromDays(2));
        await AssertExactAsync("two days later, before a pass");
        var later = await PassAsync();
        Assert.Equal((2, 2), (later.DaysComputed, later.DaysDropped));
        await AssertExactAsync("two days later");
        var old = payments.First(p => p.CreatedAt < Midnight(Today.AddDays(-32)) && p.Amount is not null && p.Status == PaymentStatus.Completed);
        Assert.True(await Payments.RecordReversalAsync(old, "re_old", 3, null, 0, PaymentStatus.Refunded, Clock.GetUtcNow(), CancellationToken.None));
        Assert.True(await Payments.RecordReversalAsync(leaving, "re_leaving", 4, null, 0, PaymentStatus.Refunded, Clock.GetUtcNow(), CancellationToken.None));
        await PassAsync();
        Assert.Equal(0, await CountAsync("SELECT count(*) FROM payment_changes"));
        await AssertExactAsync("a refund older than the window");
    }

    [Fact]
    public async Task PaymentWrites_RacingTwoServersPasses_LoseNothing()
    {
        var random = new Random(7);
        var customers = Enumerable.Range(0, 6).Select(_ => NewCustomer()).ToList();
        // Few closed days, so that the passes and the writes meet on them.
        var days = Enumerable.Range(1, 3).Select(d => Midnight(Today.AddDays(-d))).ToList();
        var payments = new List<Payment>();
        foreach (var day in days)
        {
            for (var i = 0; i < 6; i++)
            {
                payments.Add(await InsertAsync(customers[i], day + TimeSpan.FromHours(i + 1), random, PaymentStatus.Completed));
            }
        }

        // Thousands of payments a day more (written as the growth benchmark does, without markers): on PostgreSQL a pass's
        // sum of a day takes long enough for writes to commit while it runs (there, a pass that reads the markers after the
        // sum, or deletes all of the day's, is caught 4 runs of 4). SQLite runs one writer at a time: fewer suffice.
        var postgres = Provider == DatabaseProvider.Postgres;
        await SeedAsync(days, postgres ? 8000 : 1000);
        await PassAsync();
        await using var second = Db.OpenAnother(Clock);
        using var stop = new CancellationTokenSource();
        // Each pass loop's passes so far: the writers go on until every loop has run twice among their writes (on a loaded
        // machine SQLite's one writer at a time could otherwise let the writes finish before the passes got a turn).
        var passCounts = new int[4];
        var passes = new[] { Db.Database, second }.SelectMany((server, s) => Enumerable.Range(0, 2).Select(k => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await PassAsync(server);
                Interlocked.Increment(ref passCounts[(s * 2) + k]);
            }

            return Volatile.Read(ref passCounts[(s * 2) + k]);
        }))).ToList();

        // Meanwhile the invariant, read in one statement (one snapshot): no computed day without a marker differs from its
        // live sum. (A loss would heal when a later write of the day marks it again: only a check during the race sees it.)
        var checker = Task.Run(async () =>
        {
            var checks = 0;
            while (!stop.IsCancellationRequested)
            {
                Assert.Equal(0, await CountAsync(WrongComputedDays()));
                checks++;
            }

            return checks;
        });
        var reversal = 0;
        var writers = Enumerable.Range(0, 6).Select(w => Task.Run(async () =>
        {
            var mine = new Random(w);
            var writes = postgres ? 120 : 40;
            for (var i = 0; i < writes || (passCounts.Min() < 2 && i < writes * 50); i++)
            {
                var server = i % 2 == 0 ? Db.Database : second;
                var target = payments[mine.Next(payments.Count)];
                var day = days[mine.Next(days.Count)];
                // Half the writes in a flow's transaction (on PostgreSQL: the marker deferred to the commit's batch).
                if (i % 4 < 2)
                {
                    await using var flow = server.Transactions.Begin();
                    await WriteAsync(server, target, day, customers[w], mine, Interlocked.Increment(ref reversal));
                    await flow.CommitAsync(CancellationToken.None);
                }
                else
                {
                    await WriteAsync(server, target, day, customers[w], mine, Interlocked.Increment(ref reversal));
                }
            }
        })).ToList();
        await Task.WhenAll(writers);
        await stop.CancelAsync();
        var rounds = await Task.WhenAll(passes);
        Assert.All(rounds, r => Assert.True(r > 1, "each pass loop ran more than once"));
        Assert.True(await checker > 1, "the invariant was checked during the race");

        // Before a final pass: every computed day without a marker holds exactly the live sum (a change whose marker a
        // pass deleted was in its sum), and the dashboard is exact.
        await AssertComputedUnmarkedDaysExactAsync();
        await AssertExactAsync("after the race");
        await PassAsync();
        Assert.Equal(0, await CountAsync($"SELECT count(*) FROM payment_changes WHERE day < {Literal(Midnight(Today))}"));
        await AssertComputedUnmarkedDaysExactAsync();
        await AssertExactAsync("after a final pass");
    }

    private async Task SeedAsync(IReadOnlyList<DateTimeOffset> days, int perDay)
    {
        var n = 0;
        foreach (var day in days)
        {
            for (var batch = 0; batch < perDay; batch += 500)
            {
                var rows = Enumerable.Range(0, Math.Min(500, perDay - batch)).Select(i =>
                {
                    var id = $"seed_{++n}";
                    var at = Literal(day + TimeSpan.FromSeconds(n % 86_400));
                    return $"('cus_seed{n % 50}', '{id}', 'stripe', 'pack', 'pack', '{(n % 7 == 0 ? "refunded" : "completed")}', {100 + n % 900}, "
                        + $"'{Currencies[n % 3]}', '{id}', {n % 7 * 10}, '{id}', 10, 0, '|', '{{}}', {at}, {at})";
                });
                await ExecuteAsync(
                    "INSERT INTO payments (customer_id, payment_id, provider, kind, product, status, amount, currency, provider_payment_id, refunded_amount, "
                    + "ledger_ref, credits, credits_clawed, reversals, payload, created_at, updated_at) VALUES " + string.Join(", ", rows));
            }
        }
    }

    private async Task WriteAsync(TollgateDatabase server, Payment target, DateTimeOffset day, string customer, Random random, int n)
    {
        if (n % 2 == 0)
        {
            await InsertAsync(customer, day + TimeSpan.FromMinutes(random.Next(0, 24 * 60)), random, PaymentStatus.Completed, server);
        }
        else
        {
            Assert.True(await server.Payments.RecordReversalAsync(target, $"re_race_{n}", 1, null, 0, PaymentStatus.Refunded, Clock.GetUtcNow(),
                CancellationToken.None));
        }
    }

    protected async Task<Payment> InsertAsync(string customer, DateTimeOffset created, Random random, PaymentStatus? status = null, TollgateDatabase? server = null)
    {
        var id = Interlocked.Increment(ref _ids);
        var pick = random.Next(10);
        var chosen = status ?? (pick < 6 ? PaymentStatus.Completed : pick < 7 ? PaymentStatus.Refunded : pick < 8 ? PaymentStatus.Disputed
            : pick < 9 ? PaymentStatus.Pending : PaymentStatus.Failed);
        long? amount = status is null && random.Next(20) == 0 ? null : random.Next(100, 10_000);
        var currency = status is null && random.Next(25) == 0 ? null : Currencies[random.Next(Currencies.Length)];
        var payment = new Payment($"pay_{id}", customer, "stripe", PaymentKind.Pack, "pack", chosen, amount, currency, null, null, $"pi_{id}", null, null,
            $"pay_{id}", 10, chosen == PaymentStatus.Refunded ? random.Next(0, 100) : 0, 0, null, "{}", created, created);
        Assert.True(await (server ?? Db.Database).Payments.TryInsertPaymentAsync(payment, CancellationToken.None));
        return payment;
    }

    protected Task<IReadOnlyList<DailyRevenue>> DashboardAsync() =>
        Payments.RevenueByDayAsync(Midnight(Today.AddDays(-29)), Clock.GetUtcNow(), CancellationToken.None);

    /// <summary>The dashboard's range, a longer one starting mid-day, and one wholly in the past: each equal to the oracle.</summary>
    private async Task AssertExactAsync(string step)
    {
        var now = Clock.GetUtcNow();
        foreach (var (from, to) in new[]
                 {
                     (Midnight(Today.AddDays(-29)), now),
                     (Midnight(Today.AddDays(-45)) + TimeSpan.FromHours(7.5), now),
                     (Midnight(Today.AddDays(-20)), Midnight(Today.AddDays(-2)) + TimeSpan.FromHours(3)),
                 })
        {
            var expected = await OracleAsync(from, to);
            var actual = await Payments.RevenueByDayAsync(from, to, CancellationToken.None);
            Assert.True(expected.SequenceEqual(actual),
                $"{step}, [{from:O}, {to:O}): expected {string.Join("; ", expected)} but got {string.Join("; ", actual)}");
        }
    }

    /// <summary>How many computed days without a marker differ from the day's live sum, in one statement.</summary>
    private string WrongComputedDays()
    {
        var next = Provider == DatabaseProvider.Postgres ? "r.day + interval '1 day'" : "r.day + 86400000000";
        var live = $"""
                    SELECT coalesce(currency, '?'), CAST(sum(CASE WHEN status = 'disputed' THEN 0 ELSE amount - refunded_amount END) AS BIGINT), count(*)
                    FROM payments WHERE created_at >= r.day AND created_at < {next} AND amount IS NOT NULL AND status IN ('completed', 'refunded', 'disputed')
                    GROUP BY coalesce(currency, '?')
                    """;
        const string computed = "SELECT currency, amount, payments FROM revenue_days d WHERE d.day = r.day";
        return $"""
                SELECT count(*) FROM revenue_rollup r
                WHERE NOT EXISTS (SELECT 1 FROM payment_changes m WHERE m.day = r.day)
                  AND (EXISTS ({computed} EXCEPT {live}) OR EXISTS ({live} EXCEPT {computed}))
                """;
    }

    /// <summary>The rollup's invariant read from its tables: a computed day without a marker holds the day's live sum.</summary>
    private async Task AssertComputedUnmarkedDaysExactAsync()
    {
        var computed = await QueryAsync(
            "SELECT r.day, d.currency, d.amount, d.payments FROM revenue_rollup r LEFT JOIN revenue_days d ON d.day = r.day "
            + "WHERE NOT EXISTS (SELECT 1 FROM payment_changes m WHERE m.day = r.day)",
            r => (Day: ReadDay(r, 0), Currency: r.IsDBNull(1) ? null : r.GetString(1), Amount: r.IsDBNull(2) ? 0 : r.GetInt64(2),
                Payments: r.IsDBNull(3) ? 0 : Convert.ToInt32(r.GetValue(3), CultureInfo.InvariantCulture)));
        Assert.NotEmpty(computed);
        foreach (var day in computed.GroupBy(c => c.Day))
        {
            var expected = await OracleAsync(Midnight(day.Key), Midnight(day.Key.AddDays(1)));
            var actual = day.Where(c => c.Currency is not null).Select(c => new DailyRevenue(day.Key, c.Currency!, c.Amount, c.Payments))
                .OrderBy(r => r.Currency, StringComparer.Ordinal).ToList();
            Assert.True(expected.SequenceEqual(actual), $"computed {day.Key}: expected {string.Join("; ", expected)} but got {string.Join("; ", actual)}");
        }
    }

    /// <summary>The dashboard's query before the rollup: every payment of the range summed live.</summary>
    private async Task<List<DailyRevenue>> OracleAsync(DateTimeOffset from, DateTimeOffset to)
    {
        var day = Provider == DatabaseProvider.Postgres ? "date_trunc('day', created_at, 'UTC')" : "created_at - created_at % 86400000000";
        var rows = await QueryAsync(
            $"""
             SELECT {day}, coalesce(currency, '?'), CAST(sum(CASE WHEN status = 'disputed' THEN 0 ELSE amount - refunded_amount END) AS BIGINT), count(*)
             FROM payments
             WHERE created_at >= {Literal(from)} AND created_at < {Literal(to)} AND amount IS NOT NULL AND status IN ('completed', 'refunded', 'disputed')
             GROUP BY {day}, coalesce(currency, '?')
             """,
            r => new DailyRevenue(ReadDay(r, 0), r.GetString(1), r.GetInt64(2), Convert.ToInt32(r.GetValue(3), CultureInfo.InvariantCulture)));
        return rows.OrderBy(r => r.Day).ThenBy(r => r.Currency, StringComparer.Ordinal).ToList();
    }

    private DateOnly ReadDay(DbDataReader r, int ordinal) => DateOnly.FromDateTime(Provider == DatabaseProvider.Postgres
        ? r.GetFieldValue<DateTimeOffset>(ordinal).UtcDateTime
        : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(ordinal) / 1000).UtcDateTime);

    private string Literal(DateTimeOffset instant) => Provider == DatabaseProvider.Postgres
        ? $"'{instant.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture)}+00'::timestamptz"
        : ((instant.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / 10).ToString(CultureInfo.InvariantCulture);

    private async Task<List<T>> QueryAsync<T>(string sql, Func<DbDataReader, T> map)
    {
        await using var connection = await OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<T>();
        while (await reader.ReadAsync())
        {
            rows.Add(map(reader));
        }

        return rows;
    }

    private async Task<int> ExecuteAsync(string sql)
    {
        await using var connection = await OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return await command.ExecuteNonQueryAsync();
    }

    private async Task<long> CountAsync(string sql) => (await QueryAsync(sql, r => Convert.ToInt64(r.GetValue(0), CultureInfo.InvariantCulture)))[0];

    private Task<DbConnection> OpenAsync() => Db.OpenConnectionAsync();
}

public sealed class SqliteRevenueRollupTests : RevenueRollupTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresRevenueRollupTests : RevenueRollupTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;

    /// <summary>
    /// The dashboard's read is one snapshot: a transaction refunding a payment of a computed day and one of today, made
    /// to commit between the read's two statements (from Npgsql's tracing, when the first one's command ends), is seen
    /// whole or not at all — not the computed day as before it and today as after it. PostgreSQL only: SQLite's driver
    /// has no tracing to commit a write from at that point (the snapshot there is a deferred read transaction, which WAL
    /// keeps for its whole length).
    /// </summary>
    [Fact]
    public async Task RevenueByDay_AWriteCommittingBetweenItsTwoStatements_IsSeenWholeOrNotAtAll()
    {
        var random = new Random(11);
        var customer = NewCustomer();
        var ofYesterday = await InsertAsync(customer, Midnight(Today.AddDays(-1)) + TimeSpan.FromHours(3), random, PaymentStatus.Completed);
        var ofToday = await InsertAsync(customer, Midnight(Today) + TimeSpan.FromHours(1), random, PaymentStatus.Completed);
        await PassAsync(); // yesterday computed, without a marker: the first statement reads it; today is summed live by the second
        var before = await DashboardAsync();

        var schema = "Search Path=" + new Npgsql.NpgsqlConnectionStringBuilder(Db.Options.ConnectionString).SearchPath;
        Task? write = null;
        using (var listener = new ActivityListener
               {
                   ShouldListenTo = s => s.Name == "Npgsql",
                   Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
                   ActivityStopped = a =>
                   {
                       if (a.GetTagItem("db.query.text") is string text && text.Contains("FROM revenue_rollup r LEFT JOIN revenue_days", StringComparison.Ordinal)
                           && a.GetTagItem("db.npgsql.data_source") is string source && source.Contains(schema, StringComparison.OrdinalIgnoreCase)
                           && write is null)
                       {
                           // The write's own transaction, outside the read's (its ambient transaction does not flow in), committed
                           // before the read goes on.
                           using (ExecutionContext.SuppressFlow())
                           {
                               write = Task.Run(async () =>
                               {
                                   await using var flow = Db.Database.Transactions.Begin();
                                   Assert.True(await Db.Database.Payments.RecordReversalAsync(ofYesterday, "re_snap_1", 1, null, 0, PaymentStatus.Refunded,
                                       Clock.GetUtcNow(), CancellationToken.None));
                                   Assert.True(await Db.Database.Payments.RecordReversalAsync(ofToday, "re_snap_2", 1, null, 0, PaymentStatus.Refunded,
                                       Clock.GetUtcNow(), CancellationToken.None));
                                   await flow.CommitAsync(CancellationToken.None);
                               });
                           }

                           ((IAsyncResult)write).AsyncWaitHandle.WaitOne();
                       }
                   },
               })
        {
            ActivitySource.AddActivityListener(listener);
            var during = await DashboardAsync();
            Assert.NotNull(write);
            await write;
            Assert.Equal(before, during);
        }

        var after = await DashboardAsync();
        Assert.NotEqual(before.Single(r => r.Day == Today.AddDays(-1)), after.Single(r => r.Day == Today.AddDays(-1)));
        Assert.NotEqual(before.Single(r => r.Day == Today), after.Single(r => r.Day == Today));
    }
}
