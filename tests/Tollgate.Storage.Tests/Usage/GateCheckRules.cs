using System.Data.Common;
using Tollgate.Core.Entitlements;
using Tollgate.Core.Subscriptions;
using Tollgate.Core.Usage;

namespace Tollgate.Storage.Tests.Usage;

/// <summary>
/// Rules of <c>Gate.CheckAsync</c>, <i>may this customer do X</i>, per feature type: who is allowed at the exact edge,
/// which refusal a customer gets (not entitled vs. used up), what the balance summary says, and that a database
/// failure answers "unavailable", never yes. Written for the `usage-gate` mutation slice, below the HTTP server
/// (docs/testing.md); run on SQLite and PostgreSQL. Each test names its rule.
/// </summary>
public abstract class GateCheckRules : GateTestBase
{
    private sealed class Source : IExternalAccessSource
    {
        public ExternalAccess Answer { get; set; } = ExternalAccess.Unknown;

        public Task<ExternalAccess> GetAsync(string customerId, CancellationToken cancellationToken) => Task.FromResult(Answer);
    }

    private readonly Source _external = new();

    protected override IExternalAccessSource? External => _external;

    [Fact]
    public async Task Rule_AFeatureTheCatalogDoesNotDefine_IsAnError()
    {
        var error = await Assert.ThrowsAsync<UnknownFeatureException>(() => Gate.CheckAsync(NewCustomer(), "teleport"));

        Assert.Equal("teleport", error.FeatureId);
        Assert.Equal("'teleport' is not a feature of the catalog.", error.Message);
    }

    [Fact]
    public async Task Rule_Credits_AllowedUpToExactlyTheAvailableBalance_OneMoreIsInsufficient()
    {
        var c = NewCustomer();
        await GrantCredits(c, 10);
        await Ledger.HoldAsync(new Core.Ledger.HoldRequest(c, "credits", 3, TimeSpan.FromMinutes(5), Key()));

        var exact = await Gate.CheckAsync(c, "credits", 7);
        var over = await Gate.CheckAsync(c, "credits", 8);

        Assert.Equal(new CheckResult(c, "credits", true, null, new BalanceSummary(7, 3, null, null, null)), exact);
        Assert.Equal(new CheckResult(c, "credits", false, TollgateRefusal.InsufficientBalance, new BalanceSummary(7, 3, null, null, null)), over);
    }

    [Fact]
    public async Task Rule_Metered_TheAllowanceFirst_ThenCreditsAtTheFeaturesCost_WholeUnitsOnly()
    {
        // Free plan: 3 messages a month; 5 credits at 2 a message cover 2 more (not 2.5).
        var c = NewCustomer();
        await GrantCredits(c, 5);

        var within = await Gate.CheckAsync(c, "ai_messages", 3);
        var spilled = await Gate.CheckAsync(c, "ai_messages", 5);
        var over = await Gate.CheckAsync(c, "ai_messages", 6);

        var monthEnd = new DateTimeOffset(2027, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var summary = new BalanceSummary(3, 0, 3, 0, monthEnd);
        Assert.Equal(new CheckResult(c, "ai_messages", true, null, summary), within);
        Assert.Equal(new CheckResult(c, "ai_messages", true, null, summary), spilled);
        Assert.Equal(new CheckResult(c, "ai_messages", false, TollgateRefusal.QuotaExceeded, summary), over);
    }

    [Fact]
    public async Task Rule_Metered_WithoutACreditCost_StopsAtTheAllowance_AndTheSummaryCountsWhatWasUsed()
    {
        var c = NewCustomer();
        await GrantCredits(c, 100); // credits do not help a feature without a credit cost
        Assert.True((await Gate.UseAsync(c, "reports", 1, Key())).Allowed);

        var last = await Gate.CheckAsync(c, "reports", 1);
        var over = await Gate.CheckAsync(c, "reports", 2);

        var summary = new BalanceSummary(1, 0, 2, 1, new DateTimeOffset(2027, 1, 1, 0, 0, 0, TimeSpan.Zero));
        Assert.Equal(new CheckResult(c, "reports", true, null, summary), last);
        Assert.Equal(new CheckResult(c, "reports", false, TollgateRefusal.QuotaExceeded, summary), over);
    }

    [Fact]
    public async Task Rule_Metered_NotInThePlan_AndWithoutACreditCost_IsNotEntitled_WithNoLimitInItsSummary()
    {
        // The pro plan leaves "reports" out, and it has no credit cost: nothing can pay for it.
        var c = NewCustomer();
        await Subscribe(c, "pro");
        await GrantCredits(c, 100);

        var reports = await Gate.CheckAsync(c, "reports", 1);

        Assert.Equal(new CheckResult(c, "reports", false, TollgateRefusal.NotEntitled, new BalanceSummary(0, 0, null, null, null)), reports);
    }

    [Fact]
    public async Task Rule_Count_AllowedWhileLevelPlusAmountStaysWithinTheLimit_ThenLimitReached_NotInThePlanIsNotEntitled()
    {
        var c = NewCustomer();
        Assert.True((await Gate.UseAsync(c, "projects", 1, Key())).Allowed);

        var exact = await Gate.CheckAsync(c, "projects", 1);
        var over = await Gate.CheckAsync(c, "projects", 2);

        Assert.Equal(new CheckResult(c, "projects", true, null, new BalanceSummary(1, 0, 2, 1, null)), exact);
        Assert.Equal(new CheckResult(c, "projects", false, TollgateRefusal.LimitReached, new BalanceSummary(1, 0, 2, 1, null)), over);
    }

    [Fact]
    public async Task Rule_Concurrency_AllowedWhileSlotsInUsePlusAmountStayWithinTheLimit_ThenConcurrencyLimit()
    {
        var c = NewCustomer();
        Assert.Null((await Gate.HoldAsync(c, "jobs", 1, null, Key())).Refusal);

        var exact = await Gate.CheckAsync(c, "jobs", 1);
        var over = await Gate.CheckAsync(c, "jobs", 2);

        Assert.Equal(new CheckResult(c, "jobs", true, null, new BalanceSummary(1, 1, 2, 1, null)), exact);
        Assert.Equal(new CheckResult(c, "jobs", false, TollgateRefusal.ConcurrencyLimit, new BalanceSummary(1, 1, 2, 1, null)), over);
    }

    [Fact]
    public async Task Rule_Boolean_ThePlanGrantsIt_OrTheExternalSourceSaysFeature_ElseNotEntitled()
    {
        var free = NewCustomer();
        var pro = NewCustomer();
        await Subscribe(pro, "pro");

        Assert.Equal(new CheckResult(pro, "hd_export", true, null, null), await Gate.CheckAsync(pro, "hd_export"));
        Assert.Equal(new CheckResult(free, "hd_export", false, TollgateRefusal.NotEntitled, null), await Gate.CheckAsync(free, "hd_export"));

        _external.Answer = new ExternalAccess(true, ["feature:hd_export"]);
        Assert.True((await Gate.CheckAsync(free, "hd_export")).Allowed);
        _external.Answer = new ExternalAccess(false, ["feature:hd_export"]); // unsure: ignored
        Assert.False((await Gate.CheckAsync(free, "hd_export")).Allowed);
        _external.Answer = new ExternalAccess(true, ["plan:pro", "hd_export"]); // only feature:* is taken
        Assert.False((await Gate.CheckAsync(free, "hd_export")).Allowed);
    }

    [Fact]
    public async Task Rule_Boolean_OfSeveralPlansHeld_OneThatGrantsItIsEnough()
    {
        var c = NewCustomer();
        await Subscribe(c, "pro");
        await Subscribe(c, "free"); // a second subscription, to a plan without the feature

        Assert.Equal(new CheckResult(c, "hd_export", true, null, null), await Gate.CheckAsync(c, "hd_export"));
    }
}

public sealed class SqliteGateCheckRules : GateCheckRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresGateCheckRules : GateCheckRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}

