namespace Tollgate.Core.Ledger;

/// <summary>Where a lot's credits came from. Stored by name; the default burn priority follows from it.</summary>
public enum LotSource
{
    /// <summary>A purchase (credit pack).</summary>
    Payment,

    /// <summary>The allowance of one paid subscription period.</summary>
    SubscriptionPeriod,

    /// <summary>The allowance of a plan without paid periods (the default plan, lifetime), granted lazily per period.</summary>
    PlanAllowance,

    /// <summary>A manual grant by an operator.</summary>
    Admin,

    /// <summary>A promotional gift.</summary>
    Promo,

    /// <summary>Unused plan credits of the window that just ended, carried into the next paid window (catalog
    /// <c>rollover</c>); its source_ref is the ended period's, so a refund of that period takes it back too.</summary>
    Rollover,
}

/// <summary>What a ledger entry records.</summary>
public enum EntryType
{
    /// <summary>A lot was granted.</summary>
    Grant,
    /// <summary>Units were consumed.</summary>
    Consume,
    /// <summary>Units were reserved by a hold.</summary>
    Hold,
    /// <summary>A hold was settled: its units consumed.</summary>
    Settle,
    /// <summary>A hold's units went back to their lots.</summary>
    Release,
    /// <summary>Units of a lot expired (or its period ended).</summary>
    Expire,
    /// <summary>Units were taken back after a refund or dispute.</summary>
    Clawback,
    /// <summary>Units were owed after a clawback found them spent.</summary>
    Debt,
    /// <summary>A count feature's level moved.</summary>
    Adjust,

    /// <summary>A change of a count feature's level (+n / −n); its balance_after is the level.</summary>
    Count,

    /// <summary>Units a usage took, put back into the lots they came from (a usage reversed).</summary>
    Reverse,
}

/// <summary>Where a hold stands.</summary>
public enum HoldStatus
{
    /// <summary>Reserving units; may be settled or released.</summary>
    Active,
    /// <summary>Settled: consumed in part or whole.</summary>
    Settled,
    /// <summary>Released: its units went back.</summary>
    Released,
    /// <summary>Passed its expiry unsettled; its units went back.</summary>
    Expired,
}

/// <summary>One grant of credits (or of a metered allowance) to a customer.</summary>
/// <param name="Held">Credits of this lot reserved by active holds; kept so a lot drained into holds is still loaded.</param>
/// <param name="Clawed">Credits of this lot taken back by clawbacks (from what remained, from holds, or as debt).</param>
/// <param name="Expired">Credits of this lot removed by expiry.</param>
public sealed record LotRecord(
    string CustomerId,
    string LotId,
    string Feature,
    long Amount,
    long Remaining,
    long Held,
    long Clawed,
    long Expired,
    LotSource Source,
    string? SourceRef,
    DateTimeOffset? ExpiresAt,
    int Priority,
    long Seq,
    DateTimeOffset CreatedAt);

/// <summary>Part of a hold taken from one lot. <paramref name="Revoked"/> of it was clawed back while held.</summary>
public sealed record HoldAllocation(string LotId, string Feature, long Amount, long Revoked);

/// <summary>A reservation of units of <paramref name="Feature"/>; with a spill, units beyond the feature's own
/// balance are reserved from <paramref name="SpillFeature"/> at <paramref name="SpillUnitCost"/> each.</summary>
public sealed record HoldRecord(
    string CustomerId,
    string HoldId,
    string Feature,
    long Amount,
    HoldStatus Status,
    IReadOnlyList<HoldAllocation> Allocations,
    string? SpillFeature,
    long SpillUnitCost,
    DateTimeOffset CreatedAt,
    DateTimeOffset ExpiresAt,
    DateTimeOffset? ClosedAt,
    long Settled,
    string? Reference);

/// <summary>A lot's share of an entry.</summary>
public sealed record LotDraw(string LotId, long Amount);

/// <summary>One immutable movement. <paramref name="Amount"/> is the change of the feature's balance
/// (available minus debt); <paramref name="BalanceAfter"/> is that balance after it. <paramref name="MemberId"/> names the
/// member customer a usage, hold or seat was for, when it was charged on its billing customer (the entry's customer).</summary>
public sealed record EntryRecord(
    string CustomerId,
    long Seq,
    string EntryId,
    string Feature,
    EntryType Type,
    long Amount,
    long BalanceAfter,
    DateTimeOffset At,
    IReadOnlyList<LotDraw> Lots,
    string? Reference,
    string? HoldId,
    string? OperationKey,
    long? Settled = null,
    long? DebtRepaid = null,
    long? Units = null,
    string? MemberId = null)
{
    /// <summary>Units of the entry's feature used: a consume's units (which, for a metered feature that spilled, can
    /// exceed what its own lots paid), a settle's settled amount, a count's change.</summary>
    public long UsedUnits => Type switch
    {
        EntryType.Consume => Units ?? -Amount,
        EntryType.Settle => Settled ?? 0,
        EntryType.Count => Amount,
        EntryType.Reverse => Units ?? 0,
        _ => 0,
    };
}

/// <summary>The first result of an idempotent operation, kept under (customer, key).</summary>
public sealed record OperationRecord(
    string CustomerId,
    string OperationKey,
    string Kind,
    string Fingerprint,
    string Result,
    DateTimeOffset CreatedAt);

