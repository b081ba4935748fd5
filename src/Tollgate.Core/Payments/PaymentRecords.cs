namespace Tollgate.Core.Payments;

/// <summary>Where a checkout stands.</summary>
public enum CheckoutStatus
{
    /// <summary>Started; the buyer has not paid.</summary>
    Open,
    /// <summary>Paid (a verified webhook said so).</summary>
    Completed,
    /// <summary>Not paid in time.</summary>
    Expired,
    /// <summary>The payment attempt failed; the buyer may still retry it.</summary>
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

/// <summary>Where a payment stands.</summary>
public enum PaymentStatus
{
    /// <summary>Awaiting an asynchronous payment.</summary>
    Pending,
    /// <summary>Paid; its credits granted.</summary>
    Completed,
    /// <summary>The payment failed.</summary>
    Failed,
    /// <summary>Refunded, fully or in part (see <see cref="Payment.RefundedAmount"/>).</summary>
    Refunded,
    /// <summary>Disputed (a chargeback).</summary>
    Disputed,
}

/// <summary>What a payment bought.</summary>
public enum PaymentKind
{
    /// <summary>A credit pack.</summary>
    Pack,
    /// <summary>A subscription's period.</summary>
    Subscription,
    /// <summary>A lifetime plan, paid once.</summary>
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

/// <summary>Where a received provider webhook stands.</summary>
public enum WebhookStatus
{
    /// <summary>Stored; being applied (or to be retried if the process stopped meanwhile).</summary>
    Received,
    /// <summary>Applied.</summary>
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

/// <summary>A verified provider webhook as the inbox keeps it, unique by (provider, event id).
/// <param name="Provider">The provider id.</param>
/// <param name="EventId">The provider's event id.</param>
/// <param name="EventType">The provider's event type (<c>checkout.completed</c>, <c>charge.refunded</c>, …).</param>
/// <param name="OccurredAt">When the provider says the event happened.</param>
/// <param name="ReceivedAt">When Tollgate received it.</param>
/// <param name="Payload">The body as received.</param>
/// <param name="Status">Where applying it stands.</param>
/// <param name="Attempts">Attempts to apply it so far.</param>
/// <param name="NextAttemptAt">When it is tried again; null when nothing more is to be tried.</param>
/// <param name="LastError">Why the last attempt failed, or null.</param>
/// <param name="AppliedAt">When it was applied, or null.</param>
/// <param name="CustomerId">The customer it concerned, once known.</param></summary>
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
    /// <summary>Stores a new checkout.</summary>
    Task InsertCheckoutAsync(Checkout checkout, CancellationToken cancellationToken);

    /// <summary>Replaces a checkout's stored state.</summary>
    Task UpdateCheckoutAsync(Checkout checkout, CancellationToken cancellationToken);

    /// <summary>A checkout by id, or null.</summary>
    Task<Checkout?> GetCheckoutAsync(string checkoutId, CancellationToken cancellationToken);

    /// <summary>Marks up to <paramref name="limit"/> open or failed checkouts created before <paramref name="createdBefore"/>
    /// expired and returns them as expired (a checkout another server expired meanwhile is not returned twice).</summary>
    Task<IReadOnlyList<Checkout>> ExpireCheckoutsAsync(DateTimeOffset createdBefore, DateTimeOffset now, int limit, CancellationToken cancellationToken);

    /// <summary>The checkout a provider's checkout id maps to, or null.</summary>
    Task<Checkout?> FindCheckoutByProviderIdAsync(string provider, string providerCheckoutId, CancellationToken cancellationToken);

    /// <summary>What <see cref="FindCheckoutByProviderIdAsync"/> and <see cref="GetCheckoutAsync"/> (of
    /// <paramref name="checkoutId"/>, when not null) find, looked up together: a completed checkout's event names it both
    /// ways, and each lookup alone costs a database round trip or two. Both may be the same checkout.</summary>
    Task<(Checkout? ByProviderId, Checkout? ById)> FindCheckoutsAsync(string provider, string providerCheckoutId, string? checkoutId,
        CancellationToken cancellationToken);

    /// <summary>What <see cref="FindCheckoutsAsync"/> finds, and whether a payment with the provider's payment id
    /// <paramref name="providerPaymentId"/> is recorded (its guard key taken), in the same lookup: a delivery whose payment
    /// is recorded is a duplicate or a second event of the payment.</summary>
    Task<(Checkout? ByProviderId, Checkout? ById, bool PaymentRecorded)> FindCheckoutsAndPaymentAsync(string provider, string providerCheckoutId,
        string? checkoutId, string providerPaymentId, CancellationToken cancellationToken);

    /// <summary>Records a payment unless one with the same provider payment id exists; returns whether it was new.</summary>
    Task<bool> TryInsertPaymentAsync(Payment payment, CancellationToken cancellationToken);

    /// <summary>Replaces a payment's stored state.</summary>
    Task UpdatePaymentAsync(Payment payment, CancellationToken cancellationToken);

    /// <summary>The payment whose provider payment id or provider checkout id is one of <paramref name="ids"/>.</summary>
    Task<Payment?> FindPaymentAsync(string provider, IReadOnlyCollection<string> ids, CancellationToken cancellationToken);

    /// <summary>The customer's payments, newest first.</summary>
    Task<IReadOnlyList<Payment>> ListPaymentsAsync(string customerId, CancellationToken cancellationToken);

