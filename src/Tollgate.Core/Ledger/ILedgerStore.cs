namespace Tollgate.Core.Ledger;

/// <summary>Storage port of the ledger. Implementations lock customers, load and save; all rules live in Core.</summary>
public interface ILedgerStore
{
    /// <summary>True when the calling flow runs in a transaction of this store's database
    /// (<see cref="Common.IDatabaseTransactions"/>): a write session then joins it, writes without committing, and
    /// creates its customers up front; the flow commits.</summary>
    bool InTransaction { get; }

    /// <summary>
    /// Opens one transaction that locks <paramref name="loads"/>' customers in ordinal order of their ids (a customer
    /// without a row is not created: see <see cref="CustomerLedgerData.Exists"/> and <see cref="LedgerChanges.NewCustomers"/>),
    /// then loads their live state and the API responses stored under <paramref name="apiKeys"/>. Nothing is written
    /// until <see cref="ILedgerWriteSession.CommitAsync"/>.
    /// </summary>
    Task<ILedgerWriteSession> BeginWriteAsync(IReadOnlyList<CustomerLoad> loads, IReadOnlyCollection<(string Scope, string Key)> apiKeys,
        CancellationToken cancellationToken);

    /// <summary>Reads a customer's live state without locking (lots with something remaining or held, active holds,
    /// debts, counters), with the stored operations among <paramref name="operationKeys"/>.</summary>
    Task<CustomerLedgerData> ReadAsync(string customerId, IReadOnlyCollection<string> operationKeys, CancellationToken cancellationToken);

    /// <summary>The customer owning a hold, or null when no such hold exists.</summary>
    Task<string?> FindHoldOwnerAsync(string holdId, CancellationToken cancellationToken);

    /// <summary>A hold in any status, or null.</summary>
    Task<HoldRecord?> GetHoldAsync(string holdId, CancellationToken cancellationToken);

    /// <summary>The entry with this id (of any customer), or null.</summary>
    Task<EntryRecord?> FindEntryAsync(string entryId, CancellationToken cancellationToken);

    /// <summary>Entries newest first, optionally of one feature, strictly older than <paramref name="before"/>.</summary>
    Task<EntryPage> GetEntriesAsync(string customerId, string? feature, int limit, long? before, CancellationToken cancellationToken);

    /// <summary>Units of a feature used (<see cref="EntryRecord.UsedUnits"/>) per UTC day by the entries written in
    /// [<paramref name="from"/>, <paramref name="to"/>), keyed by the day's start; days without use may be missing. Read
    /// from the hourly rollup written with the entries, and from the entries only for the partial hours at the edges.</summary>
    Task<IReadOnlyList<(DateTimeOffset Day, long Used)>> GetDailyUsageAsync(string customerId, string feature, DateTimeOffset from, DateTimeOffset to,
        CancellationToken cancellationToken);

    /// <summary>Lots of a customer in any state, for history views and audits.</summary>
    Task<IReadOnlyList<LotRecord>> GetAllLotsAsync(string customerId, CancellationToken cancellationToken);

    /// <summary>Customers with a lot or an active hold whose expiry is at or before <paramref name="now"/>.</summary>
    Task<IReadOnlyList<string>> FindCustomersWithDueExpiriesAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken);

    /// <summary>True for errors worth retrying the whole transaction for: lock timeouts, deadlocks, serialization failures.</summary>
    bool IsTransient(Exception exception);

    /// <summary>True when a commit failed on a unique key another transaction stored first: an operation's
    /// (customer, key), an API call's (scope, key), a new customer's row. The engine then reruns the batch at once with
    /// the stored keys loaded.</summary>
    bool IsKeyConflict(Exception exception);

    /// <summary>True when a commit failed because a customer's row no longer held the version of the state the batch was
    /// written from (<see cref="CustomerLoad.Known"/>): another writer changed that customer meanwhile. Nothing was
    /// written; the engine reruns the batch with its customers loaded.</summary>
    bool IsStale(Exception exception);
}

/// <summary>One locked write transaction.</summary>
public interface ILedgerWriteSession : IAsyncDisposable
{
    /// <summary>The locked customers' ledger data, by customer id, as read at the start of the transaction.</summary>
    IReadOnlyDictionary<string, CustomerLedgerData> Customers { get; }

    /// <summary>API responses stored under the keys the session was opened with.</summary>
    IReadOnlyDictionary<(string Scope, string Key), Idempotency.StoredResponse> ApiResponses { get; }

    /// <summary>Reads stored operations by (customer, key) inside the open transaction.</summary>
    Task<IReadOnlyList<OperationRecord>> LoadOperationsAsync(IReadOnlyList<(string CustomerId, string Key)> keys, CancellationToken cancellationToken);

    /// <summary>Persists <paramref name="changes"/> and commits. Disposing without committing rolls back.</summary>
    Task CommitAsync(LedgerChanges changes, CancellationToken cancellationToken);

    /// <summary>After <see cref="CommitAsync"/>, the version each customer's row holds (every committed change of a
    /// customer's ledger gives it a new one), for a later batch to write from the state it knows (<see cref="CustomerLoad.Known"/>).
    /// Empty for a store that does not version its customers, and for customers without a row.</summary>
    IReadOnlyDictionary<string, long> Versions { get; }

    /// <summary>Whether <see cref="Customers"/> are the known states the session was opened with (<see cref="CustomerLoad.Known"/>)
    /// rather than loaded: in a flow, after the customers' locks found their rows still at the known versions.</summary>
    bool FromKnownState => false;

    /// <summary>In a flow's transaction: calls <paramref name="committed"/> with the version this session left on each
    /// customer's row once the flow has committed, and never if it rolls back (see <see cref="Versions"/>, which a flow's
    /// session leaves empty). A store that does not version its customers never calls it.</summary>
    void OnFlowCommitted(Action<IReadOnlyDictionary<string, long>> committed)
    {
    }
}
