using System.Data.Common;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using Npgsql;
using Tollgate.Testing;

namespace Tollgate.Storage.Tests.Migrations;

/// <summary>
/// The lookups the stores make on tables that grow without bound (payments, webhooks, subscriptions) are answered by
/// an index, never by reading the whole table: on a busy install a scan per webhook is what turns 10,000 deliveries
/// into minutes. Checked on the plan each database chooses; on PostgreSQL after filling the table and analysing it,
/// so the plan is the one a busy install gets rather than an empty table's guess.
/// </summary>
public abstract class LookupPlanTests
{
    /// <summary>Each lookup with the columns it finds rows by: every one of them must be an index condition (an
    /// index on a leading column alone, such as the provider, still reads every row of that provider).</summary>
    public static TheoryData<string, string, string[]> Lookups => new()
    {
        { "whose is an id named without its customer (customer_keys)",
            "SELECT customer_id FROM customer_keys WHERE key = 'x' AND provider = 'creem' AND kind IN ('payment', 'payment_checkout') ORDER BY kind LIMIT 1",
            ["key"] },
        { "payment by the provider's payment or checkout id, within its customer",
            """
            SELECT * FROM (
                SELECT payment_id, 0 AS preference FROM payments WHERE customer_id = 'c' AND provider = 'creem' AND provider_payment_id = 'x'
                UNION ALL
                SELECT payment_id, 1 AS preference FROM payments WHERE customer_id = 'c' AND provider = 'creem' AND provider_checkout_id = 'x'
            ) found ORDER BY preference LIMIT 1
            """,
            ["provider_payment_id"] },
        // Migration 0023: customer_keys holds an entry's seq, and the entry is read by its primary key (no index on its id).
        { "whose is an entry, and its seq (customer_keys)",
            "SELECT customer_id, seq FROM customer_keys WHERE key = 'x' AND kind = 'entry' AND provider = ''", ["key"] },
        { "an entry by its id, within its customer", "SELECT * FROM ledger_entries WHERE customer_id = 'c' AND entry_id = 'x' AND seq = 7", ["seq"] },
        { "a customer's payments of a product", "SELECT * FROM payments WHERE customer_id = 'c' AND product = 'p' AND status = 'completed' LIMIT 1",
            ["customer_id", "product"] },
        { "checkout by the provider's id, within its customer",
            "SELECT * FROM checkouts WHERE customer_id = 'c' AND provider = 'creem' AND provider_checkout_id = 'x'", ["provider_checkout_id"] },
        { "webhook by event id", "SELECT * FROM webhook_events WHERE provider = 'creem' AND event_id = 'x'", ["event_id"] },
        { "webhooks by status", "SELECT * FROM webhook_events WHERE status = 'unmatched' ORDER BY received_at DESC, event_id LIMIT 50", ["status"] },
        { "subscriptions by status", "SELECT * FROM subscriptions WHERE status = 'active' ORDER BY current_period_end, subscription_id LIMIT 50",
            ["status"] },
        { "subscription by the provider's id, within its customer",
            "SELECT * FROM subscriptions WHERE customer_id = 'c' AND provider = 'creem' AND provider_subscription_id = 'x'", ["provider_subscription_id"] },
        { "subscription by its id, within its customer", "SELECT * FROM subscriptions WHERE customer_id = 'c' AND subscription_id = 'x'",
            ["subscription_id"] },
        { "whose is a subscription, a provider's customer or an event (customer_keys, migration 0017)",
            "SELECT customer_id FROM customer_keys WHERE key = 'x' AND kind = 'provider_customer' AND provider = 'creem'", ["key"] },
        { "an event by its id, within its customer", "SELECT * FROM events WHERE customer_id = 'c' AND event_id = 'x'", ["event_id"] },
        { "a top-up charge by its id, within its customer", "SELECT * FROM topup_charges WHERE customer_id = 'c' AND charge_id = 'x'", ["charge_id"] },
        { "a customer's Sandbox subscriptions", "SELECT * FROM sandbox_subscriptions WHERE customer_id = 'c' ORDER BY created_at", ["customer_id"] },
        // Against a table full of Creem payments: the App Store's few must not be found by reading all of Creem's.
        { "the App Store's newest payments, among many of another provider (admin console)",
            "SELECT * FROM payments WHERE provider = 'apple' ORDER BY created_at DESC, payment_id LIMIT 100", ["provider"] },
        { "a customer's provider customer id (the App Store's account token)",
            "SELECT provider_customer_id FROM provider_customers WHERE provider = 'creem' AND customer_id = 'c' "
            + "ORDER BY created_at, provider_customer_id LIMIT 1", ["customer_id"] },
    };

