namespace Tollgate.Core.Payments;

/// <summary>
/// One provider webhook, normalized. <see cref="Facts"/> holds what Tollgate acts on; an event type Tollgate does
/// not handle has no facts (it is stored and acknowledged, then ignored).
/// </summary>
/// <param name="OccurredAt">The provider's own timestamp of the event (Creem <c>created_at</c> ms, Stripe <c>created</c> s):
/// the order in which events for one subscription apply.</param>
public sealed record ProviderEvent(string Provider, string EventId, string EventType, DateTimeOffset OccurredAt, IReadOnlyList<PaymentFact> Facts);

/// <summary>Who an event is about, by every key the provider gave. Linking tries them in API.md §5 order.</summary>
/// <param name="CheckoutId">Tollgate's checkout id (Creem <c>request_id</c>, Stripe <c>client_reference_id</c>).</param>
/// <param name="CustomerId">Metadata <c>tollgate_customer_id</c>.</param>
/// <param name="Product">Metadata <c>tollgate_product</c>.</param>
/// <param name="ProviderCustomerId">Creem <c>cust_…</c>, Stripe <c>cus_…</c>.</param>
/// <param name="ProviderProductRef">Creem product id or Stripe price id, for the catalog mapping.</param>
public sealed record PaymentLink(
    string? CheckoutId,
    string? CustomerId,
    string? Product,
    string? ProviderCustomerId,
    string? ProviderProductRef,
    string? CustomerEmail = null);

/// <summary>One fact a provider event reports.
/// <param name="Link">How the fact finds its customer.</param></summary>
public abstract record PaymentFact(PaymentLink Link);

/// <summary>A hosted checkout finished (or, for the App Store, a one-time purchase was made in the app). <see cref="Paid"/>
/// is false for one still awaiting an asynchronous payment.</summary>
/// <param name="ProviderOrderId">Creem <c>ord_…</c>; Stripe's PaymentIntent <c>pi_…</c> (payment mode); App Store
/// <c>transactionId</c> — the id refunds name.</param>
/// <param name="ProviderSubscriptionId">Set when the checkout started a subscription.</param>
/// <param name="Quantity">Units bought: a pack bought three times at once grants three times its credits (App Store
/// consumables can be bought in quantity; hosted checkouts are always 1).</param>
public sealed record CheckoutCompleted(
    PaymentLink Link,
    string ProviderCheckoutId,
    string? ProviderOrderId,
    string? ProviderSubscriptionId,
    CheckoutMode Mode,
    bool Paid,
    long? Amount,
    string? Currency,
    int Quantity = 1) : PaymentFact(Link);

/// <summary>A hosted checkout's payment attempt failed (a declined card); the customer may still retry it.</summary>
public sealed record CheckoutFailed(PaymentLink Link, string ProviderCheckoutId, string Reason) : PaymentFact(Link);

/// <summary>A subscription's status as the provider reports it.</summary>
public enum ProviderSubscriptionStatus
{
    /// <summary>Created, first payment not made yet.</summary>
    Incomplete,
    /// <summary>In a free trial.</summary>
    Trialing,
    /// <summary>Paid and running.</summary>
    Active,
    /// <summary>A renewal payment failed; the provider is retrying it.</summary>
    PastDue,
    /// <summary>Paused; no access, no billing.</summary>
    Paused,

    /// <summary>Canceled; terminal.</summary>
    Canceled,

    /// <summary>Ended without payment (Stripe <c>incomplete_expired</c>, <c>unpaid</c>; Creem <c>expired</c>, <c>unpaid</c>).</summary>
    Expired,
}

