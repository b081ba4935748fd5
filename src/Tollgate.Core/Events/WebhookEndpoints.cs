using System.Security.Cryptography;

namespace Tollgate.Core.Events;

/// <summary>Whether an endpoint receives events.</summary>
public enum EndpointStatus
{
    /// <summary>Receives events.</summary>
    Enabled,
    /// <summary>Receives nothing: turned off by the operator, or after its deliveries kept failing (see <see cref="WebhookEndpoint.DisabledReason"/>).</summary>
    Disabled,
}

/// <summary>Where one event's delivery to one endpoint stands.</summary>
public enum DeliveryStatus
{
    /// <summary>Not delivered yet; will be tried (again) at its next attempt time.</summary>
    Pending,
    /// <summary>The endpoint answered 2xx.</summary>
    Delivered,
    /// <summary>Given up after the last retry (or the endpoint was disabled); only a redelivery sends it again.</summary>
    Failed,
}

/// <summary>An app's endpoint for events. <see cref="EventTypes"/> null: every type.</summary>
public sealed record WebhookEndpoint(
    string Id,
    string Url,
    IReadOnlyList<string>? EventTypes,
    string? Description,
    EndpointStatus Status,
    string? DisabledReason,
    string Secret,
    string? PreviousSecret,
    DateTimeOffset? PreviousSecretUntil,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt)
{
    /// <summary>The secrets that sign a message sent at <paramref name="now"/>: the current one, and during the overlap
    /// after a rotation the previous one too.</summary>
    public IReadOnlyList<string> SigningSecrets(DateTimeOffset now) =>
        PreviousSecret is not null && PreviousSecretUntil > now ? [Secret, PreviousSecret] : [Secret];
}

/// <summary>One try to deliver an event to an endpoint, as recorded.</summary>
public sealed record DeliveryAttempt(long Id, string EndpointId, string EventId, string EventType, int Attempt, int? StatusCode, string? Error,
    DateTimeOffset At, DateTimeOffset? NextAttemptAt);

/// <summary>A stored event, as sent.</summary>
public sealed record StoredEvent(string EventId, string CustomerId, long Sequence, string Type, string Payload, DateTimeOffset CreatedAt);

/// <summary>A delivery a server claimed: send <see cref="Payload"/> to <see cref="Endpoint"/>, then report under <see cref="Claim"/>.</summary>
public sealed record DeliveryWork(WebhookEndpoint Endpoint, string EventId, string Payload, int Attempts, string Claim)
{
    /// <summary>The customer the event is about: its outcome is recorded by it (deliveries are keyed by customer,
    /// docs/scaling.md).</summary>
    public required string CustomerId { get; init; }
}

/// <summary>The state of one event's delivery to one endpoint (the admin console's list).</summary>
/// <summary>The outbox's backlog across all endpoints: deliveries still to be sent, when the oldest of their events was
/// written, and deliveries given up after their last attempt.</summary>
public sealed record OutboxBacklog(long Pending, DateTimeOffset? OldestPendingCreatedAt, long Failed);

/// <summary>The state of one event's delivery to one endpoint (the admin console's list).
/// <param name="EndpointId">The endpoint.</param>
/// <param name="EventId">The event.</param>
/// <param name="EventType">The event's type (see <see cref="EventTypes"/>).</param>
/// <param name="CustomerId">The customer the event is about.</param>
/// <param name="Sequence">The event's number among the customer's events; deliveries to an endpoint go in this order.</param>
/// <param name="Status">Pending, delivered or failed.</param>
/// <param name="Attempts">Attempts made so far.</param>
/// <param name="NextAttemptAt">When a pending delivery is tried next.</param>
/// <param name="LastStatusCode">The HTTP status of the last attempt; null when it got no answer.</param>
/// <param name="LastError">Why the last attempt failed, or null.</param>
/// <param name="UpdatedAt">When the state last changed.</param></summary>
public sealed record DeliveryState(string EndpointId, string EventId, string EventType, string CustomerId, long Sequence, DeliveryStatus Status,
    int Attempts, DateTimeOffset NextAttemptAt, int? LastStatusCode, string? LastError, DateTimeOffset UpdatedAt);

/// <summary>How a delivery attempt ended: <see cref="Next"/> null when nothing more is to be tried.</summary>
public sealed record DeliveryOutcome(string EndpointId, string EventId, string Claim, int Attempt, int? StatusCode, string? Error,
    DeliveryStatus Status, DateTimeOffset At, DateTimeOffset? Next, bool DisableEndpoint)
{
    /// <summary>The customer of the event (<see cref="DeliveryWork.CustomerId"/>): the delivery row is found by it.</summary>
    public required string CustomerId { get; init; }
}

/// <summary>Storage port of the app's endpoints and of event deliveries.</summary>
public interface IWebhookEndpointStore
{
    /// <summary>Stores a new endpoint.</summary>
    Task CreateAsync(WebhookEndpoint endpoint, CancellationToken cancellationToken);

