using Tollgate.Core.Catalog;
using Tollgate.Core.Events;
using Tollgate.Core.Idempotency;
using Tollgate.Core.Subscriptions;
using Tollgate.Storage.Tests.Payments;

namespace Tollgate.Storage.Tests.Subscriptions;

/// <summary>
/// Rules of card-less trials over a real database, without the HTTP server: a plan with <c>trial_days</c> (the applier
/// catalog's <c>team</c>, 14 days) is tried once per customer, ever; the trial is a subscription Tollgate owns, trialing
/// for exactly its days, written with the trial record, the customer, its event and the call's stored response in one
/// transaction; a call under a key already answered is answered from it; ended trials are marked expired by the sweep,
/// at their period end's exact instant, and only Tollgate's own. Each test names its rule. Run on SQLite and PostgreSQL.
/// </summary>
public abstract class TrialServiceRules : ApplierTestBase
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly RecordingAllowances _allowances = new();

    private TrialService Trials(IIdempotencyStore? idempotency = null, bool transactions = true)
    {
        _allowances.Inner = Gate;
        // The trial's event goes into its transaction: the recorded outbox refuses one outside it, as the database's does.
        Emitted.InTransactionProbe = () => Db.Database.Outbox.InTransaction;
        return new TrialService(Catalog, Db.Database.Trials, Db.Database.Subscriptions, Subscriptions, Db.Database.Customers, _allowances, Clock,
            idempotency ?? Db.Database.Idempotency, transactions ? Db.Database.Transactions : null, Emitted);
    }

    private static IdempotentCall<TrialOutcome> Call(string key, string hash = "hash-1") =>
        new("scope", key, hash, outcome => new StoredResponse(hash, 201, $"{{\"id\":\"{outcome.Subscription!.Id}\"}}"));

    [Fact]
    public async Task Rule_ATrialStarted_IsTollgatesOwnTrialingSubscription_ForExactlyItsDays_WithThePlansAllowance_AndItsRecord()
    {
        var c = NewCustomer();
        await PlanVersions.RegisterAsync(Catalog, Db.Database.PlanVersions, T0, CancellationToken.None);
        Assert.Equal(3, (await Gate.CheckAsync(c, "ai_messages")).Balance!.Limit); // the free plan's view, cached

        var outcome = await Trials().StartAsync(c, "team");

        var trial = outcome.Subscription!;
        Assert.Equal(((TollgateRefusal?)null, (string?)null, (StoredResponse?)null), (outcome.Refusal, outcome.Message, outcome.Response));
        Assert.Equal((c, "team", TrialService.Provider, (string?)null, SubscriptionStatus.Trialing),
            (trial.CustomerId, trial.PlanId, trial.Provider, trial.ProviderSubscriptionId, trial.Status));
        Assert.Equal(((DateTimeOffset?)T0, (DateTimeOffset?)T0.AddDays(14), (DateTimeOffset?)T0.AddDays(14), T0, T0, false),
            (trial.CurrentPeriodStart, trial.CurrentPeriodEnd, trial.AccessEndsAt, trial.CreatedAt, trial.UpdatedAt, trial.CancelAtPeriodEnd));
        Assert.StartsWith("sub_", trial.Id, StringComparison.Ordinal);
        Assert.Equal(1, trial.PlanVersion); // the store's version, answered as stored
        Assert.Equal(trial, await Subscriptions.GetAsync(trial.Id, CancellationToken.None));
        Assert.Equal(new TrialRecord(c, "team", trial.Id, TrialService.Provider, T0), await Db.Database.Trials.FindAsync(c, "team", CancellationToken.None));
        Assert.NotNull(await Db.Database.Customers.GetAsync(c, CancellationToken.None));
        Assert.True(TrialService.IsOwnTrial(trial));

        Assert.Equal(40, await Credits(c));
        Assert.Equal(500, (await Gate.CheckAsync(c, "ai_messages")).Balance!.Limit); // the cached free view was dropped
        Assert.Equal([c], _allowances.Forgotten); // after the commit, not only inside the transaction by the save
        var created = Emitted.Drain().Single(e => e.Type == EventTypes.SubscriptionCreated);
        Assert.Equal(c, created.CustomerId);
        Assert.Equal($$"""
            {"subscription_id":"{{trial.Id}}","plan":"team","provider":"tollgate","status":"trialing","current_period_start":"2026-12-01T00:00:00+00:00","current_period_end":"2026-12-15T00:00:00+00:00","cancel_at_period_end":false,"pending_plan":null,"quantity":1,"customer_id":"{{c}}"}
            """, created.Data.ToJsonString());
    }

    [Fact]
    public async Task Rule_APlanIsTriedOnce_Ever_APlanWithoutTrialDaysOrUnknownIsRefused_AndARefusalWritesNothing()
    {
        var c = NewCustomer();
        var trials = Trials();
        await trials.StartAsync(c, "team");

        var again = await trials.StartAsync(c, "team");
        Assert.Equal((TollgateRefusal.NotEligible, "the customer has had a trial of 'team' (started 2026-12-01); a plan is tried once.", (Subscription?)null),
            (again.Refusal, again.Message, again.Subscription));
        Clock.Advance(TimeSpan.FromDays(30)); // long after the trial ended
        Assert.Equal(TollgateRefusal.NotEligible, (await trials.StartAsync(c, "team")).Refusal);

        var d = NewCustomer();
        var noTrial = await trials.StartAsync(d, "pro");
        Assert.Equal((TollgateRefusal.NotEligible, "'pro' offers no trial (the catalog gives it no trial_days)."), (noTrial.Refusal, noTrial.Message));
        var unknown = await trials.StartAsync(d, "gold");
        Assert.Equal((TollgateRefusal.UnknownProduct, "'gold' is not a plan of the catalog."), (unknown.Refusal, unknown.Message));

        Assert.Empty(await Db.Database.Subscriptions.ListByCustomerAsync(d, CancellationToken.None));
        Assert.Empty(await Db.Database.Trials.ListByCustomerAsync(d, CancellationToken.None));
        Assert.Null(await Db.Database.Customers.GetAsync(d, CancellationToken.None));
        Assert.Single(await Db.Database.Subscriptions.ListByCustomerAsync(c, CancellationToken.None));
        Assert.Equal(0, await Credits(d));

        Assert.Equal("customerId", (await Assert.ThrowsAsync<ArgumentException>(() => trials.StartAsync("", "team"))).ParamName);
        Assert.Equal("planId", (await Assert.ThrowsAsync<ArgumentNullException>(() => trials.StartAsync(c, null!))).ParamName);
        await Assert.ThrowsAsync<ArgumentNullException>(() => trials.IneligibleAsync(c, null!));
    }

    [Fact]
    public async Task Rule_APlanHeldThroughAPaidSubscription_IsNotOfferedATrial_UntilThatSubscriptionNoLongerGivesAccess()
    {
        var c = NewCustomer();
        var trials = Trials();
        var team = Catalog.PlansById["team"];
        var paid = await Subscriptions.StartAsync(c, "team", Creem, "sub_1", null, SubscriptionStatus.PastDue, T0, T0.AddMonths(1), T0);

        Assert.Equal("the customer already has 'team'.", await trials.IneligibleAsync(c, team)); // past due still holds the plan
        var refused = await trials.StartAsync(c, "team");
        Assert.Equal((TollgateRefusal.NotEligible, "the customer already has 'team'."), (refused.Refusal, refused.Message));

        await Subscriptions.SaveAsync(paid with { Status = SubscriptionStatus.Expired, UpdatedAt = T0.AddDays(1) });
        Assert.Null(await trials.IneligibleAsync(c, team));
        Assert.Null(await trials.IneligibleAsync(NewCustomer(), team));
        // Another plan held, or the same plan held by someone else, does not count.
        var d = NewCustomer();
        await Subscriptions.StartAsync(d, "pro", Creem, "sub_2", null, SubscriptionStatus.Active, T0, T0.AddMonths(1), T0);
        Assert.Null(await trials.IneligibleAsync(d, team));
    }

    [Fact]
    public async Task Rule_ACallsResponse_IsStoredWithTheTrial_AReplayIsAnsweredFromIt_AnotherRequestUnderTheKeyIsRefused()
    {
        var c = NewCustomer();
        var trials = Trials();

        var first = await trials.StartAsync(c, "team", Call("k1"));
        var stored = await Db.Database.Idempotency.GetAsync("scope", "k1", CancellationToken.None);
        Assert.Equal(new StoredResponse("hash-1", 201, $"{{\"id\":\"{first.Subscription!.Id}\"}}"), stored);
        Assert.Equal(stored, first.Response);

        var replay = await trials.StartAsync(c, "team", Call("k1"));
        Assert.Equal(((Subscription?)null, (TollgateRefusal?)null, stored), (replay.Subscription, replay.Refusal, replay.Response));
        var other = await trials.StartAsync(c, "team", Call("k1", "hash-2"));
        Assert.Equal((TollgateRefusal.IdempotencyKeyReused, "The Idempotency-Key was used with a different request.", (StoredResponse?)null),
            (other.Refusal, other.Message, other.Response));

        // Without an idempotency store the call is not stored, and the trial still starts.
        var d = NewCustomer();
        Emitted.InTransactionProbe = () => true;
        var unstored = await new TrialService(Catalog, Db.Database.Trials, Db.Database.Subscriptions, Subscriptions, Db.Database.Customers, Gate, Clock)
            .StartAsync(d, "team", Call("k2"));
        Assert.Equal((SubscriptionStatus.Trialing, (StoredResponse?)null), (unstored.Subscription!.Status, unstored.Response));
        Assert.Null(await Db.Database.Idempotency.GetAsync("scope", "k2", CancellationToken.None));
    }

    [Fact]
    public async Task Rule_ACallThatLosesItsKeyToARacingCall_KeepsNothing_AndIsAnsweredWithTheWinnersResponse()
    {
        var c = NewCustomer();
        // The racing call stored its answer after this one looked: the first lookup misses it.
        var winner = new StoredResponse("hash-1", 201, "{\"id\":\"sub_winner\"}");
        Assert.True(await Db.Database.Idempotency.TryStoreAsync("scope", "k1", winner, T0, CancellationToken.None));
        var late = new LateIdempotency(Db.Database.Idempotency);

        var outcome = await Trials(late).StartAsync(c, "team", Call("k1"));

        Assert.Equal(((Subscription?)null, (TollgateRefusal?)null, winner), (outcome.Subscription, outcome.Refusal, outcome.Response));
        Assert.Null(await Db.Database.Trials.FindAsync(c, "team", CancellationToken.None)); // rolled back with the refusal
        Assert.Empty(await Db.Database.Subscriptions.ListByCustomerAsync(c, CancellationToken.None));
        Assert.Equal(0, await Credits(c));

        // A racing call under the key with another request: refused, nothing kept.
        var d = NewCustomer();
        var refused = await Trials(new LateIdempotency(Db.Database.Idempotency)).StartAsync(d, "team", Call("k1", "hash-2"));
        Assert.Equal(TollgateRefusal.IdempotencyKeyReused, refused.Refusal);
        Assert.Null(await Db.Database.Trials.FindAsync(d, "team", CancellationToken.None));
    }

    [Fact]
    public async Task Rule_OfTwoStartsRacingPastTheEligibilityCheck_TheOneThatDoesNotRecordTheTrial_IsRefusedAndKeepsNothing()
    {
        var c = NewCustomer();
        Assert.True((await Trials().StartAsync(c, "team")).Subscription is not null);
        // The racing start looked before the winner recorded the trial: its first lookup misses it.
        var late = new TrialService(Catalog, new LateTrials(Db.Database.Trials), Db.Database.Subscriptions, Subscriptions, Db.Database.Customers, Gate, Clock,
            Db.Database.Idempotency, Db.Database.Transactions, Emitted);

        var lost = await late.StartAsync(c, "team", Call("k1"));

        Assert.Equal((TollgateRefusal.NotEligible, "the customer has had a trial of 'team'; a plan is tried once.", (Subscription?)null),
            (lost.Refusal, lost.Message, lost.Subscription));
        Assert.Single(await Db.Database.Subscriptions.ListByCustomerAsync(c, CancellationToken.None));
        Assert.Null(await Db.Database.Idempotency.GetAsync("scope", "k1", CancellationToken.None));
        Assert.Equal(40, await Credits(c));
    }

    [Fact]
    public async Task Rule_ASweepCountsOnlyTheTrialsItExpired_NotThoseAnotherSweepExpiredFirst()
    {
        var trial = (await Trials().StartAsync(NewCustomer(), "team")).Subscription!;
        var stale = new StaleSubscriptions(Db.Database.Subscriptions);
        var sweep = new TrialService(Catalog, Db.Database.Trials, stale, Subscriptions, Db.Database.Customers, Gate, Clock, Db.Database.Idempotency,
            Db.Database.Transactions, Emitted);
        Clock.Set(T0.AddDays(14));

        Assert.Equal(1, await sweep.ExpireEndedAsync());
        Assert.Equal(0, await sweep.ExpireEndedAsync()); // its list still shows the trial trialing: expired already, not counted
        Assert.Equal(SubscriptionStatus.Expired, (await Subscriptions.GetAsync(trial.Id, CancellationToken.None)).Status);
        Assert.Equal(2, stale.Lists);
    }

    [Fact]
    public async Task Rule_WithoutTransactions_ATrialIsStillWrittenWhole()
    {
        var c = NewCustomer();
        var trials = Trials(transactions: false);
        Emitted.InTransactionProbe = () => true; // no transaction to be in
        var outcome = await trials.StartAsync(c, "team");

        Assert.Equal(outcome.Subscription, await Subscriptions.GetAsync(outcome.Subscription!.Id, CancellationToken.None));
        Assert.NotNull(await Db.Database.Trials.FindAsync(c, "team", CancellationToken.None));
        Assert.Equal(40, await Credits(c));

        // With no transaction to roll back, an empty customer id is refused before anything is written.
        await Assert.ThrowsAsync<ArgumentException>(() => trials.StartAsync("", "team"));
        Assert.Null(await Db.Database.Trials.FindAsync("", "team", CancellationToken.None));
    }

    [Fact]
    public async Task Rule_TheSweep_MarksOwnTrialsExpiredFromTheirPeriodEndsExactInstant_NotProvidersTrialsNorRunningOnes()
    {
        var trials = Trials();
        var ended = (await trials.StartAsync(NewCustomer(), "team")).Subscription!;
        Clock.Advance(TimeSpan.FromDays(1));
        var running = (await trials.StartAsync(NewCustomer(), "team")).Subscription!;
        var providers = await Subscriptions.StartAsync(NewCustomer(), "team", Creem, "sub_1", null, SubscriptionStatus.Trialing, T0, T0.AddDays(14), T0);
        Emitted.Drain();

        Clock.Set(T0.AddDays(14).AddTicks(-1));
        Assert.Equal(0, await trials.ExpireEndedAsync());
        Clock.Set(T0.AddDays(14)); // the first trial's end, exactly
        Assert.Equal(1, await trials.ExpireEndedAsync());
        Assert.Equal(0, await trials.ExpireEndedAsync()); // once

        Assert.Equal(SubscriptionStatus.Expired, (await Subscriptions.GetAsync(ended.Id, CancellationToken.None)).Status);
        Assert.Equal(SubscriptionStatus.Trialing, (await Subscriptions.GetAsync(running.Id, CancellationToken.None)).Status);
        Assert.Equal(SubscriptionStatus.Trialing, (await Subscriptions.GetAsync(providers.Id, CancellationToken.None)).Status);
        var updated = Emitted.Drain().Single(e => e.Type == EventTypes.SubscriptionUpdated);
        Assert.Equal((ended.Id, "expired"), ((string)updated.Data["subscription_id"]!, (string)updated.Data["status"]!));
    }

    [Fact]
    public void Rule_DaysLeft_CountsUp_AndIsZeroOnceEnded_OrWithoutAnEnd()
    {
        var trial = new Subscription("sub_1", "c", "team", TrialService.Provider, null, null, SubscriptionStatus.Trialing, T0, T0.AddDays(14),
            false, null, null, null, T0, T0);

        Assert.Equal(14, TrialService.DaysLeft(trial, T0));
        Assert.Equal(2, TrialService.DaysLeft(trial, T0.AddDays(14).AddHours(-30)));
        Assert.Equal(1, TrialService.DaysLeft(trial, T0.AddDays(14).AddTicks(-1)));
        Assert.Equal(0, TrialService.DaysLeft(trial, T0.AddDays(14)));
        Assert.Equal(0, TrialService.DaysLeft(trial, T0.AddDays(15)));
        Assert.Equal(0, TrialService.DaysLeft(trial with { CurrentPeriodEnd = null }, T0));
        Assert.Throws<ArgumentNullException>(() => TrialService.DaysLeft(null!, T0));

        Assert.True(TrialService.IsOwnTrial(trial));
        Assert.False(TrialService.IsOwnTrial(trial with { ProviderSubscriptionId = "sub_x" }));
        Assert.False(TrialService.IsOwnTrial(trial with { Provider = Creem }));
    }

    /// <summary>The gate as the trial service's allowance writer, recording whom it was told to forget.</summary>
    private sealed class RecordingAllowances : IAllowanceWriter
    {
        public IAllowanceWriter Inner { get; set; } = null!;

        public List<string> Forgotten { get; } = [];

        public Task WriteDueAsync(string customerId, CancellationToken cancellationToken) => Inner.WriteDueAsync(customerId, cancellationToken);

        public void Forget(string customerId)
        {
            Forgotten.Add(customerId);
            Inner.Forget(customerId);
        }
    }

    /// <summary>The database's trials, whose first lookup misses what is recorded: a racing start recorded it just after.</summary>
    private sealed class LateTrials(ITrialStore inner) : ITrialStore
    {
        private int _lookups;

        public Task<bool> TryRecordAsync(TrialRecord trial, CancellationToken cancellationToken) => inner.TryRecordAsync(trial, cancellationToken);

        public Task<TrialRecord?> FindAsync(string customerId, string planId, CancellationToken cancellationToken) =>
            Interlocked.Increment(ref _lookups) == 1 ? Task.FromResult<TrialRecord?>(null) : inner.FindAsync(customerId, planId, cancellationToken);

        public Task<IReadOnlyList<TrialRecord>> ListByCustomerAsync(string customerId, CancellationToken cancellationToken) =>
            inner.ListByCustomerAsync(customerId, cancellationToken);
    }

    /// <summary>The database's subscriptions, whose trialing list is the one read first: another sweep changed them since.</summary>
    private sealed class StaleSubscriptions(ISubscriptionStore inner) : ISubscriptionStore
    {
        private IReadOnlyList<Subscription>? _first;

        public int Lists { get; private set; }

        public async Task<IReadOnlyList<Subscription>> ListByStatusAsync(SubscriptionStatus status, int limit, CancellationToken cancellationToken)
        {
            Lists++;
            return _first ??= await inner.ListByStatusAsync(status, limit, cancellationToken);
        }

        public Task<Subscription?> GetAsync(string subscriptionId, CancellationToken cancellationToken) => inner.GetAsync(subscriptionId, cancellationToken);

        public Task<Subscription?> FindByProviderIdAsync(string provider, string providerSubscriptionId, CancellationToken cancellationToken) =>
            inner.FindByProviderIdAsync(provider, providerSubscriptionId, cancellationToken);

        public Task<IReadOnlyList<Subscription>> ListByCustomerAsync(string customerId, CancellationToken cancellationToken) =>
            inner.ListByCustomerAsync(customerId, cancellationToken);

        public Task<bool> SaveAsync(Subscription subscription, CancellationToken cancellationToken) => inner.SaveAsync(subscription, cancellationToken);

        public Task<IReadOnlyList<(string PlanId, SubscriptionStatus Status, int Count)>> CountByPlanAsync(IReadOnlyCollection<SubscriptionStatus> statuses,
            CancellationToken cancellationToken) => inner.CountByPlanAsync(statuses, cancellationToken);
    }

    /// <summary>The database's idempotency keys, whose first lookup misses what is stored: a racing call stored it just after.</summary>
    private sealed class LateIdempotency(IIdempotencyStore inner) : IIdempotencyStore
    {
        private int _lookups;

        public Task<StoredResponse?> GetAsync(string scope, string key, CancellationToken cancellationToken) =>
            Interlocked.Increment(ref _lookups) == 1 ? Task.FromResult<StoredResponse?>(null) : inner.GetAsync(scope, key, cancellationToken);

        public Task<bool> TryStoreAsync(string scope, string key, StoredResponse response, DateTimeOffset now, CancellationToken cancellationToken) =>
            inner.TryStoreAsync(scope, key, response, now, cancellationToken);
    }
}

public sealed class SqliteTrialServiceRules : TrialServiceRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresTrialServiceRules : TrialServiceRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
