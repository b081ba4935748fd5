using System.Net;
using System.Text.Json.Nodes;
using Tollgate.Client.Tests.Support;

namespace Tollgate.Client.Tests;

/// <summary>ITollgate through Tollgate.Client against the real server process on SQLite.</summary>
public sealed class ServerTestsOnSqlite(SqliteServer server) : ServerTests(server), IClassFixture<SqliteServer>;

/// <summary>The same against the real server process on a PostgreSQL schema of its own.</summary>
public sealed class ServerTestsOnPostgres(PostgresServer server) : ServerTests(server), IClassFixture<PostgresServer>;

/// <summary>
/// Every ITollgate call through <see cref="TollgateClient"/> against the real server (its own process, the Sandbox, the
/// test catalog), run once per database: the answers, the money (charged once, exact under concurrency, the books agree
/// with the ledger), a lost answer retried with the same key, and each refusal the server gives mapped to its
/// <see cref="TollgateRefusal"/>.
/// </summary>
public abstract class ServerTests(TollgateServer server)
{
    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task CheckThenUse_ChargesOnce_AndTheSameKeyReplaysTheFirstAnswer()
    {
        server.Require();
        var tollgate = server.Client();
        var customer = TollgateServer.NewCustomerId();

        var upserted = await tollgate.UpsertCustomerAsync(new UpsertCustomerRequest(customer) { Email = $"{customer}@example.com", Name = "Alice" }, Ct);
        var check = await tollgate.CheckAsync(new CheckRequest(customer, "ai_messages"), Ct);
        var used = await tollgate.UseAsync(new UsageRequest(customer, "ai_messages", 3) { IdempotencyKey = $"msg-{customer}" }, Ct);
        var replay = await tollgate.UseAsync(new UsageRequest(customer, "ai_messages", 3) { IdempotencyKey = $"msg-{customer}" }, Ct);
        var balance = (await tollgate.GetBalancesAsync(customer, Ct)).EnsureSuccess().For("ai_messages")!;

        Assert.Equal((customer, $"{customer}@example.com", "Alice", "free"), (upserted.EnsureSuccess().Id, upserted.Value.Email, upserted.Value.Name,
            upserted.Value.Plan));
        Assert.True(check.Succeeded, check.ToString());
        Assert.Equal((50L, 50L, 0L), (check.Value.Balance!.Available, check.Value.Balance.Limit!.Value, check.Value.Balance.Used!.Value));
        Assert.Equal(47, used.EnsureSuccess().Remaining);
        Assert.NotNull(used.Value.EntryId);
        Assert.Equal(used.Value, replay.EnsureSuccess());
        Assert.Equal((FeatureKind.Metered, 47L, 3L), (balance.Type, balance.Available, balance.Used!.Value));
        Assert.Single(await EntriesAsync(customer, "ai_messages", "consume"));
    }

