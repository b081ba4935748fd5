using Tollgate.Core.Idempotency;
using Tollgate.Core.Ledger;

namespace Tollgate.Storage.Tests;

/// <summary>The real store, passed through: a test's stand-in overrides the one or two members where it puts a fault or
/// a probe (<see cref="LostAcknowledgementStore"/>, the failure rules' store), and its sessions derive from
/// <see cref="DelegatingWriteSession"/>.</summary>
internal abstract class DelegatingLedgerStore(ILedgerStore inner) : ILedgerStore
{
    protected ILedgerStore Inner => inner;

    public bool InTransaction => inner.InTransaction;

    public virtual Task<ILedgerWriteSession> BeginWriteAsync(IReadOnlyList<CustomerLoad> loads, IReadOnlyCollection<(string Scope, string Key)> apiKeys,
        CancellationToken cancellationToken) => inner.BeginWriteAsync(loads, apiKeys, cancellationToken);

    public Task<CustomerLedgerData> ReadAsync(string customerId, IReadOnlyCollection<string> operationKeys, CancellationToken cancellationToken) =>
        inner.ReadAsync(customerId, operationKeys, cancellationToken);

    public virtual Task<string?> FindHoldOwnerAsync(string holdId, CancellationToken cancellationToken) => inner.FindHoldOwnerAsync(holdId, cancellationToken);

    public Task<HoldRecord?> GetHoldAsync(string holdId, CancellationToken cancellationToken) => inner.GetHoldAsync(holdId, cancellationToken);

    public Task<EntryRecord?> FindEntryAsync(string entryId, CancellationToken cancellationToken) => inner.FindEntryAsync(entryId, cancellationToken);

    public Task<EntryPage> GetEntriesAsync(string customerId, string? feature, int limit, long? before, CancellationToken cancellationToken) =>
        inner.GetEntriesAsync(customerId, feature, limit, before, cancellationToken);

    public Task<IReadOnlyList<(DateTimeOffset Day, long Used)>> GetDailyUsageAsync(string customerId, string feature, DateTimeOffset from,
        DateTimeOffset to, CancellationToken cancellationToken) => inner.GetDailyUsageAsync(customerId, feature, from, to, cancellationToken);

    public Task<IReadOnlyList<LotRecord>> GetAllLotsAsync(string customerId, CancellationToken cancellationToken) =>
        inner.GetAllLotsAsync(customerId, cancellationToken);

    public Task<IReadOnlyList<string>> FindCustomersWithDueExpiriesAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken) =>
        inner.FindCustomersWithDueExpiriesAsync(now, limit, cancellationToken);

    public virtual bool IsTransient(Exception exception) => inner.IsTransient(exception);

    public virtual bool IsKeyConflict(Exception exception) => inner.IsKeyConflict(exception);

    public virtual bool IsStale(Exception exception) => inner.IsStale(exception);
}

/// <summary>A real write session, passed through (see <see cref="DelegatingLedgerStore"/>).</summary>
internal abstract class DelegatingWriteSession(ILedgerWriteSession inner) : ILedgerWriteSession
{
    protected ILedgerWriteSession Inner => inner;

    public IReadOnlyDictionary<string, CustomerLedgerData> Customers => inner.Customers;

    public IReadOnlyDictionary<(string Scope, string Key), StoredResponse> ApiResponses => inner.ApiResponses;

    public virtual Task<IReadOnlyList<OperationRecord>> LoadOperationsAsync(IReadOnlyList<(string CustomerId, string Key)> keys,
        CancellationToken cancellationToken) => inner.LoadOperationsAsync(keys, cancellationToken);

    public virtual Task CommitAsync(LedgerChanges changes, CancellationToken cancellationToken) => inner.CommitAsync(changes, cancellationToken);

    public virtual IReadOnlyDictionary<string, long> Versions => inner.Versions;

    public bool FromKnownState => inner.FromKnownState;

    public virtual void OnFlowCommitted(Action<IReadOnlyDictionary<string, long>> committed) => inner.OnFlowCommitted(committed);

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
