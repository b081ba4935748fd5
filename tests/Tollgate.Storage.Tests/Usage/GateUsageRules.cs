using Tollgate.Core.Ledger;
using Tollgate.Core.Usage;

namespace Tollgate.Storage.Tests.Usage;

/// <summary>
/// Rules of the gate's writes (<c>Gate.UseAsync</c>, holds, settles, releases, grants, reversals) as an app sees them:
/// which requests are invalid and what they are told, which refusal a customer gets (not entitled, used up, at the
/// limit, key reused) and with which message, what a success answers, and that a replay answers the first result. The
/// ledger's own rules are tested with the ledger; these are the gate's mapping of them. Run on SQLite and PostgreSQL.
/// Each test names its rule.
/// </summary>
public abstract class GateUsageRules : GateTestBase
{
    [Fact]
    public async Task Rule_AUsageNamesAFeatureOfTheCatalog_AndAnAmountItsTypeTakes_ElseItIsInvalid_AndNothingIsWritten()
    {
        var c = NewCustomer();
        await GrantCredits(c, 10);

        var cases = new (string Feature, long Amount, string Message)[]
        {
            ("hd_export", 1, "a boolean feature is checked, not used"),
            ("jobs", 1, "a concurrency feature is used through holds (POST /v1/holds)"),
            ("projects", 0, "amount must not be 0 for a count feature (+n to add, −n to remove)"),
            ("credits", 0, "amount must be a positive whole number"),
            ("ai_messages", -1, "amount must be a positive whole number"),
        };
        foreach (var (feature, amount, message) in cases)
        {
            Assert.Equal(new UsageResult(feature, false, 0, null, TollgateRefusal.InvalidRequest, message), await Gate.UseAsync(c, feature, amount, Key()));
        }

        await Assert.ThrowsAsync<UnknownFeatureException>(() => Gate.UseAsync(c, "teleport", 1, Key()));
        Assert.Equal(10, (await Ledger.GetBalancesAsync(c)).For("credits").Available);
        Assert.DoesNotContain((await Ledger.GetEntriesAsync(c, null, 10)).Entries, e => e.Type != EntryType.Grant);
    }

    [Fact]
    public async Task Rule_CreditsUsed_AnswerWhatIsLeft_ARefusalSaysWhatWasAvailableAndNeeded()
    {
        var c = NewCustomer();
        await GrantCredits(c, 10);

        var used = await Gate.UseAsync(c, "credits", 4, "use-1");
        var refused = await Gate.UseAsync(c, "credits", 7, Key());

        Assert.Equal(("credits", true, 6L, (TollgateRefusal?)null, (string?)null, false),
            (used.Feature, used.Allowed, used.Remaining, used.Refusal, used.Message, used.Replayed));
        Assert.NotNull(used.EntryId);
        Assert.Equal(new UsageResult("credits", false, 6, null, TollgateRefusal.InsufficientBalance, "6 credits available, 7 needed"), refused);
    }

    [Fact]
    public async Task Rule_AUsageSentAgainWithItsKey_AnswersTheFirstResult_Replayed_AndAnotherRequestUnderTheKeyIsRefused()
    {
        var c = NewCustomer();
        await GrantCredits(c, 10);
        var first = await Gate.UseAsync(c, "credits", 4, "use-1");

        var again = await Gate.UseAsync(c, "credits", 4, "use-1");
        var other = await Gate.UseAsync(c, "credits", 5, "use-1");

        Assert.Equal(first with { Replayed = true }, again);
        Assert.Equal(new UsageResult("credits", false, 0, null, TollgateRefusal.IdempotencyKeyReused,
            "this idempotency key was used with a different request"), other);
        Assert.Equal(6, (await Ledger.GetBalancesAsync(c)).For("credits").Available);
    }

    [Fact]
    public async Task Rule_MeteredUsedUp_IsQuotaExceeded_AndTheMessageSaysWhetherCreditsCouldHaveCoveredIt()
    {
        var c = NewCustomer();
        await GrantCredits(c, 1);

        var spilling = await Gate.UseAsync(c, "ai_messages", 4, Key()); // 3 of the allowance + 1 message at 2 credits: short
        var plain = await Gate.UseAsync(c, "reports", 3, Key());

        Assert.Equal(new UsageResult("ai_messages", false, 3, null, TollgateRefusal.QuotaExceeded,
            "ai_messages allowance is used up and credits do not cover the rest"), spilling);
        Assert.Equal(new UsageResult("reports", false, 2, null, TollgateRefusal.QuotaExceeded, "reports allowance is used up"), plain);
    }

