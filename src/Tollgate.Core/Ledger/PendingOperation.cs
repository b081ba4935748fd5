using Tollgate.Core.Idempotency;

namespace Tollgate.Core.Ledger;

/// <summary>A request waiting in a lane for its batch. Its result is held back until the batch commits.</summary>
internal abstract class PendingOperation
{
    protected PendingOperation(string customerId, string? operationKey, string? sourceRef, string? holdId, LedgerWrite? write)
    {
        CustomerId = customerId;
        OperationKey = operationKey;
        SourceRef = sourceRef;
        HoldId = holdId;
        Due = write?.Due is { IsEmpty: false } due ? due : null;
        Call = write?.Call;
        Attachment = write?.Attachment;
    }

    public string CustomerId { get; }

    /// <summary>The trace of the request that asked for this (the batch that runs it links to it).</summary>
    public System.Diagnostics.ActivityContext Caller { get; } = System.Diagnostics.Activity.Current?.Context ?? default;

    public string? OperationKey { get; }
    public string? SourceRef { get; }
    public string? HoldId { get; }

    /// <summary>Lots to load in any state (a reversal's).</summary>
    public IReadOnlyCollection<string> LotIds { get; init; } = [];

    /// <summary>Writes the customer's plan owes, applied first and kept only if this request is not refused.</summary>
    public DueWrites? Due { get; }

    /// <summary>The API call whose response is stored with this request's effect.</summary>
    public IdempotentCall<LedgerResult>? Call { get; }

    /// <summary>Rows of another feature written with this request's effect, only when it applies anew.</summary>
    public LedgerAttachment? Attachment { get; }

    /// <summary>True when the last <see cref="Apply"/> applied the request anew: not refused, not a replay of its key,
    /// not answered from a stored API response.</summary>
    public abstract bool AppliedAnew { get; }

    /// <summary>True when the caller gave up before the batch started; such requests are not executed.</summary>
    public abstract bool IsAbandoned { get; }

    /// <summary>The outcome of the last <see cref="Apply"/> or <see cref="AnswerFromStore"/>.</summary>
    public abstract LedgerResult? Result { get; }

    public abstract void Apply(LedgerRules rules, CustomerLedger ledger, DateTimeOffset now);

    /// <summary>Answers without applying: with the response an earlier call stored under the same API key and the same
    /// request, or (<paramref name="replay"/> null) as a key reused with another request.</summary>
    public abstract void AnswerFromStore(StoredResponse? replay);

    /// <summary>Attaches the response stored for <see cref="Call"/> to the result.</summary>
    public abstract void Attach(StoredResponse response);

    /// <summary>True when the last <see cref="Apply"/> refused a request that carries a key.</summary>
    public abstract bool RefusedWithKey { get; }

    /// <summary>Answers the caller; called only after the batch committed.</summary>
    public abstract void Complete();

    public abstract void Fail(Exception exception);
}

internal sealed class PendingOperation<T> : PendingOperation
    where T : LedgerResult, new()
{
    private readonly Func<LedgerRules, CustomerLedger, DateTimeOffset, T> _apply;
    private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private T? _result;
    private bool _fromStore;

    public PendingOperation(string customerId, string? operationKey, string? sourceRef, string? holdId, LedgerWrite? write,
        Func<LedgerRules, CustomerLedger, DateTimeOffset, T> apply)
        : base(customerId, operationKey, sourceRef, holdId, write) => _apply = apply;

    public Task<T> Task => _completion.Task;

    public override bool IsAbandoned => _completion.Task.IsCompleted;

    public override LedgerResult? Result => _result;

    public override void Apply(LedgerRules rules, CustomerLedger ledger, DateTimeOffset now)
    {
        _fromStore = false;
        _result = _apply(rules, ledger, now);
    }

    public override void AnswerFromStore(StoredResponse? replay)
    {
        _fromStore = true;
        _result = replay is null ? new T { Refusal = LedgerRefusal.KeyReused } : new T { Replayed = true, Response = replay };
    }

    public override void Attach(StoredResponse response) =>
        // Stryker disable once String : never thrown, Attach follows Apply; the message is for whoever breaks that
        _result = (T)((LedgerResult)(_result ?? throw new InvalidOperationException("Nothing was applied.")) with { Response = response });

    public override bool AppliedAnew => !_fromStore && _result is { Refusal: null, Replayed: false };

    public override bool RefusedWithKey => OperationKey is not null && !_fromStore && _result is { Refusal: not null };

    public override void Complete() =>
        // Stryker disable once String : never thrown, a batch applies every request before it commits
        _completion.TrySetResult(_result ?? throw new InvalidOperationException("A batch committed without applying every request."));

    public override void Fail(Exception exception) => _completion.TrySetException(exception);

    public void Cancel(CancellationToken cancellationToken) => _completion.TrySetCanceled(cancellationToken);
}

/// <summary>A request that only brings a customer up to date (expired holds and lots, writes its plan owes).</summary>
internal sealed record SweepResult : LedgerResult;
