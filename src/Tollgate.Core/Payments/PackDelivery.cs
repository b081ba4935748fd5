using Tollgate.Core.Ledger;

namespace Tollgate.Core.Payments;

/// <summary>
/// What a webhook delivery of a paid credit pack writes besides its grant, decided before the write and carried by the
/// grant into its ledger batch (<see cref="LedgerWrite.Attachment"/>): the rows <see cref="PaymentApplier"/> writes for
/// it in a transaction of the delivery's own, so that a batch writes them for many deliveries in a statement per kind.
/// <see cref="Inbox"/> and the payment's guard key (<see cref="Payment"/>'s provider payment id) are inserted plainly: a
/// delivery stored or a payment recorded meanwhile fails the write, which then runs alone and fails alone, and the
/// delivery takes the one-transaction path (<see cref="WebhookProcessor"/>), which answers for it.
/// </summary>
/// <param name="Inbox">The delivery's inbox row, with its outcome (applied).</param>
/// <param name="Payment">The payment, recorded with its revenue marker, its guard key and its checkout key.</param>
/// <param name="Link">The provider's customer to link, when the event names one: taken only if nobody holds it.</param>
/// <param name="CompletedCheckout">Tollgate's checkout the payment completes, as it is to be stored (completed).</param>
public sealed record PackDelivery(WebhookEvent Inbox, Payment Payment, ProviderCustomerLink? Link, Checkout? CompletedCheckout) : LedgerAttachment;

/// <summary>A provider's customer id linked to a Tollgate customer (the first link stands: see
/// <see cref="IPaymentStore.LinkProviderCustomerAsync"/>).</summary>
public sealed record ProviderCustomerLink(string Provider, string ProviderCustomerId, string CustomerId, DateTimeOffset At);

/// <summary>A pack delivery decided: the grant to make, and the rows that commit with it.</summary>
public sealed record PackDeliveryPlan(GrantRequest Grant, PackDelivery Rows);
