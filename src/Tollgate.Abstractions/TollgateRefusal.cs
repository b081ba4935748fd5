using System.Collections.Frozen;

namespace Tollgate;

/// <summary>What a <see cref="TollgateRefusal"/> is, for <c>switch</c> statements. Each member but
/// <see cref="Other"/> stands for exactly one stable <c>code</c> of the Tollgate API's problems.</summary>
public enum TollgateRefusalKind
{
    /// <summary>A code this version of the library does not know (a newer server); <see cref="TollgateRefusal.Code"/>
    /// holds it as the server sent it.</summary>
    Other = 0,

    /// <summary><c>not_entitled</c>: the customer's plan does not include the feature.</summary>
    NotEntitled,

    /// <summary><c>insufficient_balance</c>: not enough credits.</summary>
    InsufficientBalance,

    /// <summary><c>quota_exceeded</c>: a metered feature's allowance is used up (and credits do not cover the rest).</summary>
    QuotaExceeded,

    /// <summary><c>limit_reached</c>: a count feature (projects, seats) is at its plan's limit.</summary>
    LimitReached,

    /// <summary><c>concurrency_limit</c>: as many holds of a concurrency feature are active as the plan allows.</summary>
    ConcurrencyLimit,

    /// <summary><c>unavailable</c>: Tollgate could not reach its database, so the answer is no (fail closed); nothing
    /// was changed.</summary>
    Unavailable,

    /// <summary><c>idempotency_key_reused</c>: the Idempotency-Key was used before with a different request.</summary>
    IdempotencyKeyReused,

    /// <summary><c>hold_not_found</c>: no hold has that id.</summary>
    HoldNotFound,

    /// <summary><c>hold_not_active</c>: the hold was already settled, released or expired.</summary>
    HoldNotActive,

    /// <summary><c>invalid_request</c>: a field is missing or malformed, or the request does not make sense for the
    /// feature (using a boolean feature, a count below zero, settling more than was held).</summary>
    InvalidRequest,

    /// <summary><c>unknown_feature</c>: the catalog has no such feature.</summary>
    UnknownFeature,

    /// <summary><c>unknown_product</c>: the catalog has no such plan or pack.</summary>
    UnknownProduct,

    /// <summary><c>not_eligible</c>: the customer cannot buy this (a once-per-customer pack bought already, the plan
    /// they are on).</summary>
    NotEligible,

    /// <summary><c>customer_not_found</c>: no customer has that id (it was never written).</summary>
    CustomerNotFound,

    /// <summary><c>checkout_not_found</c>: no checkout has that id.</summary>
    CheckoutNotFound,

    /// <summary><c>provider_error</c>: the payment provider refused or failed; nothing was recorded.</summary>
    ProviderError,

    /// <summary><c>subscription_not_found</c>: no subscription has that id.</summary>
    SubscriptionNotFound,

    /// <summary><c>conflict</c>: the request conflicts with the subscription's state.</summary>
    Conflict,

    /// <summary><c>entry_not_found</c>: no ledger entry has that id.</summary>
    EntryNotFound,

    /// <summary><c>already_reversed</c>: the usage was reversed before (by another request).</summary>
    AlreadyReversed,

    /// <summary><c>not_reversible</c>: the entry is not a usage a reversal can undo (a grant, a settle, a count).</summary>
    NotReversible,

    /// <summary><c>not_supported</c>: the provider has no web checkout (the App Store sells only inside the app).</summary>
    NotSupported,
}

/// <summary>
/// Why Tollgate said no: the stable <c>code</c> of the API's problem (or of a check's <c>reason</c>). Known codes are
/// the static members (compare with <c>==</c>, or switch on <see cref="Kind"/>); a code this version does not know,
/// from a newer server, is a refusal of kind <see cref="TollgateRefusalKind.Other"/> that carries the raw
/// <see cref="Code"/>, never an exception.
/// </summary>
public sealed class TollgateRefusal : IEquatable<TollgateRefusal>
{
    private TollgateRefusal(TollgateRefusalKind kind, string code)
    {
        Kind = kind;
        Code = code;
    }

    /// <summary><c>not_entitled</c>: the customer's plan does not include the feature.</summary>
    public static TollgateRefusal NotEntitled { get; } = new(TollgateRefusalKind.NotEntitled, "not_entitled");

    /// <summary><c>insufficient_balance</c>: not enough credits.</summary>
    public static TollgateRefusal InsufficientBalance { get; } = new(TollgateRefusalKind.InsufficientBalance, "insufficient_balance");

    /// <summary><c>quota_exceeded</c>: a metered feature's allowance is used up.</summary>
    public static TollgateRefusal QuotaExceeded { get; } = new(TollgateRefusalKind.QuotaExceeded, "quota_exceeded");

    /// <summary><c>limit_reached</c>: a count feature is at its plan's limit.</summary>
    public static TollgateRefusal LimitReached { get; } = new(TollgateRefusalKind.LimitReached, "limit_reached");

    /// <summary><c>concurrency_limit</c>: too many holds of a concurrency feature at once.</summary>
    public static TollgateRefusal ConcurrencyLimit { get; } = new(TollgateRefusalKind.ConcurrencyLimit, "concurrency_limit");

    /// <summary><c>unavailable</c>: Tollgate could not reach its database; the answer is no.</summary>
    public static TollgateRefusal Unavailable { get; } = new(TollgateRefusalKind.Unavailable, "unavailable");

    /// <summary><c>idempotency_key_reused</c>: the key was used before with a different request.</summary>
    public static TollgateRefusal IdempotencyKeyReused { get; } = new(TollgateRefusalKind.IdempotencyKeyReused, "idempotency_key_reused");

