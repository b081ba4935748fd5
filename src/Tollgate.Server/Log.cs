namespace Tollgate.Server;

/// <summary>The server's log messages (source-generated, stable event ids).</summary>
internal static partial class Log
{
    [LoggerMessage(5001, LogLevel.Information, "Payment providers live: {Providers} (default {Default}); Sandbox test cards {Sandbox}")]
    public static partial void ProvidersLive(ILogger logger, string providers, string @default, string sandbox);
}
