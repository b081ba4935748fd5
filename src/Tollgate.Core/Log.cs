using Microsoft.Extensions.Logging;

namespace Tollgate.Core;

internal static partial class Log
{
    [LoggerMessage(1001, LogLevel.Warning, "A ledger batch of {Count} requests failed; running them one by one")]
    public static partial void BatchFailed(ILogger logger, int count, Exception exception);

    [LoggerMessage(1002, LogLevel.Error, "A ledger request for customer {CustomerId} failed")]
    public static partial void OperationFailed(ILogger logger, string customerId, Exception exception);

    [LoggerMessage(1005, LogLevel.Debug, "A ledger batch of {Count} requests, some with attached rows, failed; running them one by one")]
    public static partial void BatchWithAttachmentsFailed(ILogger logger, int count, Exception exception);

    [LoggerMessage(1006, LogLevel.Debug, "A ledger request with attached rows for customer {CustomerId} failed; its caller takes its own path")]
    public static partial void AttachedOperationFailed(ILogger logger, string customerId, Exception exception);

    [LoggerMessage(1003, LogLevel.Debug, "Ledger batch attempt {Attempt} hit a transient database error: {Message}")]
    public static partial void TransientRetry(ILogger logger, int attempt, string message);

    [LoggerMessage(1004, LogLevel.Error, "A ledger batch committed, but its observer failed; its callers are answered all the same")]
    public static partial void ObserverFailed(ILogger logger, Exception exception);

    [LoggerMessage(2001, LogLevel.Warning, "External access source failed for customer {CustomerId}; its answer is ignored (fail closed)")]
    public static partial void ExternalAccessFailed(ILogger logger, string customerId, Exception exception);

    [LoggerMessage(2002, LogLevel.Information, "External access source was unsure about customer {CustomerId}; its answer is ignored")]
    public static partial void ExternalAccessUnsure(ILogger logger, string customerId);

    [LoggerMessage(2003, LogLevel.Warning, "External access source claimed {Capabilities} for customer {CustomerId}; only feature:* capabilities are taken")]
    public static partial void ExternalAccessOverreach(ILogger logger, string customerId, string capabilities);

    [LoggerMessage(3001, LogLevel.Warning, "Could not fetch the {Provider} price of {Reference}: {Message}; showing the last known price")]
    public static partial void PriceFetchFailed(ILogger logger, string provider, string reference, string message);

    [LoggerMessage(3002, LogLevel.Warning, "Applying {Provider} event {EventId} ({EventType}) failed on attempt {Attempt}; retrying at {NextAttempt}")]
    public static partial void WebhookApplyFailed(ILogger logger, string provider, string eventId, string eventType, int attempt, DateTimeOffset? nextAttempt, Exception exception);

    [LoggerMessage(3004, LogLevel.Information, "Applied {Provider} event {EventId} ({EventType}) for customer {CustomerId}")]
    public static partial void WebhookApplied(ILogger logger, string provider, string eventId, string eventType, string? customerId);

    [LoggerMessage(3005, LogLevel.Debug, "{Provider} event {EventId} was not written in a ledger batch ({Reason}); applying it in a transaction of its own")]
    public static partial void BatchedDeliveryFellBack(ILogger logger, string provider, string eventId, string reason);

    [LoggerMessage(3003, LogLevel.Information, "{Provider} event {EventId} ({EventType}) names no customer Tollgate knows; kept as unmatched")]
    public static partial void WebhookUnmatched(ILogger logger, string provider, string eventId, string eventType);

    [LoggerMessage(2004, LogLevel.Error, "Check for customer {CustomerId} could not read the database; answering unavailable")]
    public static partial void CheckUnavailable(ILogger logger, string customerId, Exception exception);
}
