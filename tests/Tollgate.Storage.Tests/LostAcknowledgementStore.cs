using Tollgate.Core.Ledger;

namespace Tollgate.Storage.Tests;

/// <summary>The real store, whose next commit (when armed) commits and then fails, as a connection lost before the
/// database's acknowledgement arrived: the write happened, the caller cannot know it.</summary>
internal sealed class LostAcknowledgementStore(ILedgerStore inner) : DelegatingLedgerStore(inner)
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

    public override async Task<ILedgerWriteSession> BeginWriteAsync(IReadOnlyList<CustomerLoad> loads,
        IReadOnlyCollection<(string Scope, string Key)> apiKeys, CancellationToken cancellationToken) =>
        new Session(this, await Inner.BeginWriteAsync(loads, apiKeys, cancellationToken));

    private sealed class Session(LostAcknowledgementStore store, ILedgerWriteSession inner) : DelegatingWriteSession(inner)
    {
        public override async Task CommitAsync(LedgerChanges changes, CancellationToken cancellationToken)
        {
            await Inner.CommitAsync(changes, cancellationToken);
            if ((Interlocked.Exchange(ref store._nextFailure, null) ?? store.FailEach?.Invoke()) is { } failure)
            {
                throw failure;
            }
        }
    }
}