    /// <summary>Every endpoint.</summary>
    Task<IReadOnlyList<WebhookEndpoint>> ListAsync(CancellationToken cancellationToken);

    /// <summary>One endpoint, or null.</summary>
    Task<WebhookEndpoint?> GetAsync(string endpointId, CancellationToken cancellationToken);

    /// <summary>Deletes an endpoint with its deliveries; false when there is none.</summary>
    Task<bool> DeleteAsync(string endpointId, CancellationToken cancellationToken);

    /// <summary>Makes <paramref name="secret"/> the endpoint's secret; the old one keeps signing until <paramref name="previousUntil"/>.</summary>
    Task<WebhookEndpoint?> RotateSecretAsync(string endpointId, string secret, DateTimeOffset previousUntil, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Attempts to an endpoint, newest first, older than <paramref name="before"/> (an attempt id).</summary>
    Task<IReadOnlyList<DeliveryAttempt>> ListAttemptsAsync(string endpointId, int limit, long? before, CancellationToken cancellationToken);

    /// <summary>Deliveries to an endpoint, newest event first.</summary>
    Task<IReadOnlyList<DeliveryState>> ListDeliveriesAsync(string endpointId, int limit, CancellationToken cancellationToken);

    /// <summary>A stored event by id, or null (never stored, or pruned).</summary>
    Task<StoredEvent?> GetEventAsync(string eventId, CancellationToken cancellationToken);

    /// <summary>What is waiting to be sent, for the operator's metrics.</summary>
    Task<OutboxBacklog> BacklogAsync(CancellationToken cancellationToken);

    /// <summary>Sends an event again to every endpoint it was for (and to enabled endpoints created since that take its
    /// type); false when there is no such event.</summary>
    Task<bool> RedeliverAsync(string eventId, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Claims up to <paramref name="limit"/> due deliveries until <paramref name="leaseUntil"/>: of each endpoint and
    /// customer only the lowest pending sequence number, and only when no other server holds its claim. Other servers
    /// skip what this one claims (PostgreSQL: <c>FOR UPDATE SKIP LOCKED</c>); an unreported claim comes back when its lease ends.</summary>
    Task<IReadOnlyList<DeliveryWork>> ClaimAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int limit, CancellationToken cancellationToken);

    /// <summary>Deletes up to <paramref name="limit"/> events created before <paramref name="before"/> none of whose
    /// deliveries is still pending, with their deliveries and attempts (oldest first). Returns how many events went.
    /// Customers' sequence counters stay, so numbering continues.</summary>
    Task<int> PruneAsync(DateTimeOffset before, int limit, CancellationToken cancellationToken);

    /// <summary>Records an attempt and its outcome, if the claim is still this server's (a report after the lease
    /// ended and another server claimed the delivery changes nothing). Returns whether it was recorded.</summary>
    Task<bool> CompleteAsync(DeliveryOutcome outcome, CancellationToken cancellationToken);
}

/// <summary>Standard Webhooks secrets: <c>whsec_</c> + base64 of 32 random bytes (the spec asks for 24 to 64).</summary>
public static class WebhookSecrets
{
    /// <summary>What every secret starts with.</summary>
    public const string Prefix = "whsec_";

    /// <summary>A new random secret.</summary>
    public static string New() => Prefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    /// <summary>The HMAC key: the decoded bytes, not the string.</summary>
    public static byte[] Key(string secret)
    {
        ArgumentNullException.ThrowIfNull(secret);
        return Convert.FromBase64String(secret.StartsWith(Prefix, StringComparison.Ordinal) ? secret[Prefix.Length..] : secret);
    }
}

/// <summary>When to try a failed delivery again (API.md §6.3): about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h,
/// 24 h after the successive failures, each ±10 % so a recovering endpoint is not hit by every retry at once.</summary>
public static class RetrySchedule
{
    /// <summary>The waits after the 1st … 9th failed attempt, before jitter; after the last, the delivery fails.</summary>
    public static readonly IReadOnlyList<TimeSpan> Delays =
    [
        TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(30), TimeSpan.FromHours(2), TimeSpan.FromHours(5),
        TimeSpan.FromHours(10), TimeSpan.FromHours(14), TimeSpan.FromHours(20), TimeSpan.FromHours(24),
    ];

    /// <summary>The longest <c>Retry-After</c> honoured.</summary>
    public static readonly TimeSpan MaxRetryAfter = TimeSpan.FromHours(24);

    /// <summary>The wait after the <paramref name="attempt"/>-th failed attempt (1-based), or null when that was the last.</summary>
    public static TimeSpan? After(int attempt, TimeSpan? retryAfter, double jitter)
    {
        if (attempt < 1 || attempt > Delays.Count)
        {
            return null;
        }

        if (retryAfter is { } asked && asked > TimeSpan.Zero)
        {
            return asked > MaxRetryAfter ? MaxRetryAfter : asked;
        }

        // jitter in [0, 1) → a factor in [0.9, 1.1)
        return Delays[attempt - 1] * (0.9 + (0.2 * jitter));
    }
}
