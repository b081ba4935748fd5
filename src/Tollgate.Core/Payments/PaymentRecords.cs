namespace Tollgate.Core.Payments;

public enum CheckoutStatus
{
    Open,
    Completed,
    Expired,
    Failed,
}

/// <summary>A checkout Tollgate started with a provider. Only a verified webhook completes it.</summary>
public sealed record Checkout(
    string Id,
    string CustomerId,
    string Product,
    string Provider,
    string ProviderCheckoutId,
    string Url,
    CheckoutStatus Status,
    string? SuccessUrl,
    string? CancelUrl,
    IReadOnlyDictionary<string, string> Metadata,
    string? Failure,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    DateTimeOffset? CompletedAt);

public enum PaymentStatus
{
    Pending,
    Completed,
    Failed,
    Refunded,
    Disputed,
}

public enum PaymentKind
{
    Pack,
    Subscription,
    Lifetime,
}

/// <summary>
/// One payment as the provider reported it (the seeds' <c>creem_transactions</c>, generalized). Unique by the
/// provider's payment id, so however often its events arrive it is recorded, and its credits granted, once.
/// </summary>
/// <param name="LedgerRef">Source of the lots the payment granted: what a refund or dispute claws back.</param>
/// <param name="Credits">Credits the payment granted (packs) — the base of a proportional clawback.</param>
/// <param name="Flag">Why an operator should look at it (a second purchase of a once-per-customer pack), or null.</param>
public sealed record Payment(
    string Id,
    string CustomerId,
    string Provider,
    PaymentKind Kind,
    string Product,
    PaymentStatus Status,
    long? Amount,
    string? Currency,
    string? CheckoutId,
    string? ProviderCheckoutId,
    string ProviderPaymentId,
    string? ProviderSubscriptionId,
    string? SubscriptionId,
    string? LedgerRef,
    long Credits,
    long RefundedAmount,
    long CreditsClawed,
    string? Flag,
    string Payload,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

public enum WebhookStatus
{
    /// <summary>Stored; being applied (or to be retried if the process stopped meanwhile).</summary>
    Received,
    Applied,

    /// <summary>Applying failed; retried with backoff.</summary>
    Failed,

    /// <summary>An event type Tollgate does not act on.</summary>
    Ignored,

    /// <summary>Verified, but it names no customer Tollgate knows; kept for the operator.</summary>
    Unmatched,

    /// <summary>Signed correctly, but not a body the provider sends (invalid UTF-8, a NUL, a duplicate key, an
    /// impossible number or date): answered 400, kept for the operator, never applied.</summary>
    Rejected,
}

public sealed record WebhookEvent(
    string Provider,
    string EventId,
    string EventType,
    DateTimeOffset OccurredAt,
    DateTimeOffset ReceivedAt,
    string Payload,
    WebhookStatus Status,
    int Attempts,
    DateTimeOffset? NextAttemptAt,
    string? LastError,
    DateTimeOffset? AppliedAt,
    string? CustomerId);

/// <summary>Revenue of one UTC day in one currency, from completed payments minus refunds.</summary>
public sealed record DailyRevenue(DateOnly Day, string Currency, long Amount, int Payments);

/// <summary>Storage port for checkouts, payment records and the links between provider customers and customers.</summary>
public interface IPaymentStore
{
    Task InsertCheckoutAsync(Checkout checkout, CancellationToken cancellationToken);

    Task UpdateCheckoutAsync(Checkout checkout, CancellationToken cancellationToken);

    Task<Checkout?> GetCheckoutAsync(string checkoutId, CancellationToken cancellationToken);

    /// <summary>Marks open checkouts created before <paramref name="createdBefore"/> expired; returns how many.</summary>
    /// <summary>Marks up to <paramref name="limit"/> open or failed checkouts created before <paramref name="createdBefore"/>
    /// expired and returns them as expired (a checkout another server expired meanwhile is not returned twice).</summary>
    Task<IReadOnlyList<Checkout>> ExpireCheckoutsAsync(DateTimeOffset createdBefore, DateTimeOffset now, int limit, CancellationToken cancellationToken);

    Task<Checkout?> FindCheckoutByProviderIdAsync(string provider, string providerCheckoutId, CancellationToken cancellationToken);

    /// <summary>Records a payment unless one with the same provider payment id exists; returns whether it was new.</summary>
    Task<bool> TryInsertPaymentAsync(Payment payment, CancellationToken cancellationToken);

    Task UpdatePaymentAsync(Payment payment, CancellationToken cancellationToken);

    /// <summary>The payment whose provider payment id or provider checkout id is one of <paramref name="ids"/>.</summary>
    Task<Payment?> FindPaymentAsync(string provider, IReadOnlyCollection<string> ids, CancellationToken cancellationToken);

    Task<IReadOnlyList<Payment>> ListPaymentsAsync(string customerId, CancellationToken cancellationToken);

    Task<IReadOnlyList<Payment>> ListFlaggedPaymentsAsync(int limit, CancellationToken cancellationToken);

    /// <summary>How many payments are flagged, counting no further than <paramref name="cap"/>.</summary>
    Task<int> CountFlaggedPaymentsAsync(int cap, CancellationToken cancellationToken);

    /// <summary>One provider's newest payments, for the admin console.</summary>
    Task<IReadOnlyList<Payment>> ListPaymentsByProviderAsync(string provider, int limit, CancellationToken cancellationToken);

    Task<IReadOnlyList<DailyRevenue>> RevenueByDayAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken);

    /// <summary>Whether the customer has a payment for this product that still stands (completed).</summary>
    Task<bool> HasCompletedPaymentAsync(string customerId, string product, CancellationToken cancellationToken);

    Task LinkProviderCustomerAsync(string provider, string providerCustomerId, string customerId, DateTimeOffset now, CancellationToken cancellationToken);

    Task<string?> FindCustomerByProviderIdAsync(string provider, string providerCustomerId, CancellationToken cancellationToken);

    /// <summary>Records a refund or dispute on a payment unless it was recorded before, in one atomic step: adds
    /// <paramref name="refundedDelta"/> (or raises the refunded amount to <paramref name="refundedTotal"/>), adds the
    /// credits clawed back, sets the status. Returns false when <paramref name="reversalId"/> was already recorded.</summary>
    Task<bool> RecordReversalAsync(Payment payment, string reversalId, long? refundedDelta, long? refundedTotal, long creditsClawed,
        PaymentStatus status, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Adds <paramref name="note"/> to the payment's flag (shown to the operator), unless a note containing
    /// <paramref name="marker"/> is there already. Touches nothing else of the payment, so it races with no other update.</summary>
    Task AddFlagAsync(Payment payment, string note, string marker, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>The provider customer id linked to a customer, if any.</summary>
    Task<string?> FindProviderCustomerAsync(string provider, string customerId, CancellationToken cancellationToken);
}

/// <summary>Storage port of the webhook inbox.</summary>
public interface IWebhookInbox
{
    /// <summary>Stores a verified event unless (provider, event id) is already stored; returns whether it was new.</summary>
    Task<bool> TryStoreAsync(WebhookEvent webhookEvent, CancellationToken cancellationToken);

    Task<WebhookEvent?> GetAsync(string provider, string eventId, CancellationToken cancellationToken);

    Task UpdateAsync(WebhookEvent webhookEvent, CancellationToken cancellationToken);

    /// <summary>Claims up to <paramref name="limit"/> events due for another attempt (failed, or received and never
    /// finished), pushing their next attempt to <paramref name="leaseUntil"/> so no other worker takes them meanwhile.</summary>
    Task<IReadOnlyList<WebhookEvent>> ClaimDueAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int limit, CancellationToken cancellationToken);

    /// <summary>Newest first; optionally one status.</summary>
    Task<IReadOnlyList<WebhookEvent>> ListAsync(WebhookStatus? status, int limit, CancellationToken cancellationToken);

    /// <summary>How many events are in <paramref name="status"/>, counting no further than <paramref name="cap"/>.</summary>
    Task<int> CountAsync(WebhookStatus status, int cap, CancellationToken cancellationToken);

    Task<IReadOnlyList<WebhookEvent>> ListByCustomerAsync(string customerId, int limit, CancellationToken cancellationToken);

    /// <summary>Events still to be applied (received or failed, with a next attempt), the oldest one's receipt time,
    /// and failed events no longer retried (they wait for an operator's replay).</summary>
    Task<InboxBacklog> BacklogAsync(CancellationToken cancellationToken);
}

/// <summary>What the webhook inbox has not applied yet.</summary>
public sealed record InboxBacklog(long Pending, DateTimeOffset? OldestPendingReceivedAt, long GivenUp);
