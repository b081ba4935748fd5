using System.Net.Sockets;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http.Features;
using Tollgate.Storage;

namespace Tollgate.Server.Api.Http;

/// <summary>
/// The HTTP edge of /v1 (API.md §4): what a request must be before an endpoint or the idempotency filter sees it, and
/// what an exception becomes. Bad input is a 400/415 that changes nothing (never a 500, so never stored under an
/// Idempotency-Key as a server error); a database that cannot be reached is 503 <c>unavailable</c>, like check's reason.
/// </summary>
internal static class RequestGuard
{
    public static IApplicationBuilder UseApiRequestGuard(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        if (context.Request.Path.StartsWithSegments("/v1", StringComparison.Ordinal) && Refusal(context.Request) is { } refusal)
        {
            await refusal.ExecuteAsync(context);
            return;
        }

        await next(context);
    });

    /// <summary>Answers an exception that reached the top: 503 when the database is unreachable, else 500.</summary>
    public static Task HandleExceptionAsync(HttpContext context)
    {
        var error = context.Features.Get<IExceptionHandlerFeature>()?.Error;
        var database = context.RequestServices.GetService<TollgateDatabase>();
        return (error is not null && IsUnavailable(error, database) ? Problems.Unavailable() : Problems.Internal()).ExecuteAsync(context);
    }

    /// <summary>Whether an exception means the database could not be reached or answered in time (the connection, not the
    /// request): a transient database error, a socket, stream or timeout failure anywhere in its chain.</summary>
    public static bool IsUnavailable(Exception exception, TollgateDatabase? database)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is System.Data.Common.DbException { IsTransient: true } or SocketException or IOException or TimeoutException
                || (database is not null && database.Ledger.IsTransient(e)))
            {
                return true;
            }

            if (e is AggregateException aggregate && aggregate.InnerExceptions.Any(inner => IsUnavailable(inner, database)))
            {
                return true;
            }
        }

        return false;
    }

    private static ApiResult? Refusal(HttpRequest request)
    {
        // A NUL in the path or the query would reach the database as a parameter, and PostgreSQL text cannot hold one.
        if ((request.Path.Value ?? "").Contains('\0', StringComparison.Ordinal)
            || request.Query.Any(q => q.Key.Contains('\0', StringComparison.Ordinal) || q.Value.Any(v => v?.Contains('\0', StringComparison.Ordinal) == true)))
        {
            return Problems.InvalidRequest("The path or the query contains a NUL character.");
        }

        var hasBody = request.ContentLength > 0
            || (request.ContentLength is null && request.HttpContext.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody == true);
        if (hasBody && !IsJson(request.ContentType))
        {
            return Problems.UnsupportedMediaType();
        }

        return null;
    }

    private static bool IsJson(string? contentType)
    {
        if (contentType is null || !Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(contentType, out var media))
        {
            return false;
        }

        var type = media.MediaType.Value ?? "";
        var charset = media.Charset.Value;
        return (type.Equals("application/json", StringComparison.OrdinalIgnoreCase)
                || (type.StartsWith("application/", StringComparison.OrdinalIgnoreCase) && type.EndsWith("+json", StringComparison.OrdinalIgnoreCase)))
            && (charset is null || charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase));
    }
}
