using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using Npgsql;
using Tollgate.Testing;

namespace Tollgate.Storage.Tests.Migrations;

/// <summary>
/// Issue 18: the pages and sweeps that read a whole table, or all of one customer's history, read an index instead,
/// so their cost stays flat as the data grows. Each statement (as the store sends it) must be planned through the named
/// index and without a scan of a table. On PostgreSQL the tables are filled first (one customer holding most of the
/// ledger, most checkouts closed, most webhooks processed, a few flagged payments) and analysed, and the plan is the
/// generic one an auto-prepared statement ends up with, which is the one that filtered a whole customer.
/// </summary>
public abstract class GrowthPlanTests
{
    /// <summary>What is read, the statement with its parameters as $1, $2 … (typed for PostgreSQL's PREPARE), their
    /// values, and the indexes the plan must use.</summary>
    public static TheoryData<string, string, string, string[]> Statements => new()
    {
        { "a customer's ledger page of one feature",
            "SELECT * FROM ledger_entries WHERE customer_id = $1 AND seq < $2 AND feature = $4 ORDER BY seq DESC LIMIT $3",
            "text,bigint,integer,text|'big',9223372036854775807,51,'f3'", ["ledger_entries_feature"] },
        { "a customer's ledger page, all features",
            "SELECT * FROM ledger_entries WHERE customer_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
            "text,bigint,integer|'big',9223372036854775807,51", ["ledger_entries_pkey"] },
        { "usage per day from the hourly rollup",
            "SELECT hour, sum(used) FROM ledger_usage_hourly WHERE customer_id = $1 AND feature = $2 AND hour >= $3 AND hour < $4 GROUP BY 1",
            "text,text,timestamptz,timestamptz|'big','f3',timestamptz '2026-01-02',timestamptz '2026-01-30'", ["ledger_usage_hourly_pkey"] },
        // Migration 0023: by the feature's index between the seq bounds the hourly rollup keeps, not by an index on time.
        { "usage of a partial hour from the entries",
            """
            SELECT at, sum(amount) FROM ledger_entries WHERE customer_id = $1 AND feature = $2 AND at >= $3 AND at < $4
            AND seq >= (SELECT min(first_seq) FROM ledger_usage_hourly WHERE customer_id = $1 AND feature = $2 AND hour >= $5 AND hour < $4)
            AND seq <= (SELECT max(last_seq) FROM ledger_usage_hourly WHERE customer_id = $1 AND feature = $2 AND hour >= $5 AND hour < $4)
            GROUP BY 1
            """,
            "text,text,timestamptz,timestamptz,timestamptz|'big','f3',timestamptz '2026-01-05 13:37',timestamptz '2026-01-05 14:00',timestamptz '2026-01-05 13:00'",
            ["ledger_entries_feature", "ledger_usage_hourly_pkey"] },
        { "the dashboard's revenue of 30 days",
            """
            SELECT created_at, currency, sum(amount), count(*) FROM payments
            WHERE created_at >= $1 AND created_at < $2 AND amount IS NOT NULL AND status IN ('completed', 'refunded', 'disputed') GROUP BY 1, 2
            """,
            "timestamptz,timestamptz|timestamptz '2026-12-01',timestamptz '2026-12-31'", ["payments_revenue"] },
        // The revenue rollup (migration 0018): the dashboard's live part, between the computed days, and the markers by day.
        { "the dashboard's live revenue between computed days",
            """
            SELECT created_at, currency, sum(amount), count(*) FROM (
                SELECT created_at, currency, status, amount, refunded_amount FROM payments WHERE created_at >= $1 AND created_at < $2
                UNION ALL
                SELECT created_at, currency, status, amount, refunded_amount FROM payments WHERE created_at >= $3 AND created_at < $4) live
            WHERE amount IS NOT NULL AND status IN ('completed', 'refunded', 'disputed') GROUP BY 1, 2
            """,
            "timestamptz,timestamptz,timestamptz,timestamptz|timestamptz '2026-12-10',timestamptz '2026-12-11',timestamptz '2026-12-31',timestamptz '2026-12-31 12:00'",
            ["payments_revenue"] },
        { "the dashboard's days with markers",
            "SELECT day FROM payment_changes WHERE day >= $1 AND day < $2 GROUP BY day",
            "timestamptz,timestamptz|timestamptz '2026-12-01',timestamptz '2026-12-31'", ["payment_changes_day"] },
        { "the rollup pass's markers of a day",
            "SELECT change_id FROM payment_changes WHERE day = $1", "timestamptz|timestamptz '2026-12-01'", ["payment_changes_day"] },
        { "the dashboard's subscription count of a status",
            "SELECT plan_id, count(*) FROM subscriptions WHERE status = $1 GROUP BY plan_id", "text|'active'", ["subscriptions_status_plan"] },
        { "the dashboard's failed webhooks (capped count)",
            "SELECT count(*) FROM (SELECT 1 FROM webhook_events WHERE status = 'failed' LIMIT $1) capped", "integer|500", ["webhook_events_status"] },
        { "the dashboard's flagged payments (capped count)",
            "SELECT count(*) FROM (SELECT 1 FROM payments WHERE flag IS NOT NULL LIMIT $1) capped", "integer|500", ["payments_flagged"] },
        // The admin lists, as the stores send them. The webhook list's status is in the text (a closed set of names): with
        // "status = $1" the generic plan walked the newest events of every status filtering them.
        { "the admin webhook list of one status",
            "SELECT * FROM webhook_events WHERE status = 'failed' ORDER BY received_at DESC, event_id LIMIT $1",
            "integer|100", ["webhook_events_status"] },
        { "the admin webhook list, newest first",
            "SELECT * FROM webhook_events ORDER BY received_at DESC, event_id LIMIT $1", "integer|100", ["webhook_events_received"] },
        { "the admin flagged payments",
            "SELECT * FROM payments WHERE flag IS NOT NULL ORDER BY created_at DESC LIMIT $1", "integer|200", ["payments_flagged"] },
        { "the ledger expiry sweep's customers due",
            """
            SELECT customer_id FROM ledger_lots WHERE live AND expires_at <= $1 AND remaining > 0
            UNION
            SELECT customer_id FROM ledger_holds WHERE status = 'active' AND expires_at <= $1
            LIMIT $2
            """,
            "timestamptz,integer|timestamptz '2026-12-31',100", ["ledger_lots_due", "ledger_holds_due"] },
        { "the admin customer list",
            "SELECT * FROM customers ORDER BY created_at DESC, customer_id LIMIT $1", "integer|50", ["customers_created"] },
        { "the admin customer search",
            """
            WITH found AS MATERIALIZED (
                SELECT * FROM customers
                WHERE (lower(customer_id) COLLATE "C" >= $1 AND lower(customer_id) COLLATE "C" < $2)
                   OR (email IS NOT NULL AND lower(email) COLLATE "C" >= $1 AND lower(email) COLLATE "C" < $2)
                   OR (name IS NOT NULL AND lower(name) COLLATE "C" >= $1 AND lower(name) COLLATE "C" < $2))
            SELECT * FROM found ORDER BY created_at DESC, customer_id LIMIT $3
            """,
            "text,text,integer|'user12',E'user12\\U0010FFFF',50", ["customers_search_id", "customers_search_email", "customers_search_name"] },
        { "the checkout expiry sweep",
            "UPDATE checkouts SET status = 'expired', updated_at = $1 WHERE status IN ('open', 'failed') AND created_at < $2",
            "timestamptz,timestamptz|timestamptz '2027-01-01',timestamptz '2026-12-31'", ["checkouts_open"] },
        { "the webhook retry claim",
            """
            UPDATE webhook_events SET next_attempt_at = $2
            WHERE (provider, event_id) IN (
                SELECT provider, event_id FROM webhook_events
                WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= $1
                ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
            """,
            "timestamptz,timestamptz,integer|timestamptz '2027-01-01',timestamptz '2027-01-01 00:05',50", ["webhook_events_due"] },
        // The inbox's backlog gauges (migration 0020): pending from the index of events with a next attempt, given up from
        // the index of failed events without one; a failed event's row is read for neither.
        { "the inbox backlog gauges",
            """
            SELECT pending.n, pending.oldest,
                (SELECT count(*) FROM webhook_events WHERE status = 'failed' AND next_attempt_at IS NULL)
            FROM (SELECT count(*) AS n, min(received_at) AS oldest FROM webhook_events
                  WHERE next_attempt_at IS NOT NULL AND status IN ('failed', 'received')) pending
            """,
            "integer|0", ["webhook_events_due", "webhook_events_given_up"] },
        // Retention: the statements as PostgreSQL gets them (SQLite's, by rowid, are rewritten below as the store writes them).
        { "retention: API responses past the window",
            """
            DELETE FROM api_idempotency WHERE ctid = ANY (ARRAY(
                SELECT ctid FROM api_idempotency WHERE created_at < $1 ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED))
            """,
            "timestamptz,integer|timestamptz '2026-01-02',1000", ["api_idempotency_created"] },
        { "retention: request-keyed ledger operations past the window",
            """
            DELETE FROM ledger_operations WHERE ctid = ANY (ARRAY(
                SELECT ctid FROM ledger_operations
                WHERE kind IN ('consume', 'hold', 'count') AND created_at < $1 ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED))
            """,
            "timestamptz,integer|timestamptz '2026-01-02',1000", ["ledger_operations_request"] },
        { "retention: payloads of old processed webhooks",
            """
            UPDATE webhook_events SET payload = '' WHERE ctid = ANY (ARRAY(
                SELECT ctid FROM webhook_events
                WHERE status IN ('applied', 'ignored') AND payload <> '' AND received_at < $1 ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED))
            """,
            "timestamptz,integer|timestamptz '2026-01-02',1000", ["webhook_events_payload"] },
    };