    /// <summary>Up to <paramref name="limit"/> flagged payments, newest first.</summary>
    Task<IReadOnlyList<Payment>> ListFlaggedPaymentsAsync(int limit, CancellationToken cancellationToken);

    /// <summary>How many payments are flagged, counting no further than <paramref name="cap"/>.</summary>
    Task<int> CountFlaggedPaymentsAsync(int cap, CancellationToken cancellationToken);

    /// <summary>One provider's newest payments, for the admin console.</summary>
    Task<IReadOnlyList<Payment>> ListPaymentsByProviderAsync(string provider, int limit, CancellationToken cancellationToken);

    /// <summary>Revenue per UTC day and currency of the payments created in [<paramref name="from"/>, <paramref name="to"/>).</summary>
    Task<IReadOnlyList<DailyRevenue>> RevenueByDayAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken);

    /// <summary>Whether the customer has a payment for this product that still stands (completed).</summary>
    Task<bool> HasCompletedPaymentAsync(string customerId, string product, CancellationToken cancellationToken);

    /// <summary>Links a provider's customer id to a customer (idempotent; the first link stays).</summary>
    Task LinkProviderCustomerAsync(string provider, string providerCustomerId, string customerId, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>The customer a provider's customer id is linked to, or null.</summary>
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
    /// <summary>Stores a verified event unless (provider, event id) is already stored; returns whether it was new. Inside a
    /// flow's transaction a store may send the insert later, with the flow's next statement (PostgreSQL: one round trip
    /// less per delivery): it then returns true, and an event stored already makes that later statement throw an
    /// exception for which <see cref="IsDuplicate"/> is true, before anything after the insert runs. The flow's
    /// transaction is then rolled back, and the delivery is a duplicate.</summary>
    Task<bool> TryStoreAsync(WebhookEvent webhookEvent, CancellationToken cancellationToken);

    /// <summary>Whether <paramref name="exception"/> is a deferred <see cref="TryStoreAsync"/> or <see cref="TryBeginAsync"/> (or the
    /// <see cref="StoreOutcomeAsync"/> after it) finding its event stored already.</summary>
    bool IsDuplicate(Exception exception) => false;

    /// <summary>Whether <paramref name="exception"/>, one that <see cref="IsDuplicate"/> accepts, came from
    /// <see cref="StoreOutcomeAsync"/>'s write, not from <see cref="TryBeginAsync"/>'s check: the event was stored by a
    /// delivery that committed after this attempt began.</summary>
    bool IsStoredMeanwhile(Exception exception) => false;

    /// <summary>Begins the first attempt of an event received now, inside a flow's transaction: false when (provider, event
    /// id) is stored already. Its row is written by <see cref="StoreOutcomeAsync"/>, in the same transaction, with the
    /// attempt's outcome: a store may write it only then, once, instead of inserting it as received here and updating it
    /// there (PostgreSQL: an update of indexed columns, never HOT). Such a store answers true here and lets a later
    /// statement fail as <see cref="IsDuplicate"/> when the event is stored already, by an earlier delivery or by a
    /// concurrent one that commits first; the flow then rolls back, and the delivery is a duplicate. By default: stored
    /// as received at once (<see cref="TryStoreAsync"/>).</summary>
    Task<bool> TryBeginAsync(WebhookEvent received, CancellationToken cancellationToken) => TryStoreAsync(received, cancellationToken);

    /// <summary>Stores the outcome of an attempt begun with <see cref="TryBeginAsync"/>, in the same transaction. By
    /// default an update of the row it stored (<see cref="UpdateAsync"/>).</summary>
    Task StoreOutcomeAsync(WebhookEvent outcome, CancellationToken cancellationToken) => UpdateAsync(outcome, cancellationToken);

    /// <summary>A stored event, or null.</summary>
    Task<WebhookEvent?> GetAsync(string provider, string eventId, CancellationToken cancellationToken);

    /// <summary>Replaces an event's stored state.</summary>
    Task UpdateAsync(WebhookEvent webhookEvent, CancellationToken cancellationToken);

    /// <summary>Claims up to <paramref name="limit"/> events due for another attempt (failed, or received and never
    /// finished), pushing their next attempt to <paramref name="leaseUntil"/> so no other worker takes them meanwhile.</summary>
    Task<IReadOnlyList<WebhookEvent>> ClaimDueAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int limit, CancellationToken cancellationToken);

    /// <summary>Newest first; optionally one status.</summary>
    Task<IReadOnlyList<WebhookEvent>> ListAsync(WebhookStatus? status, int limit, CancellationToken cancellationToken);

    /// <summary>How many events are in <paramref name="status"/>, counting no further than <paramref name="cap"/>.</summary>
    Task<int> CountAsync(WebhookStatus status, int cap, CancellationToken cancellationToken);

    /// <summary>Up to <paramref name="limit"/> of the customer's events, newest first.</summary>
    Task<IReadOnlyList<WebhookEvent>> ListByCustomerAsync(string customerId, int limit, CancellationToken cancellationToken);

    /// <summary>Events still to be applied (received or failed, with a next attempt), the oldest one's receipt time,
    /// and failed events no longer retried (they wait for an operator's replay).</summary>
    Task<InboxBacklog> BacklogAsync(CancellationToken cancellationToken);
}

/// <summary>What the webhook inbox has not applied yet.</summary>
public sealed record InboxBacklog(long Pending, DateTimeOffset? OldestPendingReceivedAt, long GivenUp);
