using Tollgate.Core.Common;
using Tollgate.Core.Usage;
using Tollgate.Server.Api.Http;

namespace Tollgate.Server.Api;

/// <summary><c>/v1/check</c>, <c>/v1/usage</c> and <c>/v1/holds</c>: may this customer do X, charge them for X.</summary>
internal static class GateApi
{
    private const long MaxTtlSeconds = 7 * 24 * 3600;

    public static RouteGroupBuilder MapGateApi(this RouteGroupBuilder v1)
    {
        v1.MapPost("/check", async (HttpContext http, Gate gate) =>
        {
            var (body, problem) = await RequestBody.ReadAsync<CheckBody>(http);
            problem ??= Validate.First(Validate.CustomerId(body!.CustomerId), Validate.Required(body.Feature, "feature"),
                body.Amount is null ? null : Validate.Positive(body.Amount, "amount"));
            if (problem is not null)
            {
                return problem;
            }

            var result = await gate.CheckAsync(body!.CustomerId!, body.Feature!, body.Amount ?? 1, http.RequestAborted);
            return ApiResult.Ok(new CheckView(result.CustomerId, result.Feature, result.Allowed,
                result.Reason is { } reason ? reason.Code : null, result.Balance));
        }).JsonBody<CheckBody>().Produces<CheckView>().WithName("check").Refuses(404, "unknown_feature");

        v1.MapPost("/usage", async (HttpContext http, Gate gate) =>
        {
            var (body, problem) = await RequestBody.ReadAsync<UsageBody>(http);
            problem ??= Validate.First(Validate.CustomerId(body!.CustomerId), Validate.Required(body.Feature, "feature"),
                Validate.Required(body.Amount, "amount"));
            if (problem is not null)
            {
                return problem;
            }

            var call = IdempotencyFilter.Call<UsageResult>(http, UsageAnswer);
            var result = await gate.UseAsync(body!.CustomerId!, body.Feature!, body.Amount!.Value, call.Key, call, http.RequestAborted);
            return IdempotencyFilter.Answer(http, result.Response, result.Refusal == TollgateRefusal.IdempotencyKeyReused) ?? UsageAnswer(result);
        }).Idempotent().JsonBody<UsageBody>().Produces<UsageView>().WithName("usage")
            .Refuses(402, "insufficient_balance", "quota_exceeded", "limit_reached", "not_entitled").Refuses(404, "unknown_feature")
            .Refuses(429, "concurrency_limit").Refuses(503, "unavailable");

        v1.MapPost("/usage/{entry_id}/reverse", async ([Microsoft.AspNetCore.Mvc.FromRoute(Name = "entry_id")] string entryId, HttpContext http, Gate gate) =>
        {
            var call = IdempotencyFilter.Call<ReverseOutcome>(http, ReverseAnswer);
            var outcome = await gate.ReverseAsync(entryId, call, http.RequestAborted);
            return IdempotencyFilter.Answer(http, outcome.Response, outcome.Refusal == TollgateRefusal.IdempotencyKeyReused) ?? ReverseAnswer(outcome);
        }).Idempotent().Produces<ReverseView>().WithName("reverseUsage")
            .Refuses(404, "entry_not_found").Refuses(409, "already_reversed", "not_reversible").Refuses(503, "unavailable");

        v1.MapPost("/holds", async (HttpContext http, Gate gate) =>
        {
            var (body, problem) = await RequestBody.ReadAsync<HoldBody>(http);
            problem ??= Validate.First(Validate.CustomerId(body!.CustomerId), Validate.Required(body.Feature, "feature"),
                Validate.Positive(body.Amount, "amount"),
                body.TtlSeconds is null or (>= 1 and <= MaxTtlSeconds) ? null : Problems.InvalidRequest($"ttl_seconds must be from 1 to {MaxTtlSeconds}."));
            if (problem is not null)
            {
                return problem;
            }

            var call = IdempotencyFilter.Call<HoldOutcome>(http, HoldAnswer);
            var outcome = await gate.HoldAsync(body!.CustomerId!, body.Feature!, body.Amount!.Value,
                TimeSpan.FromSeconds(body.TtlSeconds ?? 3600), call.Key, call, http.RequestAborted);
            return IdempotencyFilter.Answer(http, outcome.Response, outcome.Refusal == TollgateRefusal.IdempotencyKeyReused) ?? HoldAnswer(outcome);
        }).Idempotent().JsonBody<HoldBody>().Produces<HoldView>(StatusCodes.Status201Created).WithName("createHold")
            .Refuses(402, "insufficient_balance", "quota_exceeded", "limit_reached", "not_entitled").Refuses(404, "unknown_feature")
            .Refuses(429, "concurrency_limit").Refuses(503, "unavailable");

        v1.MapPost("/holds/{id}/settle", async (string id, HttpContext http, Gate gate) =>
        {
            var (body, problem) = await RequestBody.ReadAsync<SettleBody>(http, allowEmpty: true);
            if (problem is not null)
            {
                return problem;
            }

            if (body?.Amount is < 0)
            {
                return Problems.InvalidRequest("amount must not be negative.");
            }

            var outcome = await gate.SettleAsync(id, body?.Amount, http.RequestAborted);
            return outcome.Refusal is { } refusal
                ? Refusals.Problem(refusal, outcome.Message)
                : ApiResult.Ok(new SettleView(outcome.HoldId, outcome.Status, outcome.Settled, outcome.Released));
        }).JsonBody<SettleBody>().Produces<SettleView>().WithName("settleHold")
            .Refuses(404, "hold_not_found").Refuses(409, "hold_not_active").Refuses(503, "unavailable");

        v1.MapPost("/holds/{id}/release", async (string id, Gate gate, CancellationToken ct) =>
        {
            var outcome = await gate.ReleaseAsync(id, ct);
            return outcome.Refusal is { } refusal
                ? Refusals.Problem(refusal, outcome.Message)
                : ApiResult.Ok(new ReleaseView(outcome.HoldId, outcome.Status));
        }).Produces<ReleaseView>().WithName("releaseHold").Refuses(404, "hold_not_found").Refuses(409, "hold_not_active").Refuses(503, "unavailable");

        v1.MapGet("/holds/{id}", async (string id, Core.Ledger.LedgerEngine ledger, CancellationToken ct) =>
        {
            var hold = await ledger.GetHoldAsync(id, ct);
            return hold is null
                ? Problems.NotFound("hold_not_found", $"No hold {id}.")
                : ApiResult.Ok(new HoldView(hold.HoldId, SnakeCase<Core.Ledger.HoldStatus>.Name(hold.Status), hold.Amount, hold.ExpiresAt, hold.Feature));
        }).Produces<HoldView>().WithName("getHold").Refuses(404, "hold_not_found");

        return v1;
    }

    private static ApiResult UsageAnswer(UsageResult result) => result.Refusal is { } refusal
        ? Refusals.Problem(refusal, result.Message)
        : ApiResult.Ok(new UsageView(true, result.Feature, result.Remaining, result.EntryId));

    /// <summary>A reversal as /v1 answers it (also what the in-process reversal stores under its key).</summary>
    internal static ApiResult ReverseAnswer(ReverseOutcome outcome) => outcome.Refusal is { } refusal
        ? Refusals.Problem(refusal, outcome.Message)
        : ApiResult.Ok(new ReverseView(outcome.EntryId, outcome.Restored, outcome.Expired, outcome.Clawed,
            outcome.Draws.Select(d => new ReverseDrawView(d.LotId, d.Feature, d.Amount)).ToList()));

    private static ApiResult HoldAnswer(HoldOutcome outcome) => outcome.Refusal is { } refusal
        ? Refusals.Problem(refusal, outcome.Message)
        : ApiResult.Json(StatusCodes.Status201Created, new HoldView(outcome.HoldId!, "active", outcome.Amount, outcome.ExpiresAt, outcome.Feature));
}
