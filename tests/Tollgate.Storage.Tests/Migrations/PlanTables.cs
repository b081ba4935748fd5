using Npgsql;

namespace Tollgate.Storage.Tests.Migrations;

/// <summary>
/// Fills a PostgreSQL table for a plan test: the planner's choice on an empty table says nothing (every estimate is a
/// default), so the table gets the given number of rows generated from its columns' types — distinct values, every
/// row Creem's as on a single-provider install — with a shape overriding the expression of chosen
/// columns, then fresh statistics. Vacuumed as well as analysed, so that the visibility map lets counts be answered
/// from an index alone, as on a table autovacuum has seen.
/// </summary>
internal static class PlanTables
{
    public static async Task FillAsync(NpgsqlConnection connection, string table, int rows,
        IReadOnlyDictionary<string, string>? shape = null)
    {
        var columns = new List<(string Name, string Type)>();
        await using (var describe = new NpgsqlCommand(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            connection))
        {
            describe.Parameters.AddWithValue(table);
            await using var reader = await describe.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                columns.Add((reader.GetString(0), reader.GetString(1)));
            }
        }

        var values = columns.Select(c => shape?.TryGetValue(c.Name, out var value) == true ? value : c.Name == "provider" ? "'creem'" : c.Type switch
        {
            "bigint" or "integer" => "i",
            "boolean" => "i % 2 = 0",
            "timestamp with time zone" => "timestamptz '2026-01-01' + i * interval '1 minute'",
            _ => $"'{c.Name}-' || i",
        });
        await using var fill = new NpgsqlCommand(
            $"INSERT INTO {table} ({string.Join(", ", columns.Select(c => c.Name))}) SELECT {string.Join(", ", values)} FROM generate_series(1, {rows}) i",
            connection);
        await fill.ExecuteNonQueryAsync();
        await using var vacuum = new NpgsqlCommand($"VACUUM ANALYZE {table}", connection);
        await vacuum.ExecuteNonQueryAsync();
    }
}
