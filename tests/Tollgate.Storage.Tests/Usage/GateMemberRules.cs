using Tollgate.Core.Ledger;
using Tollgate.Core.Usage;

namespace Tollgate.Storage.Tests.Usage;

/// <summary>
/// Rules of a member (a customer billed on its organization) at the gate: it is answered and charged on its billing
/// customer, its writes name it, its idempotency keys are its own, and a boolean feature is the union of its own plan and
/// its organization's. Run on SQLite and PostgreSQL. Each test names its rule.
/// </summary>
public abstract class GateMemberRules : GateTestBase
{
    protected override bool WithMembers => true;

    private async Task<(string Organization, string Member)> Organization()
    {
        var organization = NewCustomer();
        var member = NewCustomer();
        var now = Clock.GetUtcNow();
        await Db.Database.Customers.UpsertAsync(organization, null, null, null, now, CancellationToken.None);
        await Db.Database.Customers.UpsertAsync(member, null, null, null, now, CancellationToken.None);
        await Db.Database.Customers.SetBillingCustomerAsync(member, organization, now, CancellationToken.None);
        Gate.Invalidate(member);
        return (organization, member);
    }

    [Fact]
    public async Task Rule_AMemberPaysOnItsOrganization_ACustomerOnItself()
    {
        var (organization, member) = await Organization();
        var alone = NewCustomer();

        Assert.Equal((organization, member), await Gate.PayerAsync(member));
        Assert.Equal((alone, (string?)null), await Gate.PayerAsync(alone));
        Assert.Equal((organization, (string?)null), await Gate.PayerAsync(organization));
    }

    [Fact]
    public async Task Rule_AMembersCheckAndUsage_AreItsOrganizations_AndTheEntryNamesTheMember()
    {
        var (organization, member) = await Organization();
        await GrantCredits(organization, 10);

        var check = await Gate.CheckAsync(member, "credits", 10);
        var used = await Gate.UseAsync(member, "credits", 4, "same-key");

        Assert.Equal(new CheckResult(member, "credits", true, null, new BalanceSummary(10, 0, null, null, null)), check);
        Assert.True(used.Allowed);
        Assert.Equal(6, (await Ledger.GetBalancesAsync(organization)).For("credits").Available);
        var entry = (await Ledger.GetEntriesAsync(organization, "credits", 1)).Entries[0];
        Assert.Equal((used.EntryId, (string?)member), (entry.EntryId, entry.MemberId));
        Assert.Equal(0, (await Ledger.GetBalancesAsync(member)).For("credits").Available);
    }

    [Fact]
    public async Task Rule_TwoMembersUsingOneIdempotencyKey_AreTwoUsages_TheOrganizationsOwnKeyAThird()
    {
        var (organization, member) = await Organization();
        var second = NewCustomer();
        await Db.Database.Customers.UpsertAsync(second, null, null, null, Clock.GetUtcNow(), CancellationToken.None);
        await Db.Database.Customers.SetBillingCustomerAsync(second, organization, Clock.GetUtcNow(), CancellationToken.None);
        await GrantCredits(organization, 10);

        var first = await Gate.UseAsync(member, "credits", 1, "k");
        var other = await Gate.UseAsync(second, "credits", 1, "k");
        var own = await Gate.UseAsync(organization, "credits", 1, "k");
        var replay = await Gate.UseAsync(member, "credits", 1, "k");

        Assert.False(first.Replayed || other.Replayed || own.Replayed);
        Assert.Equal(3, new[] { first.EntryId, other.EntryId, own.EntryId }.Distinct().Count());
        Assert.True(replay.Replayed);
        Assert.Equal(first.EntryId, replay.EntryId);
        Assert.Equal(7, (await Ledger.GetBalancesAsync(organization)).For("credits").Available);
    }

    [Fact]
    public async Task Rule_AMembersHoldIsOnItsOrganization_AndItsKeyIsItsOwn()
    {
        var (organization, member) = await Organization();
        await GrantCredits(organization, 10);

        var mine = await Gate.HoldAsync(member, "credits", 3, null, "h");
        var theirs = await Gate.HoldAsync(organization, "credits", 3, null, "h");

        Assert.NotEqual(mine.HoldId, theirs.HoldId);
        var balance = (await Ledger.GetBalancesAsync(organization)).For("credits");
        Assert.Equal((4L, 6L), (balance.Available, balance.Held));
        var holds = (await Ledger.GetEntriesAsync(organization, "credits", 10)).Entries.Where(e => e.Type == EntryType.Hold).ToList();
        Assert.Equal(member, Assert.Single(holds, e => e.HoldId == mine.HoldId).MemberId);
        Assert.Null(Assert.Single(holds, e => e.HoldId == theirs.HoldId).MemberId);
    }

    [Fact]
    public async Task Rule_AMembersBooleanFeature_IsItsOrganizationsOrItsOwn_AndItsCapabilitiesTheUnion()
    {
        var (organization, member) = await Organization();
        var (otherOrganization, otherMember) = await Organization();
        await Subscribe(organization, "pro");
        await Subscribe(otherMember, "pro");

        Assert.Equal(new CheckResult(member, "hd_export", true, null, null), await Gate.CheckAsync(member, "hd_export"));
        Assert.Equal(new CheckResult(otherMember, "hd_export", true, null, null), await Gate.CheckAsync(otherMember, "hd_export"));
        Assert.False((await Gate.CheckAsync(otherOrganization, "hd_export")).Allowed);
        Assert.Contains("feature:hd_export", await Gate.CapabilitiesAsync(member));
        Assert.Contains("plan:pro", await Gate.CapabilitiesAsync(member));
        Assert.DoesNotContain("plan:pro", await Gate.CapabilitiesAsync(otherOrganization));
    }
}

public sealed class SqliteGateMemberRules : GateMemberRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresGateMemberRules : GateMemberRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