/// <summary>A database that fails under a check: the answer is no, "unavailable", whatever the failure is made of.</summary>
public abstract class GateUnavailableRules : GateTestBase
{
    private sealed class FailingSubscriptions(ISubscriptionStore inner) : ISubscriptionStore
    {
        public Exception? Failure { get; set; }

        public Task<Subscription?> GetAsync(string subscriptionId, CancellationToken cancellationToken) => inner.GetAsync(subscriptionId, cancellationToken);

        public Task<Subscription?> FindByProviderIdAsync(string provider, string providerSubscriptionId, CancellationToken cancellationToken) =>
            inner.FindByProviderIdAsync(provider, providerSubscriptionId, cancellationToken);

        public Task<IReadOnlyList<Subscription>> ListByCustomerAsync(string customerId, CancellationToken cancellationToken) =>
            Failure is { } failure ? Task.FromException<IReadOnlyList<Subscription>>(failure) : inner.ListByCustomerAsync(customerId, cancellationToken);

        public Task<bool> SaveAsync(Subscription subscription, CancellationToken cancellationToken) => inner.SaveAsync(subscription, cancellationToken);

        public Task<IReadOnlyList<Subscription>> ListByStatusAsync(SubscriptionStatus status, int limit, CancellationToken cancellationToken) =>
            inner.ListByStatusAsync(status, limit, cancellationToken);

        public Task<IReadOnlyList<(string PlanId, SubscriptionStatus Status, int Count)>> CountByPlanAsync(IReadOnlyCollection<SubscriptionStatus> statuses,
            CancellationToken cancellationToken) => inner.CountByPlanAsync(statuses, cancellationToken);
    }

    private sealed class BrokenDatabase() : DbException("the database went away");

    private FailingSubscriptions? _store;

    protected override ISubscriptionStore Subscriptions(ISubscriptionStore database) => _store = new FailingSubscriptions(database);

    public static TheoryData<string> Failures => ["database", "timeout", "socket", "io", "wrapped database"];

    [Theory]
    [MemberData(nameof(Failures))]
    public async Task Rule_ACheckThatCannotReadTheDatabase_AnswersUnavailable_NeverYes(string failure)
    {
        var c = NewCustomer();
        await GrantCredits(c, 10);
        _store!.Failure = failure switch
        {
            "database" => new BrokenDatabase(),
            "timeout" => new TimeoutException(),
            "socket" => new System.Net.Sockets.SocketException(),
            "io" => new IOException(),
            _ => new InvalidOperationException("a pool failed", new BrokenDatabase()),
        };

        var answer = await Gate.CheckAsync(c, "credits", 1);

        Assert.Equal(new CheckResult(c, "credits", false, TollgateRefusal.Unavailable, null), answer);
        Assert.Equal([(2004, $"Check for customer {c} could not read the database; answering unavailable")], Log.Lines);
    }

    [Fact]
    public async Task Rule_AFailureThatIsNotTheDatabases_IsNotHiddenAsUnavailable()
    {
        _store!.Failure = new InvalidOperationException("a bug");

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => Gate.CheckAsync(NewCustomer(), "credits", 1));

        Assert.Equal("a bug", error.Message);
        Assert.Empty(Log.Lines);
    }
}

public sealed class SqliteGateUnavailableRules : GateUnavailableRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}
