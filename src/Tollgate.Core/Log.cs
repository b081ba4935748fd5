using Microsoft.Extensions.Logging;

namespace Tollgate.Core;

internal static partial class Log
{
    [LoggerMessage(1001, LogLevel.Warning, "A ledger batch of {Count} requests failed; running them one by one")]
    public static partial void BatchFailed(ILogger logger, int count, Exception exception);

    [LoggerMessage(1002, LogLevel.Error, "A ledger request for customer {CustomerId} failed")]
    public static partial void OperationFailed(ILogger logger, string customerId, Exception exception);

    [LoggerMessage(1003, LogLevel.Debug, "Ledger batch attempt {Attempt} hit a transient database error: {Message}")]
    public static partial void TransientRetry(ILogger logger, int attempt, string message);
}
