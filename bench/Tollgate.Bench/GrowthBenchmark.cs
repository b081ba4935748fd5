using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Npgsql;
using Tollgate.Storage;
using Tollgate.Storage.Stores;

namespace Tollgate.Bench;

/// <summary>One request, page or sweep measured on the empty and the grown database.</summary>
internal sealed record GrowthCell(string Group, string What, double EmptyP50, double EmptyP90, double GrownP50, double GrownP90)
{
    public double Ratio => GrownP50 / EmptyP50;
}

/// <summary>How big the grown database was, and how long building it took.</summary>
internal sealed record GrowthSize(int Customers, int EntriesPerCustomer, int BigEntries, long Entries, long Operations, long ApiResponses,
    long Payments, long Webhooks, long Checkouts, long Subscriptions, string DatabaseSize, TimeSpan Build)
{
    /// <summary>Rows the first retention pass removed, batch after batch, and how long that took.</summary>
    public int Drained { get; init; }

    public TimeSpan DrainTime { get; init; }
}

/// <summary>
/// Issue 18: two servers side by side on PostgreSQL, one on a database holding only the probe customers, one on a
/// database grown with SQL (customers with a paid credit pack and their usage, a big customer with
/// <see cref="GrowthOptions.BigEntries"/> entries, their operations and stored API responses, payments, webhooks,
/// checkouts, subscriptions; the ledger's books balance). Every API call, page and sweep is timed on both, interleaved
/// (one request on the empty, one on the grown), one connection, so the shared machine's noise falls on both alike.
/// </summary>
internal sealed class GrowthBenchmark(BenchOptions options, GrowthOptions growth)
{
    private const string AdminKey = "tg_bench_admin_0123456789";
    private const string Big = "cus_big";
    private const string Small = "cus_0000001";

    /// <summary>Customers of the empty side: enough for every admin list to be full (100 webhooks, 100 failed ones,
    /// 200 flagged payments), so that both sides render pages of the same length and only the size of what lies under
    /// them differs.</summary>
    private const int EmptyCustomers = 400;

    /// <summary>A customer's place from the newest (0) in SQL: the numbered customers arrived one after another, the big
    /// one counts as the oldest.</summary>
    private const string Rank = "(@n - coalesce(nullif(substr(customer_id, 5), 'big')::int, 0))";

    /// <summary>Which customers' pack webhook failed and used up its attempts.</summary>
    private const string Failed = $"(right(customer_id, 3) IN ('250', '750') OR ({Rank} < 200 AND {Rank} % 2 = 0))";

