using Microsoft.Extensions.Logging;

namespace Tollgate.Providers;

internal static partial class Log
{
    [LoggerMessage(2001, LogLevel.Warning, "{Provider} {Operation} attempt {Attempt} failed ({Reason}); retrying in {DelayMs} ms")]
    public static partial void Retrying(ILogger logger, string provider, string operation, int attempt, string reason, double delayMs);
}