    protected abstract DatabaseProvider Provider { get; }

    [Theory]
    [MemberData(nameof(Statements))]
    public async Task Statement_ReadsItsIndex_NotTheTable(string what, string sql, string parameters, string[] indexes)
    {
        await using var test = await TestDatabase.CreateAsync(Provider, new ManualTimeProvider());

        var plan = await PlanAsync(test.Options.ConnectionString, sql, parameters);

        Assert.False(ScansATable(plan), $"{what}: the plan reads a whole table:{Environment.NewLine}{plan}");
        Assert.All(indexes, index => Assert.True(Uses(plan, index), $"{what}: {index} is not used:{Environment.NewLine}{plan}"));
    }

    protected abstract Task<string> PlanAsync(string connectionString, string sql, string parameters);

    protected abstract bool ScansATable(string plan);

    protected abstract bool Uses(string plan, string index);
}

public sealed class SqliteGrowthPlanTests : GrowthPlanTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;

    protected override async Task<string> PlanAsync(string connectionString, string sql, string parameters)
    {
        await using var connection = new SqliteConnection(connectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        // SQLite has no collation "C": its default (BINARY) is byte order already, which is what the store sends.
        // SQLite's retention batches find their rows by rowid, and name the index where SQLite would pick another.
        var batch = Regex.Match(sql, @"^(?<change>.*?) WHERE ctid = ANY \(ARRAY\(\s*SELECT ctid FROM (?<table>\w+)(?<rest>.*)\)\)\s*$", RegexOptions.Singleline);
        if (batch.Success)
        {
            var table = batch.Groups["table"].Value;
            sql = $"{batch.Groups["change"].Value} WHERE rowid IN (SELECT rowid FROM {table}{(table == "webhook_events" ? " INDEXED BY webhook_events_payload" : "")}{batch.Groups["rest"].Value})";
        }

        // The inbox's backlog gauges name their indexes on SQLite, as the store writes them.
        sql = Regex.Replace(sql, @"AS oldest FROM webhook_events(\s+WHERE next_attempt_at IS NOT NULL)", "AS oldest FROM webhook_events INDEXED BY webhook_events_due$1");
        sql = Regex.Replace(sql, @"FROM webhook_events( WHERE status = 'failed' AND next_attempt_at IS NULL)", "FROM webhook_events INDEXED BY webhook_events_given_up$1");
        command.CommandText = "EXPLAIN QUERY PLAN " + sql.Replace(" COLLATE \"C\"", "", StringComparison.Ordinal)
            .Replace(" FOR UPDATE SKIP LOCKED", "", StringComparison.Ordinal);
        var count = Regex.Matches(sql, @"\$(\d+)").Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).DefaultIfEmpty(0).Max();
        for (var i = 1; i <= count; i++)
        {
            command.Parameters.AddWithValue("$" + i, DBNull.Value);
        }

        await using var reader = await command.ExecuteReaderAsync();
        var lines = new List<string>();
        while (await reader.ReadAsync())
        {
            lines.Add(reader.GetString(3));
        }

        return string.Join(Environment.NewLine, lines);
    }

    /// <summary>"SCAN t" reads a table; "SCAN t USING [COVERING] INDEX i" walks an index in its order, which a LIMIT stops
    /// early (the list, newest first), so only the bare form counts as a scan, and not of the statements' own subqueries.</summary>
    protected override bool ScansATable(string plan) =>
        plan.Split(Environment.NewLine).Select(line => line.TrimStart())
            .Any(line => line.StartsWith("SCAN ", StringComparison.Ordinal) && !line.Contains(" INDEX ", StringComparison.Ordinal)
                && line is not ("SCAN capped" or "SCAN found" or "SCAN live" or "SCAN pending"));

    protected override bool Uses(string plan, string index) =>
        index.EndsWith("_pkey", StringComparison.Ordinal)
            // SQLite names a primary key's index sqlite_autoindex_<table>_1, or says PRIMARY KEY for a rowless table.
            ? plan.Contains("PRIMARY KEY", StringComparison.Ordinal) || plan.Contains("sqlite_autoindex_" + index[..^5], StringComparison.Ordinal)
            : Regex.IsMatch(plan, $@"INDEX {index}\b");
}

