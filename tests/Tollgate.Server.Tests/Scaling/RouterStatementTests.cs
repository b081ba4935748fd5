using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Tollgate.Server.Tests.Support;
using Tollgate.Storage;
using Tollgate.Testing;
using Tollgate.Testing.Fakes;

namespace Tollgate.Server.Tests.Scaling;

/// <summary>
/// Distributable by customer (docs/scaling.md): every statement the hot path sends to PostgreSQL names one customer
/// — a <c>customer_id =</c> predicate, a row of its own inserted with its customer_id, or a lookup of
/// <c>customer_keys</c> by key — so that on Citus each is a single-shard (router) statement. The statements allowed to
/// fan out are listed here by name; a new one fails this test until it is routed or listed.
/// </summary>
/// <remarks>The SQL is captured from Npgsql's own tracing (one activity per command or batch, the batch's statements
/// joined by ";\n"), filtered to this test's schema. The check reads the statement text, not its parameters: an array
/// insert is taken to carry the rows of the request's one customer (the ledger engine writes one customer per
/// request on these paths).</remarks>
[Collection(RouterCapture.Name)]
public sealed class RouterStatementTests : IAsyncLifetime
{
    private readonly ConcurrentQueue<string> _statements = new();
    private int _roundTrips;
    private ActivityListener? _listener;
    private TollgateApp _app = null!;