    [Fact]
    public async Task Rule_AMeteredFeatureThePlanLacks_AndThatCreditsCannotPayFor_IsNotEntitled()
    {
        var c = NewCustomer();
        await Subscribe(c, "pro");

        var refused = await Gate.UseAsync(c, "reports", 1, Key());

        Assert.Equal(new UsageResult("reports", false, 0, null, TollgateRefusal.NotEntitled, "reports is not included in the customer's plan"), refused);
    }

    [Fact]
    public async Task Rule_ACountMovesWithinItsLimit_AnswersTheRoomLeft_AtTheLimitOrBelowZeroItIsRefusedWithTheLevel()
    {
        var c = NewCustomer();

        var added = await Gate.UseAsync(c, "projects", 2, Key());
        var over = await Gate.UseAsync(c, "projects", 1, Key());
        var removed = await Gate.UseAsync(c, "projects", -1, Key());
        var below = await Gate.UseAsync(c, "projects", -2, Key());

        Assert.Equal((true, 0L, (TollgateRefusal?)null), (added.Allowed, added.Remaining, added.Refusal));
        Assert.NotNull(added.EntryId);
        Assert.Equal(new UsageResult("projects", false, 0, null, TollgateRefusal.LimitReached, "projects is at 2 of 2"), over);
        Assert.Equal((true, 1L), (removed.Allowed, removed.Remaining));
        Assert.Equal(new UsageResult("projects", false, 1, null, TollgateRefusal.InvalidRequest, "projects is at 1; it cannot go below zero"), below);
        Assert.Equal(1, (await Ledger.GetBalancesAsync(c)).Counter("projects"));
    }

    [Fact]
    public async Task Rule_HoldsAreForCreditsMeteredAndConcurrency_ABooleanOrCountIsInvalid()
    {
        var c = NewCustomer();

        Assert.Equal(new HoldOutcome(null, "hd_export", 1, null, TollgateRefusal.InvalidRequest,
            "a boolean feature cannot be held; hold credits, metered or concurrency features"), await Gate.HoldAsync(c, "hd_export", 1, null, Key()));
        Assert.Equal(new HoldOutcome(null, "projects", 1, null, TollgateRefusal.InvalidRequest,
            "a count feature cannot be held; hold credits, metered or concurrency features"), await Gate.HoldAsync(c, "projects", 1, null, Key()));
        await Assert.ThrowsAsync<UnknownFeatureException>(() => Gate.HoldAsync(c, "teleport", 1, null, Key()));
    }

    [Fact]
    public async Task Rule_AHoldWithoutATtl_LastsTheDefaultHour_AndItsRefusalsNameTheirCause()
    {
        var c = NewCustomer();
        await GrantCredits(c, 5);

        var held = await Gate.HoldAsync(c, "credits", 2, null, Key());
        var tooMuch = await Gate.HoldAsync(c, "credits", 4, TimeSpan.FromMinutes(5), Key());
        var slots = await Gate.HoldAsync(c, "jobs", 3, null, Key());
        var noSlots = await Gate.HoldAsync(c, "gpus", 1, null, Key());

        Assert.Equal((Clock.GetUtcNow().AddHours(1), 2L, (TollgateRefusal?)null), (held.ExpiresAt!.Value, held.Amount, held.Refusal));
        Assert.NotNull(held.HoldId);
        Assert.Equal(new HoldOutcome(null, "credits", 4, null, TollgateRefusal.InsufficientBalance, "3 credits available, 4 needed"), tooMuch);
        Assert.Equal(new HoldOutcome(null, "jobs", 3, null, TollgateRefusal.ConcurrencyLimit, "jobs allows 2 at a time"), slots);
        Assert.Equal(new HoldOutcome(null, "gpus", 1, null, TollgateRefusal.NotEntitled, "gpus is not included in the customer's plan"), noSlots);
    }

