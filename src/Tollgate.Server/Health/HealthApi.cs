using Tollgate.Storage;

namespace Tollgate.Server.Health;

internal static class HealthApi
{
    /// <summary><c>GET /healthz</c>: 200 once the database is reachable and fully migrated, 503 otherwise (API.md §1).</summary>
    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/healthz", async Task<IResult> (TollgateDatabase database, CancellationToken cancellationToken) =>
        {
            var version = await database.GetSchemaVersionAsync(cancellationToken);
            return version == database.LatestVersion
                ? TypedResults.Ok(new HealthStatus("ok", null))
                : TypedResults.Json(new HealthStatus("unavailable", version is null ? "database unreachable" : $"schema version {version}, expected {database.LatestVersion}"),
                    statusCode: StatusCodes.Status503ServiceUnavailable);
        }).ExcludeFromDescription();
        return endpoints;
    }

    internal sealed record HealthStatus(string Status, string? Detail);
}
