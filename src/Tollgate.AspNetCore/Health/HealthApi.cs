using System.Text.Json;
using Microsoft.Extensions.Options;
using Tollgate.Storage;

namespace Tollgate.Server.Health;

/// <summary>The database probe behind <c>/healthz</c> and <c>/readyz</c>, remembered for a second so probes cost no
/// query each.</summary>
internal sealed class HealthCheck(TollgateDatabase database, TimeProvider time)
{
    private static readonly TimeSpan Freshness = TimeSpan.FromSeconds(1);
    private (DateTimeOffset At, int? Version)? _last;

    public int LatestVersion => database.LatestVersion;

    /// <summary>The applied schema version, or null when the database cannot be reached.</summary>
    public async Task<int?> SchemaVersionAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (_last is { } last && now - last.At < Freshness)
        {
            return last.Version;
        }

        var version = await database.GetSchemaVersionAsync(cancellationToken);
        _last = (now, version);
        return version;
    }

    public async Task<string?> ProblemAsync(CancellationToken cancellationToken)
    {
        var version = await SchemaVersionAsync(cancellationToken);
        return version == database.LatestVersion ? null
            : version is null ? "database unreachable"
            : $"schema version {version}, expected {database.LatestVersion}";
    }
}

/// <summary>Whether this server hears other servers' changes (PostgreSQL <c>LISTEN</c>); set by the change feed's
/// listener. Until it does, its cached views could be stale, so it is not ready for traffic.</summary>
internal sealed class ChangeFeedStatus
{
    private volatile bool _listening;

    public bool Listening => _listening;

    public void Report(bool listening) => _listening = listening;
}

internal static class HealthApi
{
    /// <summary>Registers what <see cref="MapHealthApi"/> needs.</summary>
    public static IServiceCollection AddTollgateHealth(this IServiceCollection services)
    {
        services.AddSingleton<HealthCheck>();
        services.AddSingleton<ChangeFeedStatus>();
        return services;
    }

    /// <summary><c>GET /healthz</c>: 200 once the database is reachable and fully migrated, 503 otherwise (API.md §1).
    /// <c>GET /readyz</c>: 200 when the database is reachable, migrated to this build's version and the change feed is
    /// heard, and the server is not shutting down; 503 naming the failing check otherwise (API.md §6.6).</summary>
    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/healthz", async Task<IResult> (HealthCheck health, CancellationToken cancellationToken) =>
        {
            var problem = await health.ProblemAsync(cancellationToken);
            return problem is null
                ? new ProbeAnswer<HealthStatus>(StatusCodes.Status200OK, new HealthStatus("ok", null))
                : new ProbeAnswer<HealthStatus>(StatusCodes.Status503ServiceUnavailable, new HealthStatus("unavailable", problem));
        }).ExcludeFromDescription();

        endpoints.MapGet("/readyz", async Task<IResult> (HealthCheck health, ChangeFeedStatus feed, IHostApplicationLifetime lifetime,
            CancellationToken cancellationToken) =>
        {
            var version = await health.SchemaVersionAsync(cancellationToken);
            var checks = new ReadinessChecks(
                Database: version is null ? "unreachable" : "ok",
                Migrations: version is null ? "unknown" : version == health.LatestVersion ? "ok" : $"schema version {version}, expected {health.LatestVersion}",
                ChangeFeed: feed.Listening ? "ok" : "not listening",
                Shutdown: lifetime.ApplicationStopping.IsCancellationRequested ? "stopping" : "no");
            var ready = checks is { Database: "ok", Migrations: "ok", ChangeFeed: "ok", Shutdown: "no" };
            return new ProbeAnswer<ReadinessStatus>(ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable,
                new ReadinessStatus(ready ? "ready" : "not_ready", checks));
        }).ExcludeFromDescription();
        return endpoints;
    }

    /// <summary>A probe's JSON answer with its Content-Length, as every /v1 answer has. <c>TypedResults.Json</c> writes
    /// a chunked body, whose closing chunk Kestrel may send as a second write: a probe cost more than an API call, and
    /// /healthz is the benchmarks' baseline for what HTTP alone costs.</summary>
    private sealed class ProbeAnswer<T>(int status, T value) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            var json = httpContext.RequestServices.GetRequiredService<IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions>>().Value.SerializerOptions;
            var body = JsonSerializer.SerializeToUtf8Bytes(value, json);
            httpContext.Response.StatusCode = status;
            httpContext.Response.ContentType = "application/json; charset=utf-8";
            httpContext.Response.ContentLength = body.Length;
            return httpContext.Response.Body.WriteAsync(body).AsTask();
        }
    }

    internal sealed record HealthStatus(string Status, string? Detail);

    internal sealed record ReadinessStatus(string Status, ReadinessChecks Checks);

    internal sealed record ReadinessChecks(string Database, string Migrations, string ChangeFeed, string Shutdown);
}
