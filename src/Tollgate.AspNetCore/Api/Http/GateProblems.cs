using Tollgate.Core.Usage;

namespace Tollgate.Server.Api.Http;

/// <summary>The one mapper from gate refusals to HTTP: status and stable code.</summary>
public static class GateProblems
{
    public static ApiResult For(GateRefusal refusal, string? detail) => refusal switch
    {
        GateRefusal.InsufficientBalance => Problems.Create(402, "insufficient_balance", "Not enough credits.", detail),
        GateRefusal.QuotaExceeded => Problems.Create(402, "quota_exceeded", "The allowance is used up.", detail),
        GateRefusal.LimitReached => Problems.Create(402, "limit_reached", "The plan's limit is reached.", detail),
        GateRefusal.NotEntitled => Problems.Create(402, "not_entitled", "The customer's plan does not include this feature.", detail),
        GateRefusal.ConcurrencyLimit => Problems.Create(429, "concurrency_limit", "Too many at once.", detail),
        GateRefusal.IdempotencyKeyReused => Problems.KeyReused(),
        GateRefusal.HoldNotFound => Problems.NotFound("hold_not_found", detail ?? "No such hold."),
        GateRefusal.HoldNotActive => Problems.Create(409, "hold_not_active", "The hold is no longer active.", detail),
        GateRefusal.Unavailable => Problems.Create(503, "unavailable", "Tollgate cannot reach its database.", detail),
        _ => Problems.InvalidRequest(detail ?? "The request is not valid for this feature."),
    };

    public static string Code(GateRefusal refusal) => refusal switch
    {
        GateRefusal.NotEntitled => "not_entitled",
        GateRefusal.InsufficientBalance => "insufficient_balance",
        GateRefusal.QuotaExceeded => "quota_exceeded",
        GateRefusal.LimitReached => "limit_reached",
        GateRefusal.ConcurrencyLimit => "concurrency_limit",
        GateRefusal.Unavailable => "unavailable",
        _ => "invalid_request",
    };
}
