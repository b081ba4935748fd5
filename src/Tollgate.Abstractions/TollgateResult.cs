using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;

namespace Tollgate;

/// <summary>
/// The answer to one <see cref="ITollgate"/> call: a <see cref="Value"/>, or a business <see cref="Refusal"/> with its
/// <see cref="Detail"/>. Refusals are expected outcomes (no credits left, a plan without the feature), so they are values
/// to branch on; <see cref="EnsureSuccess"/> turns one into a <see cref="TollgateRefusalException"/> for callers who
/// prefer exceptions. Failures that are not refusals (the server unreachable, a rejected secret key) throw
/// <see cref="TollgateException"/> instead.
/// </summary>
/// <typeparam name="T">What the call returns when it succeeds.</typeparam>
public sealed class TollgateResult<T>
    where T : class
{
    private TollgateResult(T? value, TollgateRefusal? refusal, string? detail)
    {
        Value = value;
        Refusal = refusal;
        Detail = detail;
    }

    /// <summary>What the call returned: always set when <see cref="Succeeded"/>. A refused check keeps its answer here
    /// too (its balance); other refusals have none.</summary>
    public T? Value { get; }

    /// <summary>Why Tollgate said no; null when the call succeeded.</summary>
    public TollgateRefusal? Refusal { get; }

    /// <summary>The server's explanation of this refusal (e.g. <c>3 credits available, 5 needed</c>), when it gave one.</summary>
    public string? Detail { get; }

    /// <summary>True when Tollgate said yes: <see cref="Value"/> is set; false when it said no: <see cref="Refusal"/> is set.</summary>
    [MemberNotNullWhen(true, nameof(Value))]
    [MemberNotNullWhen(false, nameof(Refusal))]
    public bool Succeeded
    {
        get
        {
            if (Refusal is not null)
            {
                return false;
            }

            // The factories give every result a value or a refusal.
            return Value is not null ? true : throw new UnreachableException("A TollgateResult without a value or a refusal.");
        }
    }

    /// <summary>True when Tollgate said no: <see cref="Refusal"/> says why.</summary>
    [MemberNotNullWhen(true, nameof(Refusal))]
    public bool IsRefused => Refusal is not null;

    /// <summary>A successful answer.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="value"/> is null.</exception>
    public static TollgateResult<T> Success(T value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return new TollgateResult<T>(value, null, null);
    }

    /// <summary>A refusal, with the server's <paramref name="detail"/> and, for a check, its answer.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="refusal"/> is null.</exception>
    public static TollgateResult<T> Refused(TollgateRefusal refusal, string? detail = null, T? value = null)
    {
        ArgumentNullException.ThrowIfNull(refusal);
        return new TollgateResult<T>(value, refusal, detail);
    }

    /// <summary>The value, or a <see cref="TollgateRefusalException"/> when Tollgate said no.</summary>
    /// <exception cref="TollgateRefusalException">The call was refused.</exception>
    [MemberNotNull(nameof(Value))]
    public T EnsureSuccess() => Succeeded ? Value : throw new TollgateRefusalException(Refusal, Detail);

    /// <summary><c>ok</c>, or the refusal's code and detail.</summary>
    public override string ToString() => Refusal is null ? "ok" : Detail is null ? Refusal.Code : $"{Refusal.Code}: {Detail}";
}

/// <summary>A business refusal raised by <see cref="TollgateResult{T}.EnsureSuccess"/>: the customer may not do this
/// now (<see cref="Refusal"/> says why). Nothing was changed.</summary>
public sealed class TollgateRefusalException : Exception
{
    /// <summary>A refusal with the server's detail.</summary>
    public TollgateRefusalException(TollgateRefusal refusal, string? detail)
        : base(detail is null ? $"Tollgate refused: {refusal?.Code}." : $"Tollgate refused: {refusal?.Code} ({detail}).")
    {
        ArgumentNullException.ThrowIfNull(refusal);
        Refusal = refusal;
        Detail = detail;
    }

    /// <summary>Why Tollgate said no.</summary>
    public TollgateRefusal Refusal { get; }

    /// <summary>The server's explanation, when it gave one.</summary>
    public string? Detail { get; }
}

/// <summary>
/// A Tollgate call failed for a reason that is not a business refusal: the server could not be reached or did not
/// answer in time (after the retries that were safe), it failed (5xx), it rejected the secret key (401), or it answered
/// something this client cannot read. Whether the call took effect may be unknown; a keyed call (usage, holds, grants)
/// can be repeated with the same <see cref="IdempotencyKey"/> to find out without doing it twice.
/// </summary>
public sealed class TollgateException : Exception
{
    /// <summary>A failure with the HTTP status and code when an answer came.</summary>
    /// <param name="message">What failed, for people.</param>
    /// <param name="status">The HTTP status of the last answer; null when none came.</param>
    /// <param name="code">The problem's <c>code</c> (<c>unauthorized</c>, <c>internal_error</c>, …), or the client's own:
    /// <c>timeout</c>, <c>network_error</c>, <c>unexpected_response</c>.</param>
    /// <param name="attempts">How many requests were sent.</param>
    /// <param name="innerException">The exception of the last attempt, if any.</param>
    /// <param name="idempotencyKey">The key the call carried, when it carried one.</param>
    public TollgateException(string message, int? status, string code, int attempts, Exception? innerException = null, string? idempotencyKey = null)
        : base(message, innerException)
    {
        Status = status;
        Code = code;
        Attempts = attempts;
        IdempotencyKey = idempotencyKey;
    }

    /// <summary>The Idempotency-Key the call carried (the caller's, or the one made for it): send the same request with
    /// this key again to complete it, or to get its first answer, without it taking effect twice. Null for calls
    /// without one.</summary>
    public string? IdempotencyKey { get; }

    /// <summary>The HTTP status of the last answer; null when no answer came (network failure, timeout).</summary>
    public int? Status { get; }

    /// <summary>The problem's <c>code</c>, or <c>timeout</c>, <c>network_error</c> or <c>unexpected_response</c>.</summary>
    public string Code { get; }

    /// <summary>How many requests were sent (retries included).</summary>
    public int Attempts { get; }
}