/// <summary>The state of a subscription as of <see cref="ProviderEvent.OccurredAt"/>. Fields the event did not carry are null.</summary>
/// <param name="AccessEndsAt">When the provider itself states until when the customer is entitled (App Store: the
/// period's <c>expiresDate</c>, or the end of a billing grace period), access ends then whatever the status, unless a
/// newer event moves it. Null: the provider does not say, and the status alone decides.</param>
public sealed record SubscriptionSnapshot(
    PaymentLink Link,
    string ProviderSubscriptionId,
    ProviderSubscriptionStatus Status,
    DateTimeOffset? CurrentPeriodStart,
    DateTimeOffset? CurrentPeriodEnd,
    bool CancelAtPeriodEnd,
    DateTimeOffset? CanceledAt,
    DateTimeOffset? AccessEndsAt = null) : PaymentFact(Link)
{
    /// <summary>How many units (seats) the provider bills: Stripe's first item's <c>quantity</c>, Creem's first item's
    /// <c>units</c>. Null when the event does not say (the stored quantity stays).</summary>
    public long? Quantity { get; init; }
}

/// <summary>The customer chose another product for the subscription's next renewal (App Store
/// <c>DID_CHANGE_RENEWAL_PREF</c> downgrade); the current plan's own product cancels a pending change.</summary>
/// <param name="ProviderProductRef">The product the subscription will renew into.</param>
public sealed record PlanChangeScheduled(PaymentLink Link, string ProviderSubscriptionId, string ProviderProductRef) : PaymentFact(Link);

/// <summary>A subscription period was paid (Creem <c>subscription.paid</c>, Stripe <c>invoice.paid</c>).</summary>
/// <param name="ProviderPaymentId">Creem transaction <c>tran_…</c>, Stripe invoice <c>in_…</c>: unique per payment.</param>
public sealed record SubscriptionPaymentSucceeded(
    PaymentLink Link,
    string ProviderSubscriptionId,
    string ProviderPaymentId,
    long? Amount,
    string? Currency,
    DateTimeOffset? PeriodStart,
    DateTimeOffset? PeriodEnd) : PaymentFact(Link);

/// <summary>A subscription payment failed (Stripe <c>invoice.payment_failed</c>).</summary>
public sealed record SubscriptionPaymentFailed(
    PaymentLink Link,
    string ProviderSubscriptionId,
    string ProviderPaymentId,
    long? Amount,
    string? Currency) : PaymentFact(Link);

/// <summary>Money went back to the customer. <see cref="PaymentIds"/> are every id of the refunded payment the event
/// names (order, transaction, PaymentIntent, charge, checkout), so it can be matched to the payment record.</summary>
/// <param name="AmountIsCumulative">True when <paramref name="Amount"/> is everything refunded on the payment so far
/// (Stripe's <c>amount_refunded</c>), false when it is this refund alone (Creem's <c>refund_amount</c>).</param>
public sealed record RefundIssued(
    PaymentLink Link,
    string ProviderRefundId,
    IReadOnlyList<string> PaymentIds,
    long? Amount,
    string? Currency,
    bool FullyRefunded,
    bool AmountIsCumulative = false) : PaymentFact(Link);

/// <summary>The customer disputed a payment (chargeback).</summary>
public sealed record DisputeOpened(
    PaymentLink Link,
    string ProviderDisputeId,
    IReadOnlyList<string> PaymentIds,
    long? Amount,
    string? Currency) : PaymentFact(Link);

/// <summary>A refund was reversed (App Store <c>REFUND_REVERSED</c>): the payment stands again, and what its refund took
/// back is given back.</summary>
/// <param name="ProviderReversalId">Unique per reversal, so it is applied once.</param>
public sealed record RefundReversed(PaymentLink Link, string ProviderReversalId, IReadOnlyList<string> PaymentIds) : PaymentFact(Link);

/// <summary>The provider asks how a purchase was used before it decides a customer's refund request (App Store
/// <c>CONSUMPTION_REQUEST</c>). Tollgate records it on the payment for the operator, who answers the provider.</summary>
/// <param name="Reason">The provider's reason code (<c>UNINTENDED_PURCHASE</c>, …), when it gives one.</param>
public sealed record ConsumptionRequested(PaymentLink Link, IReadOnlyList<string> PaymentIds, string? Reason) : PaymentFact(Link);
