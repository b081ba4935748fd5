namespace Tollgate.Core.Ledger;

/// <summary>A request waiting in a lane for its batch. Its result is held back until the batch commits.</summary>
internal abstract class PendingOperation
{
    protected PendingOperation(string customerId, string? operationKey, string? sourceRef, string? holdId)
    {
        CustomerId = customerId;
        OperationKey = operationKey;
        SourceRef = sourceRef;
        HoldId = holdId;
    }

    public string CustomerId { get; }
    public string? OperationKey { get; }
    public string? SourceRef { get; }
    public string? HoldId { get; }

    /// <summary>True when the caller gave up before the batch started; such requests are not executed.</summary>
    public abstract bool IsAbandoned { get; }

    public abstract void Apply(LedgerRules rules, CustomerLedger ledger, DateTimeOffset now);

    /// <summary>True when the last <see cref="Apply"/> refused a request that carries a key.</summary>
    public abstract bool RefusedWithKey { get; }

    /// <summary>Answers the caller; called only after the batch committed.</summary>
    public abstract void Complete();

    public abstract void Fail(Exception exception);
}

internal sealed class PendingOperation<T> : PendingOperation
    where T : LedgerResult
{
    private readonly Func<LedgerRules, CustomerLedger, DateTimeOffset, T> _apply;
    private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private T? _result;

    public PendingOperation(string customerId, string? operationKey, string? sourceRef, string? holdId,
        Func<LedgerRules, CustomerLedger, DateTimeOffset, T> apply)
        : base(customerId, operationKey, sourceRef, holdId) => _apply = apply;

    public Task<T> Task => _completion.Task;

    public override bool IsAbandoned => _completion.Task.IsCompleted;

    public override void Apply(LedgerRules rules, CustomerLedger ledger, DateTimeOffset now) => _result = _apply(rules, ledger, now);

    public override bool RefusedWithKey => OperationKey is not null && _result is { Refusal: not null };

    public override void Complete() =>
        _completion.TrySetResult(_result ?? throw new InvalidOperationException("A batch committed without applying every request."));

    public override void Fail(Exception exception) => _completion.TrySetException(exception);

    public void Cancel(CancellationToken cancellationToken) => _completion.TrySetCanceled(cancellationToken);
}

/// <summary>A request that only brings a customer up to date (expired holds and lots).</summary>
internal sealed record SweepResult : LedgerResult;
