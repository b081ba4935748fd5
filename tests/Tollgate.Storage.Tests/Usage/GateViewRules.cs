using Tollgate.Core.Catalog;
using Tollgate.Core.Entitlements;
using Tollgate.Core.Ledger;
using Tollgate.Core.Subscriptions;
using Tollgate.Core.Usage;
using Tollgate.Testing;

namespace Tollgate.Storage.Tests.Usage;

/// <summary>
/// Rules of what the gate shows and how long it trusts what it cached: the balances of each feature type and the usage
/// per day or month; views dropped by <see cref="Gate.Invalidate"/> (all three), <see cref="Gate.InvalidateLedger"/>
/// (the ledger only) and <see cref="Gate.InvalidateAll"/>, kept at most their lifetime, not kept with the cache off,
/// nor inside a flow's transaction; what the plan owes written with the next write (the default plan's allowance
/// retired under a subscription, credits rolled over at a renewal), named before it is written; an external source that
/// adds only <c>feature:*</c>, fails closed and is logged; the gate's metrics. Each test names its rule. Run on SQLite and
/// PostgreSQL.
/// </summary>
public abstract class GateViewRules : GateTestBase
{
    private readonly Source _external = new();

    // The metrics are the process's: a feature of this instance's own name tells its measurements from other tests'.
    private readonly string _probe = "probe_" + Guid.NewGuid().ToString("N")[..8];

    protected override IExternalAccessSource? External => _external;

    protected override bool WithMembers => true;

    /// <summary>The base catalog with the pro plan's credits rolling over (up to 30), a <c>lite</c> plan giving only
    /// <c>hd_export</c>, and this instance's metered probe feature.</summary>
    protected override string Yaml => CatalogYaml
        .Replace("  gpus: { type: concurrency }\n", $"  gpus: {{ type: concurrency }}\n  {_probe}: {{ type: metered }}\n", StringComparison.Ordinal)
        .Replace("      jobs: { limit: 2 }\n", $"      jobs: {{ limit: 2 }}\n      {_probe}: {{ limit: 1, reset: month }}\n", StringComparison.Ordinal)
        .Replace("credits: { grant: 10, reset: month }", "credits: { grant: 10, reset: month, rollover: { max: 30 } }", StringComparison.Ordinal)
        + """

          lite:
            interval: month
            price: { amount: 500, currency: USD }
            features:
              hd_export: true
        """;

    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>A subscription saved straight to the database, as another server would: this gate is not told.</summary>
    private async Task<Subscription> SaveElsewhere(string customer, string plan, SubscriptionStatus status = SubscriptionStatus.Active,
        DateTimeOffset? start = null)
    {
        var from = start ?? Clock.GetUtcNow();
        var subscription = new Subscription("sub_" + Guid.NewGuid().ToString("N")[..12], customer, plan, "sandbox", null, null,
            status, from, from.AddMonths(1), false, null, null, from, from, from);
        await Db.Database.Subscriptions.SaveAsync(subscription, CancellationToken.None);
        return subscription;
    }

    private async Task<bool> HasHdExport(string customer) => (await Gate.CheckAsync(customer, "hd_export")).Allowed;

