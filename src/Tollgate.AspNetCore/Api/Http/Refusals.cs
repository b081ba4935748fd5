using System.Text.Json;

namespace Tollgate.Server.Api.Http;

/// <summary>
/// The one mapping of a refusal to HTTP: status, title and problem+json. The engine already answers in the public
/// vocabulary (<see cref="TollgateRefusal"/>, the API's stable codes); the /v1 endpoints and the endpoint gates turn it
/// into HTTP here, so a refusal is answered the same way wherever an app meets it.
/// </summary>
internal static class Refusals
{
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
            or TollgateRefusalKind.SubscriptionNotFound or TollgateRefusalKind.EntryNotFound => StatusCodes.Status404NotFound,
        TollgateRefusalKind.HoldNotActive or TollgateRefusalKind.NotEligible or TollgateRefusalKind.Conflict
            or TollgateRefusalKind.AlreadyReversed or TollgateRefusalKind.NotReversible
            or TollgateRefusalKind.NotSupported => StatusCodes.Status409Conflict,
        TollgateRefusalKind.ProviderError => StatusCodes.Status502BadGateway,
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
        TollgateRefusalKind.NotSupported => "The provider does not support this (no web checkout, or no seats sold in one).",
        TollgateRefusalKind.AlreadyReversed => "The usage was reversed before.",
        TollgateRefusalKind.NotReversible => "The entry is not a usage that can be reversed.",
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