    protected abstract DatabaseProvider Provider { get; }

    [Theory]
    [MemberData(nameof(Lookups))]
    public async Task Lookup_FindsItsRowsThroughAnIndex(string lookup, string sql, string[] keys)
    {
        await using var test = await TestDatabase.CreateAsync(Provider, new ManualTimeProvider());

        var plan = await PlanAsync(test.Options.ConnectionString, sql);

        Assert.False(ScansATable(plan), $"{lookup}: the plan reads a whole table:{Environment.NewLine}{plan}");
        Assert.All(keys, key => Assert.True(IsIndexCondition(plan, key), $"{lookup}: {key} is not an index condition:{Environment.NewLine}{plan}"));
    }

    protected abstract Task<string> PlanAsync(string connectionString, string sql);

    protected abstract bool ScansATable(string plan);

    protected abstract bool IsIndexCondition(string plan, string column);

    internal static async Task<string> ReadPlanAsync(DbConnection connection, string sql, int column)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await using var reader = await command.ExecuteReaderAsync();
        var lines = new List<string>();
        while (await reader.ReadAsync())
        {
            lines.Add(reader.GetString(column));
        }

        return string.Join(Environment.NewLine, lines);
    }
}

public sealed class SqliteLookupPlanTests : LookupPlanTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;

    protected override async Task<string> PlanAsync(string connectionString, string sql)
    {
        await using var connection = new SqliteConnection(connectionString);
        await connection.OpenAsync();
        // EXPLAIN QUERY PLAN rows: id, parent, notused, detail.
        return await ReadPlanAsync(connection, "EXPLAIN QUERY PLAN " + sql, 3);
    }

    /// <summary>SQLite says "SCAN t" for a full table scan (or "SCAN t USING INDEX …", a walk of a whole index, no
    /// better) and "SEARCH t USING INDEX name (a=? AND b=?)" for a lookup by a and b.</summary>
    protected override bool ScansATable(string plan) =>
        plan.Split(Environment.NewLine).Any(line => line.TrimStart().StartsWith("SCAN ", StringComparison.Ordinal));

    protected override bool IsIndexCondition(string plan, string column) =>
        plan.Split(Environment.NewLine).Any(line => line.TrimStart().StartsWith("SEARCH ", StringComparison.Ordinal)
            && (line.Contains($"({column}=?", StringComparison.Ordinal) || line.Contains($" {column}=?", StringComparison.Ordinal)));
}

public sealed class PostgresLookupPlanTests : LookupPlanTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;

    protected override async Task<string> PlanAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        foreach (var table in Regex.Matches(sql, @"FROM (\w+)").Select(m => m.Groups[1].Value).Where(t => t != "found").Distinct())
        {
            await FillAsync(connection, table);
        }

        return await ReadPlanAsync(connection, "EXPLAIN " + sql, 0);
    }

    private static Task FillAsync(NpgsqlConnection connection, string table) => PlanTables.FillAsync(connection, table, 5000);

    protected override bool ScansATable(string plan) => plan.Contains("Seq Scan", StringComparison.Ordinal);

    /// <summary>PostgreSQL prints "Index Cond: ((provider = 'creem'::text) AND (event_id = 'x'::text))".</summary>
    protected override bool IsIndexCondition(string plan, string column) =>
        plan.Split(Environment.NewLine).Any(line => line.Contains("Index Cond:", StringComparison.Ordinal)
            && line.Contains($"({column} = ", StringComparison.Ordinal));
}