/// <summary>What a write transaction loads for one customer, after locking it.</summary>
/// <param name="OperationKeys">Keys whose stored results the batch may replay. Empty on a first attempt: keys are
/// normally new, and the unique constraint on (customer, key) reports the rare replay when the batch commits.</param>
/// <param name="SourceRefs">Sources to claw back: their lots are loaded even when depleted.</param>
/// <param name="HoldIds">Holds to settle or release: loaded in any status.</param>
public sealed record CustomerLoad(
    string CustomerId,
    IReadOnlyCollection<string> OperationKeys,
    IReadOnlyCollection<string> SourceRefs,
    IReadOnlyCollection<string> HoldIds)
{
    /// <summary>Lots to load in any state (those a reversal puts units back into).</summary>
    public IReadOnlyCollection<string> LotIds { get; init; } = [];

    /// <summary>Source ref prefixes whose lots are loaded in any state (a subscription's periods, whose ended lots a
    /// rollover carries from).</summary>
    public IReadOnlyCollection<string> SourcePrefixes { get; init; } = [];

    /// <summary>The state this process last committed for the customer, when nothing else needs loading. A store that
    /// versions its customers may use it instead of loading: it then checks, in the commit, that the customer's row still
    /// holds <see cref="KnownLedger.Version"/> and fails the commit (<see cref="ILedgerStore.IsStale"/>) if another
    /// writer changed it since. A store without versions ignores it. In a flow's transaction, where a failed commit
    /// would fail the whole flow, the load may also name <see cref="OperationKeys"/>: the store then locks the customer's
    /// row first, reads only those keys, and loads the customer after all if the row no longer holds that version.</summary>
    public KnownLedger? Known { get; init; }
}

/// <summary>A customer's ledger state as a commit of this process left it, and the version that commit gave the
/// customer's row (see <see cref="ILedgerWriteSession.Versions"/>).</summary>
public sealed record KnownLedger(long Version, CustomerLedgerData Data);

/// <summary>A customer's live ledger state: the last entry sequence number, lots with something remaining or held
/// (plus requested sources), active holds (plus requested ones), debts, and requested operation records.</summary>
public sealed record CustomerLedgerData(
    string CustomerId,
    long Seq,
    IReadOnlyList<LotRecord> Lots,
    IReadOnlyList<HoldRecord> Holds,
    IReadOnlyDictionary<string, long> Debts,
    IReadOnlyList<OperationRecord> Operations,
    IReadOnlyDictionary<string, long> Counters)
{
    /// <summary>Whether the customer has a row. A customer is created by its first write that changes something,
    /// in that write's transaction; reads and refused writes never create one.</summary>
    // Stryker disable once Boolean : every store sets it on each load (LedgerRows); the default serves rules tests' data
    public bool Exists { get; init; } = true;

    /// <summary>The data of a customer with no ledger yet.</summary>
    public static CustomerLedgerData Empty(string customerId) =>
        new(customerId, 0, [], [], new Dictionary<string, long>(), [], new Dictionary<string, long>());
}

/// <summary>Everything one write transaction persists.</summary>
public sealed record LedgerChanges(
    IReadOnlyList<LotRecord> InsertedLots,
    IReadOnlyList<LotRecord> UpdatedLots,
    IReadOnlyList<HoldRecord> InsertedHolds,
    IReadOnlyList<HoldRecord> UpdatedHolds,
    IReadOnlyList<EntryRecord> Entries,
    IReadOnlyList<(string CustomerId, string Feature, long Amount)> Debts,
    IReadOnlyList<OperationRecord> Operations,
    IReadOnlyList<(string CustomerId, string Feature, long Level)> Counters)
{
    /// <summary>Customers without a row that this write changes: their rows are inserted with it (a concurrent first
    /// write of the same customer then fails on the key and its batch runs again).</summary>
    public IReadOnlyList<string> NewCustomers { get; init; } = [];

    /// <summary>Responses of API calls stored under their Idempotency-Key with this write. A key stored meanwhile by
    /// another transaction fails the commit on the key; the batch then runs again with the stored responses loaded.</summary>
    public IReadOnlyList<ApiResponseRecord> ApiResponses { get; init; } = [];

    /// <summary>Rows of other features that commit with this write (<see cref="LedgerWrite.Attachment"/>), of the
    /// requests that applied anew, in the batch's order.</summary>
    public IReadOnlyList<LedgerAttachment> Attachments { get; init; } = [];

    /// <summary>The customers whose state this changes (for cache invalidation).</summary>
    public IEnumerable<string> Customers =>
        Entries.Select(e => e.CustomerId).Concat(Operations.Select(o => o.CustomerId)).Distinct(StringComparer.Ordinal);

    /// <summary>The customers any of whose ledger rows this writes (lots, holds, entries, debts, operations, counters):
    /// a store that versions its customers gives each a new version in the commit (see <see cref="ILedgerWriteSession.Versions"/>).</summary>
    public HashSet<string> LedgerCustomers() =>
        InsertedLots.Select(l => l.CustomerId)
            .Concat(UpdatedLots.Select(l => l.CustomerId))
            .Concat(InsertedHolds.Select(h => h.CustomerId))
            .Concat(UpdatedHolds.Select(h => h.CustomerId))
            .Concat(Entries.Select(e => e.CustomerId))
            .Concat(Debts.Select(d => d.CustomerId))
            .Concat(Operations.Select(o => o.CustomerId))
            .Concat(Counters.Select(c => c.CustomerId))
            .ToHashSet(StringComparer.Ordinal);
}

/// <summary>A response of an API call stored under (scope, Idempotency-Key).</summary>
public sealed record ApiResponseRecord(string Scope, string Key, Idempotency.StoredResponse Response, DateTimeOffset CreatedAt);

/// <summary>A page of entries, newest first; <paramref name="Next"/> is the cursor of the following page.</summary>
public sealed record EntryPage(IReadOnlyList<EntryRecord> Entries, long? Next);
