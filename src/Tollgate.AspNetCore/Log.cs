namespace Tollgate.Server;

/// <summary>The server's log messages (source-generated, stable event ids).</summary>
internal static partial class Log
{
    [LoggerMessage(5010, LogLevel.Warning, "{Count} refusals (402/403/429) in the minute from {Window} UTC: {Codes}; customers refused most: {Customers}")]
    public static partial void RefusalSpike(ILogger logger, int count, string window, string codes, string customers);

    [LoggerMessage(5008, LogLevel.Information, "Tollgate listening on {Addresses} ({Mode})")]
    public static partial void Listening(ILogger logger, string addresses, string mode);

    [LoggerMessage(5009, LogLevel.Information, "Granted {Amount} {Feature} to customer {CustomerId} ({Reason})")]
    public static partial void Granted(ILogger logger, long amount, string feature, string customerId, string reason);

    [LoggerMessage(5001, LogLevel.Information, "Payment providers live: {Providers} (default {Default}); Sandbox test cards {Sandbox}")]
    public static partial void ProvidersLive(ILogger logger, string providers, string @default, string sandbox);

    [LoggerMessage(5002, LogLevel.Debug, "HTTP {Method} {Path} answered {Status} in {Milliseconds:0.0} ms")]
    public static partial void Request(ILogger logger, string method, string path, int status, double milliseconds);

    [LoggerMessage(5003, LogLevel.Warning, "Admin sign-in attempts from {Address} are over the limit; refused with 429")]
    public static partial void AdminLoginLimited(ILogger logger, string address);

    [LoggerMessage(5004, LogLevel.Information, "Stopping: draining for {Drain} s (/readyz 503, every answer closes its connection), then no new connections; requests, webhook applications and ledger batches in flight finish (up to {Timeout} s in all)")]
    public static partial void ShutdownStarted(ILogger logger, double drain, double timeout);

    [LoggerMessage(5005, LogLevel.Information, "Stopped accepting work; the ledger drains its queues as the host is disposed")]
    public static partial void ShutdownFinished(ILogger logger);

    [LoggerMessage(5006, LogLevel.Warning, "An endpoint gate could not settle hold {HoldId} ({Code}); it expires unsettled and the request is not charged")]
    public static partial void SettleFailed(ILogger logger, string holdId, string code);

    [LoggerMessage(5007, LogLevel.Warning, "An endpoint gate could not release hold {HoldId} ({Code}); it returns its units when it expires")]
    public static partial void ReleaseFailed(ILogger logger, string holdId, string code);
}
