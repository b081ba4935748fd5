using Npgsql;
using NpgsqlTypes;
using Tollgate.Testing;

namespace Tollgate.Storage.Tests.Migrations;

/// <summary>
/// Migration 0024: <c>tollgate_update_lots</c>, which writes a ledger batch's changed lots on PostgreSQL, updates them in
/// one statement joined to each lot by its primary key. A join in a cached plan follows the table's statistics, and on a
/// small table it reads every lot (a hash join over a sequential scan); the procedure pins the join to the primary-key
/// lookups it had as a loop. Checked on the transaction's own table counters, on a table small enough for the planner to
/// prefer the scan, and on the rows themselves.
/// </summary>
public sealed class PostgresLotUpdateTests
{
    [Fact]
    public async Task UpdateLots_SetsEachGivenLotThroughThePrimaryKey_AndLeavesTheOthers_OnATableThePlannerWouldScan()
    {
        await using var test = await TestDatabase.CreateAsync(DatabaseProvider.Postgres, new ManualTimeProvider());
        await using var connection = new NpgsqlConnection(test.Options.ConnectionString);
        await connection.OpenAsync();
        var expiry = new DateTime(2027, 1, 1, 0, 0, 0, DateTimeKind.Utc);

        // Three customers with two lots each, 100 units remaining in every lot, then analysed: six rows.
        await ExecuteAsync(connection,
            """
            INSERT INTO ledger_lots (customer_id, lot_id, feature, amount, remaining, held, clawed, expired, live, source, source_ref, expires_at,
                priority, seq, created_at)
            SELECT c, c || '-' || n, 'credits', 100, 100, 0, 0, 0, true, 'payment', NULL, NULL, 0, n, now()
            FROM unnest(ARRAY['a', 'b', 'c']) AS c CROSS JOIN generate_series(1, 2) AS n;
            ANALYZE ledger_lots;
            """);
        // The same update as a plain statement: what the planner makes of this table when nothing pins the plan.
        Assert.Contains("Seq Scan on ledger_lots", await LookupPlanTests.ReadPlanAsync(connection,
            "EXPLAIN UPDATE ledger_lots AS l SET remaining = u.r FROM unnest(ARRAY['a', 'b'], ARRAY['a-1', 'b-2'], ARRAY[1, 2]::bigint[]) AS u(c, lot, r) "
            + "WHERE l.customer_id = u.c AND l.lot_id = u.lot", 0), StringComparison.Ordinal);

        // Three lots of three customers, one of them of a customer with another lot: spent, held and emptied, with and
        // without an expiry (a null first in the array, a value after it).
        await using var transaction = await connection.BeginTransactionAsync();
        await using (var call = new NpgsqlCommand(
            "CALL tollgate_update_lots($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::boolean[], $8::timestamptz[])",
            connection, transaction))
        {
            call.Parameters.Add(new NpgsqlParameter { Value = new[] { "a", "b", "c" } });
            call.Parameters.Add(new NpgsqlParameter { Value = new[] { "a-1", "b-2", "c-1" } });
            call.Parameters.Add(new NpgsqlParameter { Value = new long[] { 70, 40, 0 } });
            call.Parameters.Add(new NpgsqlParameter { Value = new long[] { 0, 50, 0 } });
            call.Parameters.Add(new NpgsqlParameter { Value = new long[] { 0, 0, 30 } });
            call.Parameters.Add(new NpgsqlParameter { Value = new long[] { 30, 0, 70 } });
            call.Parameters.Add(new NpgsqlParameter { Value = new[] { true, true, false } });
            call.Parameters.Add(new NpgsqlParameter
            {
                Value = new DateTime?[] { null, expiry, expiry },
                NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz,
            });
            await call.ExecuteNonQueryAsync();
        }

        // This transaction's reads of the table so far: through its index (a nested loop's lookups count as one index
        // scan), and not one scan of the table.
        var (scans, lookups) = await CountersAsync(connection, transaction);
        Assert.Equal(0, scans);
        Assert.True(lookups > 0, "ledger_lots was not read through an index");
        await transaction.CommitAsync();

        var lots = new Dictionary<string, string>();
        await using (var read = new NpgsqlCommand("SELECT lot_id, remaining, held, clawed, expired, live, expires_at FROM ledger_lots", connection))
        await using (var reader = await read.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                lots[reader.GetString(0)] = $"{reader.GetInt64(1)} {reader.GetInt64(2)} {reader.GetInt64(3)} {reader.GetInt64(4)} {reader.GetBoolean(5)} "
                    + (reader.IsDBNull(6) ? "-" : reader.GetDateTime(6).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        Assert.Equal(new Dictionary<string, string>
        {
            ["a-1"] = "70 0 0 30 True -",
            ["a-2"] = "100 0 0 0 True -",
            ["b-1"] = "100 0 0 0 True -",
            ["b-2"] = "40 50 0 0 True 2027-01-01",
            ["c-1"] = "0 0 30 70 False 2027-01-01",
            ["c-2"] = "100 0 0 0 True -",
        }, lots);
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Sequential and index scans of ledger_lots in the current transaction (not yet in the cumulative view).</summary>
    private static async Task<(long Scans, long Lookups)> CountersAsync(NpgsqlConnection connection, NpgsqlTransaction transaction)
    {
        await using var command = new NpgsqlCommand(
            "SELECT seq_scan, coalesce(idx_scan, 0) FROM pg_stat_xact_user_tables WHERE relid = 'ledger_lots'::regclass", connection, transaction);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        return (reader.GetInt64(0), reader.GetInt64(1));
    }
}
