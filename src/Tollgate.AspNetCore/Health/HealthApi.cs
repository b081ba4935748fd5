using Tollgate.Storage;

namespace Tollgate.Server.Health;

/// <summary>The database check behind <c>/healthz</c>, remembered for a second so probes cost no query each.</summary>
internal sealed class HealthCheck(TollgateDatabase database, TimeProvider time)
{
    private static readonly TimeSpan Freshness = TimeSpan.FromSeconds(1);
    private (DateTimeOffset At, string? Problem)? _last;

    public async Task<string?> ProblemAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (_last is { } last && now - last.At < Freshness)
        {
            return last.Problem;
        }

        var version = await database.GetSchemaVersionAsync(cancellationToken);
        var problem = version == database.LatestVersion ? null
            : version is null ? "database unreachable"
            : $"schema version {version}, expected {database.LatestVersion}";
        _last = (now, problem);
        return problem;
    }
}

internal static class HealthApi
{
    /// <summary><c>GET /healthz</c>: 200 once the database is reachable and fully migrated, 503 otherwise (API.md §1).</summary>
    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/healthz", async Task<IResult> (HealthCheck health, CancellationToken cancellationToken) =>
        {
            var problem = await health.ProblemAsync(cancellationToken);
            return problem is null
                ? TypedResults.Ok(new HealthStatus("ok", null))
                : TypedResults.Json(new HealthStatus("unavailable", problem), statusCode: StatusCodes.Status503ServiceUnavailable);
        }).ExcludeFromDescription();
        return endpoints;
    }

    internal sealed record HealthStatus(string Status, string? Detail);
}