    /// <summary><c>hold_not_found</c>: no hold has that id.</summary>
    public static TollgateRefusal HoldNotFound { get; } = new(TollgateRefusalKind.HoldNotFound, "hold_not_found");

    /// <summary><c>hold_not_active</c>: the hold was already settled, released or expired.</summary>
    public static TollgateRefusal HoldNotActive { get; } = new(TollgateRefusalKind.HoldNotActive, "hold_not_active");

    /// <summary><c>invalid_request</c>: the request is malformed or does not make sense for the feature.</summary>
    public static TollgateRefusal InvalidRequest { get; } = new(TollgateRefusalKind.InvalidRequest, "invalid_request");

    /// <summary><c>unknown_feature</c>: the catalog has no such feature.</summary>
    public static TollgateRefusal UnknownFeature { get; } = new(TollgateRefusalKind.UnknownFeature, "unknown_feature");

    /// <summary><c>unknown_product</c>: the catalog has no such plan or pack.</summary>
    public static TollgateRefusal UnknownProduct { get; } = new(TollgateRefusalKind.UnknownProduct, "unknown_product");

    /// <summary><c>not_eligible</c>: the customer cannot buy this.</summary>
    public static TollgateRefusal NotEligible { get; } = new(TollgateRefusalKind.NotEligible, "not_eligible");

    /// <summary><c>customer_not_found</c>: no customer has that id.</summary>
    public static TollgateRefusal CustomerNotFound { get; } = new(TollgateRefusalKind.CustomerNotFound, "customer_not_found");

    /// <summary><c>checkout_not_found</c>: no checkout has that id.</summary>
    public static TollgateRefusal CheckoutNotFound { get; } = new(TollgateRefusalKind.CheckoutNotFound, "checkout_not_found");

    /// <summary><c>provider_error</c>: the payment provider refused or failed; nothing was recorded.</summary>
    public static TollgateRefusal ProviderError { get; } = new(TollgateRefusalKind.ProviderError, "provider_error");

    /// <summary><c>subscription_not_found</c>: no subscription has that id.</summary>
    public static TollgateRefusal SubscriptionNotFound { get; } = new(TollgateRefusalKind.SubscriptionNotFound, "subscription_not_found");

    /// <summary><c>conflict</c>: the request conflicts with the subscription's state.</summary>
    public static TollgateRefusal Conflict { get; } = new(TollgateRefusalKind.Conflict, "conflict");

    /// <summary><c>entry_not_found</c>: no ledger entry has that id.</summary>
    public static TollgateRefusal EntryNotFound { get; } = new(TollgateRefusalKind.EntryNotFound, "entry_not_found");

    /// <summary><c>already_reversed</c>: the usage was reversed before.</summary>
    public static TollgateRefusal AlreadyReversed { get; } = new(TollgateRefusalKind.AlreadyReversed, "already_reversed");

    /// <summary><c>not_reversible</c>: the entry is not a usage a reversal can undo.</summary>
    public static TollgateRefusal NotReversible { get; } = new(TollgateRefusalKind.NotReversible, "not_reversible");

    /// <summary><c>not_supported</c>: the provider has no web checkout.</summary>
    public static TollgateRefusal NotSupported { get; } = new(TollgateRefusalKind.NotSupported, "not_supported");

    /// <summary>Every refusal this version knows, one per <see cref="TollgateRefusalKind"/> but <c>Other</c>.</summary>
    public static IReadOnlyList<TollgateRefusal> Known { get; } =
    [
        NotEntitled, InsufficientBalance, QuotaExceeded, LimitReached, ConcurrencyLimit, Unavailable, IdempotencyKeyReused, HoldNotFound,
        HoldNotActive, InvalidRequest, UnknownFeature, UnknownProduct, NotEligible, CustomerNotFound, CheckoutNotFound, ProviderError,
        SubscriptionNotFound, Conflict, EntryNotFound, AlreadyReversed, NotReversible, NotSupported,
    ];

    private static readonly FrozenDictionary<string, TollgateRefusal> ByCode = Known.ToFrozenDictionary(r => r.Code, StringComparer.Ordinal);

    /// <summary>Which refusal this is; <see cref="TollgateRefusalKind.Other"/> for a code this version does not know.</summary>
    public TollgateRefusalKind Kind { get; }

    /// <summary>The stable code as the API spells it (<c>quota_exceeded</c>, …), also for <see cref="TollgateRefusalKind.Other"/>.</summary>
    public string Code { get; }

    /// <summary>False for a code this version does not know (<see cref="TollgateRefusalKind.Other"/>).</summary>
    public bool IsKnown => Kind != TollgateRefusalKind.Other;

    /// <summary>The refusal a code stands for: one of the known members, or one of kind <see cref="TollgateRefusalKind.Other"/>
    /// carrying <paramref name="code"/> when this version does not know it.</summary>
    /// <exception cref="ArgumentException"><paramref name="code"/> is null or empty.</exception>
    public static TollgateRefusal FromCode(string code)
    {
        ArgumentException.ThrowIfNullOrEmpty(code);
        return ByCode.TryGetValue(code, out var known) ? known : new TollgateRefusal(TollgateRefusalKind.Other, code);
    }

    /// <summary>True when both carry the same code.</summary>
    public static bool operator ==(TollgateRefusal? left, TollgateRefusal? right) =>
        left is null ? right is null : left.Equals(right);

    /// <summary>True when the codes differ.</summary>
    public static bool operator !=(TollgateRefusal? left, TollgateRefusal? right) => !(left == right);

    /// <inheritdoc/>
    public bool Equals(TollgateRefusal? other) => other is not null && string.Equals(Code, other.Code, StringComparison.Ordinal);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is TollgateRefusal other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Code);

    /// <summary>The code, e.g. <c>quota_exceeded</c>.</summary>
    public override string ToString() => Code;
}
