using System.Data.Common;
using Tollgate.Core.Common;
using Tollgate.Core.Ledger;

namespace Tollgate.Storage.Common;

/// <summary>Column lists and row readers of the ledger tables, shared by both dialects.</summary>
internal static class LedgerRows
{
    public const string LotColumns =
        "customer_id, lot_id, feature, amount, remaining, held, clawed, expired, source, source_ref, expires_at, priority, seq, created_at";

    public const string HoldColumns =
        "customer_id, hold_id, feature, amount, status, allocations, spill_feature, spill_unit_cost, created_at, expires_at, closed_at, settled, reference";

    public const string EntryColumns =
        "customer_id, seq, entry_id, feature, type, amount, balance_after, at, detail, reference, hold_id, operation_key";

    public const string OperationColumns = "customer_id, operation_key, kind, fingerprint, result, created_at";

    /// <summary>The stored <c>live</c> flag: a lot with nothing remaining and nothing held is history.</summary>
    public static bool IsLive(LotRecord lot) => lot.Remaining > 0 || lot.Held > 0;

    public static LotRecord Lot(DbDataReader r, Dialect d) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), r.GetInt64(3), r.GetInt64(4), r.GetInt64(5), r.GetInt64(6), r.GetInt64(7),
        SnakeCase<LotSource>.Parse(r.GetString(8)), r.IsDBNull(9) ? null : r.GetString(9), d.ReadNullableTime(r, 10),
        r.GetInt32(11), r.GetInt64(12), d.ReadTime(r, 13));

    public static HoldRecord Hold(DbDataReader r, Dialect d) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), r.GetInt64(3), SnakeCase<HoldStatus>.Parse(r.GetString(4)),
        LedgerJson.DeserializeAllocations(r.GetString(5)), r.IsDBNull(6) ? null : r.GetString(6), r.GetInt64(7),
        d.ReadTime(r, 8), d.ReadTime(r, 9), d.ReadNullableTime(r, 10), r.GetInt64(11), r.IsDBNull(12) ? null : r.GetString(12));

    public static EntryRecord Entry(DbDataReader r, Dialect d)
    {
        var detail = LedgerJson.DeserializeDetail(r.GetString(8));
        return new EntryRecord(
            r.GetString(0), r.GetInt64(1), r.GetString(2), r.GetString(3), SnakeCase<EntryType>.Parse(r.GetString(4)),
            r.GetInt64(5), r.GetInt64(6), d.ReadTime(r, 7), detail.Lots, r.IsDBNull(9) ? null : r.GetString(9),
            r.IsDBNull(10) ? null : r.GetString(10), r.IsDBNull(11) ? null : r.GetString(11), detail.Settled, detail.DebtRepaid, detail.Units, detail.MemberId);
    }

    /// <summary>Units used per customer, feature and UTC hour by <paramref name="entries"/>, with the first and last seq of
    /// the entries that used them: the increments of <c>ledger_usage_hourly</c>, written in the transaction that writes
    /// the entries. An hour whose uses sum to zero still gets its row (used 0): a chart's partial hour at an edge reads
    /// the entries between the hour's bounds (migration 0023), so the bounds must take in every entry that used units,
    /// whether or not a batch's entries share one time (today they do).</summary>
    public static IReadOnlyList<HourlyUsage> UsageByHour(IEnumerable<EntryRecord> entries) =>
        entries.Where(e => e.UsedUnits != 0)
            .GroupBy(e => (e.CustomerId, e.Feature, Hour: Hour(e.At)))
            .Select(g => new HourlyUsage(g.Key.CustomerId, g.Key.Feature, g.Key.Hour, g.Sum(e => e.UsedUnits), g.Min(e => e.Seq), g.Max(e => e.Seq)))
            .OrderBy(u => u.CustomerId, StringComparer.Ordinal).ThenBy(u => u.Feature, StringComparer.Ordinal).ThenBy(u => u.Hour)
            .ToList();

    /// <summary>The start of the UTC hour holding <paramref name="at"/>.</summary>
    public static DateTimeOffset Hour(DateTimeOffset at)
    {
        var utc = at.UtcDateTime;
        return new DateTimeOffset(utc.Year, utc.Month, utc.Day, utc.Hour, 0, 0, TimeSpan.Zero);
    }

    /// <summary>An entry's used units (<see cref="EntryRecord.UsedUnits"/>) in SQL, given how the dialect reads a field
    /// of the detail JSON: for the partial hours at the edges of a range, which the hourly rollup cannot split.</summary>
    public static string UsedUnitsSql(Func<string, string> jsonField) =>
        $"CASE type WHEN 'consume' THEN coalesce({jsonField("units")}, -amount) WHEN 'settle' THEN coalesce({jsonField("settled")}, 0) "
        + $"WHEN 'count' THEN amount WHEN 'reverse' THEN coalesce({jsonField("units")}, 0) ELSE 0 END";

    /// <summary>Units of a feature a customer used in one UTC hour, and the first and last seq of the entries that used
    /// them (seq and time need not agree when servers' clocks differ: between the bounds may lie entries of other hours,
    /// never outside them one of this hour).</summary>
    public sealed record HourlyUsage(string CustomerId, string Feature, DateTimeOffset Hour, long Used, long FirstSeq, long LastSeq);

    public static OperationRecord Operation(DbDataReader r, Dialect d) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), d.ReadTime(r, 5));

    /// <summary>Groups rows read for several customers into one state per customer.</summary>
    public sealed class CustomerDataBuilder(string customerId)
    {
        public long Seq { get; set; }
        public bool Exists { get; set; } = true;
        public List<LotRecord> Lots { get; } = [];
        public List<HoldRecord> Holds { get; } = [];
        public Dictionary<string, long> Debts { get; } = new(StringComparer.Ordinal);
        public List<OperationRecord> Operations { get; } = [];
        public Dictionary<string, long> Counters { get; } = new(StringComparer.Ordinal);

        public CustomerLedgerData Build() => new(customerId, Seq, Lots, Holds, Debts, Operations, Counters) { Exists = Exists };
    }
}

