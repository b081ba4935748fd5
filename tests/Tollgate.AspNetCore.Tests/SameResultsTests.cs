using Tollgate.AspNetCore.Tests.Support;
using Tollgate.Client;
using Tollgate.Storage;

namespace Tollgate.AspNetCore.Tests;

public sealed class SqliteSameResultsTests : SameResultsTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresSameResultsTests : SameResultsTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}

/// <summary>
/// The same app code against the engine in process and against the same engine over HTTP through Tollgate.Client:
/// every call of <see cref="ITollgate"/>, its successes and its refusals, must come out the same.
/// </summary>
public abstract class SameResultsTests
{
    protected abstract DatabaseProvider Provider { get; }

    /// <summary>App code: a customer's life in calls, each answer written down without the ids and instants that differ
    /// between two runs.</summary>
    private static async Task<List<string>> RunAppCodeAsync(ITollgate tollgate, string customer)
    {
        var log = new List<string>();
        void Note<T>(string call, TollgateResult<T> result, Func<T, string> show) where T : class =>
            log.Add($"{call}: {(result.Succeeded ? "ok " + show(result.Value) : "refused " + result.Refusal!.Code + (result.Value is { } v ? " " + show(v) : ""))}");

        Note("upsert", await tollgate.UpsertCustomerAsync(new UpsertCustomerRequest(customer) { Email = "a@example.com", Name = "Ada" }),
            c => $"{c.Email} {c.Name} {c.Plan} {c.Subscriptions.Count}");
        Note("upsert bad email", await tollgate.UpsertCustomerAsync(new UpsertCustomerRequest(customer) { Email = "nope" }), c => c.Id);
        Note("check", await tollgate.CheckAsync(new CheckRequest(customer, "ai_messages") { Amount = 5 }),
            c => $"{c.Allowed} {c.Balance?.Available} {c.Balance?.Limit} {c.Balance?.Used}");
        Note("check boolean", await tollgate.CheckAsync(new CheckRequest(customer, "hd_export")), c => $"{c.Allowed} {c.Reason}");
        Note("check unknown", await tollgate.CheckAsync(new CheckRequest(customer, "teleport")), c => c.Feature);
        Note("check bad id", await tollgate.CheckAsync(new CheckRequest("has space", "ai_messages")), c => c.Feature);
        Note("use", await tollgate.UseAsync(new UsageRequest(customer, "ai_messages", 7)), u => $"{u.Feature} {u.Remaining}");
        Note("use too much", await tollgate.UseAsync(new UsageRequest(customer, "ai_messages", 44)), u => u.Feature);
        Note("use boolean", await tollgate.UseAsync(new UsageRequest(customer, "hd_export", 1)), u => u.Feature);
        Note("use credits", await tollgate.UseAsync(new UsageRequest(customer, "credits", 1)), u => u.Feature);
        Note("grant", await tollgate.GrantAsync(new CreateGrantRequest(customer, "credits", 20, "welcome")), g => $"{g.Feature} {g.Amount}");
        var spent = await tollgate.UseAsync(new UsageRequest(customer, "credits", 4));
        Note("use granted credits", spent, u => $"{u.Feature} {u.Remaining}");
        var undo = new ReverseUsageRequest(spent.Value!.EntryId!) { IdempotencyKey = customer + "-undo" };
        Note("reverse", await tollgate.ReverseUsageAsync(undo), Reversal);
        Note("reverse same key", await tollgate.ReverseUsageAsync(undo), Reversal);
        Note("reverse again", await tollgate.ReverseUsageAsync(new ReverseUsageRequest(spent.Value.EntryId!)), Reversal);
        Note("reverse same key other entry", await tollgate.ReverseUsageAsync(undo with { EntryId = "ent_missing" }), Reversal);
        Note("reverse missing", await tollgate.ReverseUsageAsync(new ReverseUsageRequest("ent_missing") { IdempotencyKey = customer + "-missing" }), Reversal);
        Note("reverse missing, key reused", await tollgate.ReverseUsageAsync(undo with { IdempotencyKey = customer + "-missing" }), Reversal);
        Note("reverse empty id", await tollgate.ReverseUsageAsync(new ReverseUsageRequest("")), Reversal);
        Note("grant negative", await tollgate.GrantAsync(new CreateGrantRequest(customer, "credits", -1, "x")), g => g.Feature);
        Note("grant boolean", await tollgate.GrantAsync(new CreateGrantRequest(customer, "hd_export", 1, "x")), g => g.Feature);
        var hold = await tollgate.CreateHoldAsync(new CreateHoldRequest(customer, "credits", 8));
        Note("hold", hold, h => $"{h.Status} {h.Amount} {h.Feature}");
        Note("hold too much", await tollgate.CreateHoldAsync(new CreateHoldRequest(customer, "credits", 13)), h => h.Feature);
        Note("settle part", await tollgate.SettleHoldAsync(new SettleHoldRequest(hold.Value!.Id) { Amount = 3 }), s => $"{s.Status} {s.Settled} {s.Released}");
        Note("settle again", await tollgate.SettleHoldAsync(new SettleHoldRequest(hold.Value.Id)), s => s.Id);
        Note("release missing", await tollgate.ReleaseHoldAsync("hold_missing"), r => r.Id);
        var second = await tollgate.CreateHoldAsync(new CreateHoldRequest(customer, "video_jobs", 1) { TimeToLive = TimeSpan.FromMinutes(5) });
        Note("hold slot", second, h => $"{h.Status} {h.Amount}");
        Note("hold second slot", await tollgate.CreateHoldAsync(new CreateHoldRequest(customer, "video_jobs", 1)), h => h.Feature);
        Note("release", await tollgate.ReleaseHoldAsync(second.Value!.Id), r => $"{r.Status}");
        Note("capabilities", await tollgate.GetCapabilitiesAsync(customer), c => string.Join(",", c.Items.Order(StringComparer.Ordinal)));
        Note("balances", await tollgate.GetBalancesAsync(customer), b => string.Join(";", b.Items.OrderBy(i => i.Feature, StringComparer.Ordinal)
            .Select(i => $"{i.Feature}:{i.Type}:{i.Available}:{i.Held}:{i.Debt}:{i.Limit}:{i.Used}:{string.Join("+", i.Lots.Select(l => $"{l.Source}/{l.Amount}/{l.Remaining}"))}")));
        Note("products", await tollgate.GetProductsAsync(customer), p => $"{p.Provider} " + string.Join(",", p.Plans.Select(l =>
            $"{l.Id}/{l.Interval}/{l.Price?.Amount}/{l.Eligible}/{l.Features.Count}")) + " " + string.Join(",", p.Packs.Select(k => $"{k.Id}/{k.Credits}/{k.Eligible}")));
        Note("products bad provider", await tollgate.GetProductsAsync(provider: "paypal"), p => p.Provider);
        Note("checkout unknown", await tollgate.CreateCheckoutAsync(new CreateCheckoutRequest(customer, "platinum")), c => c.Id);
        var checkout = await tollgate.CreateCheckoutAsync(new CreateCheckoutRequest(customer, "starter_pack"));
        Note("checkout", checkout, c => $"{c.Provider} {c.Status} {c.Product} {c.CustomerId == customer}");
        Note("get checkout", await tollgate.GetCheckoutAsync(checkout.Value!.Id), c => $"{c.Status} {c.Product}");
        Note("get checkout missing", await tollgate.GetCheckoutAsync("chk_missing"), c => c.Id);
        Note("ensure", await tollgate.EnsureAccessAsync(new EnsureAccessRequest(customer, "feature:hd_export", "pro")),
            a => $"{a.AlreadyHasAccess} {a.CheckoutId is not null}");
        Note("ensure has", await tollgate.EnsureAccessAsync(new EnsureAccessRequest(customer, "plan:free", "pro")), a => $"{a.AlreadyHasAccess}");
        Note("portal", await tollgate.CreatePortalLinkAsync(customer), p => p.Url.AbsolutePath);
        Note("portal unknown", await tollgate.CreatePortalLinkAsync(customer + "x"), p => p.Url.AbsolutePath);

        // An organization: members billed on it, listed, and one leaving.
        var org = customer + "-org";
        var (first, other) = (customer + "-m1", customer + "-m2");
        Note("org", await tollgate.UpsertCustomerAsync(new UpsertCustomerRequest(org) { Name = "Org" }), c => $"{c.Name} {c.BillingCustomerId is null}");
        Note("join", await tollgate.UpsertCustomerAsync(new UpsertCustomerRequest(first) { BillingCustomerId = org }), c => $"{c.BillingCustomerId == org}");
        Note("join again", await tollgate.UpsertCustomerAsync(new UpsertCustomerRequest(first) { Name = "M1" }), c => $"{c.Name} {c.BillingCustomerId == org}");
        Note("join second", await tollgate.UpsertCustomerAsync(new UpsertCustomerRequest(other) { BillingCustomerId = org }), c => $"{c.BillingCustomerId == org}");
        Note("join missing org", await tollgate.UpsertCustomerAsync(new UpsertCustomerRequest(customer + "-m3") { BillingCustomerId = customer + "-none" }), c => c.Id);
        Note("join itself", await tollgate.UpsertCustomerAsync(new UpsertCustomerRequest(first) { BillingCustomerId = first }), c => c.Id);
        Note("join a member", await tollgate.UpsertCustomerAsync(new UpsertCustomerRequest(customer + "-m4") { BillingCustomerId = first }), c => c.Id);
        Note("join and leave", await tollgate.UpsertCustomerAsync(new UpsertCustomerRequest(first) { BillingCustomerId = org, LeaveBillingCustomer = true }), c => c.Id);
        Note("join bad id", await tollgate.UpsertCustomerAsync(new UpsertCustomerRequest(first) { BillingCustomerId = "has space" }), c => c.Id);
        Note("member uses", await tollgate.UseAsync(new UsageRequest(first, "ai_messages", 2)), u => $"{u.Remaining}");
        Note("org balance", await tollgate.GetBalancesAsync(org), b => $"{b.For("ai_messages")?.Used}");
        Note("members", await tollgate.GetMembersAsync(new MembersRequest(org)), Members);
        var page = await tollgate.GetMembersAsync(new MembersRequest(org) { Limit = 1 });
        Note("members page", page, Members);
        Note("members next page", await tollgate.GetMembersAsync(new MembersRequest(org) { Limit = 1, After = page.Value?.Next }), Members);
        Note("members bad limit", await tollgate.GetMembersAsync(new MembersRequest(org) { Limit = 0 }), Members);
        Note("members unknown", await tollgate.GetMembersAsync(new MembersRequest(customer + "-none")), Members);
        Note("leave", await tollgate.UpsertCustomerAsync(new UpsertCustomerRequest(first) { LeaveBillingCustomer = true }), c => $"{c.BillingCustomerId is null} {c.Name}");
        Note("members after leave", await tollgate.GetMembersAsync(new MembersRequest(org)), Members);

        // A card-less trial (the catalog's pro plan has trial_days here), once per customer and plan.
        Note("trial", await tollgate.StartTrialAsync(new StartTrialRequest(customer, "pro")), Trial);
        Note("trial again", await tollgate.StartTrialAsync(new StartTrialRequest(customer, "pro")), Trial);
        Note("trial without trial days", await tollgate.StartTrialAsync(new StartTrialRequest(first, "pro_yearly")), Trial);
        Note("trial unknown plan", await tollgate.StartTrialAsync(new StartTrialRequest(first, "platinum")), Trial);
        Note("trial no plan", await tollgate.StartTrialAsync(new StartTrialRequest(first, "")), Trial);
        Note("on trial", await tollgate.GetCapabilitiesAsync(customer), c => $"{c.Has("plan:pro")} {c.Has("feature:hd_export")}");
        return log;

        static string Trial(PlanSubscription t) => $"{t.Plan} {t.Status} {t.CancelAtPeriodEnd} {t.CurrentPeriodEnd - t.CurrentPeriodStart}";

        string Members(Members m) => $"{m.CustomerId == org} " + string.Join(",", m.Items.Select(i => i.Id == first ? "m1" : i.Id == other ? "m2" : "?"))
            + $" next:{(m.Next is null ? "none" : m.Next == first ? "m1" : "?")}";
    }

