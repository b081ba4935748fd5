using System.Data.Common;
using Tollgate.Core.Common;

namespace Tollgate.Storage.Common;

/// <summary>
/// The transaction a flow of calls runs in (<see cref="IDatabaseTransactions"/>): while it is open, the stores of its
/// database that this flow calls (async-local) run their statements on its connection, inside it.
/// </summary>
internal abstract class AmbientTransaction : IDatabaseTransaction
{
    private static readonly AsyncLocal<AmbientTransaction?> Current = new();

    private readonly object _owner;
    private readonly AmbientTransaction? _outer;
    private bool _done;

    protected AmbientTransaction(object owner)
    {
        _owner = owner;
        _outer = Current.Value;
        // Set in the caller's context: the constructor runs synchronously inside the caller's frame.
        Current.Value = this;
    }

    /// <summary>Customers whose ledger this transaction changed, for the notification sent after its commit.</summary>
    public HashSet<string> ChangedCustomers { get; } = new(StringComparer.Ordinal);

    /// <summary>Customers whose subscriptions this transaction changed (other servers drop all they cache of them).</summary>
    public HashSet<string> ChangedSubscriptions { get; } = new(StringComparer.Ordinal);

    /// <summary>Events of the flow (<see cref="Events.EventOutbox"/>), written just before the commit.</summary>
    public List<Tollgate.Core.Events.OutboundEvent> PendingEvents { get; } = [];

    /// <summary>Set when events were written in this transaction (the dispatcher is woken after the commit).</summary>
    public bool WroteEvents { get; set; }

    /// <summary>The dialect of the transaction's database.</summary>
    protected abstract Dialect Dialect { get; }

    /// <summary>Wakes the dispatcher of this process after a commit that wrote events.</summary>
    protected abstract Events.OutboxSignal OutboxSignal { get; }

    /// <summary>The open transaction of <paramref name="owner"/> (a database instance) in the calling flow, if any.</summary>
    public static AmbientTransaction? For(object owner) =>
        Current.Value is { _done: false } transaction && ReferenceEquals(transaction._owner, owner) ? transaction : null;

    /// <summary>The transaction's connection, opened (and the transaction begun) on first use.</summary>
    public abstract ValueTask<DbConnection> ConnectionAsync(CancellationToken cancellationToken);

    /// <summary>The transaction object commands must name (SQLite requires it; PostgreSQL's is implicit).</summary>
    public abstract DbTransaction? Transaction { get; }

    public async Task CommitAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_done, this);
        if (PendingEvents.Count > 0)
        {
            await WriteEventsAsync(PendingEvents, cancellationToken).ConfigureAwait(false);
            PendingEvents.Clear();
            WroteEvents = true;
        }

        await CommitCoreAsync(cancellationToken).ConfigureAwait(false);
        _done = true;
        if (WroteEvents)
        {
            OutboxSignal.Notify();
        }
    }

    /// <summary>Not async on purpose: restores the flow's previous ambient transaction in the caller's own context.</summary>
    public ValueTask DisposeAsync()
    {
        if (ReferenceEquals(Current.Value, this))
        {
            Current.Value = _outer;
        }

        var committed = _done;
        _done = true;
        return CloseAsync(committed);
    }

    protected abstract Task CommitCoreAsync(CancellationToken cancellationToken);

    /// <summary>Writes the flow's events in its transaction, after every other write of it (just before the commit).</summary>
    protected virtual async Task WriteEventsAsync(IReadOnlyList<Tollgate.Core.Events.OutboundEvent> events, CancellationToken cancellationToken)
    {
        var connection = await ConnectionAsync(cancellationToken).ConfigureAwait(false);
        await Events.OutboxSql.WriteAsync(connection, Transaction, Dialect, events, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Rolls back unless committed, and releases the connection.</summary>
    protected abstract ValueTask CloseAsync(bool committed);
}
