using Tollgate.Core.Ledger;
using Tollgate.Core.Usage;

namespace Tollgate.Storage.Tests.Usage;

/// <summary>
/// Rules of the gate that depend on the catalog's shape: a catalog without a default plan (a customer without a
/// subscription is entitled to nothing, and told so rather than "used up"), features a plan leaves out, and seats (a
/// count feature that members take when attached, up to the subscription's quantity). Run on SQLite and PostgreSQL.
/// Each test names its rule.
/// </summary>
public abstract class GateCatalogRules : GateTestBase
{
    private LostAcknowledgementStore? _store;

    protected override ILedgerStore Store(ILedgerStore database) => _store = new LostAcknowledgementStore(database);

    protected override string Yaml => """
        features:
          credits: { type: credits }
          reports: { type: metered }
          boards: { type: count }
          gpus: { type: concurrency }
          seats: { type: count, seats: true }
        plans:
          team:
            interval: month
            features:
              seats: {}
              boards: { limit: 2 }
              gpus: { limit: 1 }
              reports: { limit: 5, reset: month }
        """;

    [Fact]
    public async Task Rule_WithoutADefaultPlan_ACustomerWithoutASubscriptionIsNotEntitled_ToAnyFeatureItsPlanWouldGive()
    {
        var c = NewCustomer();

        Assert.Equal(new CheckResult(c, "reports", false, TollgateRefusal.NotEntitled, new BalanceSummary(0, 0, null, null, null)),
            await Gate.CheckAsync(c, "reports"));
        Assert.Equal(new CheckResult(c, "boards", false, TollgateRefusal.NotEntitled, new BalanceSummary(0, 0, 0, 0, null)),
            await Gate.CheckAsync(c, "boards"));
        Assert.Equal(new CheckResult(c, "gpus", false, TollgateRefusal.NotEntitled, new BalanceSummary(0, 0, 0, 0, null)),
            await Gate.CheckAsync(c, "gpus"));

        Assert.Equal(new UsageResult("boards", false, 0, null, TollgateRefusal.NotEntitled, "boards is at 0 of 0"), await Gate.UseAsync(c, "boards", 1, Key()));
        Assert.Equal(new UsageResult("reports", false, 0, null, TollgateRefusal.NotEntitled, "reports is not included in the customer's plan"),
            await Gate.UseAsync(c, "reports", 1, Key()));
        Assert.Equal(new HoldOutcome(null, "gpus", 1, null, TollgateRefusal.NotEntitled, "gpus is not included in the customer's plan"),
            await Gate.HoldAsync(c, "gpus", 1, null, Key()));
        Assert.Empty((await Ledger.GetEntriesAsync(c, null, 10)).Entries);
    }

    [Fact]
    public async Task Rule_WithThePlan_TheSameFeaturesAreRefusedForTheirLimit_NotForEntitlement_AndARefusedCountSaysTheRoomLeft()
    {
        var c = NewCustomer();
        await Subscribe(c, "team");

        Assert.True((await Gate.UseAsync(c, "boards", 1, Key())).Allowed);
        // Two more do not fit; one does: the refusal says so.
        Assert.Equal(new UsageResult("boards", false, 1, null, TollgateRefusal.LimitReached, "boards is at 1 of 2"), await Gate.UseAsync(c, "boards", 2, Key()));
        Assert.Equal(new CheckResult(c, "boards", false, TollgateRefusal.LimitReached, new BalanceSummary(1, 0, 2, 1, null)), await Gate.CheckAsync(c, "boards", 2));

        Assert.True((await Gate.HoldAsync(c, "gpus", 1, null, Key())).Refusal is null);
        Assert.Equal(new CheckResult(c, "gpus", false, TollgateRefusal.ConcurrencyLimit, new BalanceSummary(0, 1, 1, 1, null)), await Gate.CheckAsync(c, "gpus"));
        Assert.Equal(TollgateRefusal.ConcurrencyLimit, (await Gate.HoldAsync(c, "gpus", 1, null, Key())).Refusal);

        var reports = await Gate.CheckAsync(c, "reports", 6);
        Assert.Equal((false, TollgateRefusal.QuotaExceeded), (reports.Allowed, reports.Reason));
        Assert.Equal(new BalanceSummary(5, 0, 5, 0, Clock.GetUtcNow().AddMonths(1)), reports.Balance);
    }

    [Fact]
    public async Task Rule_SeatsAreNotUsedDirectly_AMemberTakesOneWhenAttached()
    {
        var c = NewCustomer();
        await Subscribe(c, "team");

        Assert.Equal(new UsageResult("seats", false, 0, null, TollgateRefusal.InvalidRequest,
            "seats counts seats: a member takes one when it is attached (PUT /v1/customers/{id} with billing_customer_id)"),
            await Gate.UseAsync(c, "seats", 1, Key()));
        Assert.Empty((await Ledger.GetEntriesAsync(c, null, 10)).Entries);
    }