/// <summary>How a usage range is read: whole UTC hours from the rollup, the partial hours at its edges from the entries.</summary>
internal static class UsageRanges
{
    public static (DateTimeOffset WholeFrom, DateTimeOffset WholeTo, (DateTimeOffset From, DateTimeOffset To)[] Edges) Split(DateTimeOffset from,
        DateTimeOffset to)
    {
        var firstWhole = LedgerRows.Hour(from) == from ? from : LedgerRows.Hour(from).AddHours(1);
        var lastWhole = LedgerRows.Hour(to);
        return firstWhole >= lastWhole
            // Within an hour or two partial ones: all from the entries.
            ? (to, to, [(from, to), (to, to)])
            : (firstWhole, lastWhole, [(from, firstWhole), (lastWhole, to)]);
    }

    /// <summary>The first UTC hour whose rollup rows bound an edge's entries by seq (migration 0023): the hour holding the
    /// edge's start. An empty edge gets its end, so that it names no hour and reads no entries.</summary>
    public static DateTimeOffset FirstHour((DateTimeOffset From, DateTimeOffset To) edge) =>
        edge.From >= edge.To ? edge.To : LedgerRows.Hour(edge.From);

    /// <summary>The condition that bounds an edge's entries by seq, between the least first seq and the greatest last seq
    /// of the rollup rows of the hours it touches, given the dialect's parameter names. No rows (no use in those hours):
    /// NULL bounds, no entries read. The entries of an hour lie between its bounds whatever the servers' clocks did;
    /// any other entry in that range is left out by the time condition that goes with this.</summary>
    public static string SeqBoundsSql(string customer, string feature, string firstHour, string to) =>
        $"""
        seq >= (SELECT min(first_seq) FROM ledger_usage_hourly WHERE customer_id = {customer} AND feature = {feature} AND hour >= {firstHour} AND hour < {to})
        AND seq <= (SELECT max(last_seq) FROM ledger_usage_hourly WHERE customer_id = {customer} AND feature = {feature} AND hour >= {firstHour} AND hour < {to})
        """;
}