    [Fact]
    public async Task Rule_Balances_ShowEveryNonBooleanFeature_AsItsTypeCountsIt()
    {
        var c = NewCustomer();
        await GrantCredits(c, 5);
        Assert.True((await Gate.UseAsync(c, "ai_messages", 1, Key())).Allowed);
        Assert.True((await Gate.UseAsync(c, "projects", 1, Key())).Allowed);
        Assert.True((await Gate.HoldAsync(c, "jobs", 1, null, Key())).HoldId is not null);

        var views = (await Gate.BalancesAsync(c)).ToDictionary(v => v.Feature);

        Assert.Equal(["credits", "ai_messages", "reports", "projects", "jobs", "gpus", _probe], (await Gate.BalancesAsync(c)).Select(v => v.Feature));
        var credits = views["credits"];
        Assert.Equal(("credits", 5L, 0L, 0L, (long?)null, (long?)null), (credits.Type, credits.Available, credits.Held, credits.Debt, credits.Limit, credits.Used));
        var messages = views["ai_messages"];
        Assert.Equal(("metered", 2L, (long?)3, (long?)1, (DateTimeOffset?)T0.AddMonths(1)),
            (messages.Type, messages.Available, messages.Limit, messages.Used, messages.ResetsAt));
        Assert.Equal(new FeatureBalanceView("projects", "count", 1, 0, 0, 2, 1, null, []), views["projects"] with { Lots = [] });
        Assert.Empty(views["projects"].Lots);
        Assert.Equal(new FeatureBalanceView("jobs", "concurrency", 1, 1, 0, 2, 1, null, []), views["jobs"] with { Lots = [] });
        Assert.Equal(new FeatureBalanceView("gpus", "concurrency", 0, 0, 0, 0, 0, null, []), views["gpus"] with { Lots = [] });

        // A count under a seats-less plan that lowered its limit below the level shows nothing available, never less.
        await Subscribe(c, "lite");
        var lite = (await Gate.BalancesAsync(c)).ToDictionary(v => v.Feature);
        Assert.Equal((0L, (long?)0, (long?)1), (lite["projects"].Available, lite["projects"].Limit, lite["projects"].Used));
        Assert.Equal((0L, (long?)0), (lite["jobs"].Available, lite["jobs"].Limit));
    }