    [Fact]
    public async Task Rule_AMemberTakesASeatOfItsBillingCustomer_UpToTheSubscriptionsQuantity_AndTheRefusalCountsThem()
    {
        var c = NewCustomer();
        await Subscribe(c, "team", quantity: 1);

        var taken = await Gate.SeatAsync(c, "m1", +1);
        Assert.Equal(("seats", true, 0L, (TollgateRefusal?)null), (taken!.Feature, taken.Allowed, taken.Remaining, taken.Refusal));
        var entry = Assert.Single((await Ledger.GetEntriesAsync(c, "seats", 10)).Entries);
        Assert.Equal((taken.EntryId, EntryType.Count, "m1"), (entry.EntryId, entry.Type, entry.MemberId));
        Assert.StartsWith("seat:take:m1:", entry.OperationKey);

        Assert.Equal(new UsageResult("seats", false, 0, null, TollgateRefusal.LimitReached,
            $"{c} has 1 seat and 1 taken; raise the subscription's quantity first"), await Gate.SeatAsync(c, "m2", +1));

        var d = NewCustomer();
        await Subscribe(d, "team", quantity: 2);
        Assert.True((await Gate.SeatAsync(d, "m1", +1))!.Allowed);
        // The key is new each time: the same member attached again (after a detach the flow did not see) takes a seat.
        Assert.Equal(0, (await Gate.SeatAsync(d, "m1", +1))!.Remaining);
        Assert.Equal(new UsageResult("seats", false, 0, null, TollgateRefusal.LimitReached,
            $"{d} has 2 seats and 2 taken; raise the subscription's quantity first"), await Gate.SeatAsync(d, "m3", +1));
    }

    [Fact]
    public async Task Rule_ACustomerWhosePlanHasNoSeats_IsRefusedSayingSo()
    {
        var c = NewCustomer();
        Assert.Equal(new UsageResult("seats", false, 0, null, TollgateRefusal.LimitReached, $"{c}'s plan has no seats (seats)"),
            await Gate.SeatAsync(c, "m1", +1));
        Assert.Empty((await Ledger.GetEntriesAsync(c, null, 10)).Entries);
    }

    [Fact]
    public async Task Rule_ADetachedMemberFreesItsSeat_AndASeatFreedBelowZeroWritesNothing()
    {
        var c = NewCustomer();
        await Subscribe(c, "team", quantity: 2);
        await Gate.SeatAsync(c, "m1", +1);

        var freed = await Gate.SeatAsync(c, "m1", -1);
        Assert.Equal((true, 2L, (TollgateRefusal?)null), (freed!.Allowed, freed.Remaining, freed.Refusal));
        var entries = (await Ledger.GetEntriesAsync(c, "seats", 10)).Entries;
        Assert.StartsWith("seat:free:m1:", Assert.Single(entries, e => e.EntryId == freed.EntryId).OperationKey);

        // A member attached before the catalog counted seats, detached now: nothing to free, nothing written.
        Assert.Equal(new UsageResult("seats", true, 0, null, null, null), await Gate.SeatAsync(c, "m0", -1));
        Assert.Equal(2, (await Ledger.GetEntriesAsync(c, "seats", 10)).Entries.Count);
        Assert.Equal(0, (await Ledger.GetBalancesAsync(c)).Counter("seats"));
    }

    [Fact]
    public async Task Rule_ASeatWhoseOutcomeIsUnknown_FailsTheAttach_AndTheNextAnswerReadsWhatWasCommitted()
    {
        var c = NewCustomer();
        await Subscribe(c, "team", quantity: 1);
        Gate.CacheEnabled = true;
        Assert.True((await Gate.CheckAsync(c, "seats")).Allowed); // cached: a seat free

        await _store!.LoseNextAcknowledgement(() => Gate.SeatAsync(c, "m1", +1));

        Assert.Equal(new CheckResult(c, "seats", false, TollgateRefusal.LimitReached, new BalanceSummary(0, 0, 1, 1, null)), await Gate.CheckAsync(c, "seats"));
    }

    private async Task Subscribe(string customer, string plan, long quantity)
    {
        await Subscribe(customer, plan);
        var subscription = Assert.Single(await Db.Database.Subscriptions.ListByCustomerAsync(customer, CancellationToken.None));
        await Db.Database.Subscriptions.SaveAsync(subscription with { Quantity = quantity }, CancellationToken.None);
        Gate.Invalidate(customer);
    }
}

public sealed class SqliteGateCatalogRules : GateCatalogRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresGateCatalogRules : GateCatalogRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
