using System.Text.Json;
using System.Text.Json.Serialization;

namespace Tollgate.Core.Ledger;

/// <summary>The JSON forms the ledger stores: allocations and draws in rows, results under idempotency keys.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    UseStringEnumConverter = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(List<HoldAllocation>))]
[JsonSerializable(typeof(List<LotDraw>))]
[JsonSerializable(typeof(EntryDetail))]
[JsonSerializable(typeof(GrantResult))]
[JsonSerializable(typeof(ConsumeResult))]
[JsonSerializable(typeof(HoldResult))]
[JsonSerializable(typeof(ClawbackResult))]
[JsonSerializable(typeof(CountResult))]
[JsonSerializable(typeof(RetireResult))]
[JsonSerializable(typeof(ReverseResult))]
internal sealed partial class LedgerJsonContext : JsonSerializerContext;

/// <summary>Extra facts of an entry kept beside its lots.</summary>
/// <param name="MemberId">The member customer the entry was written for, when it was charged on its billing customer.</param>
public sealed record EntryDetail(IReadOnlyList<LotDraw> Lots, long? Settled, long? DebtRepaid, long? Units = null, string? MemberId = null);

/// <summary>The JSON that the stores keep for hold allocations and entry details (source-generated, AOT-safe).</summary>
public static class LedgerJson
{
    /// <summary>A hold's allocations as JSON.</summary>
    public static string SerializeAllocations(IReadOnlyList<HoldAllocation> allocations) =>
        JsonSerializer.Serialize(allocations as List<HoldAllocation> ?? [.. allocations], LedgerJsonContext.Default.ListHoldAllocation);

    /// <summary>Allocations stored by <see cref="SerializeAllocations"/>.</summary>
    public static IReadOnlyList<HoldAllocation> DeserializeAllocations(string json) =>
        JsonSerializer.Deserialize(json, LedgerJsonContext.Default.ListHoldAllocation) ?? [];

    /// <summary>An entry's detail (lots, settled, debt repaid, units) as JSON.</summary>
    public static string SerializeDetail(EntryRecord entry) =>
        JsonSerializer.Serialize(new EntryDetail(entry.Lots, entry.Settled, entry.DebtRepaid, entry.Units, entry.MemberId), LedgerJsonContext.Default.EntryDetail);

    /// <summary>Detail stored by <see cref="SerializeDetail"/>.</summary>
    public static EntryDetail DeserializeDetail(string json) =>
        JsonSerializer.Deserialize(json, LedgerJsonContext.Default.EntryDetail) ?? new EntryDetail([], null, null);

    internal static string SerializeResult<T>(T result)
        where T : LedgerResult =>
        JsonSerializer.Serialize(result, typeof(T), LedgerJsonContext.Default);

    internal static T DeserializeResult<T>(string json)
        where T : LedgerResult =>
        (T)(JsonSerializer.Deserialize(json, typeof(T), LedgerJsonContext.Default)
            ?? throw new InvalidOperationException("A stored ledger result is empty."));
}