    private static string Reversal(UsageReversal r) =>
        $"{r.Restored} {r.Expired} {r.Clawed} " + string.Join("+", r.Draws.Select(d => $"{d.Feature}/{d.Amount}"));

    [Fact]
    public async Task TheSameAppCode_InProcessAndThroughTheClient_GetsTheSameResults()
    {
        if (Provider == DatabaseProvider.Postgres)
        {
            _ = Tollgate.Testing.Postgres.ConnectionString;
        }

        // The demo catalog, with a 14-day trial on pro.
        var demo = Tollgate.Core.Catalog.CatalogLoader.DemoYaml();
        await using var app = await EmbeddedApp.StartAsync(Provider, kestrel: true,
            catalogYaml: demo.Replace("  pro:\n    name: Pro\n", "  pro:\n    name: Pro\n    trial_days: 14\n", StringComparison.Ordinal));
        using var http = new HttpClient();
        var remote = new TollgateClient(http, new TollgateClientOptions { BaseAddress = app.Address, SecretKey = EmbeddedApp.ApiKey });

        var inProcess = await RunAppCodeAsync(app.Tollgate, EmbeddedApp.NewCustomer());
        var overHttp = await RunAppCodeAsync(remote, EmbeddedApp.NewCustomer());

        Assert.Equal(overHttp, inProcess);
        // Not vacuous: both runs saw successes and each kind of refusal the script provokes.
        foreach (var expected in new[] { "use too much: refused quota_exceeded", "check unknown: refused unknown_feature", "settle part: ok Settled 3 5",
            "hold second slot: refused concurrency_limit", "portal unknown: refused customer_not_found",
            "reverse: ok 4 0 0 credits/4", "reverse same key: ok 4 0 0 credits/4", "reverse again: refused already_reversed",
            "reverse same key other entry: refused idempotency_key_reused", "reverse missing: refused entry_not_found",
            "reverse missing, key reused: refused idempotency_key_reused", "checkout: ok sandbox Open starter_pack True",
            "join: ok True", "join missing org: refused customer_not_found", "join a member: refused conflict", "join and leave: refused invalid_request",
            "org balance: ok 2", "members: ok True m1,m2 next:none", "members page: ok True m1 next:m1", "members next page: ok True m2 next:none",
            "members unknown: refused customer_not_found", "leave: ok True M1", "members after leave: ok True m2 next:none",
            "trial: ok pro trialing False 14.00:00:00", "trial again: refused not_eligible", "trial unknown plan: refused unknown_product",
            "trial no plan: refused invalid_request", "on trial: ok True True" })
        {
            Assert.True(inProcess.Any(l => l.StartsWith(expected, StringComparison.Ordinal)), $"no '{expected}' in:\n{string.Join("\n", inProcess)}");
        }
    }
}