    [Fact]
    public async Task Rule_Stats_CountUsagePerUtcDayOrMonth_WithThePlansLimit_OrItsGrant()
    {
        var c = NewCustomer();
        Clock.Advance(TimeSpan.FromHours(13)); // after the stats' start, which is not a day's
        Assert.True((await Gate.UseAsync(c, "ai_messages", 2, Key())).Allowed);
        Clock.Advance(TimeSpan.FromDays(2).Add(TimeSpan.FromHours(10)));
        Assert.True((await Gate.UseAsync(c, "ai_messages", 1, Key())).Allowed);

        var days = await Gate.StatsAsync(c, "ai_messages", ResetInterval.Day, T0.AddHours(12), T0.AddDays(4));
        Assert.Equal(("ai_messages", "day", T0.AddHours(12), T0.AddDays(4), (long?)3), (days.Feature, days.Bucket, days.From, days.To, days.Limit));
        Assert.Equal([new(T0, T0.AddDays(1), 2), new(T0.AddDays(1), T0.AddDays(2), 0), new(T0.AddDays(2), T0.AddDays(3), 1), new(T0.AddDays(3), T0.AddDays(4), 0)],
            days.Buckets);

        var months = await Gate.StatsAsync(c, "ai_messages", ResetInterval.Month, T0.AddDays(-10), T0.AddDays(10));
        Assert.Equal([new(T0.AddMonths(-1), T0, 0), new(T0, T0.AddMonths(1), 3)], months.Buckets);

        await Subscribe(c, "pro");
        Assert.Equal(10, (await Gate.StatsAsync(c, "credits", ResetInterval.Month, T0, T0.AddDays(1))).Limit); // a grant, not a limit
        Assert.Null((await Gate.StatsAsync(c, "reports", ResetInterval.Month, T0, T0.AddDays(1))).Limit); // not in the plan

        Assert.Equal("Buckets are days or months. (Parameter 'bucket')\nActual value was Week.",
            (await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Gate.StatsAsync(c, "ai_messages", ResetInterval.Week, T0, T0.AddDays(1)))).Message);
        await Assert.ThrowsAsync<UnknownFeatureException>(() => Gate.StatsAsync(c, "gold", ResetInterval.Day, T0, T0.AddDays(1)));
    }

    [Fact]
    public async Task Rule_InvalidateDropsAllOfACustomersViews_InvalidateLedgerOnlyTheLedgers()
    {
        var c = NewCustomer();
        Assert.False(await HasHdExport(c)); // cached: free
        Assert.Equal(0, (await Gate.CheckAsync(c, "credits")).Balance!.Available);

        await SaveElsewhere(c, "pro");
        await using (var elsewhere = new LedgerEngine(Db.Database.Ledger, Clock, new LedgerOptions { Lanes = 1 }))
        {
            Assert.True((await elsewhere.GrantAsync(new GrantRequest(c, "credits", 7, LotSource.Payment, Key()))).Succeeded);
        }

        Assert.False(await HasHdExport(c)); // neither write was told to this gate
        Gate.InvalidateLedger(c);
        Assert.False(await HasHdExport(c)); // the plan is still the cached one
        Assert.Equal(7, (await Gate.CheckAsync(c, "credits")).Balance!.Available);

        Gate.Invalidate(c);
        Assert.True(await HasHdExport(c));
        // The pro plan's 10 credits, shown as they will be written, beside the 7.
        Assert.Equal(17, (await Gate.CheckAsync(c, "credits")).Balance!.Available);

        // Invalidate alone drops the ledger's view too.
        await using (var elsewhere = new LedgerEngine(Db.Database.Ledger, Clock, new LedgerOptions { Lanes = 1 }))
        {
            Assert.True((await elsewhere.GrantAsync(new GrantRequest(c, "credits", 3, LotSource.Payment, Key()))).Succeeded);
        }

        Assert.Equal(17, (await Gate.CheckAsync(c, "credits")).Balance!.Available);
        Gate.Invalidate(c);
        Assert.Equal(20, (await Gate.CheckAsync(c, "credits")).Balance!.Available);

        // A member's billing link is a view too.
        var organization = NewCustomer();
        await Db.Database.Customers.UpsertAsync(organization, null, null, null, T0, CancellationToken.None);
        Assert.Equal((c, (string?)null), await Gate.PayerAsync(c));
        await Db.Database.Customers.SetBillingCustomerAsync(c, organization, T0, CancellationToken.None);
        Assert.Equal((c, (string?)null), await Gate.PayerAsync(c));
        Gate.Invalidate(c);
        Assert.Equal((organization, (string?)c), await Gate.PayerAsync(c));
    }

    [Fact]
    public async Task Rule_InvalidateAll_DropsEveryCustomersViews_AndWithTheCacheOff_EveryReadIsTheDatabases()
    {
        var c = NewCustomer();
        var d = NewCustomer();
        var organization = NewCustomer();
        await Db.Database.Customers.UpsertAsync(organization, null, null, null, T0, CancellationToken.None);
        await Db.Database.Customers.UpsertAsync(c, null, null, null, T0, CancellationToken.None);
        Assert.False(await HasHdExport(c));
        Assert.Equal(0, (await Gate.CheckAsync(d, "credits")).Balance!.Available);
        Assert.Equal((c, (string?)null), await Gate.PayerAsync(c));

        await SaveElsewhere(c, "pro");
        await Db.Database.Customers.SetBillingCustomerAsync(c, organization, T0, CancellationToken.None);
        await using (var elsewhere = new LedgerEngine(Db.Database.Ledger, Clock, new LedgerOptions { Lanes = 1 }))
        {
            Assert.True((await elsewhere.GrantAsync(new GrantRequest(d, "credits", 7, LotSource.Payment, Key()))).Succeeded);
        }

        Gate.InvalidateAll();
        Assert.Equal((organization, (string?)c), await Gate.PayerAsync(c));
        Assert.Equal(7, (await Gate.CheckAsync(d, "credits")).Balance!.Available);
        Assert.Contains("feature:hd_export", await Gate.CapabilitiesAsync(c)); // its own plan, unioned

        Assert.True(Gate.CacheEnabled);
        Gate.CacheEnabled = false;
        Assert.False(Gate.CacheEnabled);
        var e = NewCustomer();
        Assert.False(await HasHdExport(e));
        await SaveElsewhere(e, "pro");
        Assert.True(await HasHdExport(e)); // not cached
        Gate.CacheEnabled = true;
        Assert.True(await HasHdExport(e));
    }

    [Fact]
    public async Task Rule_ACachedView_IsTrustedForItsLifetimeAtMost()
    {
        var c = NewCustomer();
        Assert.False(await HasHdExport(c));
        await SaveElsewhere(c, "pro");

        Clock.Advance(TimeSpan.FromSeconds(30) - TimeSpan.FromTicks(1));
        Assert.False(await HasHdExport(c));
        Clock.Advance(TimeSpan.FromTicks(1)); // the default lifetime, 30 s, exactly
        Assert.True(await HasHdExport(c));

        // Options given are the gate's: a shorter lifetime, and a past-due subscription without access.
        await using var ledger = new LedgerEngine(Db.Database.Ledger, Clock, new LedgerOptions { Lanes = 1 }); // one gate per ledger
        var log = new Tollgate.Testing.ListLogger<Gate>();
        var gate = new Gate(Catalog, ledger, Db.Database.Subscriptions, Clock,
            new GateOptions { CacheLifetime = TimeSpan.FromSeconds(5), PastDueKeepsAccess = false }, logger: log, customers: Db.Database.Customers);
        var d = NewCustomer();
        await Db.Database.Customers.UpsertAsync(d, null, null, null, T0, CancellationToken.None);
        Assert.False((await gate.CheckAsync(d, "hd_export")).Allowed);
        Assert.Equal((d, (string?)null), await gate.PayerAsync(d));
        await SaveElsewhere(d, "pro");
        var organization = NewCustomer();
        await Db.Database.Customers.UpsertAsync(organization, null, null, null, T0, CancellationToken.None);
        await Db.Database.Customers.SetBillingCustomerAsync(d, organization, T0, CancellationToken.None);
        Clock.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal((organization, (string?)d), await gate.PayerAsync(d)); // the billing link's view lives as long
        Assert.Contains("plan:pro", await gate.CapabilitiesAsync(d)); // and the subscriptions'

        var e = NewCustomer();
        await SaveElsewhere(e, "pro", SubscriptionStatus.PastDue);
        Assert.DoesNotContain("plan:pro", await gate.CapabilitiesAsync(e)); // past due: no access with these options
        Assert.Contains("plan:pro", await Gate.CapabilitiesAsync(e)); // the default options keep it until the period ends
        Assert.Empty(log.Lines); // without an external source there is nothing to ask, nor to fail
    }

    [Fact]
    public async Task Rule_InsideAFlowsTransaction_ViewsAreReadFromTheDatabase_SeeingItsWrites_AndNothingReadIsCached()
    {
        var c = NewCustomer();
        var organization = NewCustomer();
        await Db.Database.Customers.UpsertAsync(organization, null, null, null, T0, CancellationToken.None);
        await Db.Database.Customers.UpsertAsync(c, null, null, null, T0, CancellationToken.None);
        Assert.False(await HasHdExport(c));
        Assert.Equal((c, (string?)null), await Gate.PayerAsync(c));
        Assert.Equal(0, (await Gate.CheckAsync(organization, "credits")).Balance!.Available); // cached: none
        await using (var elsewhere = new LedgerEngine(Db.Database.Ledger, Clock, new LedgerOptions { Lanes = 1 }))
        {
            Assert.True((await elsewhere.GrantAsync(new GrantRequest(organization, "credits", 5, LotSource.Payment, Key()))).Succeeded);
        }

        await using (Db.Database.Transactions.Begin())
        {
            await SaveElsewhere(c, "pro");
            await Db.Database.Customers.SetBillingCustomerAsync(c, organization, T0, CancellationToken.None);
            Assert.Equal((organization, (string?)c), await Gate.PayerAsync(c));
            Assert.Contains("plan:pro", await Gate.CapabilitiesAsync(c));
            Assert.True(await HasHdExport(c)); // its own plan, in the transaction
            // The ledger is read from the database, not from the cached view (which missed another server's grant).
            Assert.Equal(5, (await Gate.CheckAsync(organization, "credits")).Balance!.Available);
        } // rolled back

        Assert.Equal(0, (await Gate.CheckAsync(organization, "credits")).Balance!.Available); // what was read in it was not cached

        Assert.Equal((c, (string?)null), await Gate.PayerAsync(c));
        Assert.False(await HasHdExport(c));
        Gate.Invalidate(c);
        Assert.False(await HasHdExport(c));
    }

    [Fact]
    public async Task Rule_UnderASubscription_TheDefaultPlansAllowanceIsRetired_WithTheFirstWrite_EvenWithNothingToGrant()
    {
        var c = NewCustomer();
        Assert.True((await Gate.UseAsync(c, "ai_messages", 1, Key())).Allowed); // the free month's 3 written, 2 left

        await Subscribe(c, "lite"); // grants nothing
        Assert.True((await Gate.GrantAsync(c, "credits", 1, null, "a write", Key())).LotId is not null); // it carries what the plan owes
        Assert.Equal(0, (await Ledger.GetBalancesAsync(c)).For("ai_messages").Available);

        var d = NewCustomer();
        Assert.True((await Gate.UseAsync(d, "ai_messages", 1, Key())).Allowed);
        await Subscribe(d, "pro");
        Assert.Equal(100, (await Gate.CheckAsync(d, "ai_messages")).Balance!.Available); // not 102
        Assert.True((await Gate.UseAsync(d, "ai_messages", 1, Key())).Allowed);
        var lot = Assert.Single((await Ledger.GetBalancesAsync(d)).For("ai_messages").Lots);
        Assert.Equal((99L, (DateTimeOffset?)T0.AddMonths(1), LotSource.SubscriptionPeriod), (lot.Remaining, lot.ExpiresAt, lot.Source));
    }

    [Fact]
    public async Task Rule_AnAllowanceIsNamedBeforeItIsWritten_ByTheLotItWillBe()
    {
        var c = NewCustomer();
        await Subscribe(c, "pro");

        var shown = Assert.Single((await Gate.BalancesAsync(c)).Single(v => v.Feature == "credits").Lots);
        Assert.True((await Gate.UseAsync(c, "credits", 1, Key())).Allowed);
        var written = Assert.Single((await Ledger.GetBalancesAsync(c)).For("credits").Lots);

        Assert.StartsWith("lot_", shown.LotId, StringComparison.Ordinal);
        Assert.Equal(shown.LotId, written.LotId);
        Assert.Equal((10L, 9L, (DateTimeOffset?)T0.AddMonths(1)), (written.Amount, written.Remaining, written.ExpiresAt));
        var entry = (await Ledger.GetEntriesAsync(c, "credits", 10)).Entries.Single(e => e.Amount == 10);
        Assert.Equal("plan pro", entry.Reference);
    }

    [Fact]
    public async Task Rule_ARenewal_RollsTheUnusedCreditsOver_UpToTheMax_WithTheNextWrite()
    {
        var c = NewCustomer();
        var subscription = await SaveElsewhere(c, "pro");
        Gate.Invalidate(c);
        Assert.True((await Gate.UseAsync(c, "credits", 4, Key())).Allowed); // 6 of the month's 10 left

        var next = T0.AddMonths(1);
        Clock.Set(next);
        await Db.Database.Subscriptions.SaveAsync(subscription with { CurrentPeriodStart = next, CurrentPeriodEnd = next.AddMonths(1), UpdatedAt = next },
            CancellationToken.None);
        Gate.Invalidate(c);

        Assert.Equal(16, (await Gate.CheckAsync(c, "credits")).Balance!.Available);
        Assert.True((await Gate.UseAsync(c, "credits", 1, Key())).Allowed);
        Assert.Equal(15, (await Ledger.GetBalancesAsync(c)).For("credits").Available);
        var carried = (await Ledger.GetEntriesAsync(c, "credits", 10)).Entries.Single(e => e.Reference == "rollover, plan pro");
        Assert.Equal(6, carried.Amount);
    }

    [Fact]
    public async Task Rule_AMembersKey_NeverMeetsItsOrganizationsKeys_HoweverTheyAreSpelt()
    {
        var organization = NewCustomer();
        var member = NewCustomer();
        await Db.Database.Customers.UpsertAsync(organization, null, null, null, T0, CancellationToken.None);
        await Db.Database.Customers.UpsertAsync(member, null, null, null, T0, CancellationToken.None);
        await Db.Database.Customers.SetBillingCustomerAsync(member, organization, T0, CancellationToken.None);
        await GrantCredits(organization, 10);

        var own = await Gate.UseAsync(organization, "credits", 1, "k" + member);
        var members = await Gate.UseAsync(member, "credits", 2, "k");

        Assert.False(members.Replayed);
        Assert.NotEqual(own.EntryId, members.EntryId);
        Assert.Equal(7, (await Ledger.GetBalancesAsync(organization)).For("credits").Available);
    }

    [Fact]
    public async Task Rule_AnExternalSource_AddsOnlyFeatureCapabilities_AndAnyDoubtOrFailureAddsNothing_Logged()
    {
        var c = NewCustomer();
        var plan = (await Gate.PlanAsync(c))!.Capabilities(Catalog).Order(StringComparer.Ordinal).ToList();
        _external.Answer = new ExternalAccess(true, ["feature:beta"]);
        Assert.Equal([.. plan.Append("feature:beta").Order(StringComparer.Ordinal)], await Gate.CapabilitiesAsync(c));
        Assert.Empty(Log.Lines);

        _external.Answer = new ExternalAccess(true, ["feature:beta", "plan:pro", "admin"]);
        Assert.Equal([.. plan.Append("feature:beta").Order(StringComparer.Ordinal)], await Gate.CapabilitiesAsync(c));
        Assert.Equal((2003, $"External access source claimed plan:pro, admin for customer {c}; only feature:* capabilities are taken"), Assert.Single(Log.Lines));

        Log.Lines.Clear();
        _external.Answer = new ExternalAccess(false, ["feature:beta"]);
        Assert.Equal(plan, await Gate.CapabilitiesAsync(c));
        Assert.Equal((2002, $"External access source was unsure about customer {c}; its answer is ignored"), Assert.Single(Log.Lines));

        Log.Lines.Clear();
        _external.Failure = new InvalidOperationException("down");
        Assert.Equal(plan, await Gate.CapabilitiesAsync(c));
        Assert.Equal(2001, Assert.Single(Log.Lines).Id);

        // A source that does not answer in time: its own token is cancelled, and it grants nothing.
        Log.Lines.Clear();
        _external.Failure = null;
        _external.Hang = true;
        Assert.Equal(plan, await Gate.CapabilitiesAsync(c));
        await _external.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(2001, Assert.Single(Log.Lines).Id);

        // The caller giving up is not a failure of the source: it is the caller's cancellation.
        Log.Lines.Clear();
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
        _external.Hang = true;
        await using var ledger = new LedgerEngine(Db.Database.Ledger, Clock, new LedgerOptions { Lanes = 1 }); // one gate per ledger
        var gate = new Gate(Catalog, ledger, Db.Database.Subscriptions, Clock, new GateOptions { ExternalAccessTimeout = TimeSpan.FromMinutes(5) },
            _external, Log);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gate.CapabilitiesAsync(c, cancel.Token));
        Assert.Empty(Log.Lines);
    }

    [Fact]
    public async Task Rule_AMembersCapabilities_IncludeWhatTheSourceSaysOfItsOrganization()
    {
        var organization = NewCustomer();
        var member = NewCustomer();
        await Db.Database.Customers.UpsertAsync(organization, null, null, null, T0, CancellationToken.None);
        await Db.Database.Customers.UpsertAsync(member, null, null, null, T0, CancellationToken.None);
        await Db.Database.Customers.SetBillingCustomerAsync(member, organization, T0, CancellationToken.None);
        _external.For = id => id == organization ? new ExternalAccess(true, ["feature:org_beta"]) : new ExternalAccess(true, ["feature:own_beta"]);

        var plan = (await Gate.PlanAsync(member))!.Capabilities(Catalog);
        Assert.Equal([.. plan.Concat(["feature:org_beta", "feature:own_beta"]).Order(StringComparer.Ordinal)], await Gate.CapabilitiesAsync(member));
    }

    [Fact]
    public async Task Rule_TheGatesMetrics_CountChecksAndUsageByFeatureAndOutcome()
    {
        using var metrics = new MetricRecorder(GateTelemetry.Name, m => m.Tag("feature") == _probe);

        var c = NewCustomer();
        await Gate.CheckAsync(c, _probe);
        await Gate.UseAsync(c, _probe, 1, Key());
        await Gate.UseAsync(c, _probe, 1, Key());
        await Gate.CheckAsync(c, _probe);

        Assert.All(metrics.Measurements, m => Assert.Equal(1, m.Value));
        Assert.Equal([("tollgate.gate.checks", _probe, "allowed"), ("tollgate.gate.usage", _probe, "charged"), ("tollgate.gate.usage", _probe, "quota_exceeded"),
            ("tollgate.gate.checks", _probe, "quota_exceeded")], metrics.Measurements.Select(m => (m.Instrument, m.Tag("feature")!, m.Tag("outcome")!)));
        Assert.Contains(("tollgate.gate.checks", "{check}", "Answers of POST /v1/check by feature and outcome (allowed, or the refusal)"), metrics.Instruments);
        Assert.Contains(("tollgate.gate.usage", "{call}", "Usage calls by feature and outcome (charged, or the refusal)"), metrics.Instruments);
        Assert.Contains(("tollgate.gate.cache", "{lookup}", "Lookups of a customer's cached view, by result (hit or miss)"), metrics.Instruments);
    }

    /// <summary>An outside source of capabilities: an answer, a failure, or no answer until cancelled.</summary>
    private sealed class Source : IExternalAccessSource
    {
        public ExternalAccess Answer { get; set; } = ExternalAccess.Unknown;

        public Func<string, ExternalAccess>? For { get; set; }

        public Exception? Failure { get; set; }

        public bool Hang { get; set; }

        public TaskCompletionSource Cancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task<ExternalAccess> GetAsync(string customerId, CancellationToken cancellationToken)
        {
            if (Failure is not null)
            {
                throw Failure;
            }

            if (Hang)
            {
                try
                {
                    await Task.Delay(Timeout.Infinite, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    Cancelled.TrySetResult();
                    throw;
                }
            }

            return For?.Invoke(customerId) ?? Answer;
        }
    }
}

public sealed class SqliteGateViewRules : GateViewRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresGateViewRules : GateViewRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}

/// <summary>The rules again on PostgreSQL with one pooled connection, which a flow holds from its first statement to its
/// commit: a view read inside the flow (the ledger's state, a subscription) that took a connection of its own would wait
/// for the pool until its timeout and fail. Tollgate's default pool is small (TollgateDatabase.DefaultPostgresPoolSize), and
/// with every connection held by flows waiting for a second one, none would come.</summary>
public sealed class PostgresGateViewRulesOnOneConnection : GateViewRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;

    protected override bool OnePooledConnection => true;
}
