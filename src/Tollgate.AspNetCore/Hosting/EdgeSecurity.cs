using System.Diagnostics;
using System.Globalization;
using System.Threading.RateLimiting;

namespace Tollgate.Server.Hosting;

/// <summary>
/// Request logging that never prints a query string (a portal link carries its token there), and the admin sign-in's
/// rate limit per address, on top of the fixed delay after a wrong key (issue 9, item 7).
/// </summary>
internal static class EdgeSecurity
{
    /// <summary>Wrong or right, sign-in attempts per address in one window. Generous for a person, useless for guessing.</summary>
    public const int AdminLoginAttempts = 10;

    public static readonly TimeSpan AdminLoginWindow = TimeSpan.FromMinutes(5);

    /// <summary>One line per request at Debug (<c>Tollgate.Server.Requests</c>): method, path, status, time; no query.</summary>
    public static IApplicationBuilder UseRequestLog(this IApplicationBuilder app)
    {
        var logger = app.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger("Tollgate.Server.Requests");
        return app.Use(async (context, next) =>
        {
            if (!logger.IsEnabled(LogLevel.Debug))
            {
                await next(context);
                return;
            }

            var started = Stopwatch.GetTimestamp();
            try
            {
                await next(context);
            }
            finally
            {
                Log.Request(logger, context.Request.Method, context.Request.Path.Value ?? "/", context.Response.StatusCode,
                    Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
        });
    }

    public static IServiceCollection AddAdminLoginRateLimit(this IServiceCollection services) => services.AddRateLimiter(options =>
    {
        options.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(http =>
            IsAdminSignIn(http.Request)
                // The address after forwarded headers (when an operator turned them on), so each client has its own budget.
                ? RateLimitPartition.GetFixedWindowLimiter("admin-login|" + (http.Connection.RemoteIpAddress?.ToString() ?? "unknown"),
                    _ => new FixedWindowRateLimiterOptions { PermitLimit = AdminLoginAttempts, Window = AdminLoginWindow, QueueLimit = 0 })
                : RateLimitPartition.GetNoLimiter("other"));
        options.OnRejected = async (context, ct) =>
        {
            var http = context.HttpContext;
            Log.AdminLoginLimited(http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Tollgate.Server.Admin"),
                http.Connection.RemoteIpAddress?.ToString() ?? "unknown");
            http.Response.StatusCode = StatusCodes.Status429TooManyRequests;
            http.Response.Headers.RetryAfter = ((int)AdminLoginWindow.TotalSeconds).ToString(CultureInfo.InvariantCulture);
            http.Response.ContentType = "text/plain; charset=utf-8";
            await http.Response.WriteAsync("Too many sign-in attempts from this address. Try again in a few minutes.", ct);
        };
    });

    private static bool IsAdminSignIn(HttpRequest request) =>
        HttpMethods.IsPost(request.Method)
        && request.Path.Equals("/admin/login", StringComparison.OrdinalIgnoreCase)
        && !request.Query.ContainsKey("handler");
}
