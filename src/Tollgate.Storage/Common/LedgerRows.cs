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
            r.IsDBNull(10) ? null : r.GetString(10), r.IsDBNull(11) ? null : r.GetString(11), detail.Settled, detail.DebtRepaid, detail.Units);
    }

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
