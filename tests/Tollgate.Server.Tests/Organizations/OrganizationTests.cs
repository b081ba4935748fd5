using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Tollgate.Core.Ledger;
using Tollgate.Core.Subscriptions;
using Tollgate.Server.Tests.Support;
using Tollgate.Storage;

namespace Tollgate.Server.Tests.Organizations;

/// <summary>
/// Organizations and seats (issue 15, seed 002): a member customer is answered and charged on its billing customer, the
/// entry naming the member; a member's capabilities are its own and its organization's; attaching a member takes one of
/// the organization's seats (the subscription's quantity) and detaching frees it; bad input changes nothing. On both
/// databases, through the HTTP API, with the books checked after every money path.
/// </summary>
public abstract class OrganizationTests : IAsyncLifetime
{
    protected abstract DatabaseProvider Provider { get; }

    private TollgateApp App { get; set; } = null!;

    private string _catalog = null!;

    private SubscriptionService Subscriptions => App.Services.GetRequiredService<SubscriptionService>();

    private LedgerEngine Ledger => App.Services.GetRequiredService<LedgerEngine>();

    private static DateTimeOffset Utc(int y, int m, int d, int h = 0) => new(y, m, d, h, 0, 0, TimeSpan.Zero);

    public async ValueTask InitializeAsync()
    {
        _catalog = Path.Combine(Path.GetTempPath(), $"tollgate-orgs-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(_catalog, """
            features:
              credits: { type: credits }
              seats: { type: count, seats: true }
              projects: { type: count }
              sso: { type: boolean }
              beta: { type: boolean }
            plans:
              free:
                default: true
                features:
                  seats: { limit: 1 }
                  projects: { limit: 1 }
              team:
                interval: month
                price: { amount: 1000, currency: USD }
                features:
                  seats: {}
                  sso: true
                  projects: { limit: 10 }
                  credits: { grant: 100, reset: month }
              beta_tester:
                interval: month
                price: { amount: 100, currency: USD }
                features:
                  beta: true
            """);
        App = await TollgateApp.StartAsync(Provider, settings: new Dictionary<string, string?> { ["Tollgate:Catalog"] = _catalog });
    }

    public async ValueTask DisposeAsync()
    {
        await App.DisposeAsync();
        File.Delete(_catalog);
        GC.SuppressFinalize(this);
    }

    private Task<HttpResponseMessage> PutAsync(string customer, string json) => App.SendAsync(HttpMethod.Put, $"/v1/customers/{customer}", json);

    private async Task<JsonObject> AttachAsync(string member, string organization) =>
        await Json.ReadAsync(await PutAsync(member, $$"""{"billing_customer_id":"{{organization}}"}"""), 200);

    private async Task<string> CreateAsync(string? id = null)
    {
        id ??= TollgateApp.NewCustomer();
        await Json.ReadAsync(await PutAsync(id, "{}"), 200);
        return id;
    }

    /// <summary>An organization on the team plan for <paramref name="seats"/> seats.</summary>
    private async Task<(string Organization, Subscription Subscription)> TeamAsync(long seats)
    {
        var organization = await CreateAsync();
        var now = App.Clock.GetUtcNow();
        var subscription = await Subscriptions.StartAsync(organization, "team", "sandbox", null, null, SubscriptionStatus.Active, now, now.AddMonths(1));
        if (seats != 1)
        {
            subscription = await Subscriptions.SetQuantityAsync(subscription.Id, seats);
        }

        return (organization, subscription);
    }

    private async Task<long> SeatsTakenAsync(string organization) => (long)(await App.BalanceAsync(organization, "seats"))["used"]!;

    private async Task<List<EntryRecord>> EntriesAsync(string customer) =>
        [.. (await Ledger.GetEntriesAsync(customer, null, 200, null)).Entries];

    [Fact]
    public async Task AMembersUsage_IsChargedOnItsOrganization_AndTheEntryNamesTheMember()
    {
        var (org, _) = await TeamAsync(seats: 3);
        var alice = await CreateAsync();
        var attached = await AttachAsync(alice, org);

        var used = await Json.ReadAsync(await App.UseAsync(alice, "credits", 30), 200);
        var ledger = await Json.ReadAsync(await App.Client.GetAsync($"/v1/customers/{org}/ledger?feature=credits"), 200);
        var aliceBalance = await App.BalanceAsync(alice, "credits");
        var aliceOwnEntries = await EntriesAsync(alice);
        var check = await App.CheckAsync(alice, "credits", 71);
        var aliceStats = await Json.ReadAsync(await App.Client.GetAsync($"/v1/customers/{alice}/usage?feature=credits"), 200);

        Assert.Equal(org, (string?)attached["billing_customer_id"]);
        // The member's usage statistics are what it draws from too: the organization's use and its plan's limit.
        Assert.Equal((30L, (long?)100), (aliceStats["buckets"]!.AsArray().Sum(b => (long)b!["used"]!), (long?)aliceStats["limit"]));
        Assert.Equal(70, (long)used["remaining"]!);
        var consume = ledger["entries"]!.AsArray().Single(e => (string)e!["type"]! == "consume")!;
        Assert.Equal(alice, (string?)consume["member_id"]);
        Assert.Equal((string)used["entry_id"]!, (string)consume["id"]!);
        Assert.Equal(70, (long)aliceBalance["available"]!); // the member sees what it draws from
        Assert.Empty(aliceOwnEntries); // nothing was written on the member itself
        Assert.False((bool)check["allowed"]!);
        Assert.Equal(alice, (string?)check["customer_id"]);
        await Books.AssertBalancedAsync(App, org);
    }

    [Fact]
    public async Task TwoMembers_UsingTheSameIdempotencyKey_AreChargedOnceEach()
    {
        // Keys are the caller's; two users of one organization may well send the same one. Each is its own usage.
        var (org, _) = await TeamAsync(seats: 2);
        var alice = await CreateAsync();
        var bob = await CreateAsync();
        await AttachAsync(alice, org);
        await AttachAsync(bob, org);

        var gate = App.Services.GetRequiredService<Tollgate.Core.Usage.Gate>();
        var a = await gate.UseAsync(alice, "credits", 10, "job-1");
        var b = await gate.UseAsync(bob, "credits", 10, "job-1");
        var again = await gate.UseAsync(bob, "credits", 10, "job-1");

        Assert.True(a.Allowed && b.Allowed);
        Assert.NotEqual(a.EntryId, b.EntryId);
        Assert.True(again.Replayed);
        Assert.Equal(80, (long)(await App.BalanceAsync(org, "credits"))["available"]!);
        await Books.AssertBalancedAsync(App, org);
    }

    [Fact]
    public async Task AMembersCapabilities_AreTheUnionOfItsOwnAndItsOrganizations()
    {
        var (org, _) = await TeamAsync(seats: 1);
        var alice = await CreateAsync();
        var now = App.Clock.GetUtcNow();
        await Subscriptions.StartAsync(alice, "beta_tester", "sandbox", null, null, SubscriptionStatus.Active, now, now.AddMonths(1));
        var before = await Json.ReadAsync(await App.Client.GetAsync($"/v1/customers/{alice}/capabilities"), 200);
        await AttachAsync(alice, org);

        var after = await Json.ReadAsync(await App.Client.GetAsync($"/v1/customers/{alice}/capabilities"), 200);
        var sso = await App.CheckAsync(alice, "sso");
        var beta = await App.CheckAsync(alice, "beta");
        var orgBeta = await App.CheckAsync(org, "beta");

        Assert.DoesNotContain("feature:sso", before["capabilities"]!.AsArray().Select(c => (string)c!));
        Assert.Contains("feature:sso", after["capabilities"]!.AsArray().Select(c => (string)c!));
        Assert.Contains("feature:beta", after["capabilities"]!.AsArray().Select(c => (string)c!));
        Assert.True((bool)sso["allowed"]!);
        Assert.True((bool)beta["allowed"]!);
        Assert.False((bool)orgBeta["allowed"]!); // the union is the member's, not pushed up to the organization
    }

    [Fact]
    public async Task AMembersAnswers_ChangeWhenItsOrganizationsPlanChanges()
    {
        // The member's answers come from the organization's cached views: a change of the organization's plan must reach
        // them, not only the organization's own answers.
        var (org, subscription) = await TeamAsync(seats: 1);
        var alice = await CreateAsync();
        await AttachAsync(alice, org);
        var before = await App.CheckAsync(alice, "sso");

        await Subscriptions.CancelAsync(subscription.Id, atPeriodEnd: false);
        var after = await App.CheckAsync(alice, "sso");
        var projects = await App.CheckAsync(alice, "projects", 2);

        Assert.True((bool)before["allowed"]!);
        Assert.False((bool)after["allowed"]!);
        Assert.False((bool)projects["allowed"]!); // the free plan's 1 project now
    }

    [Fact]
    public async Task AMember_CannotBuyCreditsOrAllowancesForItself_ButMayBuyAPlanOfFeatures()
    {
        var (org, _) = await TeamAsync(seats: 3);
        var alice = await CreateAsync();
        await AttachAsync(alice, org);

        // The team plan grants credits: bought for a member they could never be spent (its usage is the organization's).
        var refused = await Json.ProblemAsync(await App.PostAsync("/v1/checkouts", new { customer_id = alice, product = "team" }), 409, "not_eligible");
        var openAfterRefusal = await CheckoutsOfAsync(alice);
        var features = await App.PostAsync("/v1/checkouts", new { customer_id = alice, product = "beta_tester" });

        Assert.Contains(org, (string)refused["detail"]!, StringComparison.Ordinal);
        Assert.Equal(0, openAfterRefusal);
        Assert.Equal(201, (int)features.StatusCode);
        Assert.Equal(1, await CheckoutsOfAsync(alice));
    }

    private Task<long> CheckoutsOfAsync(string customer) => App.CountRowsAsync($"checkouts WHERE customer_id = '{customer}'");

    [Fact]
    public async Task AttachingPastTheSeats_IsRefused402_AndChangesNothing()
    {
        var (org, _) = await TeamAsync(seats: 1);
        var alice = await CreateAsync();
        var bob = await CreateAsync();
        await AttachAsync(alice, org);
        var entries = (await EntriesAsync(org)).Count;

        var refused = await Json.ProblemAsync(await PutAsync(bob, $$"""{"name":"Bob","billing_customer_id":"{{org}}"}"""), 402, "limit_reached");
        var bobNow = await Json.ReadAsync(await App.Client.GetAsync($"/v1/customers/{bob}"), 200);

        Assert.Contains("1 seat", (string)refused["detail"]!);
        Assert.Null((string?)bobNow["billing_customer_id"]);
        Assert.Null((string?)bobNow["name"]); // the refused PUT's other fields were not kept either
        Assert.Equal(entries, (await EntriesAsync(org)).Count);
        Assert.Equal(1, await SeatsTakenAsync(org));
    }

    [Fact]
    public async Task DetachingFreesTheSeat_AndASeatRemovedAndReAddedInOnePeriod_CountsOnce()
    {
        var (org, _) = await TeamAsync(seats: 1);
        var alice = await CreateAsync();
        var bob = await CreateAsync();
        await AttachAsync(alice, org);

        App.Clock.Advance(TimeSpan.FromDays(3));
        var detached = await Json.ReadAsync(await PutAsync(alice, """{"billing_customer_id":null}"""), 200);
        await AttachAsync(bob, org); // the freed seat
        var aliceRefused = await PutAsync(alice, $$"""{"billing_customer_id":"{{org}}"}""");
        App.Clock.Advance(TimeSpan.FromDays(3));
        await Json.ReadAsync(await PutAsync(bob, """{"billing_customer_id":null}"""), 200);
        await AttachAsync(alice, org); // re-added in the same period

        var seats = await EntriesAsync(org);
        var counts = seats.Where(e => e.Feature == "seats").OrderBy(e => e.Seq).ToList();
        Assert.Null((string?)detached["billing_customer_id"]);
        Assert.Equal(HttpStatusCode.PaymentRequired, aliceRefused.StatusCode);
        Assert.Equal([(alice, 1L), (alice, -1L), (bob, 1L), (bob, -1L), (alice, 1L)], counts.Select(e => (e.MemberId!, e.Amount)));
        Assert.Equal([1L, 0, 1, 0, 1], counts.Select(e => e.BalanceAfter));
        Assert.Equal(1, await SeatsTakenAsync(org));
        await Books.AssertBalancedAsync(App, org);
    }

    [Fact]
    public async Task ConcurrentAttaches_WithOneSeatLeft_ExactlyOneSucceeds()
    {
        var (org, _) = await TeamAsync(seats: 3);
        await AttachAsync(await CreateAsync(), org);
        await AttachAsync(await CreateAsync(), org);
        var members = new List<string>();
        for (var i = 0; i < 8; i++)
        {
            members.Add(await CreateAsync());
        }

        var answers = await Task.WhenAll(members.Select(m => PutAsync(m, $$"""{"billing_customer_id":"{{org}}"}""")));

        Assert.Equal(1, answers.Count(a => a.StatusCode == HttpStatusCode.OK));
        Assert.Equal(7, answers.Count(a => a.StatusCode == HttpStatusCode.PaymentRequired));
        var listed = await Json.ReadAsync(await App.Client.GetAsync($"/v1/customers/{org}/members"), 200);
        Assert.Equal(3, listed["members"]!.AsArray().Count);
        Assert.Equal(3, await SeatsTakenAsync(org));
        await Books.AssertBalancedAsync(App, org);
    }

    [Fact]
    public async Task OverTime_ASeatRemovedAndReAddedInOnePeriod_AndTheNextPeriod_KeepTheBooks()
    {
        // A month on a manual clock: the seat is freed and taken again mid-period, the subscription renews, and the
        // member's usage keeps drawing on the organization's allowance of each period.
        App.Clock.Set(Utc(2028, 1, 31));
        var org = await CreateAsync();
        var subscription = await Subscriptions.StartAsync(org, "team", "sandbox", null, null, SubscriptionStatus.Active, Utc(2028, 1, 31), Utc(2028, 2, 29));
        var alice = await CreateAsync();
        var bob = await CreateAsync();
        await AttachAsync(alice, org);
        await Json.ReadAsync(await App.UseAsync(alice, "credits", 40), 200);

        App.Clock.Set(Utc(2028, 2, 10));
        await Json.ReadAsync(await PutAsync(alice, """{"billing_customer_id":null}"""), 200);
        var aliceAlone = await App.CheckAsync(alice, "sso"); // detached: its own (free) plan only
        await AttachAsync(alice, org);
        App.Clock.Set(Utc(2028, 2, 28, 23));
        await Json.ReadAsync(await App.UseAsync(alice, "credits", 60), 200);
        var endOfPeriod = await App.BalanceAsync(org, "credits");

        App.Clock.Set(Utc(2028, 2, 29));
        await Subscriptions.RenewAsync(subscription.Id, Utc(2028, 2, 29), Utc(2028, 3, 29));
        await Json.ReadAsync(await App.UseAsync(alice, "credits", 5), 200);
        var bobRefused = await PutAsync(bob, $$"""{"billing_customer_id":"{{org}}"}""");
        var renewed = await App.BalanceAsync(org, "credits");

        Assert.False((bool)aliceAlone["allowed"]!);
        Assert.Equal(0, (long)endOfPeriod["available"]!);
        Assert.Equal(95, (long)renewed["available"]!); // the new period's 100, less the member's 5
        Assert.Equal(HttpStatusCode.PaymentRequired, bobRefused.StatusCode); // the seat level carries across periods
        Assert.Equal(1, await SeatsTakenAsync(org));
        var entries = await EntriesAsync(org);
        Assert.All(entries.Where(e => e.Type is EntryType.Consume or EntryType.Count), e => Assert.Equal(alice, e.MemberId));
        Assert.Equal(3, entries.Count(e => e.Type == EntryType.Count));
        await Books.AssertBalancedAsync(App, org);
    }

    [Fact]
    public async Task TwoServers_AttachingAtOnce_TakeTheLastSeatOnce()
    {
        // A second server on the same database: the attaches meet only in the database (the organization's row lock).
        var (org, _) = await TeamAsync(seats: 2);
        await AttachAsync(await CreateAsync(), org);
        await using var other = await TollgateApp.StartAsync(Provider, App.Clock,
            settings: new Dictionary<string, string?> { ["Tollgate:Catalog"] = _catalog }, database: App.Database.Borrow());
        var members = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            members.Add(await CreateAsync());
        }

        var answers = await Task.WhenAll(members.Select((m, i) =>
            (i % 2 == 0 ? App : other).SendAsync(HttpMethod.Put, $"/v1/customers/{m}", $$"""{"billing_customer_id":"{{org}}"}""")));

        Assert.Equal(1, answers.Count(a => a.StatusCode == HttpStatusCode.OK));
        Assert.Equal(5, answers.Count(a => a.StatusCode == HttpStatusCode.PaymentRequired));
        Assert.Equal(2, await SeatsTakenAsync(org));
        await Books.AssertBalancedAsync(App, org);
    }

    [Fact]
    public async Task ConcurrentMoves_NeverBuildAChain()
    {
        // A joining O while O joins P: each checks the other's row under its lock, so at most one of them can win.
        for (var round = 0; round < 5; round++)
        {
            var (o, _) = await TeamAsync(seats: 3);
            var (p, _) = await TeamAsync(seats: 3);
            var a = await CreateAsync();

            var answers = await Task.WhenAll(
                PutAsync(a, $$"""{"billing_customer_id":"{{o}}"}"""),
                PutAsync(o, $$"""{"billing_customer_id":"{{p}}"}"""));

            var oNow = await Json.ReadAsync(await App.Client.GetAsync($"/v1/customers/{o}"), 200);
            var aNow = await Json.ReadAsync(await App.Client.GetAsync($"/v1/customers/{a}"), 200);
            Assert.Equal(1, answers.Count(x => x.StatusCode == HttpStatusCode.OK));
            Assert.Equal(1, answers.Count(x => x.StatusCode == HttpStatusCode.Conflict));
            Assert.False((string?)oNow["billing_customer_id"] is not null && (string?)aNow["billing_customer_id"] == o, "a chain a → o → p was built");
        }
    }

    [Fact]
    public async Task RaisingTheQuantity_MakesRoom()
    {
        var (org, subscription) = await TeamAsync(seats: 1);
        await AttachAsync(await CreateAsync(), org);
        var bob = await CreateAsync();
        var refused = await PutAsync(bob, $$"""{"billing_customer_id":"{{org}}"}""");

        await Subscriptions.SetQuantityAsync(subscription.Id, 2);
        var check = await App.CheckAsync(org, "seats");
        await AttachAsync(bob, org);

        Assert.Equal(HttpStatusCode.PaymentRequired, refused.StatusCode);
        Assert.True((bool)check["allowed"]!);
        Assert.Equal(2, (long)check["balance"]!["limit"]!);
        Assert.Equal(2, await SeatsTakenAsync(org));
    }

    [Fact]
    public async Task TheQuantityEndpoint_ChangesTheSeats_AndNeverBelowTheMembersAttached()
    {
        var org = await CreateAsync();
        await App.BuyInSandboxAsync(org, "team");
        var subscription = (string)(await Json.ReadAsync(await App.Client.GetAsync($"/v1/customers/{org}/subscriptions"), 200))["subscriptions"]![0]!["id"]!;
        var alice = await CreateAsync();
        var bob = await CreateAsync();
        await AttachAsync(alice, org);
        var bobRefused = await PutAsync(bob, $$"""{"billing_customer_id":"{{org}}"}""");

        var raised = await App.PostAsync($"/v1/subscriptions/{subscription}/quantity", new { quantity = 2 });
        await AttachAsync(bob, org);
        var lowered = await Json.ProblemAsync(await App.PostAsync($"/v1/subscriptions/{subscription}/quantity", new { quantity = 1 }), 409, "conflict");
        await Json.ProblemAsync(await App.PostAsync($"/v1/subscriptions/{subscription}/quantity", new { quantity = 2 }), 409, "conflict");
        await Json.ProblemAsync(await App.PostAsync($"/v1/subscriptions/{subscription}/quantity", new { quantity = 0 }), 400, "invalid_request");
        await Json.ProblemAsync(await App.PostAsync($"/v1/subscriptions/{subscription}/quantity", new { quantity = 3, policy = "whenever" }), 400, "invalid_request");
        await Json.ProblemAsync(await App.PostAsync($"/v1/subscriptions/{subscription}/quantity", new { }), 400, "invalid_request");
        await Json.ProblemAsync(await App.PostAsync("/v1/subscriptions/sub_nope/quantity", new { quantity = 3 }), 404, "subscription_not_found");
        var stored = await App.Services.GetRequiredService<ISubscriptionStore>().GetAsync(subscription, CancellationToken.None);

        Assert.Equal(HttpStatusCode.PaymentRequired, bobRefused.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, raised.StatusCode);
        Assert.Contains("2 members", (string)lowered["detail"]!);
        Assert.Equal(2, stored!.Quantity);
        Assert.Equal(2, await SeatsTakenAsync(org));
        await Books.AssertBalancedAsync(App, org);
    }

    [Fact]
    public async Task ACheckoutsQuantity_IsForPlansWithSeats_AndProvidersThatSellThem()
    {
        var org = await CreateAsync();

        // The Sandbox sells one seat per checkout; a plan without seats has no quantity to buy.
        await Json.ProblemAsync(await App.PostAsync("/v1/checkouts", new { customer_id = org, product = "team", quantity = 5 }), 409, "not_supported");
        await Json.ProblemAsync(await App.PostAsync("/v1/checkouts", new { customer_id = org, product = "beta_tester", quantity = 5 }), 400, "invalid_request");
        await Json.ProblemAsync(await App.PostAsync("/v1/checkouts", new { customer_id = org, product = "team", quantity = 0 }), 400, "invalid_request");
        var one = await App.PostAsync("/v1/checkouts", new { customer_id = org, product = "team", quantity = 1 });

        Assert.Equal(HttpStatusCode.Created, one.StatusCode);
    }

    [Fact]
    public async Task Chains_Self_AndUnknownBillingCustomers_AreRefused_AndChangeNothing()
    {
        var (org, _) = await TeamAsync(seats: 3);
        var (other, _) = await TeamAsync(seats: 3);
        var alice = await CreateAsync();
        await AttachAsync(alice, org);

        await Json.ProblemAsync(await PutAsync(alice, $$"""{"billing_customer_id":"{{alice}}"}"""), 400, "invalid_request");
        await Json.ProblemAsync(await PutAsync(alice, """{"billing_customer_id":"cus_nobody"}"""), 404, "customer_not_found");
        await Json.ProblemAsync(await PutAsync(alice, """{"billing_customer_id":"not valid!"}"""), 400, "invalid_request");
        await Json.ProblemAsync(await PutAsync(alice, """{"billing_customer_id":42}"""), 400, "invalid_request");
        // Under a member: the billing customer would be a member itself.
        await Json.ProblemAsync(await PutAsync(await CreateAsync(), $$"""{"billing_customer_id":"{{alice}}"}"""), 409, "conflict");
        // An organization with members cannot become a member.
        await Json.ProblemAsync(await PutAsync(org, $$"""{"billing_customer_id":"{{other}}"}"""), 409, "conflict");

        var aliceNow = await Json.ReadAsync(await App.Client.GetAsync($"/v1/customers/{alice}"), 200);
        var orgNow = await Json.ReadAsync(await App.Client.GetAsync($"/v1/customers/{org}"), 200);
        Assert.Equal(org, (string?)aliceNow["billing_customer_id"]);
        Assert.Null((string?)orgNow["billing_customer_id"]);
        Assert.Equal(1, await SeatsTakenAsync(org));
        Assert.Equal(0, await SeatsTakenAsync(other));
    }

    [Fact]
    public async Task APutWithoutBillingCustomerId_LeavesItAsItIs_AndMovingBetweenOrganizationsMovesTheSeat()
    {
        var (org, _) = await TeamAsync(seats: 1);
        var (other, _) = await TeamAsync(seats: 1);
        var alice = await CreateAsync();
        await AttachAsync(alice, org);

        var renamed = await Json.ReadAsync(await PutAsync(alice, """{"name":"Alice"}"""), 200);
        var moved = await AttachAsync(alice, other);

        Assert.Equal(org, (string?)renamed["billing_customer_id"]);
        Assert.Equal(other, (string?)moved["billing_customer_id"]);
        Assert.Equal(0, await SeatsTakenAsync(org));
        Assert.Equal(1, await SeatsTakenAsync(other));
    }

    [Fact]
    public async Task TheSeatsFeature_IsNotUsedDirectly()
    {
        var (org, _) = await TeamAsync(seats: 5);

        await Json.ProblemAsync(await App.UseAsync(org, "seats", 1), 400, "invalid_request");

        Assert.Equal(0, await SeatsTakenAsync(org));
    }

    [Fact]
    public async Task Members_ArePaged_ById()
    {
        var (org, _) = await TeamAsync(seats: 5);
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(await CreateAsync());
            await AttachAsync(ids[^1], org);
        }

        ids.Sort(StringComparer.Ordinal);
        var first = await Json.ReadAsync(await App.Client.GetAsync($"/v1/customers/{org}/members?limit=3"), 200);
        var second = await Json.ReadAsync(await App.Client.GetAsync($"/v1/customers/{org}/members?limit=3&after={(string)first["next"]!}"), 200);

        Assert.Equal(ids[..3], first["members"]!.AsArray().Select(m => (string)m!["id"]!));
        Assert.Equal(ids[3..], second["members"]!.AsArray().Select(m => (string)m!["id"]!));
        Assert.Null((string?)second["next"]);
        await Json.ProblemAsync(await App.Client.GetAsync("/v1/customers/cus_nobody/members"), 404, "customer_not_found");
        await Json.ProblemAsync(await App.Client.GetAsync($"/v1/customers/{org}/members?limit=0"), 400, "invalid_request");
    }
}

public sealed class SqliteOrganizationTests : OrganizationTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresOrganizationTests : OrganizationTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
