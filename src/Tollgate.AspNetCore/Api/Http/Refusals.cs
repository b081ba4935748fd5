using System.Text.Json;
using Tollgate.Core.Payments;
using Tollgate.Core.Usage;

namespace Tollgate.Server.Api.Http;

/// <summary>
/// The one mapping of the engine's refusals to the public vocabulary (<see cref="TollgateRefusal"/>, the API's stable
/// codes) and from there to HTTP statuses. The /v1 endpoints, the in-process <see cref="ITollgate"/> and the endpoint
/// gates all go through here, so a refusal is named the same way wherever an app meets it.
/// </summary>
internal static class Refusals
{
    /// <summary>The public refusal a gate refusal stands for.</summary>
    public static TollgateRefusal Of(GateRefusal refusal) => refusal switch
    {
        GateRefusal.NotEntitled => TollgateRefusal.NotEntitled,
        GateRefusal.InsufficientBalance => TollgateRefusal.InsufficientBalance,
        GateRefusal.QuotaExceeded => TollgateRefusal.QuotaExceeded,
        GateRefusal.LimitReached => TollgateRefusal.LimitReached,
        GateRefusal.ConcurrencyLimit => TollgateRefusal.ConcurrencyLimit,
        GateRefusal.Unavailable => TollgateRefusal.Unavailable,
        GateRefusal.IdempotencyKeyReused => TollgateRefusal.IdempotencyKeyReused,
        GateRefusal.HoldNotFound => TollgateRefusal.HoldNotFound,
        GateRefusal.HoldNotActive => TollgateRefusal.HoldNotActive,
        GateRefusal.EntryNotFound => TollgateRefusal.FromCode("entry_not_found"),
        GateRefusal.AlreadyReversed => TollgateRefusal.FromCode("already_reversed"),
        GateRefusal.NotReversible => TollgateRefusal.FromCode("not_reversible"),
        _ => TollgateRefusal.InvalidRequest,
    };

    /// <summary>The public refusal a checkout refusal stands for (<c>not_supported</c> is not in the vocabulary yet, so
    /// it travels as a refusal of kind <see cref="TollgateRefusalKind.Other"/>, as it does through the client).</summary>
    public static TollgateRefusal Of(CheckoutRefusal refusal) => refusal switch
    {
        CheckoutRefusal.UnknownProduct => TollgateRefusal.UnknownProduct,
        CheckoutRefusal.NotEligible => TollgateRefusal.NotEligible,
        CheckoutRefusal.ProviderError => TollgateRefusal.ProviderError,
        CheckoutRefusal.NotSupported => TollgateRefusal.FromCode("not_supported"),
        _ => TollgateRefusal.InvalidRequest,
    };

    /// <summary>The /v1 API's status for a refusal.</summary>
    public static int ApiStatus(TollgateRefusal refusal) => refusal.Kind switch
    {
        TollgateRefusalKind.NotEntitled or TollgateRefusalKind.InsufficientBalance or TollgateRefusalKind.QuotaExceeded
            or TollgateRefusalKind.LimitReached => StatusCodes.Status402PaymentRequired,
        TollgateRefusalKind.ConcurrencyLimit => StatusCodes.Status429TooManyRequests,
        TollgateRefusalKind.Unavailable => StatusCodes.Status503ServiceUnavailable,
        TollgateRefusalKind.IdempotencyKeyReused => StatusCodes.Status422UnprocessableEntity,
        TollgateRefusalKind.HoldNotFound or TollgateRefusalKind.UnknownFeature or TollgateRefusalKind.UnknownProduct
            or TollgateRefusalKind.CustomerNotFound or TollgateRefusalKind.CheckoutNotFound
            or TollgateRefusalKind.SubscriptionNotFound => StatusCodes.Status404NotFound,
        TollgateRefusalKind.HoldNotActive or TollgateRefusalKind.NotEligible or TollgateRefusalKind.Conflict => StatusCodes.Status409Conflict,
        TollgateRefusalKind.ProviderError => StatusCodes.Status502BadGateway,
        TollgateRefusalKind.Other when refusal.Code == "not_supported" => StatusCodes.Status409Conflict,
        TollgateRefusalKind.Other when refusal.Code == "entry_not_found" => StatusCodes.Status404NotFound,
        TollgateRefusalKind.Other when refusal.Code is "already_reversed" or "not_reversible" => StatusCodes.Status409Conflict,
        _ => StatusCodes.Status400BadRequest,
    };

    /// <summary>An endpoint gate's status for a refusal (API.md §6.1): the app's own route was forbidden (403) rather
    /// than a /v1 call refused for want of payment, so <c>not_entitled</c> is 403 there.</summary>
    public static int GateStatus(TollgateRefusal refusal) =>
        refusal == TollgateRefusal.NotEntitled ? StatusCodes.Status403Forbidden : ApiStatus(refusal);

    /// <summary>The problem's title for a refusal.</summary>
    public static string Title(TollgateRefusal refusal) => refusal.Kind switch
    {
        TollgateRefusalKind.InsufficientBalance => "Not enough credits.",
        TollgateRefusalKind.QuotaExceeded => "The allowance is used up.",
        TollgateRefusalKind.LimitReached => "The plan's limit is reached.",
        TollgateRefusalKind.NotEntitled => "The customer's plan does not include this feature.",
        TollgateRefusalKind.ConcurrencyLimit => "Too many at once.",
        TollgateRefusalKind.Unavailable => "Tollgate cannot reach its database.",
        TollgateRefusalKind.IdempotencyKeyReused => "The Idempotency-Key was used with a different request.",
        TollgateRefusalKind.HoldNotActive => "The hold is no longer active.",
        TollgateRefusalKind.NotEligible => "The customer cannot buy this.",
        TollgateRefusalKind.ProviderError => "The payment provider refused or failed.",
        TollgateRefusalKind.Conflict => "The request conflicts with the subscription's state.",
        TollgateRefusalKind.InvalidRequest => "The request is not valid.",
        TollgateRefusalKind.Other when refusal.Code == "not_supported" => "The provider has no web checkout.",
        TollgateRefusalKind.Other when refusal.Code == "already_reversed" => "The usage was reversed before.",
        TollgateRefusalKind.Other when refusal.Code == "not_reversible" => "The entry is not a usage that can be reversed.",
        _ when ApiStatus(refusal) == StatusCodes.Status404NotFound => "Not found.",
        _ => "The request was refused.",
    };

    /// <summary>A refusal as the problem the /v1 API answers.</summary>
    public static ApiResult Problem(TollgateRefusal refusal, string? detail) => refusal.Kind switch
    {
        TollgateRefusalKind.IdempotencyKeyReused => Problems.KeyReused(),
        TollgateRefusalKind.HoldNotFound => Problems.NotFound(refusal.Code, detail ?? "No such hold."),
        TollgateRefusalKind.InvalidRequest => Problems.InvalidRequest(detail ?? "The request is not valid for this feature."),
        _ => Problems.Create(ApiStatus(refusal), refusal.Code, Title(refusal), detail),
    };

    /// <summary>A problem the API would answer (a failed validation), as the refusal and detail it carries.</summary>
    public static (TollgateRefusal Refusal, string? Detail) Read(ApiResult problem)
    {
        ArgumentNullException.ThrowIfNull(problem);
        using var json = JsonDocument.Parse(problem.Body);
        var code = json.RootElement.TryGetProperty("code", out var c) ? c.GetString() : null;
        var detail = json.RootElement.TryGetProperty("detail", out var d) ? d.GetString() : null;
        return (TollgateRefusal.FromCode(code ?? "invalid_request"), detail);
    }
}
