using System.Globalization;
using Tollgate.Core.Catalog;
using Tollgate.Core.Common;
using Tollgate.Core.Ledger;
using Tollgate.Core.Subscriptions;

namespace Tollgate.Core.Payments;

/// <summary>The result of applying one event: applied, not for anyone Tollgate knows (unmatched), or to be tried again
/// later because something it depends on has not arrived yet (a refund before its payment).</summary>
public sealed record ApplyOutcome(WebhookStatus Status, string? CustomerId, string? Problem)
{
    /// <summary>The event was applied.</summary>
    public static ApplyOutcome Applied(string? customer) => new(WebhookStatus.Applied, customer, null);

    /// <summary>The event names no customer Tollgate knows.</summary>
    public static ApplyOutcome Unmatched(string problem) => new(WebhookStatus.Unmatched, null, problem);

    /// <summary>The event cannot be applied yet (something it depends on has not arrived); it is retried.</summary>
    public static ApplyOutcome Later(string? customer, string problem) => new(WebhookStatus.Failed, customer, problem);
}

/// <summary>
/// Turns verified, normalized provider events into Tollgate state: payment records, credits, subscriptions. Every
/// effect is keyed (payment by the provider's payment id, grants and clawbacks by ledger keys, subscriptions by the
/// provider's id and event time), so applying an event twice, or events out of order, changes nothing twice.
/// </summary>
public sealed class PaymentApplier(
    ProductCatalog catalog,
    IPaymentStore payments,
    ISubscriptionStore subscriptions,
    SubscriptionService subscriptionService,
    LedgerEngine ledger,
    TimeProvider time,
    Events.IEventOutbox? outbox = null)
{
    // Events go into the outbox of the webhook's transaction (ApplyAsync runs inside it): they commit with the change.
    private void Emit(string type, string customerId, System.Text.Json.Nodes.JsonObject data) =>
        outbox?.Add(Events.OutboundEvent.Create(type, customerId, data, time));

    private static System.Text.Json.Nodes.JsonObject PaymentData(Payment p) => new()
    {
        ["payment_id"] = p.Id,
        ["provider"] = p.Provider,
        ["product"] = p.Product,
        ["kind"] = SnakeCase<PaymentKind>.Name(p.Kind),
        ["amount"] = p.Amount,
        ["currency"] = p.Currency,
        ["subscription_id"] = p.SubscriptionId,
    };

    private static System.Text.Json.Nodes.JsonObject CheckoutData(Checkout c) => new()
    {
        ["checkout_id"] = c.Id,
        ["product"] = c.Product,
        ["provider"] = c.Provider,
    };

    /// <summary>The data of a <c>subscription.*</c> event: what the app hears of a subscription.</summary>
    internal static System.Text.Json.Nodes.JsonObject SubscriptionData(Subscription s) => SubscriptionEventData.Of(s);

    /// <summary>Applies the facts of a verified provider event (payments, refunds, subscriptions, checkouts). Applying an event again changes nothing.</summary>
    public async Task<ApplyOutcome> ApplyAsync(ProviderEvent e, string payload, CancellationToken cancellationToken)
    {
        if (e.Facts.Count == 0)
        {
            return new ApplyOutcome(WebhookStatus.Ignored, null, null);
        }

        ApplyOutcome? result = null;
        foreach (var fact in e.Facts)
        {
            var outcome = fact switch
            {
                CheckoutCompleted c => await CheckoutAsync(e, c, payload, cancellationToken).ConfigureAwait(false),
                CheckoutFailed f => await CheckoutFailedAsync(e, f, cancellationToken).ConfigureAwait(false),
                SubscriptionSnapshot s => await SnapshotAsync(e, s, cancellationToken).ConfigureAwait(false),
                SubscriptionPaymentSucceeded p => await PaymentSucceededAsync(e, p, payload, cancellationToken).ConfigureAwait(false),
                SubscriptionPaymentFailed f => await PaymentFailedAsync(e, f, payload, cancellationToken).ConfigureAwait(false),
                RefundIssued r => await ReverseAsync(e, r.Link, r.ProviderRefundId, r.PaymentIds, r.Amount, r.FullyRefunded, r.AmountIsCumulative,
                    PaymentStatus.Refunded, cancellationToken).ConfigureAwait(false),
                DisputeOpened d => await ReverseAsync(e, d.Link, d.ProviderDisputeId, d.PaymentIds, d.Amount, true, false, PaymentStatus.Disputed,
                    cancellationToken).ConfigureAwait(false),
                PlanChangeScheduled p => await PlanChangeScheduledAsync(e, p, cancellationToken).ConfigureAwait(false),
                RefundReversed r => await RefundReversedAsync(e, r, cancellationToken).ConfigureAwait(false),
                ConsumptionRequested c => await ConsumptionRequestedAsync(e, c, cancellationToken).ConfigureAwait(false),
                _ => new ApplyOutcome(WebhookStatus.Ignored, null, null),
            };

            // The worst outcome wins: later over unmatched over applied, so nothing is marked done too early.
            if (result is null || Rank(outcome.Status) > Rank(result.Status))
            {
                result = outcome with { CustomerId = outcome.CustomerId ?? result?.CustomerId };
            }
            else if (result.CustomerId is null && outcome.CustomerId is not null)
            {
                result = result with { CustomerId = outcome.CustomerId };
            }
        }

        return result!;
    }

    private static int Rank(WebhookStatus status) => status switch
    {
        WebhookStatus.Failed => 3,
        WebhookStatus.Unmatched => 2,
        WebhookStatus.Applied => 1,
        _ => 0,
    };

    private async Task<ApplyOutcome> CheckoutAsync(ProviderEvent e, CheckoutCompleted c, string payload, CancellationToken ct)
    {
        var (checkout, linkedCheckout) = await payments.FindCheckoutsAsync(e.Provider, c.ProviderCheckoutId, c.Link.CheckoutId, ct).ConfigureAwait(false);
        var (customer, product) = await ResolveAsync(e.Provider, c.Link, linkedCheckout, ct).ConfigureAwait(false);
        checkout ??= linkedCheckout;
        customer ??= checkout?.CustomerId;
        product ??= checkout?.Product;
        if (customer is null)
        {
            return ApplyOutcome.Unmatched($"checkout {c.ProviderCheckoutId} names no customer Tollgate knows");
        }

        if (!c.Paid)
        {
            return ApplyOutcome.Applied(customer);
        }

        var plan = product is null ? null : catalog.PlansById.GetValueOrDefault(product);
        var pack = product is null ? null : catalog.PacksById.GetValueOrDefault(product);
        if (plan is null && pack is null)
        {
            return ApplyOutcome.Unmatched($"checkout {c.ProviderCheckoutId} is for a product the catalog does not know ({product ?? "none named"})");
        }

        var paymentId = c.ProviderOrderId ?? c.ProviderCheckoutId;
        Payment? payment = null;
        if (pack is not null)
        {
            payment = await RecordPackAsync(e, customer, pack, paymentId, c, checkout, payload, ct).ConfigureAwait(false);
        }
        else if (plan!.Interval == BillingInterval.Once)
        {
            payment = await RecordLifetimeAsync(e, customer, plan, paymentId, c, checkout, payload, ct).ConfigureAwait(false);
        }

        // A subscription's payments come with its own events (Creem subscription.paid, Stripe invoice.paid).
        if (checkout is { Status: not CheckoutStatus.Completed })
        {
            var now = Instants.Now(time);
            await payments.UpdateCheckoutAsync(checkout with { Status = CheckoutStatus.Completed, Failure = null, UpdatedAt = now, CompletedAt = now }, ct)
                .ConfigureAwait(false);
            Emit(Events.EventTypes.CheckoutCompleted, checkout.CustomerId, CheckoutData(checkout));
        }

        if (payment is not null && payment.CustomerId != customer)
        {
            // The payment was recorded for another customer by an earlier event: it granted there, once, and this
            // event's customer gets nothing. Kept visible on the event for an operator (issue 9, item 4).
            return new ApplyOutcome(WebhookStatus.Applied, payment.CustomerId,
                $"payment {paymentId} belongs to customer {payment.CustomerId}; this event names {customer}, who was granted nothing");
        }

        // Stryker disable once NullCoalescing : a payment of another customer returned above; here it is this customer's, or none
        return ApplyOutcome.Applied(payment?.CustomerId ?? customer);
    }

    private async Task<ApplyOutcome> CheckoutFailedAsync(ProviderEvent e, CheckoutFailed f, CancellationToken ct)
    {
        var checkout = await payments.FindCheckoutByProviderIdAsync(e.Provider, f.ProviderCheckoutId, ct).ConfigureAwait(false);
        if (checkout is null)
        {
            return ApplyOutcome.Unmatched($"failed checkout {f.ProviderCheckoutId} is not one Tollgate started");
        }

        if (checkout.Status == CheckoutStatus.Open)
        {
            await payments.UpdateCheckoutAsync(checkout with { Status = CheckoutStatus.Failed, Failure = f.Reason, UpdatedAt = Instants.Now(time) }, ct)
                .ConfigureAwait(false);
        }

        return ApplyOutcome.Applied(checkout.CustomerId);
    }

    /// <summary>
    /// Decides a paid credit pack's <c>checkout.completed</c> without writing anything: the grant, and every row
    /// <see cref="CheckoutAsync"/> and <see cref="RecordPackAsync"/> would write for it when its payment is new (the
    /// payment, the provider link, the checkout's completion, the events, and <paramref name="received"/> with its
    /// outcome). Null for anything else (another event, an unmatched one, a plan, a pack of no credits), and inside a
    /// flow's transaction: those take <see cref="ApplyAsync"/>. Reads what that path reads, outside any transaction, as it
    /// reads it inside one at read committed (without locks): the checkout by either id, the provider customer's owner
    /// when nothing else names the customer, and whether a once-per-customer pack was paid before; and whether the payment
    /// is recorded already (null then: a duplicate or a second event of the payment, which that path answers).
    /// </summary>
    public async Task<PackDeliveryPlan?> PlanPackDeliveryAsync(ProviderEvent e, string payload, WebhookEvent received, CancellationToken ct)
    {
        if (ledger.InTransaction || e.Facts is not [CheckoutCompleted { Paid: true } c] || catalog.CreditsFeature is not { } credits)
        {
            return null;
        }

        var paymentId = c.ProviderOrderId ?? c.ProviderCheckoutId;
        var (checkout, linkedCheckout, recorded) = await payments.FindCheckoutsAndPaymentAsync(e.Provider, c.ProviderCheckoutId, c.Link.CheckoutId, paymentId, ct)
            .ConfigureAwait(false);
        if (recorded)
        {
            // A duplicate, or a second event of the payment: the other path reads the payment and grants nothing twice.
            return null;
        }

        var (customer, product) = await IdentifyAsync(e.Provider, c.Link, linkedCheckout, ct).ConfigureAwait(false);
        checkout ??= linkedCheckout;
        customer ??= checkout?.CustomerId;
        product ??= checkout?.Product;
        if (customer is null || product is null || catalog.PacksById.GetValueOrDefault(product) is not { } pack)
        {
            return null;
        }

        if (pack.Credits <= 0 || c.Quantity <= 0)
        {
            // Nothing to grant, so nothing to carry the rows: the other path records the payment alone.
            return null;
        }

        var now = Instants.Now(time);
        var payment = await NewPackPaymentAsync(e, customer, pack, paymentId, c, checkout, payload, now, ct).ConfigureAwait(false);
        var grant = PackGrant(payment, pack, credits, e.Provider, paymentId, c.Quantity);
        var link = c.Link.ProviderCustomerId is { } providerCustomer ? new ProviderCustomerLink(e.Provider, providerCustomer, customer, now) : null;
        Checkout? completed = null;
        List<Events.OutboundEvent> after = [];
        if (checkout is { Status: not CheckoutStatus.Completed })
        {
            completed = checkout with { Status = CheckoutStatus.Completed, Failure = null, UpdatedAt = now, CompletedAt = now };
            after.Add(Events.OutboundEvent.Create(Events.EventTypes.CheckoutCompleted, checkout.CustomerId, CheckoutData(checkout), time));
        }

        var applied = received with { Status = WebhookStatus.Applied, Attempts = received.Attempts + 1, NextAttemptAt = null, LastError = null,
            AppliedAt = now, CustomerId = customer };
        var rows = new PackDelivery(applied, payment, link, completed)
        {
            // What Emit writes on the other path; nothing where this applier has no outbox.
            EventsBefore = outbox is null ? [] : [Events.OutboundEvent.Create(Events.EventTypes.PaymentSucceeded, customer, PaymentData(payment), time)],
            EventsAfter = outbox is null ? [] : after,
        };
        return new PackDeliveryPlan(grant, rows);
    }

    /// <summary>Writes a planned pack delivery: its grant, with its rows, in a ledger batch. True when it was written;
    /// false when the grant did not apply anew (refused, or its key stored already), and then nothing of it was.</summary>
    public async Task<bool> WritePackDeliveryAsync(PackDeliveryPlan plan, CancellationToken ct)
    {
        var result = await ledger.GrantAsync(plan.Grant, new LedgerWrite { Attachment = plan.Rows }, ct).ConfigureAwait(false);
        return result is { Succeeded: true, Replayed: false };
    }

    /// <summary>Records a pack's payment (unique by the provider's payment id) and grants its credits to the customer the
    /// payment was recorded for, under a key of the payment: a later event for the same payment, whatever customer it
    /// names, grants nothing more.</summary>
    private async Task<Payment> RecordPackAsync(ProviderEvent e, string customer, Pack pack, string paymentId, CheckoutCompleted c, Checkout? checkout,
        string payload, CancellationToken ct)
    {
        var recording = await NewPackPaymentAsync(e, customer, pack, paymentId, c, checkout, payload, Instants.Now(time), ct).ConfigureAwait(false);
        var inserted = await payments.TryInsertPaymentAsync(recording, ct).ConfigureAwait(false);
        // Inserted: the payment is the one just written, in this transaction (no read back: two round trips less per
        // delivery). Not inserted: the guard was taken by an earlier event, whose payment decides what is granted.
        // Stryker disable once Conditional : reading back the row just inserted gives the same payment (not reading it is the point)
        var payment = inserted ? recording : (await payments.FindPaymentAsync(e.Provider, [paymentId], ct).ConfigureAwait(false))!;
        if (inserted)
        {
            Emit(Events.EventTypes.PaymentSucceeded, payment.CustomerId, PaymentData(payment));
        }

        if (payment.Status != PaymentStatus.Completed || payment.Kind != PaymentKind.Pack || payment.Credits <= 0
            || catalog.PacksById.GetValueOrDefault(payment.Product) is not { } recorded)
        {
            // Refunded or disputed before this event was applied, or recorded as something else: nothing to grant.
            return payment;
        }

        // What the payment was recorded as (customer, pack, quantity), not what this event says: the grant key is per customer.
        await ledger.GrantAsync(PackGrant(payment, recorded, catalog.CreditsFeature!, e.Provider, paymentId, c.Quantity), ct).ConfigureAwait(false);
        return payment;
    }

    /// <summary>A pack's payment as a delivery records it (completed, its credits the pack's times the quantity), a
    /// once-per-customer pack's second purchase flagged.</summary>
    private async Task<Payment> NewPackPaymentAsync(ProviderEvent e, string customer, Pack pack, string paymentId, CheckoutCompleted c, Checkout? checkout,
        string payload, DateTimeOffset now, CancellationToken ct)
    {
        var flag = pack.OncePerCustomer && await payments.HasCompletedPaymentAsync(customer, pack.Id, ct).ConfigureAwait(false)
            ? $"second purchase of once-per-customer pack {pack.Id}; credits granted (the customer paid)"
            : null;
        return new Payment(Ids.New("pay", time), customer, e.Provider, PaymentKind.Pack, pack.Id, PaymentStatus.Completed, c.Amount, c.Currency,
            checkout?.Id, c.ProviderCheckoutId, paymentId, null, null, PackLedgerRef(e.Provider, paymentId), checked(pack.Credits * c.Quantity), 0, 0, flag,
            payload, now, now);
    }

    private static string PackLedgerRef(string provider, string paymentId) => $"payment:{provider}:{paymentId}";

    /// <summary>The grant of a pack's payment, under a key of the payment (one grant per payment, whoever's).</summary>
    private static GrantRequest PackGrant(Payment payment, Pack recorded, Feature credits, string provider, string paymentId, int quantity)
    {
        var ledgerRef = PackLedgerRef(provider, paymentId);
        return new GrantRequest(payment.CustomerId, credits.Id, payment.Credits, LotSource.Payment, "grant:" + ledgerRef)
        {
            SourceRef = ledgerRef,
            ExpiresAt = PackExpiry(recorded, payment),
            Reference = $"{recorded.Id}{(quantity > 1 ? " × " + Format(quantity) : "")} ({provider} {paymentId})",
        };
    }

    /// <summary>Records a lifetime plan's payment and starts its subscription, for the customer and plan the payment was
    /// recorded with, once per payment.</summary>
    private async Task<Payment> RecordLifetimeAsync(ProviderEvent e, string customer, Plan plan, string paymentId, CheckoutCompleted c, Checkout? checkout,
        string payload, CancellationToken ct)
    {
        var now = Instants.Now(time);
        var inserted = await payments.TryInsertPaymentAsync(new Payment(Ids.New("pay", time), customer, e.Provider, PaymentKind.Lifetime, plan.Id, PaymentStatus.Completed,
            c.Amount, c.Currency, checkout?.Id, c.ProviderCheckoutId, paymentId, null, null, null, 0, 0, 0, null, payload, now, now), ct).ConfigureAwait(false);
        var payment = (await payments.FindPaymentAsync(e.Provider, [paymentId], ct).ConfigureAwait(false))!;
        if (inserted)
        {
            Emit(Events.EventTypes.PaymentSucceeded, payment.CustomerId, PaymentData(payment));
        }

        if (payment.Status != PaymentStatus.Completed || payment.SubscriptionId is not null || payment.Kind != PaymentKind.Lifetime
            || !catalog.PlansById.ContainsKey(payment.Product))
        {
            return payment;
        }

        // A lifetime plan is a subscription without periods, keyed by its payment so it is created once.
        var key = "payment:" + paymentId;
        var existing = await subscriptions.FindByProviderIdAsync(e.Provider, key, ct).ConfigureAwait(false);
        if (existing is null)
        {
            existing = await subscriptionService.StartAsync(payment.CustomerId, payment.Product, e.Provider, key,
                payment.CustomerId == customer ? c.Link.ProviderCustomerId : null, SubscriptionStatus.Active, null, null, e.OccurredAt, ct)
                .ConfigureAwait(false);
            Emit(Events.EventTypes.SubscriptionCreated, existing.CustomerId, SubscriptionData(existing));
        }

        await payments.UpdatePaymentAsync(payment with { SubscriptionId = existing.Id, LedgerRef = "allowance:" + existing.Id, UpdatedAt = now }, ct)
            .ConfigureAwait(false);
        return payment;
    }

    private async Task<ApplyOutcome> SnapshotAsync(ProviderEvent e, SubscriptionSnapshot s, CancellationToken ct)
    {
        var existing = await subscriptions.FindByProviderIdAsync(e.Provider, s.ProviderSubscriptionId, ct).ConfigureAwait(false);
        var mappedPlan = s.Link.ProviderProductRef is { } reference ? PlanOf(e.Provider, reference) : null;
        var status = Map(s.Status);
        if (existing is null)
        {
            var (customer, product) = await ResolveAsync(e.Provider, s.Link, ct).ConfigureAwait(false);
            var plan = mappedPlan ?? (product is null ? null : catalog.PlansById.GetValueOrDefault(product));
            if (customer is null || plan is null)
            {
                return ApplyOutcome.Unmatched($"subscription {s.ProviderSubscriptionId} names no {(customer is null ? "customer" : "plan")} Tollgate knows");
            }

            var started = await subscriptionService.StartAsync(customer, plan.Id, e.Provider, s.ProviderSubscriptionId, s.Link.ProviderCustomerId, status,
                s.CurrentPeriodStart, s.CurrentPeriodEnd, e.OccurredAt, ct).ConfigureAwait(false);
            Emit(Events.EventTypes.SubscriptionCreated, customer, SubscriptionData(started));
            if (s.CancelAtPeriodEnd || s.CanceledAt is not null || s.AccessEndsAt is not null || s.Quantity is not (null or 1))
            {
                await subscriptionService.SaveAsync(started with
                {
                    CancelAtPeriodEnd = s.CancelAtPeriodEnd,
                    CanceledAt = s.CanceledAt,
                    AccessEndsAt = s.AccessEndsAt is { } until ? Instants.Normalize(until) : null,
                    Quantity = s.Quantity ?? started.Quantity,
                }, ct).ConfigureAwait(false);
            }

            return ApplyOutcome.Applied(customer);
        }

        if (existing.ProviderUpdatedAt is { } newest && newest > e.OccurredAt)
        {
            // An older snapshot than one already applied: it must not overwrite the newer state.
            return ApplyOutcome.Applied(existing.CustomerId);
        }

        var renewed = s.CurrentPeriodStart is { } start && (existing.CurrentPeriodStart is null || start > existing.CurrentPeriodStart);
        var current = existing;
        if (mappedPlan is not null && mappedPlan.Id != existing.PlanId)
        {
            if (renewed)
            {
                current = current with { PlanId = mappedPlan.Id, PendingPlanId = null };
            }
            else if (existing.PendingPlanId != mappedPlan.Id)
            {
                // Changed mid-period at the provider (an immediate change): grant the difference of the larger allowance.
                current = await subscriptionService.ChangePlanAsync(existing.Id, mappedPlan.Id, PlanChangePolicy.Immediate, ct).ConfigureAwait(false);
            }
        }
        else if (renewed && existing.PendingPlanId is { } pending)
        {
            current = current with { PlanId = pending, PendingPlanId = null };
        }

        var updated = current with
        {
            Status = status,
            CurrentPeriodStart = s.CurrentPeriodStart is { } ps ? Instants.Normalize(ps) : current.CurrentPeriodStart,
            CurrentPeriodEnd = s.CurrentPeriodEnd is { } pe ? Instants.Normalize(pe) : current.CurrentPeriodEnd,
            CancelAtPeriodEnd = s.CancelAtPeriodEnd,
            // A provider that does not say when: the first canceled snapshot's time, kept by later ones (it does not drift).
            CanceledAt = s.CanceledAt ?? (status == SubscriptionStatus.Canceled ? current.CanceledAt ?? e.OccurredAt : current.CanceledAt),
            ProviderCustomerId = current.ProviderCustomerId ?? s.Link.ProviderCustomerId,
            AccessEndsAt = s.AccessEndsAt is { } accessEnds ? Instants.Normalize(accessEnds) : current.AccessEndsAt,
            Quantity = s.Quantity ?? current.Quantity,
            ProviderUpdatedAt = Instants.Normalize(e.OccurredAt),
            UpdatedAt = Instants.Now(time),
        };
        // The read above is only a shortcut: the save itself refuses to overwrite a newer event's state, which another
        // server or thread may have stored since (issue 9, item 8); then that newer state stands.
        // Reported only when it changes what the event says: a snapshot confirming a change already applied (asked
        // through the API or the portal, and reported then) sends nothing twice.
        if (await subscriptionService.SaveAsync(updated, ct).ConfigureAwait(false)
            && !System.Text.Json.Nodes.JsonNode.DeepEquals(SubscriptionData(updated), SubscriptionData(existing)))
        {
            // A snapshot that moves a known period on is the renewal (Creem's subscription.paid, Stripe's
            // customer.subscription.updated at the period's turn usually come before or without a payment event that
            // would say so): subscription.renewed, not a plain update.
            Emit(updated.Status == SubscriptionStatus.Canceled && existing.Status != SubscriptionStatus.Canceled
                ? Events.EventTypes.SubscriptionCanceled
                : renewed && existing.CurrentPeriodStart is not null
                    ? Events.EventTypes.SubscriptionRenewed
                    : Events.EventTypes.SubscriptionUpdated, updated.CustomerId, SubscriptionData(updated));
        }

        await LinkAsync(e.Provider, s.Link.ProviderCustomerId, existing.CustomerId, ct).ConfigureAwait(false);
        return ApplyOutcome.Applied(existing.CustomerId);
    }

    private async Task<ApplyOutcome> PaymentSucceededAsync(ProviderEvent e, SubscriptionPaymentSucceeded p, string payload, CancellationToken ct)
    {
        var subscription = await subscriptions.FindByProviderIdAsync(e.Provider, p.ProviderSubscriptionId, ct).ConfigureAwait(false);
        if (subscription is null)
        {
            var (customer, _) = await ResolveAsync(e.Provider, p.Link, ct).ConfigureAwait(false);
            return customer is null
                ? ApplyOutcome.Unmatched($"payment {p.ProviderPaymentId} is for subscription {p.ProviderSubscriptionId}, which Tollgate does not know")
                : ApplyOutcome.Later(customer, $"subscription {p.ProviderSubscriptionId} is not known yet; its creation event has not arrived");
        }

        var periodStart = p.PeriodStart ?? subscription.CurrentPeriodStart;
        if (p.PeriodStart is { } start && p.PeriodEnd is { } end && (subscription.CurrentPeriodStart is null || start > subscription.CurrentPeriodStart))
        {
            subscription = await subscriptionService.RenewAsync(subscription.Id, start, end, null, ct).ConfigureAwait(false);
            Emit(Events.EventTypes.SubscriptionRenewed, subscription.CustomerId, SubscriptionData(subscription));
        }

        var now = Instants.Now(time);
        var ledgerRef = periodStart is { } ps ? $"allowance:{subscription.Id}:{CheckoutService.Micros(Instants.Normalize(ps))}" : null;
        var paid = new Payment(Ids.New("pay", time), subscription.CustomerId, e.Provider, PaymentKind.Subscription,
            subscription.PlanId, PaymentStatus.Completed, p.Amount, p.Currency, null, null, p.ProviderPaymentId, p.ProviderSubscriptionId,
            subscription.Id, ledgerRef, 0, 0, 0, null, payload, now, now);
        if (await payments.TryInsertPaymentAsync(paid, ct).ConfigureAwait(false))
        {
            Emit(Events.EventTypes.PaymentSucceeded, paid.CustomerId, PaymentData(paid));
        }
        return ApplyOutcome.Applied(subscription.CustomerId);
    }

    private async Task<ApplyOutcome> PaymentFailedAsync(ProviderEvent e, SubscriptionPaymentFailed f, string payload, CancellationToken ct)
    {
        var subscription = await subscriptions.FindByProviderIdAsync(e.Provider, f.ProviderSubscriptionId, ct).ConfigureAwait(false);
        if (subscription is null)
        {
            return ApplyOutcome.Unmatched($"failed payment {f.ProviderPaymentId} is for an unknown subscription {f.ProviderSubscriptionId}");
        }

        var now = Instants.Now(time);
        await payments.TryInsertPaymentAsync(new Payment(Ids.New("pay", time), subscription.CustomerId, e.Provider, PaymentKind.Subscription,
            subscription.PlanId, PaymentStatus.Failed, f.Amount, f.Currency, null, null, f.ProviderPaymentId, f.ProviderSubscriptionId, subscription.Id,
            null, 0, 0, 0, null, payload, now, now), ct).ConfigureAwait(false);
        return ApplyOutcome.Applied(subscription.CustomerId);
    }

    /// <summary>
    /// A refund or a dispute: the payment's credits are clawed back (what is spent becomes debt), in proportion for a
    /// partial refund; a full refund or a dispute also revokes the plan the payment bought. The clawback is keyed by
    /// the reversal and computed from the payment as stored before it, and the payment records the reversal in one
    /// conditional update, so a retry after a crash anywhere in between neither claws nor counts twice.
    /// </summary>
    private async Task<ApplyOutcome> ReverseAsync(ProviderEvent e, PaymentLink link, string reversalId, IReadOnlyList<string> paymentIds, long? amount,
        bool full, bool cumulative, PaymentStatus reversal, CancellationToken ct)
    {
        var payment = await payments.FindPaymentAsync(e.Provider, paymentIds, ct).ConfigureAwait(false);
        if (payment is null)
        {
            var (customer, _) = await ResolveAsync(e.Provider, link, ct).ConfigureAwait(false);
            return customer is null
                ? ApplyOutcome.Unmatched($"{reversalId} names no payment or customer Tollgate knows")
                : ApplyOutcome.Later(customer, $"{reversalId}: the payment it reverses ({string.Join(", ", paymentIds)}) is not recorded yet");
        }

        long? delta = cumulative ? null : amount ?? 0;
        long? total = cumulative ? amount ?? 0 : null;
        var refundedAfter = cumulative ? Math.Max(payment.RefundedAmount, total!.Value) : payment.RefundedAmount + delta!.Value;
        var fully = reversal == PaymentStatus.Disputed || full || (payment.Amount is { } paid && refundedAfter >= paid);
        long claw = 0;
        if (payment.LedgerRef is { } source)
        {
            long? portion = null;
            if (!fully && payment.Kind == PaymentKind.Pack && payment.Amount is > 0)
            {
                portion = CeilingShare(payment.Credits, refundedAfter, payment.Amount.Value) - CeilingShare(payment.Credits, payment.RefundedAmount, payment.Amount.Value);
            }

            if (portion is not <= 0)
            {
                var result = await ledger.ClawbackAsync(new ClawbackRequest(payment.CustomerId, source, $"{SnakeCase<PaymentStatus>.Name(reversal)}:{e.Provider}:{reversalId}")
                {
                    Amount = portion,
                    Feature = portion is null ? null : catalog.CreditsFeature?.Id,
                    Reference = $"{SnakeCase<PaymentStatus>.Name(reversal)} of {payment.Product} ({e.Provider} {reversalId})",
                }, ct).ConfigureAwait(false);
                // KeyReused: this reversal was clawed by an earlier attempt that then recorded it on the payment.
                claw = result.Succeeded ? result.Clawed + result.RevokedFromHolds + result.DebtCreated : 0;
            }
        }

        var status = reversal == PaymentStatus.Disputed ? PaymentStatus.Disputed : fully ? PaymentStatus.Refunded : payment.Status;
        if (await payments.RecordReversalAsync(payment, reversalId, delta, total, claw, status, Instants.Now(time), ct).ConfigureAwait(false))
        {
            var data = PaymentData(payment);
            data["status"] = SnakeCase<PaymentStatus>.Name(status);
            data["reversal_id"] = reversalId;
            data["credits_clawed"] = claw;
            Emit(reversal == PaymentStatus.Disputed ? Events.EventTypes.PaymentDisputed : Events.EventTypes.PaymentRefunded, payment.CustomerId, data);
        }
        // Whether or not this attempt recorded it (a retry after a crash finds it recorded), a full reversal revokes.
        if (fully && payment.SubscriptionId is { } subscriptionId
            && await subscriptions.GetAsync(subscriptionId, ct).ConfigureAwait(false) is { IsTerminal: false })
        {
            await subscriptionService.CancelAsync(subscriptionId, atPeriodEnd: false, ct).ConfigureAwait(false);
        }

        return ApplyOutcome.Applied(payment.CustomerId);
    }

    /// <summary>The customer chose the plan the subscription renews into (an App Store downgrade, or its cancellation):
    /// remembered as a next-cycle change, which the renewal applies. An event older than the newest applied changes nothing.</summary>
    private async Task<ApplyOutcome> PlanChangeScheduledAsync(ProviderEvent e, PlanChangeScheduled p, CancellationToken ct)
    {
        var subscription = await subscriptions.FindByProviderIdAsync(e.Provider, p.ProviderSubscriptionId, ct).ConfigureAwait(false);
        if (subscription is null)
        {
            var (customer, _) = await ResolveAsync(e.Provider, p.Link, ct).ConfigureAwait(false);
            return customer is null
                ? ApplyOutcome.Unmatched($"plan change for subscription {p.ProviderSubscriptionId}, which Tollgate does not know")
                : ApplyOutcome.Later(customer, $"subscription {p.ProviderSubscriptionId} is not known yet; its creation event has not arrived");
        }

        if (subscription.ProviderUpdatedAt is { } newest && newest > e.OccurredAt)
        {
            return ApplyOutcome.Applied(subscription.CustomerId);
        }

        if (PlanOf(e.Provider, p.ProviderProductRef) is not { } plan)
        {
            return new ApplyOutcome(WebhookStatus.Applied, subscription.CustomerId,
                $"the subscription renews into {p.ProviderProductRef}, which the catalog does not map; it stays on {subscription.PlanId}");
        }

        if (plan.Id == subscription.PlanId)
        {
            if (subscription.PendingPlanId is not null)
            {
                await subscriptionService.SaveAsync(subscription with { PendingPlanId = null, UpdatedAt = Instants.Now(time) }, ct).ConfigureAwait(false);
            }
        }
        else if (subscription.PendingPlanId != plan.Id)
        {
            await subscriptionService.ChangePlanAsync(subscription.Id, plan.Id, PlanChangePolicy.NextCycle, ct).ConfigureAwait(false);
        }

        return ApplyOutcome.Applied(subscription.CustomerId);
    }

    /// <summary>
    /// A refund reversed: what the refund took back is given back and the payment stands again. A pack's clawed credits
    /// are granted anew from the same source (so a later refund can take them again; they repay the debt the clawback
    /// made first); a lifetime plan is restored. A subscription's state comes back with the event's own snapshot; the
    /// allowance its refund clawed is not re-granted. Keyed by the reversal, like the refund.
    /// </summary>
    private async Task<ApplyOutcome> RefundReversedAsync(ProviderEvent e, RefundReversed r, CancellationToken ct)
    {
        var payment = await payments.FindPaymentAsync(e.Provider, r.PaymentIds, ct).ConfigureAwait(false);
        if (payment is null)
        {
            return ApplyOutcome.Unmatched($"{r.ProviderReversalId} names no payment Tollgate recorded ({string.Join(", ", r.PaymentIds)})");
        }

        if (payment.Status != PaymentStatus.Refunded)
        {
            return ApplyOutcome.Applied(payment.CustomerId);
        }

        if (payment is { Kind: PaymentKind.Pack, CreditsClawed: > 0, LedgerRef: { } source } && catalog.CreditsFeature is { } credits)
        {
            await ledger.GrantAsync(new GrantRequest(payment.CustomerId, credits.Id, payment.CreditsClawed, LotSource.Payment,
                $"grant:{e.Provider}:{r.ProviderReversalId}")
            {
                SourceRef = source,
                ExpiresAt = catalog.PacksById.GetValueOrDefault(payment.Product) is { } pack ? PackExpiry(pack, payment) : null,
                Reference = $"refund of {payment.Product} reversed ({e.Provider} {r.ProviderReversalId})",
            }, ct).ConfigureAwait(false);
        }

        if (payment is { Kind: PaymentKind.Lifetime, SubscriptionId: { } lifetimeId }
            && await subscriptions.GetAsync(lifetimeId, ct).ConfigureAwait(false) is { Status: SubscriptionStatus.Canceled } revoked)
        {
            await subscriptionService.SaveAsync(revoked with { Status = SubscriptionStatus.Active, CanceledAt = null, UpdatedAt = Instants.Now(time) }, ct)
                .ConfigureAwait(false);
        }

        // Last: once the payment reads completed again, a retry after a crash stops above, so everything before is done.
        await payments.RecordReversalAsync(payment, r.ProviderReversalId, -payment.RefundedAmount, null, -payment.CreditsClawed, PaymentStatus.Completed,
            Instants.Now(time), ct).ConfigureAwait(false);

        return ApplyOutcome.Applied(payment.CustomerId);
    }

    /// <summary>The provider asks how a purchase was used before deciding a refund: noted on the payment (flagged for the
    /// operator, who answers the provider), once per request.</summary>
    private async Task<ApplyOutcome> ConsumptionRequestedAsync(ProviderEvent e, ConsumptionRequested c, CancellationToken ct)
    {
        var payment = await payments.FindPaymentAsync(e.Provider, c.PaymentIds, ct).ConfigureAwait(false);
        if (payment is null)
        {
            return ApplyOutcome.Unmatched($"consumption request for {string.Join(", ", c.PaymentIds)}, a payment Tollgate has not recorded");
        }

        var note = $"{e.Provider} consumption request {e.EventId} ({c.Reason ?? "no reason given"}) at "
            + e.OccurredAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) + " UTC: the customer asked for a refund, "
            + "tell the provider how much was used";
        await payments.AddFlagAsync(payment, note, e.EventId, Instants.Now(time), ct).ConfigureAwait(false);
        return ApplyOutcome.Applied(payment.CustomerId);
    }

    private static DateTimeOffset? PackExpiry(Pack pack, Payment payment) => pack.ExpiresAfterDays is { } days ? payment.CreatedAt.AddDays(days) : null;

    /// <summary>⌈credits × refunded / paid⌉: a partial refund takes back at least its share of the credits.</summary>
    private static long CeilingShare(long credits, long refunded, long paid)
    {
        var share = (Int128)credits * Math.Min(refunded, paid);
        return (long)((share + paid - 1) / paid);
    }

    /// <summary>Who and what an event is about, in API.md §5 order: Tollgate's checkout id, the tollgate_* metadata,
    /// a provider customer already linked, the catalog's provider mapping.</summary>
    private async Task<(string? Customer, string? Product)> ResolveAsync(string provider, PaymentLink link, CancellationToken ct) =>
        await ResolveAsync(provider, link,
            link.CheckoutId is { } checkoutId ? await payments.GetCheckoutAsync(checkoutId, ct).ConfigureAwait(false) : null, ct).ConfigureAwait(false);

    /// <summary>Whose the event is and for what, given the checkout of Tollgate's that <paramref name="link"/> names (its
    /// <see cref="PaymentLink.CheckoutId"/>, looked up by the caller; null when it names none, or none was found).</summary>
    private async Task<(string? Customer, string? Product)> ResolveAsync(string provider, PaymentLink link, Checkout? linkedCheckout, CancellationToken ct)
    {
        var (customer, product) = await IdentifyAsync(provider, link, linkedCheckout, ct).ConfigureAwait(false);
        if (customer is not null)
        {
            await LinkAsync(provider, link.ProviderCustomerId, customer, ct).ConfigureAwait(false);
        }

        return (customer, product);
    }

    /// <summary><see cref="ResolveAsync(string, PaymentLink, Checkout?, CancellationToken)"/> without the link it records.</summary>
    private async Task<(string? Customer, string? Product)> IdentifyAsync(string provider, PaymentLink link, Checkout? linkedCheckout, CancellationToken ct)
    {
        var (customer, product) = (linkedCheckout?.CustomerId, linkedCheckout?.Product);

        if (customer is null && link.CustomerId is { } metadataCustomer && CustomerIds.IsValid(metadataCustomer))
        {
            customer = metadataCustomer;
        }

        product ??= link.Product is { } p && (catalog.PlansById.ContainsKey(p) || catalog.PacksById.ContainsKey(p)) ? p : null;
        if (customer is null && link.ProviderCustomerId is { } providerCustomer)
        {
            customer = await payments.FindCustomerByProviderIdAsync(provider, providerCustomer, ct).ConfigureAwait(false);
        }

        if (product is null && link.ProviderProductRef is { } reference)
        {
            var (plan, pack) = catalog.FindByProviderRef(provider, reference);
            product = plan?.Id ?? pack?.Id;
        }

        return (customer, product);
    }

    private Task LinkAsync(string provider, string? providerCustomerId, string customer, CancellationToken ct) =>
        providerCustomerId is null ? Task.CompletedTask : payments.LinkProviderCustomerAsync(provider, providerCustomerId, customer, Instants.Now(time), ct);

    private Plan? PlanOf(string provider, string reference) =>
        catalog.FindByProviderRef(provider, reference).Plan;

    private static SubscriptionStatus Map(ProviderSubscriptionStatus status) => status switch
    {
        ProviderSubscriptionStatus.Incomplete => SubscriptionStatus.Incomplete,
        ProviderSubscriptionStatus.Trialing => SubscriptionStatus.Trialing,
        ProviderSubscriptionStatus.Active => SubscriptionStatus.Active,
        ProviderSubscriptionStatus.PastDue => SubscriptionStatus.PastDue,
        ProviderSubscriptionStatus.Paused => SubscriptionStatus.Paused,
        ProviderSubscriptionStatus.Canceled => SubscriptionStatus.Canceled,
        _ => SubscriptionStatus.Expired,
    };

    internal static string Format(long value) => value.ToString(CultureInfo.InvariantCulture);
}