    [Fact]
    public async Task Rule_AMeteredHoldPastTheAllowance_IsQuotaExceeded_AndOneThePlanLacksIsNotEntitled()
    {
        var free = NewCustomer();
        var pro = NewCustomer();
        await Subscribe(pro, "pro");

        var quota = await Gate.HoldAsync(free, "reports", 3, null, Key());
        var lacking = await Gate.HoldAsync(pro, "reports", 1, null, Key());

        Assert.Equal(new HoldOutcome(null, "reports", 3, null, TollgateRefusal.QuotaExceeded, "2 reports available, 3 needed"), quota);
        Assert.Equal(new HoldOutcome(null, "reports", 1, null, TollgateRefusal.NotEntitled, "reports is not included in the customer's plan"), lacking);
    }

    [Fact]
    public async Task Rule_ASettleOrReleaseAnswersTheHoldsStatus_AndEachRefusalSaysWhy()
    {
        var c = NewCustomer();
        await GrantCredits(c, 10);
        var hold = await Gate.HoldAsync(c, "credits", 4, null, Key());
        var other = await Gate.HoldAsync(c, "credits", 2, null, Key());

        var tooMuch = await Gate.SettleAsync(hold.HoldId!, 5);
        var settled = await Gate.SettleAsync(hold.HoldId!, 3);
        var again = await Gate.ReleaseAsync(hold.HoldId!);
        var released = await Gate.ReleaseAsync(other.HoldId!);
        var missing = await Gate.SettleAsync("hold_missing", null);

        Assert.Equal(new SettleOutcome(hold.HoldId!, "active", 0, 0, TollgateRefusal.InvalidRequest, "amount is more than the hold reserved"), tooMuch);
        Assert.Equal(new SettleOutcome(hold.HoldId!, "settled", 3, 1, null, null), settled);
        Assert.Equal(new SettleOutcome(hold.HoldId!, "settled", 3, 1, TollgateRefusal.HoldNotActive, $"hold {hold.HoldId} is settled"), again);
        Assert.Equal(new SettleOutcome(other.HoldId!, "released", 0, 2, null, null), released);
        Assert.Equal(new SettleOutcome("hold_missing", "", 0, 0, TollgateRefusal.HoldNotFound, "no hold hold_missing"), missing);
        Assert.Equal(7, (await Ledger.GetBalancesAsync(c)).For("credits").Available);
    }

    [Fact]
    public async Task Rule_AGrantIsOfCreditsOrAMeteredFeature_OncePerKey_AndAnotherGrantUnderTheKeyIsRefused()
    {
        var c = NewCustomer();
        var expires = Clock.GetUtcNow().AddDays(30);

        var invalid = await Gate.GrantAsync(c, "projects", 5, null, "goodwill", Key());
        var granted = await Gate.GrantAsync(c, "credits", 5, expires, "goodwill", "g-1");
        var again = await Gate.GrantAsync(c, "credits", 5, expires, "goodwill", "g-1");
        var other = await Gate.GrantAsync(c, "credits", 6, expires, "goodwill", "g-1");

        Assert.Equal(new GrantOutcome(null, "projects", 5, null, TollgateRefusal.InvalidRequest, "only credits and metered features hold granted lots"), invalid);
        Assert.Equal(("credits", 5L, (DateTimeOffset?)expires, (TollgateRefusal?)null, false), (granted.Feature, granted.Amount, granted.ExpiresAt, granted.Refusal, granted.Replayed));
        Assert.NotNull(granted.LotId);
        Assert.Equal(granted with { Replayed = true }, again);
        Assert.Equal(new GrantOutcome(null, "credits", 6, expires, TollgateRefusal.IdempotencyKeyReused, "this idempotency key was used with a different request"), other);
        var balance = (await Ledger.GetBalancesAsync(c)).For("credits");
        Assert.Equal(5, balance.Available);
        Assert.Equal(LotSource.Admin, Assert.Single(balance.Lots).Source);
        Assert.Equal("goodwill", (await Ledger.GetEntriesAsync(c, "credits", 1)).Entries[0].Reference);
    }

