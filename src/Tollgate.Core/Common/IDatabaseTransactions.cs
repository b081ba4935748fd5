namespace Tollgate.Core.Common;

/// <summary>
/// Opens a database transaction for a flow of calls: until it is disposed, every store of the same database that the
/// flow calls (the flow that called <see cref="Begin"/>, and the calls it awaits) runs its statements inside it, on
/// its one connection, and the ledger applies its writes in it directly instead of batching them. So a webhook is
/// verified, stored, deduplicated and applied in one transaction: all of it commits, or none of it.
/// </summary>
/// <remarks>The flow must not run store calls in parallel while the transaction is open: they share a connection.</remarks>
public interface IDatabaseTransactions
{
    /// <summary>Begins the transaction for the calling flow. Not async on purpose: it must set the flow's ambient
    /// transaction in the caller's own context. The connection opens with the first statement.</summary>
    IDatabaseTransaction Begin();

    /// <summary>True for errors that abort a transaction with nothing wrong in its work, so it may run again: deadlocks,
    /// serialization failures, lock timeouts, a busy database.</summary>
    bool IsTransient(Exception exception);
}

/// <summary>An open transaction of <see cref="IDatabaseTransactions"/>. Disposing it without committing rolls it back.</summary>
public interface IDatabaseTransaction : IAsyncDisposable
{
    /// <summary>Commits, then tells other servers which customers changed (their cached views drop them).</summary>
    Task CommitAsync(CancellationToken cancellationToken);
}