public sealed class PostgresGrowthPlanTests : GrowthPlanTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;

    /// <summary>Per table, what its rows hold where the defaults (distinct values per row) would not look like a grown
    /// install: 20,000 rows each.</summary>
    private static readonly Dictionary<string, Dictionary<string, string>> Shapes = new()
    {
        ["ledger_entries"] = new()
        {
            // Most entries are one busy customer's, across eight features.
            ["customer_id"] = "CASE WHEN i % 10 = 0 THEN 'c' || i ELSE 'big' END", ["feature"] = "'f' || (i % 8)", ["type"] = "'consume'",
            ["detail"] = "'{}'", ["at"] = "timestamptz '2026-01-01' + i * interval '2 minutes'",
        },
        ["ledger_usage_hourly"] = new() { ["customer_id"] = "CASE WHEN i % 2 = 0 THEN 'big' ELSE 'c' || (i % 500) END", ["feature"] = "'f' || (i % 8)", ["hour"] = "timestamptz '2026-01-01' + i * interval '1 hour'" },
        ["payments"] = new()
        {
            ["status"] = "CASE WHEN i % 20 = 0 THEN 'refunded' ELSE 'completed' END", ["currency"] = "'usd'",
            ["flag"] = "CASE WHEN i % 200 = 0 THEN 'flag' END", ["created_at"] = "timestamptz '2025-01-01' + i * interval '30 minutes'",
        },
        ["subscriptions"] = new()
        {
            ["status"] = "(ARRAY['active','canceled','expired','trialing','past_due'])[1 + i % 5]", ["plan_id"] = "'plan' || (i % 4)",
            ["provider_subscription_id"] = "'sub-' || i",
        },
        ["webhook_events"] = new()
        {
            // Processed events have no next attempt; a few failed ones are waiting, a few used up their attempts.
            ["status"] = "CASE WHEN i % 100 = 0 THEN 'failed' WHEN i % 100 = 1 THEN 'failed' ELSE 'applied' END",
            ["next_attempt_at"] = "CASE WHEN i % 100 = 0 THEN timestamptz '2026-12-31' + i * interval '1 second' END",
        },
        ["checkouts"] = new()
        {
            ["status"] = "CASE WHEN i % 100 = 0 THEN 'open' WHEN i % 2 = 0 THEN 'completed' ELSE 'expired' END",
            ["created_at"] = "timestamptz '2026-01-01' + i * interval '20 minutes'",
        },
        ["api_idempotency"] = [],
        // Most lots never expire or are used up; a few expire later. Most holds were settled; a few are active, due later.
        ["ledger_lots"] = new()
        {
            ["customer_id"] = "'c' || i", ["amount"] = "1000", ["remaining"] = "CASE WHEN i % 10 = 0 THEN 0 ELSE 500 END", ["held"] = "0",
            ["clawed"] = "0", ["expired"] = "0", ["live"] = "i % 10 <> 0",
            ["expires_at"] = "CASE WHEN i % 50 = 0 THEN timestamptz '2027-06-01' + i * interval '1 minute' END",
        },
        ["ledger_holds"] = new()
        {
            ["customer_id"] = "'c' || i", ["amount"] = "1", ["status"] = "CASE WHEN i % 100 = 0 THEN 'active' ELSE 'settled' END",
            ["expires_at"] = "timestamptz '2027-01-01' + i * interval '1 minute'",
        },
        // Most operations are usage; one in ten guards a grant and is kept forever.
        ["ledger_operations"] = new() { ["kind"] = "CASE WHEN i % 10 = 0 THEN 'grant' ELSE 'consume' END" },
        ["customers"] = new()
        {
            ["email"] = "'user' || i || '@example.com'", ["name"] = "'Name ' || i", ["created_at"] = "timestamptz '2025-01-01' + i * interval '30 minutes'",
        },
    };

    protected override async Task<string> PlanAsync(string connectionString, string sql, string parameters)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        foreach (var table in Regex.Matches(sql, @"(?:FROM|UPDATE) (\w+)").Select(m => m.Groups[1].Value).Where(Shapes.ContainsKey).Distinct())
        {
            await FillAsync(connection, table);
        }

        var (types, values) = (parameters.Split('|')[0], parameters.Split('|')[1]);
        foreach (var statement in new[] { "SET plan_cache_mode = force_generic_plan", $"PREPARE q({types}) AS {sql}" })
        {
            await using var prepare = new NpgsqlCommand(statement, connection);
            await prepare.ExecuteNonQueryAsync();
        }

        await using var explain = new NpgsqlCommand($"EXPLAIN EXECUTE q({values})", connection);
        await using var reader = await explain.ExecuteReaderAsync();
        var lines = new List<string>();
        while (await reader.ReadAsync())
        {
            lines.Add(reader.GetString(0));
        }

        return string.Join(Environment.NewLine, lines);
    }

    private static Task FillAsync(NpgsqlConnection connection, string table) => PlanTables.FillAsync(connection, table, 20000, Shapes[table]);

    protected override bool ScansATable(string plan) => plan.Contains("Seq Scan", StringComparison.Ordinal);

    protected override bool Uses(string plan, string index) => Regex.IsMatch(plan, $@"(using|on) {index}\b");
}