    [Fact]
    public async Task Rule_AUsageIsReversedWhole_OnlyOnce_AndOnlyAUsage()
    {
        var c = NewCustomer();
        await GrantCredits(c, 10);
        var used = await Gate.UseAsync(c, "ai_messages", 5, Key()); // 3 of the allowance, 2 more at 4 credits
        var counted = await Gate.UseAsync(c, "projects", 1, Key());
        var grant = (await Ledger.GetEntriesAsync(c, "credits", 10)).Entries.Single(e => e.Type == EntryType.Grant);

        var missing = await Gate.ReverseAsync("ent_missing", null);
        var notUsage = await Gate.ReverseAsync(grant.EntryId, null);
        var count = await Gate.ReverseAsync(counted.EntryId!, null);
        var reversed = await Gate.ReverseAsync(used.EntryId!, null);
        var twice = await Gate.ReverseAsync(used.EntryId!, null);

        Assert.Equal(new ReverseOutcome("ent_missing", null, 0, 0, 0, [], TollgateRefusal.EntryNotFound, "no ledger entry ent_missing"), missing);
        Assert.Equal((TollgateRefusal.NotReversible, $"entry {grant.EntryId} is a grant, not a usage of credits or a metered feature"),
            (notUsage.Refusal!, notUsage.Message));
        Assert.Equal((TollgateRefusal.NotReversible,
            $"entry {counted.EntryId} is a count, not a usage of credits or a metered feature (a count is given back with a usage of −n)"),
            (count.Refusal!, count.Message));
        Assert.Null(reversed.Refusal);
        Assert.Equal((c, 7L), (reversed.CustomerId!, reversed.Restored)); // both entries of the usage: 3 messages and 4 credits
        Assert.Equal((TollgateRefusal.AlreadyReversed, $"the usage of entry {used.EntryId} was reversed before"), (twice.Refusal!, twice.Message));
        var balances = await Ledger.GetBalancesAsync(c);
        Assert.Equal((10L, 3L), (balances.For("credits").Available, balances.For("ai_messages").Available));
    }

    [Fact]
    public async Task Rule_OnlyAUsageMadeThroughTheGateIsReversed_NotAConsumeTheLedgerWroteForAnotherReason()
    {
        var c = NewCustomer();
        await GrantCredits(c, 10);
        var other = await Ledger.ConsumeAsync(new ConsumeRequest(c, "credits", 2, "job:1"));

        var refused = await Gate.ReverseAsync(other.EntryId!, null);

        Assert.Equal((TollgateRefusal.NotReversible, $"entry {other.EntryId} is a consume, not a usage of credits or a metered feature"),
            (refused.Refusal!, refused.Message));
        Assert.Equal(8, (await Ledger.GetBalancesAsync(c)).For("credits").Available);
    }

    [Fact]
    public async Task Rule_AReversalTakesOnlyItsOwnUsagesEntries_NotTheUsagesWrittenJustBeforeOrAfter()
    {
        var c = NewCustomer();
        await GrantCredits(c, 100);
        await Gate.UseAsync(c, "credits", 1, Key());
        var middle = await Gate.UseAsync(c, "credits", 10, Key());
        await Gate.UseAsync(c, "credits", 100 - 11, Key());

        var reversed = await Gate.ReverseAsync(middle.EntryId!, null);

        Assert.Equal((middle.EntryId, 10L), (reversed.EntryId, reversed.Restored));
        Assert.Equal(10, (await Ledger.GetBalancesAsync(c)).For("credits").Available);
    }

    [Fact]
    public async Task Rule_ACountThatWouldPassSixtyFourBits_IsRefusedAtTheLimit_NotThrown()
    {
        var c = NewCustomer();
        Assert.True((await Gate.UseAsync(c, "projects", 1, Key())).Allowed);

        // It threw an OverflowException out of the ledger's rules, failing the request as a server error.
        Assert.Equal(new UsageResult("projects", false, 1, null, TollgateRefusal.LimitReached, "projects is at 1 of 2"),
            await Gate.UseAsync(c, "projects", long.MaxValue, Key()));
        Assert.Equal(1, (await Ledger.GetBalancesAsync(c)).Counter("projects"));
    }

    [Fact]
    public async Task Rule_ACatalogWithoutASeatsFeature_TakesNoSeatForAMember()
    {
        var c = NewCustomer();
        Assert.Null(await Gate.SeatAsync(c, "m1", +1));
        Assert.Empty((await Ledger.GetEntriesAsync(c, null, 10)).Entries);
    }
}

public sealed class SqliteGateUsageRules : GateUsageRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresGateUsageRules : GateUsageRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
