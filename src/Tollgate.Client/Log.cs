using Microsoft.Extensions.Logging;

namespace Tollgate.Client;

internal static partial class Log
{
    [LoggerMessage(3001, LogLevel.Warning, "Tollgate {Call} attempt {Attempt} failed ({Reason}); retrying in {DelayMs} ms")]
    public static partial void Retrying(ILogger logger, string call, int attempt, string reason, double delayMs);

    [LoggerMessage(3002, LogLevel.Warning, "Tollgate {Call} failed after {Attempts} attempt(s): {Reason}")]
    public static partial void GaveUp(ILogger logger, string call, int attempts, string reason);
}