    public async ValueTask InitializeAsync()
    {
        // The clock on now and private addresses allowed: outbound events go to a receiver on 127.0.0.1, which rejects
        // timestamps more than 5 minutes off.
        _app = await TollgateApp.StartAsync(DatabaseProvider.Postgres, new ManualTimeProvider(TimeProvider.System.GetUtcNow()),
            settings: new Dictionary<string, string?> { ["Tollgate:Webhooks:AllowPrivateAddresses"] = "true" });
        var schema = "Search Path=" + new NpgsqlConnectionStringBuilder(_app.Database.Options.ConnectionString).SearchPath;
        _listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a =>
            {
                if (a.GetTagItem("db.query.text") is string text
                    && a.GetTagItem("db.npgsql.data_source") is string source && source.Contains(schema, StringComparison.OrdinalIgnoreCase))
                {
                    Interlocked.Increment(ref _roundTrips);
                    foreach (var statement in text.Split(";\n"))
                    {
                        _statements.Enqueue(statement.Trim().TrimEnd(';'));
                    }
                }
            },
        };
        ActivitySource.AddActivityListener(_listener);
    }

    public async ValueTask DisposeAsync()
    {
        _listener?.Dispose();
        await _app.DisposeAsync();
    }

    /// <summary>Tables distributed by a column other than customer_id.</summary>
    private static readonly Dictionary<string, string> DistributedBy = new(StringComparer.Ordinal)
    {
        ["customer_keys"] = "key",
        // Distributed by its own key: a response is stored before the request's customer is known to be valid, and
        // a replay must be found by the key alone (docs/scaling.md).
        ["api_idempotency"] = "idempotency_key",
    };

    /// <summary>Tables kept local (reference tables on Citus): their statements are not distributed at all.</summary>
    private static readonly HashSet<string> Local = new(StringComparer.Ordinal)
    {
        // An endpoint's delivery history (no customer), written by the delivery worker (docs/scaling.md, Kept local).
        "event_attempts",
        // A webhook's customer is known only after parsing it (docs/scaling.md).
        "webhook_events",
        "webhook_endpoints",
        "settings",
        // The Sandbox provider's own side (what a real provider keeps on its servers): a development provider.
        "sandbox_checkouts", "sandbox_subscriptions", "sandbox_saved_cards",
        // The revenue rollup's days (migration 0018): global, small, written by its pass only (docs/scaling.md).
        "revenue_days", "revenue_rollup",
    };

    /// <summary>Statements allowed to fan out to every shard, by the start of their text: background workers that
    /// run on every server (they may run during the test). Admin pages and the other sweeps fan out too; docs/scaling.md
    /// lists them.</summary>
    private static readonly (string Name, string Start)[] FanOut =
    [
        ("outbound event delivery claim", "UPDATE event_deliveries SET claim = @claim, claimed_until = @until WHERE (customer_id, endpoint_id, event_id) IN"),
        ("outbound deliveries claimed", "SELECT w.endpoint_id"),
        ("auto top-up claim", "UPDATE topup_charges SET claim = @claim"),
        ("checkout expiry sweep", "UPDATE checkouts SET status = 'expired'"),
        ("lot and hold expiry sweep", "SELECT customer_id FROM ledger_lots WHERE live AND expires_at <="),
        ("revenue rollup pass: a day's markers", "SELECT change_id FROM payment_changes WHERE day ="),
        ("revenue rollup pass: the markers read", "DELETE FROM payment_changes WHERE day ="),
    ];

    [Fact]
    public async Task HotPath_StatementsEachNameOneCustomer()
    {
        await using var receiver = await EventReceiver.StartAsync();
        var endpoint = await Json.ReadAsync(await _app.PostAsync("/v1/webhook-endpoints", new { url = receiver.Url.ToString() }), 201);
        receiver.Trust((string)endpoint["secret"]!);
        var c = TollgateApp.NewCustomer();
        await _app.GrantAsync(c, "credits", 100);
        await _app.CheckAsync(c, "credits");
        await Json.ReadAsync(await _app.UseAsync(c, "credits", 1), 200);
        var hold = await Json.ReadAsync(await _app.PostAsync("/v1/holds", new { customer_id = c, feature = "credits", amount = 5 }, _app.Key()), 201);
        var id = (string)hold["id"]!;
        await Json.ReadAsync(await _app.Client.GetAsync($"/v1/holds/{id}"), 200);
        await Json.ReadAsync(await _app.PostAsync($"/v1/holds/{id}/settle", new { amount = 2 }), 200);
        var second = await Json.ReadAsync(await _app.PostAsync("/v1/holds", new { customer_id = c, feature = "credits", amount = 5 }, _app.Key()), 201);
        await Json.ReadAsync(await _app.PostAsync($"/v1/holds/{(string)second["id"]!}/release", null), 200);
        await _app.BalanceAsync(c, "credits");
        await Json.ReadAsync(await _app.Client.GetAsync($"/v1/customers/{c}/ledger?feature=credits&limit=5"), 200);
        // A checkout paid on the Sandbox: its webhook is received, stored, applied (payment, grant, checkout completed).
        var (checkoutId, paid) = await _app.BuyInSandboxAsync(c, "new_user_pack");
        Assert.Equal(302, paid);
        Assert.Equal("completed", (string)(await Json.ReadAsync(await _app.Client.GetAsync($"/v1/checkouts/{checkoutId}"), 200))["status"]!);
        // A plan bought on the Sandbox (migration 0017): the subscription is recorded by its webhook and found by the
        // provider's id, then found by Tollgate's id to be cancelled at the period's end.
        var (_, subscribed) = await _app.BuyInSandboxAsync(c, "pro");
        Assert.Equal(302, subscribed);
        var subscription = (await Json.ReadAsync(await _app.Client.GetAsync($"/v1/customers/{c}/subscriptions"), 200))["subscriptions"]![0]!;
        await Json.ReadAsync(await _app.PostAsync($"/v1/subscriptions/{(string)subscription["id"]!}/cancel", new { at_period_end = true }), 202);
        // Outbound events: delivered (claim, then the outcome recorded by the event's customer), read by id, redelivered.
        var delivered = await receiver.WaitForAsync(r => r.Any(e => e.CustomerId == c && e.Answered is >= 200 and < 300));
        var eventId = delivered.First(e => e.CustomerId == c && e.Answered is >= 200 and < 300).WebhookId;
        Assert.Equal(c, (string)(await Json.ReadAsync(await _app.Client.GetAsync($"/v1/events/{eventId}"), 200))["customer_id"]!);
        await Json.ReadAsync(await _app.PostAsync($"/v1/events/{eventId}/redeliver", null), 202);
        await receiver.WaitForAsync(r => r.Count(e => e.WebhookId == eventId) >= 2);

        var statements = _statements.Select(s => Regex.Replace(s, @"\s+", " ")).Where(s => s.Length > 0).Distinct().ToList();
        // The capture saw the paths it is about (not an empty or foreign list).
        Assert.Contains(statements, s => s.StartsWith("INSERT INTO ledger_holds", StringComparison.Ordinal));
        Assert.Contains(statements, s => s.StartsWith("INSERT INTO payments", StringComparison.Ordinal));
        Assert.Contains(statements, s => s.StartsWith("UPDATE checkouts", StringComparison.Ordinal));
        Assert.Contains(statements, s => s.StartsWith("INSERT INTO subscriptions", StringComparison.Ordinal));
        Assert.Contains(statements, s => s.StartsWith("SELECT customer_id FROM customer_keys WHERE key = @k AND kind = @kind", StringComparison.Ordinal));
        Assert.Contains(statements, s => s.StartsWith("SELECT event_id, customer_id, seq", StringComparison.Ordinal));
        Assert.Contains(statements, s => s.StartsWith("UPDATE event_deliveries SET status = @status", StringComparison.Ordinal));
        var wrong = statements.Where(s => Verdict(s) is not null).Select(s => $"{Verdict(s)}: {s}").ToList();
        Assert.True(wrong.Count == 0, "statements that do not name one customer:" + Environment.NewLine + string.Join(Environment.NewLine, wrong));
    }

    /// <summary>Round trips per call (commands and batches Npgsql ran for it, the pool's connection opens aside): the
    /// lookup rows travel in the ledger's commit batch, and usage, holds and settle after the customer's first write are
    /// written from known state; a hold read by its id alone costs one more (its owner first).</summary>
    [Fact]
    public async Task HotPath_RoundTrips()
    {
        var c = TollgateApp.NewCustomer();
        await _app.GrantAsync(c, "credits", 100);
        await Json.ReadAsync(await _app.UseAsync(c, "credits", 1), 200);
        var holds = new List<string>();
        var entries = new List<string>();
        var counts = new Dictionary<string, int>
        {
            ["usage"] = await FewestAsync(async _ => entries.Add((string)(await Json.ReadAsync(await _app.UseAsync(c, "credits", 1), 200))["entry_id"]!)),
            ["hold"] = await FewestAsync(async _ => holds.Add((string)(await Json.ReadAsync(
                await _app.PostAsync("/v1/holds", new { customer_id = c, feature = "credits", amount = 5 }, _app.Key()), 201))["id"]!)),
            ["get hold"] = await FewestAsync(async i => await Json.ReadAsync(await _app.Client.GetAsync($"/v1/holds/{holds[i]}"), 200)),
            ["settle"] = await FewestAsync(async i => await Json.ReadAsync(await _app.PostAsync($"/v1/holds/{holds[i]}/settle", new { amount = 2 }), 200)),
            ["reverse"] = await FewestAsync(async i =>
                await Json.ReadAsync(await _app.SendAsync(HttpMethod.Post, $"/v1/usage/{entries[i]}/reverse", null, _app.Key()), 200)),
        };

        // Usage, hold and settle are written from the state the server's previous write of the customer left (known
        // state, migration 0021): one round trip, BEGIN to COMMIT, where a locked load and then the writes took two.
        // Before customer_keys: GET hold 1 and reverse 4 (the hold and the entry were read by their id alone).
        Assert.Equal(new Dictionary<string, int> { ["usage"] = 1, ["hold"] = 1, ["get hold"] = 2, ["settle"] = 1, ["reverse"] = 5 }, counts);
    }

    /// <summary>A pack bought and refunded on the Sandbox, its webhooks applied in their flows: the revenue rollup's
    /// marker of each payment write (migration 0018) travels in a batch the flow sends anyway, so the round trips are
    /// what they were before it (measured with the markers left out).</summary>
    [Fact]
    public async Task SandboxPurchaseAndRefund_RoundTrips_DoNotGrowWithTheRevenueMarkers()
    {
        var sandbox = _app.App.Services.GetRequiredService<Tollgate.Providers.Sandbox.SandboxBilling>();
        var payments = _app.App.Services.GetRequiredService<Tollgate.Core.Payments.IPaymentStore>();
        var customers = Enumerable.Range(0, 3).Select(_ => TollgateApp.NewCustomer()).ToList();
        foreach (var c in customers)
        {
            await _app.GrantAsync(c, "credits", 1);
        }

        var counts = new Dictionary<string, int>
        {
            ["purchase"] = await FewestAsync(async i => Assert.Equal(302, (await _app.BuyInSandboxAsync(customers[i], "starter_pack")).PayStatus)),
            ["refund"] = await FewestAsync(async i =>
            {
                var payment = (await payments.ListPaymentsAsync(customers[i], CancellationToken.None)).Single();
                await sandbox.RefundAsync(customers[i], payment.ProviderPaymentId, 100, payment.Currency!, full: false, CancellationToken.None);
            }),
        };

        // The purchase's checkout.completed names the checkout by the Sandbox's session id and by Tollgate's id: both are
        // looked up together (IPaymentStore.FindCheckoutsAsync), owners and then rows, where each alone took an owner's
        // round trip and a row's (19 before). A paid pack's delivery is written in a ledger batch (PackDelivery): after its
        // lookups, the events' sequence numbers and then the rows with the COMMIT, two round trips fewer than its own
        // transaction took (17 before).
        Assert.Equal(new Dictionary<string, int> { ["purchase"] = 15, ["refund"] = 8 }, counts);
        Assert.Equal(3, await _app.CountRowsAsync("payments WHERE refunded_amount = 100"));
    }

    /// <summary>The fewest round trips of three runs of a call: a background worker's statement (a change-feed check, a
    /// sweep) may land in one run's count, not in all three.</summary>
    private async Task<int> FewestAsync(Func<int, Task> call)
    {
        var fewest = int.MaxValue;
        for (var i = 0; i < 3; i++)
        {
            await Task.Delay(100, TestContext.Current.CancellationToken);
            var before = Volatile.Read(ref _roundTrips);
            await call(i);
            await Task.Delay(100, TestContext.Current.CancellationToken);
            fewest = Math.Min(fewest, Volatile.Read(ref _roundTrips) - before);
        }

        return fewest;
    }

    /// <summary>Null when the statement is routed to one shard (or needs none); else why not.</summary>
    private static string? Verdict(string sql)
    {
        if (Regex.IsMatch(sql, @"^(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|SET LOCAL)\b") || sql.StartsWith("SELECT pg_notify(", StringComparison.Ordinal)
            || FanOut.Any(f => sql.StartsWith(f.Start, StringComparison.Ordinal)))
        {
            return null;
        }

        // The known-state claim (migration 0021): a function of one customer, its first argument, whose statements each
        // name it (customer_id = p_customer); a distributed function colocated with customers on Citus (docs/scaling.md).
        if (sql.StartsWith("SELECT tollgate_claim_ledger($1, ", StringComparison.Ordinal))
        {
            return null;
        }

        // The inbox's check that a delivery's event is not stored (migration 0026): a procedure that reads webhook_events
        // alone, a local table.
        if (sql.StartsWith("CALL tollgate_webhook_absent(", StringComparison.Ordinal))
        {
            return null;
        }

        var table = Regex.Match(sql, @"^(?:SELECT .*? FROM|INSERT INTO|UPDATE|DELETE FROM) (\w+)").Groups[1].Value;
        if (table.Length == 0)
        {
            return "no table";
        }

        if (Local.Contains(table))
        {
            return null;
        }

        var column = DistributedBy.GetValueOrDefault(table, "customer_id");
        if (Regex.IsMatch(sql, $@"\b{column} (= ANY|IN \()"))
        {
            return $"{table}: several values of {column}";
        }

        var insert = Regex.Match(sql, @"^INSERT INTO \w+ \(([^)]*)\)");
        var routed = insert.Success
            ? insert.Groups[1].Value.Split(',').Select(x => x.Trim()).Contains(column)
            : Regex.IsMatch(sql, $@"\b{column} = [@$]\w+");
        return routed ? null : $"{table}: no {column} = predicate";
    }
}

[CollectionDefinition(RouterCapture.Name, DisableParallelization = true)]
public static class RouterCapture
{
    public const string Name = "router statements";
}