    public async Task<(IReadOnlyList<GrowthCell> Cells, GrowthSize Size)> RunAsync()
    {
        var postgres = options.Postgres ?? throw new InvalidOperationException("growth needs --postgres (or TOLLGATE_TEST_POSTGRES).");
        var emptyDb = await BenchDatabase.CreateAsync(postgres);
        var grownDb = await BenchDatabase.CreateAsync(postgres);
        try
        {
            var env = new Dictionary<string, string> { ["Tollgate__AdminKey"] = AdminKey };
            await using var empty = await ServerProcess.StartAsync(options.Server, emptyDb, env);
            await using var grown = await ServerProcess.StartAsync(options.Server, grownDb, env);
            // The servers have migrated their schemas; now the data.
            await FillAsync(emptyDb.ConnectionString, customers: EmptyCustomers, perCustomer: growth.EntriesPerCustomer, big: 20);
            var clock = Stopwatch.StartNew();
            await FillAsync(grownDb.ConnectionString, growth.Customers, growth.EntriesPerCustomer, growth.BigEntries);
            var build = clock.Elapsed;
            var size = await SizeAsync(grownDb.ConnectionString, build);
            Console.Error.WriteLine($"growth: grown database built in {build.TotalSeconds:F0} s ({size.DatabaseSize})");

            var cells = new List<GrowthCell>();
            var sides = new[] { await SideAsync(empty, emptyDb), await SideAsync(grown, grownDb) };
            // The first retention pass on the grown database: the big customer's usage older than the window.
            clock.Restart();
            var drained = 0;
            var drainedAt = TimeProvider.System.GetUtcNow();
            for (RetentionReport pass; (pass = await sides[1].Database.Retention.SweepOnceAsync(RetentionOptions.Default, drainedAt,
                CancellationToken.None)).Total > 0; drainedAt = TimeProvider.System.GetUtcNow())
            {
                drained += pass.Total;
            }

            size = size with { Drained = drained, DrainTime = clock.Elapsed };
            // The first revenue rollup pass, on both sides. The fill writes payments with SQL, past Tollgate and so without
            // the markers a payment write leaves: the servers' rollup worker, started with the servers, may have computed
            // days while the fill ran, and nothing would tell it those days changed. So the computed days are cleared first,
            // as after any write made outside Tollgate (docs/operations.md, "Revenue rollup"), then computed: what the
            // worker does within a minute. The dashboard is then measured as it reads in steady state (computed closed
            // days, today live), and the steady pass among the sweeps.
            foreach (var db in new[] { emptyDb, grownDb })
            {
                await RunSqlAsync(db.ConnectionString, "DELETE FROM revenue_days; DELETE FROM revenue_rollup");
                // Likewise the subscriptions the fill wrote: counted once, as migration 0019 does.
                await RunSqlAsync(db.ConnectionString, "BEGIN; DELETE FROM subscription_count_changes; DELETE FROM subscription_counts; "
                    + "INSERT INTO subscription_counts (plan_id, status, count) SELECT plan_id, status, count(*) FROM subscriptions GROUP BY plan_id, status; COMMIT");
            }

            foreach (var side in sides)
            {
                clock.Restart();
                var first = await RollUpAsync(side);
                Console.Error.WriteLine($"growth: first revenue rollup pass: {first.DaysComputed} days in {clock.Elapsed.TotalMilliseconds:F0} ms");
            }

            // What autovacuum does within a minute of a bulk deletion (it had, by the time an EXPLAIN looked): until then a
            // pass walks the dead index entries the drain left at the head of each index, which is the drain's cost, not the
            // steady pass's. Every table of both sides, the recounted rollups' too, so that no autovacuum worker starts on
            // one side while the other is measured (the fill's VACUUM left the rest all-visible: this takes seconds).
            await RunSqlAsync(emptyDb.ConnectionString, "VACUUM ANALYZE");

            try
            {
                foreach (var (group, what, call) in Probes(drainedAt))
                {
                    cells.Add(await MeasureAsync(group, what, sides, call));
                    Console.Error.WriteLine($"growth: {what}: {cells[^1].EmptyP50:F1} / {cells[^1].GrownP50:F1} ms");
                }
            }
            finally
            {
                foreach (var side in sides)
                {
                    await side.DisposeAsync();
                }
            }

            return (cells, size);
        }
        finally
        {
            if (growth.Keep)
            {
                // To compare plans and buffers of the two afterwards (EXPLAIN (ANALYZE, BUFFERS)); drop the schemas by hand.
                Console.Error.WriteLine($"growth: kept the empty database: {emptyDb.ConnectionString}");
                Console.Error.WriteLine($"growth: kept the grown database: {grownDb.ConnectionString}");
            }
            else
            {
                await emptyDb.Drop();
                await grownDb.Drop();
            }
        }
    }

    private delegate Task Probe(Side side, int iteration);

    /// <summary>The big customer's subscription period began 17 days ago at 13:37 UTC: its usage page reads the partial
    /// first hour from the entries and the whole hours after it from the rollup.</summary>
    private static DateTimeOffset PeriodStart(DateTimeOffset now) =>
        new(now.UtcDateTime.Date.AddDays(-17).AddHours(13).AddMinutes(37), TimeSpan.Zero);