    /// <summary>
    /// The probes answer as every /v1 call does, with a Content-Length. A chunked body ends with a chunk of its own,
    /// which Kestrel may send as a second write (seen with strace): a chunked /healthz cost more per request than the
    /// API calls it is the benchmarks' baseline for. Only the real server on Kestrel shows it; a test server does not chunk.
    /// </summary>
    [Fact]
    public async Task Probes_AnswerWithTheirLength_NotChunked()
    {
        server.Require();
        foreach (var path in new[] { "healthz", "readyz", "v1/products" })
        {
            using var response = await server.Raw.GetAsync(new Uri(path, UriKind.Relative), Ct);
            var body = await response.Content.ReadAsByteArrayAsync(Ct);
            Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode}");
            Assert.NotEqual(true, response.Headers.TransferEncodingChunked);
            Assert.Equal((path, (long?)body.Length), (path, response.Content.Headers.ContentLength));
            Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        }
    }

    [Fact]
    public async Task AnAnswerLostInTransit_IsRetriedWithTheSameKey_AndChargedOnce()
    {
        server.Require();
        // The first /v1/usage reaches the server and is applied; its answer is lost on the way back.
        await using var proxy = await LossyProxy.StartAsync(server.BaseAddress, (method, path, index) => method == "POST" && path == "/v1/usage" && index == 0);
        var customer = TollgateServer.NewCustomerId();

        var used = await server.Client(proxy.BaseAddress).UseAsync(new UsageRequest(customer, "ai_messages", 2), Ct);

        Assert.Equal(48, used.EnsureSuccess().Remaining);
        var seen = proxy.Seen;
        Assert.Equal([(true, 200), (false, 200)], seen.Select(s => (s.Dropped, s.Status)));
        Assert.NotNull(seen[0].IdempotencyKey);
        Assert.Equal(seen[0].IdempotencyKey, seen[1].IdempotencyKey);
        var balance = (await server.Client().GetBalancesAsync(customer, Ct)).EnsureSuccess().For("ai_messages")!;
        Assert.Equal((48L, 2L), (balance.Available, balance.Used!.Value));
        Assert.Single(await EntriesAsync(customer, "ai_messages", "consume"));
    }

    [Fact]
    public async Task AGrantAndAHoldWhoseAnswersAreLost_AreRetriedWithTheirKeys_AndHappenOnce()
    {
        server.Require();
        await using var proxy = await LossyProxy.StartAsync(server.BaseAddress, (method, path, _) => method == "POST" && FirstOf(path));
        var tollgate = server.Client(proxy.BaseAddress);
        var customer = TollgateServer.NewCustomerId();

        var grant = await tollgate.GrantAsync(new CreateGrantRequest(customer, "credits", 40, "welcome"), Ct);
        var hold = await tollgate.CreateHoldAsync(new CreateHoldRequest(customer, "credits", 15), Ct);

        Assert.Equal(40, grant.EnsureSuccess().Amount);
        Assert.Equal(HoldState.Active, hold.EnsureSuccess().Status);
        Assert.Equal([(true, 201), (false, 201), (true, 201), (false, 201)], proxy.Seen.Select(s => (s.Dropped, s.Status)));
        var credits = (await server.Client().GetBalancesAsync(customer, Ct)).EnsureSuccess().For("credits")!;
        Assert.Equal((25L, 15L), (credits.Available, credits.Held));
        Assert.Equal(grant.Value.LotId, Assert.Single(credits.Lots).Id);
        Assert.Single(await EntriesAsync(customer, "credits", "grant"));
        Assert.Single(await EntriesAsync(customer, "credits", "hold"));
    }

    [Fact]
    public async Task AReversalWhoseAnswerIsLost_IsRetriedWithTheSameKey_AndPutsTheUnitsBackOnce()
    {
        server.Require();
        var tollgate = server.Client();
        var customer = TollgateServer.NewCustomerId();
        (await tollgate.GrantAsync(new CreateGrantRequest(customer, "credits", 30, "welcome"), Ct)).EnsureSuccess();
        var used = (await tollgate.UseAsync(new UsageRequest(customer, "credits", 12), Ct)).EnsureSuccess();
        // The first reversal reaches the server and is applied; its answer is lost on the way back.
        await using var proxy = await LossyProxy.StartAsync(server.BaseAddress,
            (method, path, index) => method == "POST" && path.EndsWith("/reverse", StringComparison.Ordinal) && index == 0);

        var reversed = await server.Client(proxy.BaseAddress).ReverseUsageAsync(new ReverseUsageRequest(used.EntryId!), Ct);

        Assert.Equal((used.EntryId, 12L, 0L, 0L), (reversed.EnsureSuccess().EntryId, reversed.Value.Restored, reversed.Value.Expired, reversed.Value.Clawed));
        Assert.Equal(12, Assert.Single(reversed.Value.Draws).Amount);
        var seen = proxy.Seen;
        Assert.Equal([(true, 200), (false, 200)], seen.Select(s => (s.Dropped, s.Status)));
        Assert.NotNull(seen[0].IdempotencyKey);
        Assert.Equal(seen[0].IdempotencyKey, seen[1].IdempotencyKey);
        var credits = (await tollgate.GetBalancesAsync(customer, Ct)).EnsureSuccess().For("credits")!;
        Assert.Equal(30, credits.Available);
        Assert.Single(await EntriesAsync(customer, "credits", "reverse"));
        // Another call (another key) is a second reversal of the same usage: refused, nothing put back again.
        var again = await tollgate.ReverseUsageAsync(new ReverseUsageRequest(used.EntryId!), Ct);
        Assert.Equal(TollgateRefusal.AlreadyReversed, again.Refusal);
        Assert.Equal(30, (await tollgate.GetBalancesAsync(customer, Ct)).EnsureSuccess().For("credits")!.Available);
    }

    private readonly HashSet<string> _dropped = [];

    /// <summary>True the first time a path is seen: the first answer of each call is the one lost.</summary>
    private bool FirstOf(string path)
    {
        lock (_dropped)
        {
            return _dropped.Add(path.EndsWith("/grants", StringComparison.Ordinal) ? "grants" : path);
        }
    }

    [Fact]
    public async Task ConcurrentUsage_OnTheLastUnits_IsExact_AndTheBooksAgree()
    {
        server.Require();
        var tollgate = server.Client();
        var metered = TollgateServer.NewCustomerId();
        var credits = TollgateServer.NewCustomerId();
        (await tollgate.GrantAsync(new CreateGrantRequest(credits, "credits", 100, "race"), Ct)).EnsureSuccess();

        // 16 × 5 against a free allowance of 50; 32 × 7 against 100 credits.
        var meteredResults = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => tollgate.UseAsync(new UsageRequest(metered, "ai_messages", 5), Ct)));
        var creditResults = await Task.WhenAll(Enumerable.Range(0, 32).Select(_ => tollgate.UseAsync(new UsageRequest(credits, "credits", 7), Ct)));

        Assert.Equal(10, meteredResults.Count(r => r.Succeeded));
        Assert.All(meteredResults.Where(r => !r.Succeeded), r => Assert.Equal(TollgateRefusal.QuotaExceeded, r.Refusal));
        Assert.Equal(14, creditResults.Count(r => r.Succeeded));
        Assert.All(creditResults.Where(r => !r.Succeeded), r => Assert.Equal(TollgateRefusal.InsufficientBalance, r.Refusal));

        var meteredBalance = (await tollgate.GetBalancesAsync(metered, Ct)).EnsureSuccess().For("ai_messages")!;
        var creditBalance = (await tollgate.GetBalancesAsync(credits, Ct)).EnsureSuccess().For("credits")!;
        Assert.Equal((0L, 50L), (meteredBalance.Available, meteredBalance.Used!.Value));
        Assert.Equal(2, creditBalance.Available);
        Assert.Equal(10, (await EntriesAsync(metered, "ai_messages", "consume")).Count);
        var creditEntries = await EntriesAsync(credits, "credits");
        Assert.Equal(14, creditEntries.Count(e => (string)e["type"]! == "consume"));
        // The books: every movement of the customer's credits sums to the balance, and the last entry says so too.
        Assert.Equal(creditBalance.Available, creditEntries.Sum(e => (long)e["amount"]!));
    }

    [Fact]
    public async Task TheSameKeyFromManyCallersAtOnce_IsOneEffect()
    {
        server.Require();
        var tollgate = server.Client();
        var customer = TollgateServer.NewCustomerId();
        var key = $"job-{customer}";

        var answers = await Task.WhenAll(Enumerable.Range(0, 8)
            .Select(_ => tollgate.UseAsync(new UsageRequest(customer, "ai_messages", 4) { IdempotencyKey = key }, Ct)));

        Assert.All(answers, a => Assert.True(a.Succeeded, a.ToString()));
        Assert.Single(answers.Select(a => a.Value!.EntryId).Distinct());
        Assert.Equal(4, (await tollgate.GetBalancesAsync(customer, Ct)).EnsureSuccess().For("ai_messages")!.Used);
        Assert.Single(await EntriesAsync(customer, "ai_messages", "consume"));
    }

    [Fact]
    public async Task HoldsAndGrants_MoveCredits_AndTheBalancesShowIt()
    {
        server.Require();
        var tollgate = server.Client();
        var customer = TollgateServer.NewCustomerId();
        var expires = TimeProvider.System.GetUtcNow().AddDays(30);

        var grant = await tollgate.GrantAsync(new CreateGrantRequest(customer, "credits", 30, "welcome") { ExpiresAt = expires }, Ct);
        var hold = await tollgate.CreateHoldAsync(new CreateHoldRequest(customer, "credits", 20) { TimeToLive = TimeSpan.FromMinutes(10) }, Ct);
        var settled = await tollgate.SettleHoldAsync(new SettleHoldRequest(hold.EnsureSuccess().Id) { Amount = 12 }, Ct);
        var second = await tollgate.CreateHoldAsync(new CreateHoldRequest(customer, "credits", 5), Ct);
        var released = await tollgate.ReleaseHoldAsync(second.EnsureSuccess().Id, Ct);
        var credits = (await tollgate.GetBalancesAsync(customer, Ct)).EnsureSuccess().For("credits")!;

        Assert.Equal(("credits", 30L), (grant.EnsureSuccess().Feature, grant.Value.Amount));
        Assert.Equal(expires.ToUnixTimeSeconds(), grant.Value.ExpiresAt!.Value.ToUnixTimeSeconds());
        Assert.Equal((HoldState.Active, 20L, "credits"), (hold.Value.Status, hold.Value.Amount, hold.Value.Feature));
        Assert.InRange(hold.Value.ExpiresAt!.Value, TimeProvider.System.GetUtcNow().AddMinutes(9), TimeProvider.System.GetUtcNow().AddMinutes(11));
        Assert.Equal(new HoldSettlement(hold.Value.Id, HoldState.Settled, 12, 8), settled.EnsureSuccess());
        Assert.Equal(new HoldRelease(second.Value.Id, HoldState.Released), released.EnsureSuccess());
        Assert.Equal((18L, 0L), (credits.Available, credits.Held));
        var lot = Assert.Single(credits.Lots);
        Assert.Equal((grant.Value.LotId, "admin", 30L, 18L), (lot.Id, lot.Source, lot.Amount, lot.Remaining));
    }

    [Fact]
    public async Task ASandboxCheckout_GrantsOnlyOnceItsWebhookIsApplied()
    {
        server.Require();
        var tollgate = server.Client();
        var customer = TollgateServer.NewCustomerId();
        (await tollgate.UpsertCustomerAsync(new UpsertCustomerRequest(customer), Ct)).EnsureSuccess();

        var products = (await tollgate.GetProductsAsync(customer, cancellationToken: Ct)).EnsureSuccess();
        var checkout = (await tollgate.CreateCheckoutAsync(new CreateCheckoutRequest(customer, "new_user_pack")
        {
            SuccessUrl = new Uri("https://app.example/thanks"),
            Metadata = new Dictionary<string, string> { ["campaign"] = "spring" },
        }, Ct)).EnsureSuccess();
        var before = (await tollgate.GetBalancesAsync(customer, Ct)).EnsureSuccess().For("credits")!.Available;
        Assert.Equal(HttpStatusCode.Redirect, await PaySandboxAsync(checkout.Url));
        var done = await CompletedAsync(tollgate, checkout.Id);
        var after = (await tollgate.GetBalancesAsync(customer, Ct)).EnsureSuccess().For("credits")!;
        var twice = await tollgate.CreateCheckoutAsync(new CreateCheckoutRequest(customer, "new_user_pack"), Ct);

        var pack = products.Packs.Single(p => p.Id == "new_user_pack");
        Assert.Equal(("sandbox", 60L, true, true, new Price(100, "USD")), (products.Provider, pack.Credits, pack.OncePerCustomer, pack.Eligible!.Value, pack.Price));
        Assert.Contains(products.Plans, p => p is { Id: "free", Default: true });
        Assert.Equal(new FeatureTerms(true, 1000, null, "month"), products.Plans.Single(p => p.Id == "pro").Features["ai_messages"]);
        Assert.Equal((CheckoutState.Open, "sandbox", customer, "new_user_pack"), (checkout.Status, checkout.Provider, checkout.CustomerId, checkout.Product));
        Assert.Equal(0, before);
        Assert.Equal((CheckoutState.Completed, 60L), (done.Status, done.Granted!.Credits!.Value));
        Assert.NotNull(done.CompletedAt);
        Assert.Equal(60, after.Available);
        Assert.Equal("payment", Assert.Single(after.Lots).Source);
        Assert.Equal(TollgateRefusal.NotEligible, twice.Refusal);
        Assert.False((await tollgate.GetProductsAsync(customer, cancellationToken: Ct)).EnsureSuccess().Packs.Single(p => p.Id == "new_user_pack").Eligible);
    }

    [Fact]
    public async Task EnsureAccess_GivesACheckoutUntilTheCapabilityIsBought_ThenThePortal()
    {
        server.Require();
        var tollgate = server.Client();
        var customer = TollgateServer.NewCustomerId();
        (await tollgate.UpsertCustomerAsync(new UpsertCustomerRequest(customer), Ct)).EnsureSuccess();

        var first = (await tollgate.EnsureAccessAsync(new EnsureAccessRequest(customer, "feature:hd_export", "pro"), Ct)).EnsureSuccess();
        Assert.False(first.AlreadyHasAccess);
        Assert.False((await tollgate.GetCapabilitiesAsync(customer, Ct)).EnsureSuccess().Has("feature:hd_export"));
        Assert.Equal(HttpStatusCode.Redirect, await PaySandboxAsync(first.CheckoutUrl!));
        Assert.Equal(CheckoutState.Completed, (await CompletedAsync(tollgate, first.CheckoutId!)).Status);
        var second = (await tollgate.EnsureAccessAsync(new EnsureAccessRequest(customer, "feature:hd_export", "pro"), Ct)).EnsureSuccess();
        var capabilities = (await tollgate.GetCapabilitiesAsync(customer, Ct)).EnsureSuccess();
        var check = await tollgate.CheckAsync(new CheckRequest(customer, "hd_export"), Ct);
        var portal = (await tollgate.CreatePortalLinkAsync(customer, Ct)).EnsureSuccess();
        var customerNow = (await tollgate.UpsertCustomerAsync(new UpsertCustomerRequest(customer), Ct)).EnsureSuccess();

        Assert.Equal(new AccessResult(true), second);
        Assert.Equal(customer, capabilities.CustomerId);
        Assert.True(capabilities.Has("plan:pro") && capabilities.Has("feature:hd_export"), string.Join(", ", capabilities.Items));
        Assert.True(check.Succeeded, check.ToString());
        Assert.StartsWith(server.BaseAddress + "portal?token=", portal.Url.ToString(), StringComparison.Ordinal);
        Assert.True(portal.ExpiresAt > TimeProvider.System.GetUtcNow());
        Assert.Equal("pro", customerNow.Plan);
        var subscription = Assert.Single(customerNow.Subscriptions);
        Assert.Equal(("pro", "sandbox", "active"), (subscription.Plan, subscription.Provider, subscription.Status));
    }

    [Fact]
    public async Task EveryRefusalTheServerGives_OnTheseCalls_MapsToItsTollgateRefusal()
    {
        server.Require();
        var tollgate = server.Client();
        var c = TollgateServer.NewCustomerId();
        var mismatches = new List<string>();

        void Expect<T>(string what, TollgateResult<T> result, TollgateRefusal expected, bool detail = true)
            where T : class
        {
            if (result.Refusal != expected || (detail && string.IsNullOrEmpty(result.Detail)))
            {
                mismatches.Add($"{what}: expected {expected}{(detail ? " with a detail" : "")}, got {result}");
            }
        }

        void ExpectCheck(string feature, long amount, TollgateResult<FeatureCheck> result, TollgateRefusal expected)
        {
            Expect($"check {feature} {amount}", result, expected, detail: false);
            if (result.Value is { } answer && (answer.Allowed || answer.Reason != expected))
            {
                mismatches.Add($"check {feature} {amount}: the answer says allowed={answer.Allowed}, reason={answer.Reason}");
            }
        }

        async Task<TollgateResult<FeatureCheck>> Check(string feature, long amount = 1) => await tollgate.CheckAsync(new CheckRequest(c, feature) { Amount = amount }, Ct);
        async Task<TollgateResult<UsageRecord>> Use(string feature, long amount, string? key = null) =>
            await tollgate.UseAsync(new UsageRequest(c, feature, amount) { IdempotencyKey = key }, Ct);
        async Task<TollgateResult<Hold>> HoldOf(string feature, long amount, string? key = null, TimeSpan? ttl = null) =>
            await tollgate.CreateHoldAsync(new CreateHoldRequest(c, feature, amount) { IdempotencyKey = key, TimeToLive = ttl }, Ct);

        // The free plan, no credits, one video job in flight.
        (await tollgate.UpsertCustomerAsync(new UpsertCustomerRequest(c), Ct)).EnsureSuccess();
        var job = (await HoldOf("video_jobs", 1)).EnsureSuccess();

        ExpectCheck("hd_export", 1, await Check("hd_export"), TollgateRefusal.NotEntitled);
        ExpectCheck("credits", 1, await Check("credits"), TollgateRefusal.InsufficientBalance);
        ExpectCheck("ai_messages", 51, await Check("ai_messages", 51), TollgateRefusal.QuotaExceeded);
        ExpectCheck("projects", 2, await Check("projects", 2), TollgateRefusal.LimitReached);
        ExpectCheck("video_jobs", 1, await Check("video_jobs"), TollgateRefusal.ConcurrencyLimit);
        Expect("check of an unknown feature", await Check("teleportation"), TollgateRefusal.UnknownFeature);
        Expect("check of 0", await Check("credits", 0), TollgateRefusal.InvalidRequest);
        Expect("check of a malformed id", await tollgate.CheckAsync(new CheckRequest("no spaces allowed", "credits"), Ct), TollgateRefusal.InvalidRequest);

        Expect("usage of credits", await Use("credits", 1), TollgateRefusal.InsufficientBalance);
        Expect("usage over the allowance", await Use("ai_messages", 51), TollgateRefusal.QuotaExceeded);
        Expect("usage over a count limit", await Use("projects", 2), TollgateRefusal.LimitReached);
        Expect("usage of a count no plan includes", await Use("api_keys", 1), TollgateRefusal.NotEntitled);
        Expect("usage of an unknown feature", await Use("teleportation", 1), TollgateRefusal.UnknownFeature);
        Expect("usage of a boolean feature", await Use("hd_export", 1), TollgateRefusal.InvalidRequest);
        (await Use("ai_messages", 1, $"k-{c}")).EnsureSuccess();
        Expect("usage with a reused key", await Use("ai_messages", 2, $"k-{c}"), TollgateRefusal.IdempotencyKeyReused);

        Expect("hold of credits", await HoldOf("credits", 1), TollgateRefusal.InsufficientBalance);
        Expect("hold over the allowance", await HoldOf("ai_messages", 60), TollgateRefusal.QuotaExceeded);
        Expect("a second video job", await HoldOf("video_jobs", 1), TollgateRefusal.ConcurrencyLimit);
        Expect("hold of an unknown feature", await HoldOf("teleportation", 1), TollgateRefusal.UnknownFeature);
        Expect("hold of a count feature", await HoldOf("projects", 1), TollgateRefusal.InvalidRequest);
        Expect("hold of zero seconds", await HoldOf("ai_messages", 1, ttl: TimeSpan.Zero), TollgateRefusal.InvalidRequest);
        (await HoldOf("ai_messages", 2, $"h-{c}")).EnsureSuccess();
        Expect("hold with a reused key", await HoldOf("ai_messages", 3, $"h-{c}"), TollgateRefusal.IdempotencyKeyReused);

        var held = (await HoldOf("ai_messages", 4)).EnsureSuccess();
        Expect("settling more than was held", await tollgate.SettleHoldAsync(new SettleHoldRequest(held.Id) { Amount = 5 }, Ct), TollgateRefusal.InvalidRequest);
        (await tollgate.SettleHoldAsync(new SettleHoldRequest(held.Id) { Amount = 4 }, Ct)).EnsureSuccess();
        Expect("settling twice", await tollgate.SettleHoldAsync(new SettleHoldRequest(held.Id), Ct), TollgateRefusal.HoldNotActive);
        Expect("settling no hold", await tollgate.SettleHoldAsync(new SettleHoldRequest("hold_nope"), Ct), TollgateRefusal.HoldNotFound);
        (await tollgate.ReleaseHoldAsync(job.Id, Ct)).EnsureSuccess();
        Expect("releasing twice", await tollgate.ReleaseHoldAsync(job.Id, Ct), TollgateRefusal.HoldNotActive);
        Expect("releasing no hold", await tollgate.ReleaseHoldAsync("hold_nope", Ct), TollgateRefusal.HoldNotFound);

        Expect("grant of an unknown feature", await tollgate.GrantAsync(new CreateGrantRequest(c, "teleportation", 5, "x"), Ct), TollgateRefusal.UnknownFeature);
        Expect("grant of a boolean feature", await tollgate.GrantAsync(new CreateGrantRequest(c, "hd_export", 5, "x"), Ct), TollgateRefusal.InvalidRequest);
        Expect("grant expiring in the past", await tollgate.GrantAsync(new CreateGrantRequest(c, "credits", 5, "x") { ExpiresAt = TimeProvider.System.GetUtcNow().AddDays(-1) }, Ct),
            TollgateRefusal.InvalidRequest);
        Expect("grant without a reason", await tollgate.GrantAsync(new CreateGrantRequest(c, "credits", 5, " "), Ct), TollgateRefusal.InvalidRequest);
        (await tollgate.GrantAsync(new CreateGrantRequest(c, "credits", 5, "x") { IdempotencyKey = $"g-{c}" }, Ct)).EnsureSuccess();
        Expect("grant with a reused key", await tollgate.GrantAsync(new CreateGrantRequest(c, "credits", 6, "x") { IdempotencyKey = $"g-{c}" }, Ct),
            TollgateRefusal.IdempotencyKeyReused);

        Expect("capabilities of a malformed id", await tollgate.GetCapabilitiesAsync("bad id", Ct), TollgateRefusal.InvalidRequest);
        Expect("balances of a malformed id", await tollgate.GetBalancesAsync("bad id", Ct), TollgateRefusal.InvalidRequest);
        Expect("products of a provider not enabled", await tollgate.GetProductsAsync(provider: "nope", cancellationToken: Ct), TollgateRefusal.InvalidRequest);
        Expect("upsert with a bad email", await tollgate.UpsertCustomerAsync(new UpsertCustomerRequest(c) { Email = "no-at-sign" }, Ct), TollgateRefusal.InvalidRequest);
        Expect("portal of nobody", await tollgate.CreatePortalLinkAsync(TollgateServer.NewCustomerId(), Ct), TollgateRefusal.CustomerNotFound);
        Expect("portal of a malformed id", await tollgate.CreatePortalLinkAsync("bad id", Ct), TollgateRefusal.InvalidRequest);

        Expect("checkout of nothing", await tollgate.CreateCheckoutAsync(new CreateCheckoutRequest(c, "moon_pack"), Ct), TollgateRefusal.UnknownProduct);
        Expect("checkout of the free plan", await tollgate.CreateCheckoutAsync(new CreateCheckoutRequest(c, "free"), Ct), TollgateRefusal.InvalidRequest);
        Expect("checkout through a provider not enabled", await tollgate.CreateCheckoutAsync(new CreateCheckoutRequest(c, "starter_pack") { Provider = "stripe" }, Ct),
            TollgateRefusal.InvalidRequest);
        Expect("checkout through a failing provider", await tollgate.CreateCheckoutAsync(new CreateCheckoutRequest(c, "starter_pack") { Provider = "creem" }, Ct),
            TollgateRefusal.ProviderError);
        Expect("checkout that does not exist", await tollgate.GetCheckoutAsync("chk_nope", Ct), TollgateRefusal.CheckoutNotFound);
        Expect("ensure of nothing", await tollgate.EnsureAccessAsync(new EnsureAccessRequest(c, "feature:x", "moon_pack"), Ct), TollgateRefusal.UnknownProduct);
        Expect("ensure of a malformed id", await tollgate.EnsureAccessAsync(new EnsureAccessRequest("bad id", "feature:x", "pro"), Ct), TollgateRefusal.InvalidRequest);
        var pack = (await tollgate.CreateCheckoutAsync(new CreateCheckoutRequest(c, "new_user_pack"), Ct)).EnsureSuccess();
        Assert.Equal(HttpStatusCode.Redirect, await PaySandboxAsync(pack.Url));
        await CompletedAsync(tollgate, pack.Id);
        Expect("ensure through a pack bought once already", await tollgate.EnsureAccessAsync(new EnsureAccessRequest(c, "feature:x", "new_user_pack"), Ct),
            TollgateRefusal.NotEligible);

        Assert.True(mismatches.Count == 0, string.Join(Environment.NewLine, mismatches));
    }

    [Fact]
    public async Task ARejectedKey_IsATollgateException_NotARefusal()
    {
        server.Require();

        var error = await Assert.ThrowsAsync<TollgateException>(() =>
            server.Client(secretKey: "tg_wrong_key_0123456789").GetCapabilitiesAsync(TollgateServer.NewCustomerId(), Ct));

        Assert.Equal((401, "unauthorized", 1), (error.Status, error.Code, error.Attempts));
    }

    /// <summary>
    /// The server documents, per operation, every problem code it may answer (its OpenAPI document). Each code of the
    /// calls ITollgate makes must be a refusal this client knows, or one it deliberately treats as a failure; a code
    /// added to the server fails here until the vocabulary learns it.
    /// </summary>
    [Fact]
    public async Task EveryCodeTheServerDocuments_ForTheseCalls_IsKnown()
    {
        server.Require();
        var document = JsonNode.Parse(await server.Raw.GetStringAsync(new Uri("openapi/v1.json", UriKind.Relative), Ct))!;
        string[] operations = ["check", "usage", "createHold", "settleHold", "releaseHold", "createGrant", "getCapabilities", "getBalances",
            "createCheckout", "getCheckout", "ensureAccess", "createPortalLink", "upsertCustomer", "listMembers", "startTrial", "listProducts"];

        var found = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var (_, path) in document["paths"]!.AsObject())
        {
            foreach (var (_, operation) in path!.AsObject())
            {
                if (operation?["operationId"]?.GetValue<string>() is not { } id || !operations.Contains(id))
                {
                    continue;
                }

                var codes = found[id] = [];
                foreach (var (_, response) in operation["responses"]!.AsObject())
                {
                    foreach (var code in response!["content"]?["application/problem+json"]?["schema"]?["allOf"]?[1]?["properties"]?["code"]?["enum"]?.AsArray()
                                 ?? [])
                    {
                        codes.Add(code!.GetValue<string>());
                    }
                }
            }
        }

        Assert.Equal(operations.Order(StringComparer.Ordinal), found.Keys.Order(StringComparer.Ordinal));
        var unknown = found.SelectMany(p => p.Value.Where(code => !TollgateRefusal.FromCode(code).IsKnown && !Http.TollgateHttp.IsFailureCode(code))
            .Select(code => $"{p.Key}: {code}")).ToList();
        Assert.True(unknown.Count == 0, "codes neither a known refusal nor a failure: " + string.Join(", ", unknown));
        Assert.Contains("quota_exceeded", found["usage"]);
        Assert.Contains("unauthorized", found["check"]);
    }

    private async Task<List<JsonNode>> EntriesAsync(string customer, string feature, string? type = null)
    {
        var page = JsonNode.Parse(await server.Raw.GetStringAsync(new Uri($"v1/customers/{customer}/ledger?feature={feature}&limit=200", UriKind.Relative), Ct))!;
        return page["entries"]!.AsArray().Select(e => e!).Where(e => type is null || (string)e["type"]! == type).ToList();
    }

    /// <summary>Pays a Sandbox checkout as its page's form does, with the test card that succeeds.</summary>
    private async Task<HttpStatusCode> PaySandboxAsync(Uri checkoutUrl)
    {
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { Timeout = TimeSpan.FromSeconds(60) };
        using var response = await http.PostAsync(checkoutUrl, new FormUrlEncodedContent([new("card", "4242 4242 4242 4242")]), Ct);
        return response.StatusCode;
    }

    /// <summary>The checkout once the Sandbox's signed webhook was applied (or it failed).</summary>
    private static async Task<CheckoutSession> CompletedAsync(ITollgate tollgate, string checkoutId)
    {
        var until = TimeProvider.System.GetUtcNow().AddSeconds(60);
        while (true)
        {
            var checkout = (await tollgate.GetCheckoutAsync(checkoutId, Ct)).EnsureSuccess();
            if (checkout.Status != CheckoutState.Open || TimeProvider.System.GetUtcNow() > until)
            {
                return checkout;
            }

            await Task.Delay(100, Ct);
        }
    }
}
