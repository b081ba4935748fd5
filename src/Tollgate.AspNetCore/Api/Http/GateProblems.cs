using Tollgate.Core.Usage;

namespace Tollgate.Server.Api.Http;

/// <summary>Gate refusals as the /v1 API answers them, through <see cref="Refusals"/>.</summary>
internal static class GateProblems
{
    public static ApiResult For(GateRefusal refusal, string? detail) => Refusals.Problem(Refusals.Of(refusal), detail);

    public static string Code(GateRefusal refusal) => Refusals.Of(refusal).Code;
}
