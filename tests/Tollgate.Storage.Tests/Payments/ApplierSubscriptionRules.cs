using Tollgate.Core.Payments;
using Tollgate.Core.Subscriptions;

namespace Tollgate.Storage.Tests.Payments;

/// <summary>
/// Rules of the payment applier for subscriptions: a snapshot creates the subscription once for the customer and plan
/// it names (or is unmatched, saying which is missing), maps the provider's status, applies in the provider's order (a
/// stale snapshot changes nothing, one at the watermark's instant applies), renews, moves plans at the renewal or at
/// once, and reports only what changed; a period's payment renews and is recorded once, and waits for a subscription not
/// created yet; a failed payment is recorded; a plan change scheduled is remembered for the renewal. Each test names
/// its rule. Run on SQLite and PostgreSQL.
/// </summary>
public abstract class ApplierSubscriptionRules : ApplierTestBase
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);

    private async Task<string> Start(string id = "sub_1", string productRef = "prod_pro")
    {
        var c = NewCustomer();
        Assert.Equal(ApplyOutcome.Applied(c), await ApplyAt(T0, Snapshot(For(c, providerCustomer: "cust_" + c, productRef: productRef), id, T0)));
        Drain();
        return c;
    }

    private static string Micros(DateTimeOffset at) => ((at - DateTimeOffset.UnixEpoch).Ticks / 10).ToString(System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task Rule_AFirstSnapshot_CreatesTheSubscriptionForTheCustomerAndPlanItNames_OrSaysWhichIsUnknown()
    {
        var c = NewCustomer();
        Assert.Equal(ApplyOutcome.Unmatched("subscription sub_1 names no customer Tollgate knows"),
            await Apply(Snapshot(For(null, productRef: "prod_pro"), "sub_1", T0)));
        Assert.Equal(ApplyOutcome.Unmatched("subscription sub_1 names no plan Tollgate knows"),
            await Apply(Snapshot(For(c, productRef: "prod_unknown"), "sub_1", T0)));
        Assert.Equal(ApplyOutcome.Unmatched("subscription sub_1 names no plan Tollgate knows"),
            await Apply(Snapshot(For(c, "pack"), "sub_1", T0)));
        Assert.Empty(await Db.Database.Subscriptions.ListByCustomerAsync(c, CancellationToken.None));

        Assert.Equal(ApplyOutcome.Applied(c), await Apply(Snapshot(For(c, providerCustomer: "cust_1", productRef: "prod_pro"), "sub_1", T0)));
        var created = await SubscriptionOf("sub_1");
        Assert.Equal((c, "pro", SubscriptionStatus.Active, "cust_1"), (created.CustomerId, created.PlanId, created.Status, created.ProviderCustomerId));
        Assert.Equal(((DateTimeOffset?)T0, (DateTimeOffset?)T0.AddMonths(1), (DateTimeOffset?)T0), (created.CurrentPeriodStart, created.CurrentPeriodEnd, created.ProviderUpdatedAt));
        Assert.Equal((false, (DateTimeOffset?)null, 1L), (created.CancelAtPeriodEnd, created.AccessEndsAt, created.Quantity));
        Assert.Equal(["subscription.created"], Drain());
        Assert.Equal(c, await Payments.FindCustomerByProviderIdAsync(Creem, "cust_1", CancellationToken.None));

        // The plan by the metadata when the provider's product is not mapped; the mapping beats the metadata.
        var d = NewCustomer();
        await Apply(Snapshot(For(d, "team"), "sub_2", T0));
        await Apply(Snapshot(For(d, "team", productRef: "prod_pro"), "sub_3", T0));
        Assert.Equal(("team", "pro"), ((await SubscriptionOf("sub_2")).PlanId, (await SubscriptionOf("sub_3")).PlanId));
    }

    [Fact]
    public async Task Rule_AFirstSnapshot_KeepsWhatItSaysOfCancellationAccessAndQuantity()
    {
        var c = NewCustomer();
        var snapshot = Snapshot(For(c, productRef: "prod_team"), "sub_1", T0) with
        {
            CancelAtPeriodEnd = true,
            CanceledAt = T0.AddDays(1),
            AccessEndsAt = T0.AddMonths(1).AddDays(3),
            Quantity = 3,
        };

        await Apply(snapshot);

        var created = await SubscriptionOf("sub_1");
        Assert.Equal((true, (DateTimeOffset?)T0.AddDays(1), (DateTimeOffset?)T0.AddMonths(1).AddDays(3), 3L),
            (created.CancelAtPeriodEnd, created.CanceledAt, created.AccessEndsAt, created.Quantity));

        // Each alone is kept as well.
        await Apply(Snapshot(For(c, productRef: "prod_team"), "sub_2", T0) with { Quantity = 4 });
        await Apply(Snapshot(For(c, productRef: "prod_team"), "sub_3", T0) with { CanceledAt = T0.AddDays(2) });
        await Apply(Snapshot(For(c, productRef: "prod_team"), "sub_4", T0) with { AccessEndsAt = T0.AddDays(9) });
        await Apply(Snapshot(For(c, productRef: "prod_team"), "sub_5", T0) with { CancelAtPeriodEnd = true });
        Assert.Equal(4L, (await SubscriptionOf("sub_2")).Quantity);
        Assert.Equal(T0.AddDays(2), (await SubscriptionOf("sub_3")).CanceledAt);
        Assert.Equal(T0.AddDays(9), (await SubscriptionOf("sub_4")).AccessEndsAt);
        Assert.True((await SubscriptionOf("sub_5")).CancelAtPeriodEnd);
    }

    [Fact]
    public async Task Rule_EachProviderStatus_MapsToTollgatesOwn()
    {
        var c = NewCustomer();
        var statuses = new (ProviderSubscriptionStatus Provider, SubscriptionStatus Tollgate)[]
        {
            (ProviderSubscriptionStatus.Incomplete, SubscriptionStatus.Incomplete),
            (ProviderSubscriptionStatus.Trialing, SubscriptionStatus.Trialing),
            (ProviderSubscriptionStatus.Active, SubscriptionStatus.Active),
            (ProviderSubscriptionStatus.PastDue, SubscriptionStatus.PastDue),
            (ProviderSubscriptionStatus.Paused, SubscriptionStatus.Paused),
            (ProviderSubscriptionStatus.Canceled, SubscriptionStatus.Canceled),
            (ProviderSubscriptionStatus.Expired, SubscriptionStatus.Expired),
        };
        foreach (var (provider, tollgate) in statuses)
        {
            await Apply(Snapshot(For(c, productRef: "prod_pro"), "sub_" + provider, T0, provider));
            Assert.Equal(tollgate, (await SubscriptionOf("sub_" + provider)).Status);
        }
    }

    [Fact]
    public async Task Rule_AStaleSnapshot_ChangesNothing_OneAtTheWatermarksInstantApplies()
    {
        var c = await Start();
        var t1 = T0.AddMinutes(1);
        var t2 = T0.AddMinutes(2);

        await ApplyAt(t2, Snapshot(For(c), "sub_1", T0) with { CancelAtPeriodEnd = true });
        Assert.Equal(["subscription.updated"], Drain());
        Assert.Equal(ApplyOutcome.Applied(c), await ApplyAt(t1, Snapshot(For(c), "sub_1", T0, ProviderSubscriptionStatus.PastDue)));

        var stood = await SubscriptionOf("sub_1");
        Assert.Equal((SubscriptionStatus.Active, true, (DateTimeOffset?)t2), (stood.Status, stood.CancelAtPeriodEnd, stood.ProviderUpdatedAt));
        Assert.Empty(Drain());

        await ApplyAt(t2, Snapshot(For(c), "sub_1", T0, ProviderSubscriptionStatus.PastDue) with { CancelAtPeriodEnd = true });
        Assert.Equal(SubscriptionStatus.PastDue, (await SubscriptionOf("sub_1")).Status);
    }

    [Fact]
    public async Task Rule_ASnapshotThatChangesNothing_ReportsNothing_ACancellationIsReportedAsSuch_WithTheEventsTimeWhenNoneIsGiven()
    {
        var c = await Start();
        await ApplyAt(T0.AddMinutes(1), Snapshot(For(c), "sub_1", T0));
        Assert.Empty(Drain());

        var at = T0.AddDays(3);
        await ApplyAt(at, Snapshot(For(c), "sub_1", T0, ProviderSubscriptionStatus.Canceled));
        var canceled = await SubscriptionOf("sub_1");
        Assert.Equal((SubscriptionStatus.Canceled, (DateTimeOffset?)at), (canceled.Status, canceled.CanceledAt));
        Assert.Equal(["subscription.canceled"], Drain());

        // A later snapshot of the canceled subscription keeps its cancellation time, and is no new cancellation.
        await ApplyAt(at.AddDays(1), Snapshot(For(c), "sub_1", T0, ProviderSubscriptionStatus.Canceled) with { AccessEndsAt = at.AddDays(5) });
        var later = await SubscriptionOf("sub_1");
        Assert.Equal(((DateTimeOffset?)at, (DateTimeOffset?)at.AddDays(5)), (later.CanceledAt, later.AccessEndsAt));
        Assert.DoesNotContain("subscription.canceled", Drain());
    }

    [Fact]
    public async Task Rule_TheProvidersCancellationTime_IsKept_OverTheEventsTime()
    {
        var c = await Start();
        var requested = T0.AddDays(2);

        await ApplyAt(T0.AddDays(3), Snapshot(For(c), "sub_1", T0) with { CancelAtPeriodEnd = true, CanceledAt = requested });
        Assert.Equal(requested, (await SubscriptionOf("sub_1")).CanceledAt);

        await ApplyAt(T0.AddDays(4), Snapshot(For(c), "sub_1", T0, ProviderSubscriptionStatus.Canceled) with { CanceledAt = T0.AddDays(4).AddMinutes(-5) });
        Assert.Equal(T0.AddDays(4).AddMinutes(-5), (await SubscriptionOf("sub_1")).CanceledAt);
    }

    [Fact]
    public async Task Rule_ASnapshotThatChangesOnlyTheQuantity_IsReported_WithTheNewQuantity()
    {
        var c = await Start();

        await ApplyAt(T0.AddMinutes(1), Snapshot(For(c), "sub_1", T0) with { Quantity = 5 });

        var updated = Assert.Single(Emitted.Drain(), e => e.Type != "customer.capabilities_changed");
        Assert.Equal(("subscription.updated", 5L), (updated.Type, (long)updated.Data["quantity"]!));
        await ApplyAt(T0.AddMinutes(2), Snapshot(For(c), "sub_1", T0) with { Quantity = 5 });
        Assert.Empty(Drain());
    }

    [Fact]
    public async Task Rule_ASnapshotThatMovesThePeriodOn_IsTheRenewal_AndAPlanChangeWaitingForItTakesEffect()
    {
        var c = await Start();
        await Subscriptions.ChangePlanAsync((await SubscriptionOf("sub_1")).Id, "team", PlanChangePolicy.NextCycle);
        Drain();

        var next = T0.AddMonths(1);
        await ApplyAt(next, Snapshot(For(c), "sub_1", next) with { Quantity = 2 });

        var renewed = await SubscriptionOf("sub_1");
        Assert.Equal(("team", (string?)null, (DateTimeOffset?)next, (DateTimeOffset?)next.AddMonths(1), 2L),
            (renewed.PlanId, renewed.PendingPlanId, renewed.CurrentPeriodStart, renewed.CurrentPeriodEnd, renewed.Quantity));
        Assert.Equal(["subscription.renewed"], Drain());
    }

    [Fact]
    public async Task Rule_AnotherMappedPlan_TakesEffectAtTheRenewal_OrAtOnceMidPeriodWithTheLargerAllowancesDifference()
    {
        var c = await Start();
        Assert.Equal(10, await Credits(c)); // pro's allowance

        // Mid-period at the provider: now, and the difference of team's allowance granted.
        Clock.Set(T0.AddDays(10));
        await ApplyAt(T0.AddDays(10), Snapshot(For(c, productRef: "prod_team"), "sub_1", T0));
        var changed = await SubscriptionOf("sub_1");
        Assert.Equal(("team", (DateTimeOffset?)T0), (changed.PlanId, changed.CurrentPeriodStart));
        Assert.Equal(40, await Credits(c));

        // At the renewal: the new period on the mapped plan.
        var next = T0.AddMonths(1);
        Clock.Set(next);
        await ApplyAt(next, Snapshot(For(c, productRef: "prod_pro"), "sub_1", next));
        var renewed = await SubscriptionOf("sub_1");
        Assert.Equal(("pro", (DateTimeOffset?)next), (renewed.PlanId, renewed.CurrentPeriodStart));
    }

    [Fact]
    public async Task Rule_AMappedPlanAlreadyWaitingForTheRenewal_IsNotAppliedMidPeriod()
    {
        var c = await Start();
        var id = (await SubscriptionOf("sub_1")).Id;
        await Subscriptions.ChangePlanAsync(id, "team", PlanChangePolicy.NextCycle);

        await ApplyAt(T0.AddDays(1), Snapshot(For(c, productRef: "prod_team"), "sub_1", T0));

        var waiting = await SubscriptionOf("sub_1");
        Assert.Equal(("pro", "team"), (waiting.PlanId, waiting.PendingPlanId));
        Assert.Equal(10, await Credits(c));
    }

    [Fact]
    public async Task Rule_ASnapshotKeepsTheLinkedProviderCustomer_AndLinksOneWhereThereWasNone()
    {
        var c = NewCustomer();
        await Apply(Snapshot(For(c, productRef: "prod_pro"), "sub_1", T0));
        Assert.Null((await SubscriptionOf("sub_1")).ProviderCustomerId);

        await ApplyAt(T0.AddMinutes(1), Snapshot(For(c, providerCustomer: "cust_a"), "sub_1", T0));
        await ApplyAt(T0.AddMinutes(2), Snapshot(For(c, providerCustomer: "cust_b"), "sub_1", T0));

        Assert.Equal("cust_a", (await SubscriptionOf("sub_1")).ProviderCustomerId);
        Assert.Equal(c, await Payments.FindCustomerByProviderIdAsync(Creem, "cust_b", CancellationToken.None));
    }

    [Fact]
    public async Task Rule_APeriodsPayment_RenewsWhenItsPeriodIsNewer_AndIsRecordedOnce_UnderTheKeyOfItsPeriodsAllowance()
    {
        var c = await Start();
        var subscription = await SubscriptionOf("sub_1");
        var next = T0.AddMonths(1);

        var paid = new SubscriptionPaymentSucceeded(For(null), "sub_1", "tran_1", 1900, "USD", next, next.AddMonths(1));
        Assert.Equal(ApplyOutcome.Applied(c), await Apply(paid));

        var renewed = await SubscriptionOf("sub_1");
        Assert.Equal(((DateTimeOffset?)next, (DateTimeOffset?)next.AddMonths(1)), (renewed.CurrentPeriodStart, renewed.CurrentPeriodEnd));
        var payment = await PaymentOf("tran_1");
        Assert.Equal((c, PaymentKind.Subscription, "pro", PaymentStatus.Completed, 1900L, "USD"),
            (payment.CustomerId, payment.Kind, payment.Product, payment.Status, payment.Amount, payment.Currency));
        Assert.Equal(("sub_1", subscription.Id, $"allowance:{subscription.Id}:{Micros(next)}", 0L),
            (payment.ProviderSubscriptionId, payment.SubscriptionId, payment.LedgerRef, payment.Credits));
        var events = Emitted.Drain().Where(e => e.Type != "capabilities.changed").ToList();
        Assert.Equal(["subscription.renewed", "payment.succeeded"], events.Select(e => e.Type));
        Assert.Equal(subscription.Id, (string?)events[1].Data["subscription_id"]);

        // Again: recorded and renewed once. A payment of the current period renews nothing.
        await Apply(paid);
        await Apply(new SubscriptionPaymentSucceeded(For(null), "sub_1", "tran_2", 1900, "USD", next, next.AddMonths(1)));
        Assert.Equal(["payment.succeeded"], Drain());
        // Without a period, the payment belongs to the subscription's current one.
        await Apply(new SubscriptionPaymentSucceeded(For(null), "sub_1", "tran_3", 1900, "USD", null, null));
        Assert.Equal($"allowance:{subscription.Id}:{Micros(next)}", (await PaymentOf("tran_3")).LedgerRef);
    }

    [Fact]
    public async Task Rule_APaymentOrPlanChangeForASubscriptionNotCreatedYet_WaitsForIt_ForAKnownCustomer_AndIsUnmatchedOtherwise()
    {
        var c = NewCustomer();
        Assert.Equal(ApplyOutcome.Later(c, "subscription sub_x is not known yet; its creation event has not arrived"),
            await Apply(new SubscriptionPaymentSucceeded(For(c), "sub_x", "tran_1", 1900, "USD", null, null)));
        Assert.Equal(ApplyOutcome.Unmatched("payment tran_1 is for subscription sub_x, which Tollgate does not know"),
            await Apply(new SubscriptionPaymentSucceeded(For(null), "sub_x", "tran_1", 1900, "USD", null, null)));
        Assert.Equal(ApplyOutcome.Unmatched("failed payment tran_2 is for an unknown subscription sub_x"),
            await Apply(new SubscriptionPaymentFailed(For(c), "sub_x", "tran_2", 1900, "USD")));
        Assert.Equal(ApplyOutcome.Later(c, "subscription sub_x is not known yet; its creation event has not arrived"),
            await Apply(new PlanChangeScheduled(For(c), "sub_x", "prod_team")));
        Assert.Equal(ApplyOutcome.Unmatched("plan change for subscription sub_x, which Tollgate does not know"),
            await Apply(new PlanChangeScheduled(For(null), "sub_x", "prod_team")));
        Assert.Null(await Payments.FindPaymentAsync(Creem, ["tran_1", "tran_2"], CancellationToken.None));
    }

    [Fact]
    public async Task Rule_AFailedPeriodPayment_IsRecordedAsFailed_ForTheSubscriptionsCustomer()
    {
        var c = await Start();
        var subscription = await SubscriptionOf("sub_1");

        Assert.Equal(ApplyOutcome.Applied(c), await Apply(new SubscriptionPaymentFailed(For(null), "sub_1", "in_1", 1900, "USD")));

        var failed = await PaymentOf("in_1");
        Assert.Equal((c, PaymentKind.Subscription, "pro", PaymentStatus.Failed, 1900L, subscription.Id, (string?)null),
            (failed.CustomerId, failed.Kind, failed.Product, failed.Status, failed.Amount, failed.SubscriptionId, failed.LedgerRef));
        Assert.Empty(Drain());
    }

    [Fact]
    public async Task Rule_APlanChangeScheduled_IsRememberedForTheRenewal_TheCurrentPlansOwnProductCancelsIt_AndAStaleOneChangesNothing()
    {
        var c = await Start();

        Assert.Equal(ApplyOutcome.Applied(c), await ApplyAt(T0.AddMinutes(1), new PlanChangeScheduled(For(null), "sub_1", "prod_team")));
        Assert.Equal(("pro", "team"), await Plans());
        await ApplyAt(T0.AddMinutes(1), new PlanChangeScheduled(For(null), "sub_1", "prod_team"));
        Assert.Equal(("pro", "team"), await Plans());

        await ApplyAt(T0.AddMinutes(2), new PlanChangeScheduled(For(null), "sub_1", "prod_pro"));
        Assert.Equal(("pro", (string?)null), await Plans());

        Assert.Equal(new ApplyOutcome(WebhookStatus.Applied, c, "the subscription renews into prod_gone, which the catalog does not map; it stays on pro"),
            await ApplyAt(T0.AddMinutes(3), new PlanChangeScheduled(For(null), "sub_1", "prod_gone")));

        // At the watermark's very instant: applied (only a strictly older event is stale).
        await ApplyAt(T0.AddMinutes(10), Snapshot(For(c), "sub_1", T0) with { CancelAtPeriodEnd = true });
        await ApplyAt(T0.AddMinutes(10), new PlanChangeScheduled(For(null), "sub_1", "prod_team"));
        Assert.Equal(("pro", "team"), await Plans());
        await ApplyAt(T0.AddMinutes(10), new PlanChangeScheduled(For(null), "sub_1", "prod_pro"));

        // Older than the newest snapshot applied: nothing.
        await ApplyAt(T0.AddMinutes(10), Snapshot(For(c), "sub_1", T0) with { CancelAtPeriodEnd = true });
        Assert.Equal(ApplyOutcome.Applied(c), await ApplyAt(T0.AddMinutes(5), new PlanChangeScheduled(For(null), "sub_1", "prod_team")));
        Assert.Equal(("pro", (string?)null), await Plans());
    }

    private async Task<(string Plan, string? Pending)> Plans()
    {
        var subscription = await SubscriptionOf("sub_1");
        return (subscription.PlanId, subscription.PendingPlanId);
    }
}

public sealed class SqliteApplierSubscriptionRules : ApplierSubscriptionRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresApplierSubscriptionRules : ApplierSubscriptionRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
