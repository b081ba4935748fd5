using Tollgate.Core.Catalog;
using Tollgate.Core.Ledger;
using Tollgate.Core.Subscriptions;
using Tollgate.Storage.Tests.Payments;

namespace Tollgate.Storage.Tests.Subscriptions;

/// <summary>
/// Rules of the subscription service over a real database, without the HTTP server: a subscription started grants its
/// allowances, a lifetime one has no periods; a renewal only moves a period on; a plan change waits for the renewal or
/// applies at once, granting the larger allowance's difference once; a cancellation at the period end keeps access, one
/// without a period ends it; a quantity and a resumption; a customer's capabilities reported when a save changes them;
/// a provider's trial once per customer and plan; a paid subscription ending the customer's card-less trial. Uses the
/// applier's catalog (monthly pro and team, a lifetime plan). Each test names its rule. Run on SQLite and PostgreSQL.
/// </summary>
public abstract class SubscriptionServiceRules : ApplierTestBase
{
    private RefusingStore? _store;

    protected override ISubscriptionStore SubscriptionStore(ISubscriptionStore database) => _store = new RefusingStore(database);

    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);

    private Task<Subscription> Start(string customer, string plan = "pro", SubscriptionStatus status = SubscriptionStatus.Active, string provider = Creem,
        string? providerId = "sub_1") =>
        Subscriptions.StartAsync(customer, plan, provider, providerId, null, status, T0, T0.AddMonths(1), T0);

    [Fact]
    public async Task Rule_ASubscriptionStarted_IsStoredAndGrantsItsPeriodsAllowance_ALifetimeOneHasNoPeriods()
    {
        var c = NewCustomer();
        var started = await Start(c);

        Assert.Equal(started, await Subscriptions.GetAsync(started.Id, CancellationToken.None));
        Assert.Equal((c, "pro", Creem, "sub_1", SubscriptionStatus.Active), (started.CustomerId, started.PlanId, started.Provider, started.ProviderSubscriptionId, started.Status));
        Assert.Equal(((DateTimeOffset?)T0, (DateTimeOffset?)T0.AddMonths(1), (DateTimeOffset?)T0, Clock.GetUtcNow()),
            (started.CurrentPeriodStart, started.CurrentPeriodEnd, started.ProviderUpdatedAt, started.CreatedAt));
        Assert.Equal(10, await Credits(c));

        var lifetime = await Subscriptions.StartAsync(NewCustomer(), "lifetime", Creem, "payment:ord_1", null, SubscriptionStatus.Active, T0, T0.AddMonths(1));
        Assert.Equal(((DateTimeOffset?)null, (DateTimeOffset?)null, (DateTimeOffset?)null), (lifetime.CurrentPeriodStart, lifetime.CurrentPeriodEnd, lifetime.ProviderUpdatedAt));

        Assert.Equal("'gold' is not a plan of the catalog. (Parameter 'planId')",
            (await Assert.ThrowsAsync<ArgumentException>(() => Subscriptions.StartAsync(c, "gold", Creem, "sub_2", null, SubscriptionStatus.Active, T0, T0))).Message);
        Assert.Equal("No subscription sub_missing.",
            (await Assert.ThrowsAsync<KeyNotFoundException>(() => Subscriptions.GetAsync("sub_missing", CancellationToken.None))).Message);
    }

    [Fact]
    public async Task Rule_ARenewal_MovesThePeriodOn_ActivatesAndAppliesAWaitingPlan_AndAPeriodNotNewerChangesNothing()
    {
        var c = NewCustomer();
        var started = await Start(c, status: SubscriptionStatus.PastDue);
        await Subscriptions.ChangePlanAsync(started.Id, "team", PlanChangePolicy.NextCycle);

        var same = await Subscriptions.RenewAsync(started.Id, T0, T0.AddMonths(1), T0.AddDays(1));
        Assert.Equal((SubscriptionStatus.PastDue, "pro", "team"), (same.Status, same.PlanId, same.PendingPlanId));

        var next = T0.AddMonths(1);
        var renewed = await Subscriptions.RenewAsync(started.Id, next, next.AddMonths(1));
        Assert.Equal((SubscriptionStatus.Active, "team", (string?)null, (DateTimeOffset?)next, (DateTimeOffset?)next.AddMonths(1), (DateTimeOffset?)T0),
            (renewed.Status, renewed.PlanId, renewed.PendingPlanId, renewed.CurrentPeriodStart, renewed.CurrentPeriodEnd, renewed.ProviderUpdatedAt));

        var later = await Subscriptions.RenewAsync(started.Id, next.AddMonths(1), next.AddMonths(2), next.AddMonths(1));
        Assert.Equal(("team", (DateTimeOffset?)next.AddMonths(1)), (later.PlanId, later.ProviderUpdatedAt));
    }

    [Fact]
    public async Task Rule_APlanChangeForTheNextCycle_Waits_AndBackToTheCurrentPlanClearsIt()
    {
        var c = NewCustomer();
        var started = await Start(c);

        var waiting = await Subscriptions.ChangePlanAsync(started.Id, "team", PlanChangePolicy.NextCycle);
        Assert.Equal(("pro", "team"), (waiting.PlanId, waiting.PendingPlanId));
        var back = await Subscriptions.ChangePlanAsync(started.Id, "pro", PlanChangePolicy.NextCycle);
        Assert.Equal(("pro", (string?)null), (back.PlanId, back.PendingPlanId));
        Assert.Equal(10, await Credits(c));
        await Assert.ThrowsAsync<ArgumentException>(() => Subscriptions.ChangePlanAsync(started.Id, "gold", PlanChangePolicy.NextCycle));
    }

    [Fact]
    public async Task Rule_AnImmediatePlanChange_GrantsTheLargerAllowancesDifference_Once_AndADownAndUpAgainGrantsNothingMore()
    {
        var c = NewCustomer();
        var started = await Start(c);
        Clock.Set(T0.AddDays(5));

        var up = await Subscriptions.ChangePlanAsync(started.Id, "team", PlanChangePolicy.Immediate);
        Assert.Equal(("team", (string?)null), (up.PlanId, up.PendingPlanId));
        Assert.Equal(40, await Credits(c));
        var topUp = (await Ledger.GetEntriesAsync(c, "credits", 10)).Entries.Single(e => e.Reference == "plan change pro → team");
        Assert.Equal(30, topUp.Amount);
        Assert.EndsWith(":upto:40", topUp.OperationKey);

        await Subscriptions.ChangePlanAsync(started.Id, "pro", PlanChangePolicy.Immediate); // a smaller allowance takes nothing back
        Assert.Equal(40, await Credits(c));
        await Subscriptions.ChangePlanAsync(started.Id, "team", PlanChangePolicy.Immediate);
        Assert.Equal(40, await Credits(c));
        Assert.Equal("team", (await Subscriptions.GetAsync(started.Id, CancellationToken.None)).PlanId);
    }

    [Fact]
    public async Task Rule_ACancellationAtThePeriodEnd_KeepsAccessUntilThen_OneWithoutAPeriodEndsNow_AndAResumptionUndoesIt()
    {
        var c = NewCustomer();
        var started = await Start(c);
        Clock.Set(T0.AddDays(3));

        var scheduled = await Subscriptions.CancelAsync(started.Id, atPeriodEnd: true);
        Assert.Equal((SubscriptionStatus.Active, true, (DateTimeOffset?)Clock.GetUtcNow()), (scheduled.Status, scheduled.CancelAtPeriodEnd, scheduled.CanceledAt));

        var resumed = await Subscriptions.ResumeAsync(started.Id);
        Assert.Equal((SubscriptionStatus.Active, false, (DateTimeOffset?)null), (resumed.Status, resumed.CancelAtPeriodEnd, resumed.CanceledAt));

        var now = await Subscriptions.CancelAsync(started.Id, atPeriodEnd: false);
        Assert.Equal((SubscriptionStatus.Canceled, false, (DateTimeOffset?)Clock.GetUtcNow()), (now.Status, now.CancelAtPeriodEnd, now.CanceledAt));

        // A lifetime plan has no period end: cancelled "at the period end", it ends now.
        var lifetime = await Subscriptions.StartAsync(c, "lifetime", Creem, "payment:ord_1", null, SubscriptionStatus.Active, null, null);
        Assert.Equal(SubscriptionStatus.Canceled, (await Subscriptions.CancelAsync(lifetime.Id, atPeriodEnd: true)).Status);
    }

    [Fact]
    public async Task Rule_AQuantity_IsAtLeastOne_ItsProviderTimeKept_AndTheSameQuantityIsNoSave()
    {
        var c = NewCustomer();
        var started = await Start(c);
        Clock.Set(T0.AddDays(1));

        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = Subscriptions.SetQuantityAsync(started.Id, 0); });
        var same = await Subscriptions.SetQuantityAsync(started.Id, 1, T0.AddDays(1));
        Assert.Equal((1L, (DateTimeOffset?)T0, started.UpdatedAt), (same.Quantity, same.ProviderUpdatedAt, same.UpdatedAt));

        var three = await Subscriptions.SetQuantityAsync(started.Id, 3, T0.AddDays(1));
        Assert.Equal((3L, (DateTimeOffset?)T0.AddDays(1), Clock.GetUtcNow()), (three.Quantity, three.ProviderUpdatedAt, three.UpdatedAt));
        var four = await Subscriptions.SetQuantityAsync(started.Id, 4);
        Assert.Equal((4L, (DateTimeOffset?)T0.AddDays(1)), (four.Quantity, four.ProviderUpdatedAt));
    }

    [Fact]
    public async Task Rule_ASaveThatChangesWhatTheCustomerCanDo_ReportsTheCapabilitiesBeforeAndAfter_AndOneThatDoesNotReportsNothing()
    {
        var c = NewCustomer();
        var started = await Subscriptions.StartAsync(c, "lifetime", Creem, "payment:ord_1", null, SubscriptionStatus.Active, null, null);
        var gained = Assert.Single(Emitted.Drain(), e => e.Type == "customer.capabilities_changed");
        Assert.Equal(["feature:hd_export", "plan:lifetime"], gained.Data["capabilities"]!.AsArray().Select(n => (string)n!));
        Assert.Equal(["feature:ai_messages", "plan:free"], gained.Data["previous"]!.AsArray().Select(n => (string)n!));

        await Subscriptions.SetQuantityAsync(started.Id, 2);
        Assert.DoesNotContain(Emitted.Drain(), e => e.Type == "customer.capabilities_changed");

        await Subscriptions.CancelAsync(started.Id, atPeriodEnd: false);
        var lost = Assert.Single(Emitted.Drain(), e => e.Type == "customer.capabilities_changed");
        Assert.Equal(["feature:ai_messages", "plan:free"], lost.Data["capabilities"]!.AsArray().Select(n => (string)n!));
    }

    [Fact]
    public async Task Rule_AProvidersTrial_IsTheCustomersTrialOfThePlan_Once_ASecondTrialOfItGivesNothingUntilPaid()
    {
        var c = NewCustomer();
        var first = await Start(c, status: SubscriptionStatus.Trialing, providerId: "sub_1");
        Assert.Equal(SubscriptionStatus.Trialing, first.Status);
        // The same subscription saved again stays the trial.
        await Subscriptions.SaveAsync(first with { Quantity = 2 });
        Assert.Equal(SubscriptionStatus.Trialing, (await Subscriptions.GetAsync(first.Id, CancellationToken.None)).Status);

        await Subscriptions.CancelAsync(first.Id, atPeriodEnd: false);
        var second = await Start(c, status: SubscriptionStatus.Trialing, providerId: "sub_2");
        Assert.Equal(SubscriptionStatus.Incomplete, second.Status);

        // Another plan's trial is a first one.
        Assert.Equal(SubscriptionStatus.Trialing, (await Start(c, "team", SubscriptionStatus.Trialing, providerId: "sub_3")).Status);
    }

    [Fact]
    public async Task Rule_APaidSubscription_EndsTheCustomersCardlessTrial_RetiringWhatIsLeftOfItsAllowance_Once()
    {
        var c = NewCustomer();
        var trial = await Subscriptions.StartAsync(c, "team", TrialService.Provider, null, null, SubscriptionStatus.Trialing, T0, T0.AddDays(14));
        Assert.Equal(40, await Credits(c));
        Drain();
        Clock.Set(T0.AddDays(2));

        var paid = await Subscriptions.StartAsync(c, "pro", Creem, "sub_1", null, SubscriptionStatus.Active, T0.AddDays(2), T0.AddDays(2).AddMonths(1));

        var ended = await Subscriptions.GetAsync(trial.Id, CancellationToken.None);
        Assert.Equal((SubscriptionStatus.Canceled, (DateTimeOffset?)Clock.GetUtcNow(), (DateTimeOffset?)Clock.GetUtcNow()), (ended.Status, ended.CanceledAt, ended.AccessEndsAt));
        Assert.Equal(10, await Credits(c)); // the trial's 40 retired; the paid period's 10 granted
        var canceled = Assert.Single(Emitted.Drain(), e => e.Type == "subscription.canceled");
        Assert.Equal((trial.Id, paid.Id), ((string?)canceled.Data["subscription_id"], (string?)canceled.Data["replaced_by"]));

        // Saved again (a webhook delivered twice): nothing more ends or retires.
        await Subscriptions.SaveAsync(paid with { Quantity = 2 });
        Assert.Equal(10, await Credits(c));
        Assert.DoesNotContain(Emitted.Drain(), e => e.Type == "subscription.canceled");
    }

    [Fact]
    public async Task Rule_ASubscriptionsId_CarriesItsPrefix()
    {
        Assert.StartsWith("sub_", (await Start(NewCustomer())).Id);
    }

    [Fact]
    public async Task Rule_AnImmediateChangeFromAPlanWithoutCredits_GrantsTheWindowsAllowanceUnderItsOwnKey_SoItIsGrantedOnce()
    {
        var c = NewCustomer();
        var started = await Start(c, "basic");
        Assert.Equal(0, await Credits(c));

        await Subscriptions.ChangePlanAsync(started.Id, "pro", PlanChangePolicy.Immediate);
        Assert.Equal(10, await Credits(c));
        // The allowance check that every read makes finds the window granted under its own key: nothing more.
        Gate.Invalidate(c);
        Assert.True((await Gate.CheckAsync(c, "credits", 10)).Allowed);
        Assert.False((await Gate.CheckAsync(c, "credits", 11)).Allowed);
    }

    [Fact]
    public async Task Rule_AChangeAskedThroughTheApi_IsSavedInItsOwnTransaction_WithItsSubscriptionEvent_OnlyWhenItChangesSomething()
    {
        var c = NewCustomer();
        var started = await Start(c);
        Emitted.Drain();
        // As the database's outbox: in a transaction only inside one (here none: the API's change opens its own).
        Emitted.InTransactionProbe = () => Db.Database.Outbox.InTransaction;

        await Subscriptions.ApplyRequestedAsync(started.Id, service => service.CancelAsync(started.Id, atPeriodEnd: true));
        var updated = Assert.Single(Emitted.Drain());
        Assert.Equal(("subscription.updated", true), (updated.Type, (bool)updated.Data["cancel_at_period_end"]!));

        await Subscriptions.ApplyRequestedAsync(started.Id, service => service.CancelAsync(started.Id, atPeriodEnd: true));
        Assert.Empty(Drain()); // already so: nothing to report

        await Subscriptions.ApplyRequestedAsync(started.Id, service => service.CancelAsync(started.Id, atPeriodEnd: false));
        Assert.Equal(["subscription.canceled"], Drain());
        Assert.Equal(SubscriptionStatus.Canceled, (await Subscriptions.GetAsync(started.Id, CancellationToken.None)).Status);

        await Assert.ThrowsAsync<ArgumentNullException>(() => Subscriptions.ApplyRequestedAsync(started.Id, null!));
        await Assert.ThrowsAsync<ArgumentNullException>(() => Subscriptions.SaveAsync(null!));
    }

    [Fact]
    public async Task Rule_ACardlessTrialWhosePeriodEnded_IsMarkedExpired_AnythingElseIsLeftAsItIs()
    {
        var c = NewCustomer();
        var trial = await Subscriptions.StartAsync(c, "team", TrialService.Provider, null, null, SubscriptionStatus.Trialing, T0, T0.AddDays(14));
        var providers = await Start(NewCustomer(), "team", SubscriptionStatus.Trialing);

        Clock.Set(T0.AddDays(14).AddTicks(-10));
        Assert.Equal(SubscriptionStatus.Trialing, (await Subscriptions.ExpireTrialAsync(trial.Id)).Status);
        Clock.Set(T0.AddDays(14));
        var expired = await Subscriptions.ExpireTrialAsync(trial.Id);
        Assert.Equal((SubscriptionStatus.Expired, Clock.GetUtcNow()), (expired.Status, expired.UpdatedAt));
        Assert.Equal(SubscriptionStatus.Trialing, (await Subscriptions.ExpireTrialAsync(providers.Id)).Status);

        var active = await Subscriptions.StartAsync(c, "pro", TrialService.Provider, null, null, SubscriptionStatus.Active, T0, T0.AddDays(1));
        Assert.Equal(SubscriptionStatus.Active, (await Subscriptions.ExpireTrialAsync(active.Id)).Status);
    }

    [Fact]
    public async Task Rule_OnlyASubscriptionThatStartsGivingAccess_EndsACardlessTrial_NotOneWithoutAccessNorARenewal_NorAProvidersTrial()
    {
        var c = NewCustomer();
        var trial = await Subscriptions.StartAsync(c, "team", TrialService.Provider, null, null, SubscriptionStatus.Trialing, T0, T0.AddDays(14));

        // A paid subscription not giving access yet (its first payment failed) ends nothing.
        var incomplete = await Start(c, "pro", SubscriptionStatus.Incomplete, providerId: "sub_1");
        Assert.Equal(SubscriptionStatus.Trialing, (await Subscriptions.GetAsync(trial.Id, CancellationToken.None)).Status);
        // A provider's trial is not ended by a paid subscription.
        var providers = await Start(c, "basic", SubscriptionStatus.Trialing, providerId: "sub_2");
        // Nor is a card-less trial by a subscription already giving access, renewed or saved again.
        var d = NewCustomer();
        var paid = await Start(d, "pro", providerId: "sub_3");
        var laterTrial = await Subscriptions.StartAsync(d, "team", TrialService.Provider, null, null, SubscriptionStatus.Trialing, T0, T0.AddDays(14));
        await Subscriptions.RenewAsync(paid.Id, T0.AddMonths(1), T0.AddMonths(2));
        Assert.Equal(SubscriptionStatus.Trialing, (await Subscriptions.GetAsync(laterTrial.Id, CancellationToken.None)).Status);

        // Now the paid subscription starts giving access: the card-less trial ends, the provider's trial stays.
        await Subscriptions.SaveAsync(incomplete with { Status = SubscriptionStatus.Active });
        Assert.Equal(SubscriptionStatus.Canceled, (await Subscriptions.GetAsync(trial.Id, CancellationToken.None)).Status);
        Assert.Equal(SubscriptionStatus.Trialing, (await Subscriptions.GetAsync(providers.Id, CancellationToken.None)).Status);
        // Its retirement is keyed by the trial: the same key for another source is a reused key.
        Assert.Equal(LedgerRefusal.KeyReused, (await Ledger.RetireAsync(new RetireRequest(c, "allowance:other", "trial-replaced:" + trial.Id))).Refusal);
    }

    [Fact]
    public async Task Rule_AChangeRefusedBecauseANewerEventLanded_IsMadeAgainOnTheNewerState_AndGivenUpAfterTenRefusals()
    {
        var c = NewCustomer();
        var started = await Start(c);

        _store!.Saves = 0;
        _store.Refusals = 3;
        var canceled = await Subscriptions.CancelAsync(started.Id, atPeriodEnd: true);
        Assert.True(canceled.CancelAtPeriodEnd);
        Assert.Equal(4, _store.Saves);

        _store.Refusals = 10;
        _store.Saves = 0;
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => Subscriptions.ResumeAsync(started.Id));
        Assert.Equal($"Subscription {started.Id} changed under 10 saves in a row; giving up.", error.Message);
        Assert.Equal(10, _store.Saves);
        Assert.True((await Subscriptions.GetAsync(started.Id, CancellationToken.None)).CancelAtPeriodEnd);
    }

    [Fact]
    public async Task Rule_AnOperatorsMigration_MovesAPlansSubscriptionsToANewVersion_ReportingEachCustomerWhoseCapabilitiesChange_Once()
    {
        var (c, sold) = await SellLifetimeAtVersion1Async(Subscriptions);
        Assert.Equal(1, (await Subscriptions.GetAsync(sold.Id, CancellationToken.None)).PlanVersion);
        Assert.False((await Gate.CheckAsync(c, "hd_export")).Allowed);
        Emitted.Drain();
        Emitted.InTransactionProbe = () => Db.Database.Outbox.InTransaction;

        // Inside a flow the migration is the flow's: rolled back with it.
        await using (Db.Database.Transactions.Begin())
        {
            Assert.Equal(1, await Subscriptions.MigrateVersionAsync(Db.Database.PlanVersions, "lifetime", 1, 2));
        }

        Assert.Equal(1, (await Subscriptions.GetAsync(sold.Id, CancellationToken.None)).PlanVersion);
        Emitted.Drain();

        Assert.Equal(1, await Subscriptions.MigrateVersionAsync(Db.Database.PlanVersions, "lifetime", 1, 2));

        Assert.Equal(2, (await Subscriptions.GetAsync(sold.Id, CancellationToken.None)).PlanVersion);
        var changed = Assert.Single(Emitted.Drain());
        Assert.Equal(("customer.capabilities_changed", c), (changed.Type, changed.CustomerId));
        Assert.Equal(["feature:hd_export", "plan:lifetime"], changed.Data["capabilities"]!.AsArray().Select(n => (string)n!));
        Assert.Equal(["feature:ai_messages", "plan:lifetime"], changed.Data["previous"]!.AsArray().Select(n => (string)n!));
        Assert.True((await Gate.CheckAsync(c, "hd_export")).Allowed); // its cached view was dropped

        Assert.Equal(0, await Subscriptions.MigrateVersionAsync(Db.Database.PlanVersions, "lifetime", 1, 2));
        Assert.Empty(Emitted.Drain());
        await Assert.ThrowsAsync<ArgumentNullException>(() => Subscriptions.MigrateVersionAsync(null!, "lifetime", 1, 2));
    }

    [Fact]
    public async Task Rule_WithoutAnOutbox_ChangesAndMigrationsAreMadeAlike_ReportingNothing()
    {
        var plain = new SubscriptionService(Catalog, Db.Database.Subscriptions, Ledger, Gate, Clock);
        var (c, _) = await SellLifetimeAtVersion1Async(plain);
        Assert.False((await Gate.CheckAsync(c, "hd_export")).Allowed);

        Assert.Equal(1, await plain.MigrateVersionAsync(Db.Database.PlanVersions, "lifetime", 1, 2));
        Assert.True((await Gate.CheckAsync(c, "hd_export")).Allowed); // its cached view was dropped

        var d = NewCustomer();
        var started = await plain.StartAsync(d, "pro", Creem, "sub_1", null, SubscriptionStatus.Active, T0, T0.AddMonths(1), T0);
        var canceled = await plain.ApplyRequestedAsync(started.Id, service => service.CancelAsync(started.Id, atPeriodEnd: true));
        Assert.True(canceled.CancelAtPeriodEnd);
        Assert.True(await plain.SaveAsync(canceled with { Quantity = 3, UpdatedAt = Clock.GetUtcNow() }));
        Assert.Equal((true, 3L), ((await plain.GetAsync(started.Id, CancellationToken.None)).CancelAtPeriodEnd,
            (await plain.GetAsync(started.Id, CancellationToken.None)).Quantity));

        // Transactions without an outbox: nothing to report, so no transaction of its own either.
        var unreported = new SubscriptionService(Catalog, Db.Database.Subscriptions, Ledger, Gate, Clock, transactions: Db.Database.Transactions);
        var resumed = await unreported.ApplyRequestedAsync(started.Id, service => service.ResumeAsync(started.Id));
        Assert.False(resumed.CancelAtPeriodEnd);
        Assert.Equal(0, await unreported.MigrateVersionAsync(Db.Database.PlanVersions, "lifetime", 1, 2)); // moved already
        Assert.Empty(Emitted.Drain());
    }

    /// <summary>The lifetime plan sold by <paramref name="service"/> to a new customer while the catalog had it without
    /// hd_export (plan version 1: ai_messages instead), then today's catalog (with hd_export) registered as version 2.</summary>
    private async Task<(string Customer, Subscription Sold)> SellLifetimeAtVersion1Async(SubscriptionService service)
    {
        var before = CatalogLoader.Parse(CatalogYaml.Replace("""
                  hd_export: true
            packs:
            """, """
                  ai_messages: { limit: 7, reset: month }
            packs:
            """), "catalog.yaml", [new CatalogMapping("sandbox", null), new CatalogMapping(Creem, "product")]);
        await PlanVersions.RegisterAsync(before, Db.Database.PlanVersions, Clock.GetUtcNow(), CancellationToken.None);
        var customer = NewCustomer();
        var sold = await service.StartAsync(customer, "lifetime", Creem, "payment:ord_1", null, SubscriptionStatus.Active, null, null);
        await PlanVersions.RegisterAsync(Catalog, Db.Database.PlanVersions, Clock.GetUtcNow(), CancellationToken.None);
        return (customer, sold);
    }

    [Fact]
    public async Task Rule_ARequestedChangeInsideAFlow_IsTheFlows_AndOneOutsideAnyFlow_GetsATransactionOfItsOwn()
    {
        var c = NewCustomer();
        var started = await Start(c);
        Emitted.Drain();
        Emitted.InTransactionProbe = () => Db.Database.Outbox.InTransaction;

        await using (Db.Database.Transactions.Begin())
        {
            var inFlow = await Subscriptions.ApplyRequestedAsync(started.Id, service => service.CancelAsync(started.Id, atPeriodEnd: true));
            Assert.True(inFlow.CancelAtPeriodEnd);
        } // rolled back

        Assert.False((await Subscriptions.GetAsync(started.Id, CancellationToken.None)).CancelAtPeriodEnd);
        Emitted.Drain();

        // A save outside any flow that changes the customer's capabilities: its report needs, and gets, a transaction.
        Assert.True(await Subscriptions.SaveAsync(started with { PlanId = "team", UpdatedAt = Clock.GetUtcNow() }));
        var changed = Assert.Single(Emitted.Drain());
        Assert.Equal(("customer.capabilities_changed", c), (changed.Type, changed.CustomerId));
        Assert.Equal("team", (await Subscriptions.GetAsync(started.Id, CancellationToken.None)).PlanId);
    }

    /// <summary>The database's subscriptions, refusing the next <see cref="Refusals"/> saves as a newer provider event would.</summary>
    private sealed class RefusingStore(ISubscriptionStore inner) : ISubscriptionStore
    {
        public int Refusals;

        public int Saves;

        public Task<Subscription?> GetAsync(string subscriptionId, CancellationToken cancellationToken) => inner.GetAsync(subscriptionId, cancellationToken);

        public Task<Subscription?> FindByProviderIdAsync(string provider, string providerSubscriptionId, CancellationToken cancellationToken) =>
            inner.FindByProviderIdAsync(provider, providerSubscriptionId, cancellationToken);

        public Task<IReadOnlyList<Subscription>> ListByCustomerAsync(string customerId, CancellationToken cancellationToken) =>
            inner.ListByCustomerAsync(customerId, cancellationToken);

        public Task<bool> SaveAsync(Subscription subscription, CancellationToken cancellationToken)
        {
            Saves++;
            return Refusals-- > 0 ? Task.FromResult(false) : inner.SaveAsync(subscription, cancellationToken);
        }

        public Task<IReadOnlyList<Subscription>> ListByStatusAsync(SubscriptionStatus status, int limit, CancellationToken cancellationToken) =>
            inner.ListByStatusAsync(status, limit, cancellationToken);

        public Task<IReadOnlyList<(string PlanId, SubscriptionStatus Status, int Count)>> CountByPlanAsync(IReadOnlyCollection<SubscriptionStatus> statuses,
            CancellationToken cancellationToken) => inner.CountByPlanAsync(statuses, cancellationToken);
    }
}

public sealed class SqliteSubscriptionServiceRules : SubscriptionServiceRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresSubscriptionServiceRules : SubscriptionServiceRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