    /// <param name="drainedAt">The instant of the first retention pass's last, empty batch: nothing older than the windows
    /// at that instant is left on either side.</param>
    private static IEnumerable<(string Group, string What, Probe Call)> Probes(DateTimeOffset drainedAt)
    {
        Probe Get(string path, string? cookie = null) => async (side, _) =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(path, UriKind.Relative));
            if (cookie is not null)
            {
                request.Headers.Add("Cookie", cookie == "admin" ? side.AdminCookie : side.PortalCookie);
            }

            using var response = await side.Client.SendAsync(request);
            await Expect(response, HttpStatusCode.OK, path);
        };

        Probe Post(string path, Func<int, string> body, bool idempotent = false) => async (side, i) =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(path, UriKind.Relative))
            {
                Content = new StringContent(body(i), Encoding.UTF8, "application/json"),
            };
            if (idempotent)
            {
                request.Headers.Add("Idempotency-Key", "growth-" + Guid.NewGuid().ToString("N"));
            }

            using var response = await side.Client.SendAsync(request);
            await Expect(response, HttpStatusCode.OK, path);
        };

        var usage = (string customer) => (Func<int, string>)(_ => $$"""{"customer_id":"{{customer}}","feature":"credits","amount":1}""");
        yield return ("API", "POST /v1/check (big customer)", Post("/v1/check", usage(Big)));
        yield return ("API", "POST /v1/usage (big customer)", Post("/v1/usage", usage(Big), idempotent: true));
        yield return ("API", "POST /v1/usage (small customer)", Post("/v1/usage", usage(Small), idempotent: true));
        yield return ("API", "GET /v1/customers/{id}", Get($"/v1/customers/{Big}"));
        yield return ("API", "GET …/balances", Get($"/v1/customers/{Big}/balances"));
        yield return ("API", "GET …/ledger?limit=50", Get($"/v1/customers/{Big}/ledger?limit=50"));
        yield return ("API", "GET …/ledger?feature=credits&limit=50", Get($"/v1/customers/{Big}/ledger?feature=credits&limit=50"));
        yield return ("API", "GET …/usage?feature=credits (period, by day)", Get($"/v1/customers/{Big}/usage?feature=credits&bucket=day&from="
            + Uri.EscapeDataString(PeriodStart(TimeProvider.System.GetUtcNow()).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture))));
        yield return ("API", "GET …/subscriptions", Get($"/v1/customers/{Big}/subscriptions"));
        yield return ("page", "portal /portal", Get("/portal", "portal"));
        yield return ("page", "portal /portal/usage (big customer)", Get("/portal/usage", "portal"));
        yield return ("page", "portal /portal/history", Get("/portal/history", "portal"));
        yield return ("page", "admin /admin (dashboard)", Get("/admin", "admin"));
        yield return ("page", "admin /admin/customers (newest)", Get("/admin/customers", "admin"));
        yield return ("page", "admin /admin/customers?q=user1234 (search)", Get("/admin/customers?q=user1234", "admin"));
        yield return ("page", "admin /admin/customers?q=big (search, one match)", Get("/admin/customers?q=big", "admin"));
        yield return ("page", "admin /admin/customers/{id} (big customer)", Get($"/admin/customers/{Big}", "admin"));
        yield return ("page", "admin /admin/webhooks", Get("/admin/webhooks", "admin"));
        yield return ("page", "admin /admin/webhooks?status=failed", Get("/admin/webhooks?status=failed", "admin"));
        yield return ("page", "admin /admin/payments", Get("/admin/payments", "admin"));
        yield return ("sweep", "checkout expiry (nothing due)", (side, _) => side.Database.Payments.ExpireCheckoutsAsync(
            TimeProvider.System.GetUtcNow().AddHours(-1), TimeProvider.System.GetUtcNow(), 100, CancellationToken.None));
        yield return ("sweep", "webhook retry claim (nothing due)", (side, _) => side.Database.Webhooks.ClaimDueAsync(
            TimeProvider.System.GetUtcNow(), TimeProvider.System.GetUtcNow().AddMinutes(1), 50, CancellationToken.None));
        yield return ("sweep", "ledger expiry: customers due", (side, _) => side.Database.Ledger.FindCustomersWithDueExpiriesAsync(
            TimeProvider.System.GetUtcNow(), 100, CancellationToken.None));
        // The steady pass finds nothing to do: what it costs to look, which is what could grow with the tables. It is timed
        // at the drain's instant because on the clock the grown side always has work: the big customer's usage (and its
        // operations and responses) crosses the 7-day window at about one row every 6 s, so every pass there deletes
        // what crossed since the last, which the empty side (no usage a week ago) never does. That work follows the
        // traffic of a week ago, not the size of the tables; the second row shows it.
        yield return ("sweep", "retention pass (steady: drained first, nothing to do)", (side, _) => side.Database.Retention.SweepOnceAsync(
            RetentionOptions.Default, drainedAt, CancellationToken.None));
        yield return ("sweep", "retention pass (on the clock: deletes what crossed the window since)", (side, _) => side.Database.Retention.SweepOnceAsync(
            RetentionOptions.Default, TimeProvider.System.GetUtcNow(), CancellationToken.None));
        yield return ("sweep", "subscription count fold (steady)", (side, _) => side.Database.SubscriptionCounts.FoldAsync(10_000, CancellationToken.None));
        yield return ("sweep", "inbox backlog gauges", (side, _) => side.Database.Webhooks.BacklogAsync(CancellationToken.None));
        yield return ("sweep", "revenue rollup pass (steady)", (side, _) => RollUpAsync(side));
    }

    /// <summary>The rollup worker's pass: the closed days of the dashboard's 30.</summary>
    private static Task<RevenueRollupReport> RollUpAsync(Side side)
    {
        var now = TimeProvider.System.GetUtcNow();
        var today = DateOnly.FromDateTime(now.UtcDateTime);
        return side.Database.RevenueRollup.RollUpAsync(today.AddDays(-29), today, now, CancellationToken.None);
    }

    private static async Task Expect(HttpResponseMessage response, HttpStatusCode status, string path)
    {
        if (response.StatusCode != status)
        {
            throw new InvalidOperationException($"{path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }

        await response.Content.ReadAsByteArrayAsync();
    }

    private async Task<GrowthCell> MeasureAsync(string group, string what, Side[] sides, Probe call)
    {
        var times = sides.Select(_ => new List<double>()).ToArray();
        // A sweep's statement takes well under a millisecond when nothing is due: 30 samples of it on a shared machine
        // give a median that one descheduling moves by half, so sweeps are sampled ten times as often.
        var iterations = group == "sweep" ? growth.Iterations * 10 : growth.Iterations;
        for (var i = 0; i < growth.Warmup + iterations; i++)
        {
            for (var s = 0; s < sides.Length; s++)
            {
                var clock = Stopwatch.StartNew();
                await call(sides[s], i);
                if (i >= growth.Warmup)
                {
                    times[s].Add(clock.Elapsed.TotalMilliseconds);
                }
            }
        }

        double Pct(List<double> t, double p) => t.Order().ElementAt((int)Math.Min(t.Count - 1, Math.Floor(p * t.Count)));
        return new GrowthCell(group, what, Pct(times[0], 0.5), Pct(times[0], 0.9), Pct(times[1], 0.5), Pct(times[1], 0.9));
    }

    /// <summary>A server with its database, a client, a portal session of the big customer and an admin sign-in.</summary>
    private sealed class Side(ServerProcess server, TollgateDatabase database, HttpClient client, string portalCookie, string adminCookie) : IAsyncDisposable
    {
        public ServerProcess Server { get; } = server;
        public TollgateDatabase Database { get; } = database;
        public HttpClient Client { get; } = client;
        public string PortalCookie { get; } = portalCookie;
        public string AdminCookie { get; } = adminCookie;

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            await Database.DisposeAsync();
        }
    }

    private static async Task<Side> SideAsync(ServerProcess server, BenchDatabase db)
    {
        var client = server.CreateClient(1);
        using var portal = await client.PostAsync(new Uri($"/v1/customers/{Big}/portal", UriKind.Relative), null);
        await Expect(portal, HttpStatusCode.OK, "portal link");
        var url = System.Text.Json.JsonDocument.Parse(await portal.Content.ReadAsStringAsync()).RootElement.GetProperty("url").GetString()!;
        var token = Uri.UnescapeDataString(url[(url.IndexOf("token=", StringComparison.Ordinal) + 6)..]);

        using var loginPage = await client.GetAsync(new Uri("/admin/login", UriKind.Relative));
        var csrf = Regex.Match(await loginPage.Content.ReadAsStringAsync(), "name=\"__csrf\" type=\"hidden\" value=\"([^\"]+)\"").Groups[1].Value;
        var pageCookies = loginPage.Headers.GetValues("Set-Cookie").Select(c => c.Split(';')[0]).ToList();
        using var post = new HttpRequestMessage(HttpMethod.Post, new Uri("/admin/login", UriKind.Relative))
        {
            Content = new FormUrlEncodedContent([new("key", AdminKey), new("__csrf", csrf)]),
        };
        post.Headers.Add("Cookie", string.Join("; ", pageCookies));
        using var login = await client.SendAsync(post);
        if (login.StatusCode != HttpStatusCode.Redirect)
        {
            throw new InvalidOperationException($"admin sign-in: {(int)login.StatusCode}");
        }

        var admin = string.Join("; ", pageCookies.Concat(login.Headers.GetValues("Set-Cookie").Select(c => c.Split(';')[0])));
        var database = TollgateDatabase.Create(new DatabaseOptions(DatabaseProvider.Postgres, db.ConnectionString), TimeProvider.System);
        return new Side(server, database, client, "tollgate_portal=" + token, admin);
    }

    /// <summary>
    /// Builds the data with set-based SQL, consistent with the ledger's invariants: every customer bought a pack of 1,000
    /// credits (a completed payment, its checkout, its applied webhook, a lot and a grant entry guarded by its operation)
    /// and used <paramref name="perCustomer"/> of them, one credit per usage call (a consume entry with the balance after
    /// it, its operation and its stored API response); the big customer, on a Pro subscription whose period began 17
    /// days ago mid-afternoon, used <paramref name="big"/> over those days. Entries add up to each lot's remaining credits.
    /// Customers (with their pack's payment, checkout and webhook) arrived over the past year; their usage is of the past
    /// six days; the big customer's older usage is past the idempotency window, so the first retention pass has work
    /// (drained before the steady pass is timed). One customer in 500 has a failed webhook that used up its attempts, one
    /// in 1,000 a flagged payment, one in 5 a subscription; of the newest customers, one in two of 200 a failed webhook and
    /// one in two of 400 a flagged payment (so the admin lists hold as many rows on the empty side as on the grown one).
    /// </summary>
    private static async Task FillAsync(string connectionString, int customers, int perCustomer, int big)
    {
        var now = TimeProvider.System.GetUtcNow();
        var periodStart = PeriodStart(now);
        var statements = new[]
        {
            // Customers: the numbered ones, then the big one.
            $"""
            INSERT INTO customers (customer_id, email, name, metadata, created_at, updated_at)
            SELECT 'cus_' || lpad(i::text, 7, '0'), 'user' || i || '@example.com', 'Customer ' || i, NULL,
                   @now - (@n - i) * (interval '365 days' / @n), @now - (@n - i) * (interval '365 days' / @n)
            FROM generate_series(1, @n) i;
            INSERT INTO customers VALUES ('{Big}', 'big@example.com', 'Big Customer', NULL, @period, @period);
            """,
            // Lots: 1,000 credits each (the big one: enough for its usage and 1,000 more).
            """
            INSERT INTO ledger_lots (customer_id, lot_id, feature, amount, remaining, held, clawed, expired, live, source, source_ref, expires_at, priority, seq, created_at)
            SELECT customer_id, 'lot_' || customer_id, 'credits', CASE WHEN customer_id = 'cus_big' THEN @big + 1000 ELSE 1000 END,
                   CASE WHEN customer_id = 'cus_big' THEN 1000 ELSE 1000 - @per END, 0, 0, 0, true, 'payment', 'pay_' || customer_id, NULL, 0, 1, created_at
            FROM customers;
            """,
            // Entries: the grant, then one consume of 1 per usage call, each with the balance after it.
            """
            INSERT INTO ledger_entries (customer_id, seq, entry_id, feature, type, amount, balance_after, at, detail, reference, hold_id, operation_key)
            SELECT customer_id, 1, 'ent_' || customer_id || '_1', 'credits', 'grant', amount, amount, created_at,
                   '{"lots":[{"lot_id":"lot_' || customer_id || '","amount":' || amount || '}]}', NULL, NULL, 'grant:pay_' || customer_id
            FROM ledger_lots;
            INSERT INTO ledger_entries (customer_id, seq, entry_id, feature, type, amount, balance_after, at, detail, reference, hold_id, operation_key)
            SELECT l.customer_id, s + 1, 'ent_' || l.customer_id || '_' || (s + 1), 'credits', 'consume', -1, l.amount - s,
                   CASE WHEN l.customer_id = 'cus_big' THEN @period + s * ((@now - @period) / (@big + 1))
                        ELSE @now - interval '6 days' + (hashtext(l.customer_id) & 4095) * interval '1 minute' + s * interval '1 second' END,
                   '{"lots":[{"lot_id":"lot_' || l.customer_id || '","amount":1}]}', NULL, NULL, 'usage:k_' || l.customer_id || '_' || s
            FROM ledger_lots l, generate_series(1, CASE WHEN l.customer_id = 'cus_big' THEN @big ELSE @per END) s;
            """,
            // What the ledger's commit writes beside them: the operations (one per key), the hourly usage rollup and the entries' lookup rows.
            """
            INSERT INTO ledger_operations (customer_id, operation_key, kind, fingerprint, result, created_at)
            SELECT customer_id, operation_key, CASE type WHEN 'grant' THEN 'grant' ELSE 'consume' END, 'fp',
                   '{"remaining":' || balance_after || ',"lots":[]}', at
            FROM ledger_entries;
            INSERT INTO ledger_usage_hourly (customer_id, feature, hour, used, first_seq, last_seq)
            SELECT customer_id, feature, date_trunc('hour', at, 'UTC'), sum(-amount), min(seq), max(seq) FROM ledger_entries WHERE type = 'consume' GROUP BY 1, 2, 3;
            INSERT INTO customer_keys (key, kind, provider, customer_id, seq) SELECT entry_id, 'entry', '', customer_id, seq FROM ledger_entries;
            """,
            // The API responses stored under the usage calls' Idempotency-Keys.
            """
            INSERT INTO api_idempotency (scope, idempotency_key, request_hash, status, response, created_at)
            SELECT 'key_bench', substr(operation_key, 7), 'h' || seq, 200,
                   '{"feature":"credits","allowed":true,"remaining":' || balance_after || ',"limit":null,"used":null,"resets_at":null,"lots":[{"lot_id":"lot_' || customer_id || '","amount":1}]}', at
            FROM ledger_entries WHERE type = 'consume';
            """,
            // Each pack's checkout, payment and applied webhook (with a payload of a realistic size). The newest 400 customers'
            // payments are flagged one in two and the newest 200's webhooks failed one in two (on both sides: the admin lists
            // are full on the empty side too); older ones one in 1,000 and one in 500.
            $$"""
            INSERT INTO checkouts (customer_id, checkout_id, product, provider, provider_checkout_id, url, status, success_url, cancel_url, metadata, failure, created_at, updated_at, completed_at)
            SELECT customer_id, 'chk_' || customer_id, 'new_user_pack', 'sandbox', 'cs_' || customer_id, 'https://pay.example/cs_' || customer_id,
                   'completed', NULL, NULL, '{}', NULL, created_at, created_at, created_at
            FROM customers;
            INSERT INTO payments (customer_id, payment_id, provider, kind, product, status, amount, currency, checkout_id, provider_checkout_id, provider_payment_id,
                                  provider_subscription_id, subscription_id, ledger_ref, credits, refunded_amount, credits_clawed, flag, reversals, payload, created_at, updated_at)
            SELECT customer_id, 'pay_' || customer_id, 'sandbox', 'pack', 'new_user_pack', 'completed', 500, 'USD', 'chk_' || customer_id, 'cs_' || customer_id,
                   'ord_' || customer_id, NULL, NULL, 'pay_' || customer_id, 1000, 0, 0,
                   CASE WHEN right(customer_id, 3) = '000' OR ({{Rank}} < 400 AND {{Rank}} % 2 = 0) THEN 'amount differs from the price' END,
                   '|', repeat('x', 600), created_at, created_at
            FROM customers;
            INSERT INTO customer_keys (key, kind, provider, customer_id)
            SELECT 'chk_' || customer_id, 'checkout', '', customer_id FROM customers
            UNION ALL SELECT 'cs_' || customer_id, 'checkout_session', 'sandbox', customer_id FROM customers
            UNION ALL SELECT 'ord_' || customer_id, 'payment', 'sandbox', customer_id FROM customers
            UNION ALL SELECT 'cs_' || customer_id, 'payment_checkout', 'sandbox', customer_id FROM customers;
            INSERT INTO webhook_events (provider, event_id, event_type, occurred_at, received_at, payload, status, attempts, next_attempt_at, last_error, applied_at, customer_id)
            SELECT 'sandbox', 'evt_' || customer_id, 'checkout.completed', created_at, created_at, repeat('y', 1200),
                   CASE WHEN {{Failed}} THEN 'failed' ELSE 'applied' END, CASE WHEN {{Failed}} THEN 10 ELSE 1 END, NULL, NULL, created_at, customer_id
            FROM customers;
            """,
            // Subscriptions: one customer in five, and the big customer's Pro period.
            $"""
            INSERT INTO subscriptions (customer_id, subscription_id, plan_id, provider, provider_subscription_id, provider_customer_id, status, current_period_start,
                                       current_period_end, cancel_at_period_end, pending_plan_id, canceled_at, provider_updated_at, created_at, updated_at, access_ends_at)
            SELECT customer_id, 'sub_' || customer_id, CASE WHEN right(customer_id, 1) = '5' THEN 'team' ELSE 'pro' END, 'sandbox', 'psub_' || customer_id, NULL,
                   'active', @period, @period + interval '1 month', false, NULL, NULL, NULL, created_at, created_at, NULL
            FROM customers WHERE customer_id = '{Big}' OR right(customer_id, 1) IN ('0', '5');
            INSERT INTO customer_keys (key, kind, provider, customer_id)
            SELECT subscription_id, 'subscription', '', customer_id FROM subscriptions
            UNION ALL SELECT provider_subscription_id, 'provider_subscription', provider, customer_id FROM subscriptions;
            """,
        };
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        foreach (var sql in statements)
        {
            await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 1800 };
            command.Parameters.AddWithValue("now", now);
            command.Parameters.AddWithValue("period", periodStart);
            command.Parameters.AddWithValue("n", customers);
            command.Parameters.AddWithValue("per", perCustomer);
            command.Parameters.AddWithValue("big", big);
            await command.ExecuteNonQueryAsync();
        }

        await using var vacuum = new NpgsqlCommand("VACUUM ANALYZE", connection) { CommandTimeout = 1800 };
        await vacuum.ExecuteNonQueryAsync();
        await CheckBooksAsync(connection);
    }

    /// <summary>Runs <paramref name="sql"/> — one statement, or several separated by semicolons — on a connection of its
    /// own, with a timeout long enough for a grown database: the upkeep between the bench's phases (clearing and recounting
    /// what the fill wrote past Tollgate, a VACUUM).</summary>
    private static async Task RunSqlAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 1800 };
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>The books of the built data: for every customer, the entries add up to the lot's remaining credits and
    /// each entry's balance is the running sum.</summary>
    private static async Task CheckBooksAsync(NpgsqlConnection connection)
    {
        await using var command = new NpgsqlCommand(
            """
            SELECT
              (SELECT count(*) FROM (SELECT e.customer_id FROM ledger_entries e GROUP BY e.customer_id, e.feature
                 HAVING sum(e.amount) <> (SELECT sum(l.remaining) FROM ledger_lots l WHERE l.customer_id = e.customer_id AND l.feature = e.feature)) off),
              (SELECT count(*) FROM (SELECT balance_after <> sum(amount) OVER (PARTITION BY customer_id, feature ORDER BY seq) AS wrong FROM ledger_entries) w WHERE wrong)
            """, connection) { CommandTimeout = 1800 };
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        if (reader.GetInt64(0) != 0 || reader.GetInt64(1) != 0)
        {
            throw new InvalidOperationException($"growth: the built books do not balance ({reader.GetInt64(0)} customers, {reader.GetInt64(1)} entries).");
        }
    }

    private async Task<GrowthSize> SizeAsync(string connectionString, TimeSpan build)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        async Task<long> Count(string table)
        {
            await using var command = new NpgsqlCommand($"SELECT count(*) FROM {table}", connection);
            return (long)(await command.ExecuteScalarAsync())!;
        }

        await using var size = new NpgsqlCommand(
            "SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'",
            connection);
        return new GrowthSize(growth.Customers, growth.EntriesPerCustomer, growth.BigEntries, await Count("ledger_entries"), await Count("ledger_operations"),
            await Count("api_idempotency"), await Count("payments"), await Count("webhook_events"), await Count("checkouts"), await Count("subscriptions"),
            (string)(await size.ExecuteScalarAsync())!, build);
    }

    public static string Markdown(IReadOnlyList<GrowthCell> cells, GrowthSize size)
    {
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture,
            $"Grown: {size.Customers + 1:N0} customers, {size.Entries:N0} ledger entries ({size.BigEntries:N0} on the big customer), {size.Operations:N0} operations, "
            + $"{size.ApiResponses:N0} stored API responses, {size.Payments:N0} payments, {size.Webhooks:N0} webhooks, {size.Checkouts:N0} checkouts, "
            + $"{size.Subscriptions:N0} subscriptions: {size.DatabaseSize}, built in {size.Build.TotalSeconds:F0} s. The first retention pass then removed "
            + $"{size.Drained:N0} rows past the idempotency window in {size.DrainTime.TotalSeconds:F1} s (batches of {RetentionOptions.Default.BatchSize:N0}).");
        md.AppendLine();
        md.AppendLine("| | what | empty p50 ms | p90 | grown p50 ms | p90 | × (p50) |");
        md.AppendLine("|---|---|---:|---:|---:|---:|---:|");
        foreach (var c in cells)
        {
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {c.Group} | {c.What} | {c.EmptyP50:F2} | {c.EmptyP90:F2} | {c.GrownP50:F2} | {c.GrownP90:F2} | {c.Ratio:F2} |");
        }

        return md.ToString();
    }
}

/// <summary>The growth suite's size and repetitions (<c>--customers</c>, <c>--entries</c>, <c>--big</c>, <c>--iterations</c>).</summary>
internal sealed record GrowthOptions(int Customers, int EntriesPerCustomer, int BigEntries, int Iterations, int Warmup)
{
    /// <summary>Keep both schemas after the run (<c>--keep</c>).</summary>
    public bool Keep { get; init; }

    public static GrowthOptions Parse(string[] args)
    {
        int Value(string name, int fallback)
        {
            var i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
        }

        // 40 warm-up calls: past the 30 calls after which .NET's tiered compilation recompiles a method, so both servers
        // are timed on their optimized code. 150 timed calls: with 30, a page's median moved by up to half between runs
        // on the shared 2-core machine.
        return new GrowthOptions(Value("--customers", 50_000), Value("--entries", 20), Value("--big", 241_000), Value("--iterations", 150), Value("--warmup", 40))
        {
            Keep = args.Contains("--keep"),
        };
    }
}
