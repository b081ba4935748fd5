namespace Tollgate.Storage.Sqlite;

/// <summary>One SQLite write transaction of this process at a time, first come first served (see
/// <see cref="SqliteDatabase.WriteGate"/>). Waits at most as long as SQLite's own busy timeout would.</summary>
internal sealed class WriteGate
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly SemaphoreSlim _turn = new(1, 1);

    /// <summary>Waits for this process's turn to write; dispose the result to pass the turn on.</summary>
    public async ValueTask<Turn> EnterAsync(CancellationToken cancellationToken)
    {
        if (!await _turn.WaitAsync(Timeout, cancellationToken).ConfigureAwait(false))
        {
            throw new TimeoutException($"No turn to write to the SQLite database within {Timeout.TotalSeconds:F0} s.");
        }

        return new Turn(_turn);
    }

    /// <summary>A turn to write; passed on once, when disposed.</summary>
    internal sealed class Turn(SemaphoreSlim turn) : IDisposable
    {
        private SemaphoreSlim? _turn = turn;

        public void Dispose() => Interlocked.Exchange(ref _turn, null)?.Release();
    }
}
