using Tollgate.Core.Idempotency;
using Tollgate.Core.Ledger;

namespace Tollgate.Storage.Tests;

/// <summary>The real store, whose next commit (when armed) commits and then fails, as a connection lost before the
/// database's acknowledgement arrived: the write happened, the caller cannot know it.</summary>
internal sealed class LostAcknowledgementStore(ILedgerStore inner) : ILedgerStore
{
    public const string Message = "connection lost after the commit";

    /// <summary>What the next commit throws once it has committed (then it is cleared); null: commits succeed.</summary>
    public Exception? NextFailure
    {
        get => Volatile.Read(ref _nextFailure);
        set => Volatile.Write(ref _nextFailure, value);
    }

    private Exception? _nextFailure;

    /// <summary>When set, what every commit throws once it has committed.</summary>
    public Func<Exception>? FailEach { get; set; }

    /// <summary>Runs <paramref name="write"/> with the next commit's acknowledgement lost, and checks that it failed so.</summary>
    public async Task LoseNextAcknowledgement(Func<Task> write)
    {
        NextFailure = new InvalidOperationException(Message);
        var lost = await Assert.ThrowsAsync<InvalidOperationException>(write);
        Assert.Equal(Message, lost.Message);
    }

    public bool InTransaction => inner.InTransaction;

    public async Task<ILedgerWriteSession> BeginWriteAsync(IReadOnlyList<CustomerLoad> loads, IReadOnlyCollection<(string Scope, string Key)> apiKeys,
        CancellationToken cancellationToken) => new Session(this, await inner.BeginWriteAsync(loads, apiKeys, cancellationToken));

    public Task<CustomerLedgerData> ReadAsync(string customerId, IReadOnlyCollection<string> operationKeys, CancellationToken cancellationToken) =>
        inner.ReadAsync(customerId, operationKeys, cancellationToken);

    public Task<string?> FindHoldOwnerAsync(string holdId, CancellationToken cancellationToken) => inner.FindHoldOwnerAsync(holdId, cancellationToken);

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

    public bool IsTransient(Exception exception) => inner.IsTransient(exception);

    public bool IsKeyConflict(Exception exception) => inner.IsKeyConflict(exception);

    private sealed class Session(LostAcknowledgementStore store, ILedgerWriteSession inner) : ILedgerWriteSession
    {
        public IReadOnlyDictionary<string, CustomerLedgerData> Customers => inner.Customers;

        public IReadOnlyDictionary<(string Scope, string Key), StoredResponse> ApiResponses => inner.ApiResponses;

        public Task<IReadOnlyList<OperationRecord>> LoadOperationsAsync(IReadOnlyList<(string CustomerId, string Key)> keys,
            CancellationToken cancellationToken) => inner.LoadOperationsAsync(keys, cancellationToken);

        public async Task CommitAsync(LedgerChanges changes, CancellationToken cancellationToken)
        {
            await inner.CommitAsync(changes, cancellationToken);
            if ((Interlocked.Exchange(ref store._nextFailure, null) ?? store.FailEach?.Invoke()) is { } failure)
            {
                throw failure;
            }
        }

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
