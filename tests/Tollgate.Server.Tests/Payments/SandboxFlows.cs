using Microsoft.Extensions.DependencyInjection;
using Tollgate.Core.Payments;
using Tollgate.Providers.Sandbox;
using Tollgate.Server.Tests.Support;
using Tollgate.Storage;

namespace Tollgate.Server.Tests.Payments;

/// <summary>Money into credits and plans through the Sandbox: its checkout page, its signed webhooks to
/// /webhooks/sandbox, the same pipeline as the real providers.</summary>
public abstract class SandboxFlows : AppTestBase
{
    private SandboxBilling Sandbox => App.Services.GetRequiredService<SandboxBilling>();

    [Fact]
    public async Task BuyingAPack_GrantsItsCredits_OnceThePaymentIsConfirmed_AndTheOncePerCustomerPackIsThenIneligible()
    {
        var c = TollgateApp.NewCustomer();

        var (checkoutId, status) = await App.BuyInSandboxAsync(c, "new_user_pack");
        var checkout = await Json.ReadAsync(await Client.GetAsync($"/v1/checkouts/{checkoutId}"), 200);
        var credits = await App.BalanceAsync(c, "credits");
        var products = await Json.ReadAsync(await Client.GetAsync($"/v1/products?customer_id={c}"), 200);
        var again = await App.PostAsync("/v1/checkouts", new { customer_id = c, product = "new_user_pack" });

        Assert.Equal(302, status);
        Assert.Equal(("completed", 60L), ((string)checkout["status"]!, (long)checkout["granted"]!["credits"]!));
        Assert.Equal(60, (long)credits["available"]!);
        var lot = credits["lots"]!.AsArray().Single()!;
        Assert.Equal(("payment", "2027-01-15T09:00:00+00:00"), ((string)lot["source"]!, (string)lot["expires_at"]!));
        Assert.False((bool)products["packs"]!.AsArray().Single(p => (string)p!["id"]! == "new_user_pack")!["eligible"]!);
        Assert.True((bool)products["packs"]!.AsArray().Single(p => (string)p!["id"]! == "starter_pack")!["eligible"]!);
        await Json.ProblemAsync(again, 409, "not_eligible");
    }

    /// <summary>CheckoutCancelRace: the customer pays in one tab while cancelling in another. Exactly one wins each round —
    /// a paid checkout is not cancelled and a cancelled one grants nothing — and the books hold exactly the paid rounds.</summary>
    [Fact]
    public async Task CheckoutCancelRace_PayAndCancelAtOnce_ExactlyOneWins()
    {
        var c = TollgateApp.NewCustomer();
        var paidRounds = 0;
        for (var round = 0; round < 25; round++)
        {
            var checkout = await Json.ReadAsync(await App.PostAsync("/v1/checkouts", new { customer_id = c, product = "starter_pack" }), 201);
            var session = new Uri((string)checkout["url"]!).Segments[^1];
            using var start = new SemaphoreSlim(0, 2);
            var pay = Task.Run(async () => { await start.WaitAsync(); return await Sandbox.PayAsync(session, "4242424242424242", CancellationToken.None); });
            var cancel = Task.Run(async () => { await start.WaitAsync(); return await Sandbox.CancelAsync(session, CancellationToken.None); });
            start.Release(2);
            var (paid, cancelled) = (await pay, await cancel);

            var won = paid.Result == SandboxPayment.Paid;
            Assert.True(won ^ (cancelled?.Status == "canceled"), $"round {round}: pay {paid.Result}, cancel {cancelled?.Status}");
            paidRounds += won ? 1 : 0;
            var status = (string)(await Json.ReadAsync(await Client.GetAsync($"/v1/checkouts/{checkout["id"]}"), 200))["status"]!;
            Assert.Equal(won, status == "completed");
        }

        // The books: one payment and 100 credits per paid round, nothing for a cancelled one.
        var balance = await App.BalanceAsync(c, "credits");
        Assert.Equal(100L * paidRounds, (long)balance["available"]!);
        Assert.Equal(paidRounds, balance["lots"]!.AsArray().Count);
        Assert.Equal(paidRounds, (await App.Services.GetRequiredService<IPaymentStore>().ListPaymentsAsync(c, CancellationToken.None)).Count);
    }

    [Fact]
    public async Task ADeclinedCard_GrantsNothing_AndMarksTheCheckoutFailed_ThenAGoodCardStillPays()
    {
        var c = TollgateApp.NewCustomer();
        var checkout = await Json.ReadAsync(await App.PostAsync("/v1/checkouts", new { customer_id = c, product = "starter_pack" }), 201);
        var page = new Uri((string)checkout["url"]!).PathAndQuery;

        var declined = await Client.PostAsync(page, new FormUrlEncodedContent([KeyValuePair.Create("card", "4000 0000 0000 0002")]));
        var afterDecline = await Json.ReadAsync(await Client.GetAsync($"/v1/checkouts/{checkout["id"]}"), 200);
        var poor = await Client.PostAsync(page, new FormUrlEncodedContent([KeyValuePair.Create("card", "4000000000009995")]));
        var stillNothing = await App.BalanceAsync(c, "credits");
        var paid = await Client.PostAsync(page, new FormUrlEncodedContent([KeyValuePair.Create("card", "4242424242424242")]));

        Assert.Equal(402, (int)declined.StatusCode);
        Assert.Contains("declined", await declined.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(("failed", "card_declined"), ((string)afterDecline["status"]!, (string)afterDecline["failure"]!));
        Assert.Equal(402, (int)poor.StatusCode);
        Assert.Equal(0, (long)stillNothing["available"]!);
        Assert.Equal(302, (int)paid.StatusCode);
        Assert.Equal(100, (long)(await App.BalanceAsync(c, "credits"))["available"]!);
    }

    [Fact]
    public async Task ASubscription_GivesThePlan_RenewsByTheClock_AndCancelsAtPeriodEnd()
    {
        var c = TollgateApp.NewCustomer();
        await App.BuyInSandboxAsync(c, "pro");
        var customer = await Json.ReadAsync(await Client.GetAsync($"/v1/customers/{c}"), 200);
        var sub = customer["subscriptions"]![0]!;
        Assert.Equal(("pro", "active", "2026-02-15T09:00:00+00:00"), ((string?)customer["plan"], (string)sub["status"]!, (string)sub["current_period_end"]!));
        Assert.Equal(1000, (long)(await App.BalanceAsync(c, "ai_messages"))["available"]!);
        Assert.Equal(500, (long)(await App.BalanceAsync(c, "credits"))["available"]!);
        await Json.ReadAsync(await App.UseAsync(c, "credits", 200), 200);

        App.Clock.Set(new DateTimeOffset(2026, 2, 15, 9, 0, 0, TimeSpan.Zero));
        Assert.Equal(1, await Sandbox.RenewDueAsync(CancellationToken.None));
        var renewed = await Json.ReadAsync(await Client.GetAsync($"/v1/customers/{c}/subscriptions"), 200);
        Assert.Equal("2026-03-15T09:00:00+00:00", (string)renewed["subscriptions"]![0]!["current_period_end"]!);
        Assert.Equal(500, (long)(await App.BalanceAsync(c, "credits"))["available"]!); // last period's credits expired

        var cancel = await Json.ReadAsync(await App.PostAsync($"/v1/subscriptions/{sub["id"]}/cancel", new { at_period_end = true }), 202);
        var canceling = await Json.ReadAsync(await Client.GetAsync($"/v1/customers/{c}/subscriptions"), 200);
        Assert.Equal("pending", (string)cancel["status"]!);
        Assert.True((bool)canceling["subscriptions"]![0]!["cancel_at_period_end"]!);
        Assert.True((bool)(await App.CheckAsync(c, "hd_export"))["allowed"]!);

        App.Clock.Set(new DateTimeOffset(2026, 3, 15, 9, 0, 0, TimeSpan.Zero));
        await Sandbox.RenewDueAsync(CancellationToken.None);
        var ended = await Json.ReadAsync(await Client.GetAsync($"/v1/customers/{c}"), 200);
        Assert.Equal(("free", "canceled"), ((string?)ended["plan"], (string)ended["subscriptions"]![0]!["status"]!));
        Assert.False((bool)(await App.CheckAsync(c, "hd_export"))["allowed"]!);
        await Json.ProblemAsync(await App.PostAsync($"/v1/subscriptions/{sub["id"]}/cancel", null), 409, "conflict");
    }

    [Fact]
    public async Task ResumingAScheduledCancellation_KeepsTheSubscription()
    {
        var c = TollgateApp.NewCustomer();
        await App.BuyInSandboxAsync(c, "pro");
        var id = (string)(await Json.ReadAsync(await Client.GetAsync($"/v1/customers/{c}/subscriptions"), 200))["subscriptions"]![0]!["id"]!;

        await Json.ReadAsync(await App.PostAsync($"/v1/subscriptions/{id}/cancel", new { }), 202);
        await Json.ReadAsync(await App.PostAsync($"/v1/subscriptions/{id}/resume", null), 202);
        await Json.ProblemAsync(await App.PostAsync($"/v1/subscriptions/{id}/resume", null), 409, "conflict");
        App.Clock.Set(new DateTimeOffset(2026, 2, 15, 9, 0, 0, TimeSpan.Zero));
        await Sandbox.RenewDueAsync(CancellationToken.None);

        var after = await Json.ReadAsync(await Client.GetAsync($"/v1/customers/{c}"), 200);
        Assert.Equal(("pro", "active"), ((string?)after["plan"], (string)after["subscriptions"]![0]!["status"]!));
    }

    [Fact]
    public async Task ChangingPlan_ImmediatelyOrAtTheNextCycle()
    {
        var c = TollgateApp.NewCustomer();
        await App.BuyInSandboxAsync(c, "pro");
        var id = (string)(await Json.ReadAsync(await Client.GetAsync($"/v1/customers/{c}/subscriptions"), 200))["subscriptions"]![0]!["id"]!;
        await Json.ReadAsync(await App.UseAsync(c, "ai_messages", 300), 200);

        await Json.ReadAsync(await App.PostAsync($"/v1/subscriptions/{id}/change", new { plan = "team", policy = "immediate" }), 202);
        var team = await App.BalanceAsync(c, "ai_messages");
        await Json.ReadAsync(await App.PostAsync($"/v1/subscriptions/{id}/change", new { plan = "pro", policy = "next_cycle" }), 202);
        var pending = await Json.ReadAsync(await Client.GetAsync($"/v1/customers/{c}/subscriptions"), 200);
        App.Clock.Set(new DateTimeOffset(2026, 2, 15, 9, 0, 0, TimeSpan.Zero));
        await Sandbox.RenewDueAsync(CancellationToken.None);
        var renewed = await Json.ReadAsync(await Client.GetAsync($"/v1/customers/{c}"), 200);

        Assert.Equal((4700L, 5000L), ((long)team["available"]!, (long)team["limit"]!));
        Assert.Equal(("team", "pro"), ((string)pending["subscriptions"]![0]!["plan"]!, (string)pending["subscriptions"]![0]!["pending_plan"]!));
        Assert.Equal("pro", (string?)renewed["plan"]);
        Assert.Equal(1000, (long)(await App.BalanceAsync(c, "ai_messages"))["limit"]!);
        await Json.ProblemAsync(await App.PostAsync($"/v1/subscriptions/{id}/change", new { plan = "lifetime" }), 404, "unknown_product");
        await Json.ProblemAsync(await App.PostAsync($"/v1/subscriptions/{id}/change", new { plan = "pro", policy = "whenever" }), 400, "invalid_request");
        await Json.ProblemAsync(await App.PostAsync("/v1/subscriptions/sub_nope/change", new { plan = "team" }), 404, "subscription_not_found");
    }

    [Fact]
    public async Task Lifetime_GivesItsPlanAndTheIncludedPlan_AndCannotBeBoughtTwiceWhileHeld()
    {
        var c = TollgateApp.NewCustomer();

        await App.BuyInSandboxAsync(c, "lifetime");
        var capabilities = (await Json.ReadAsync(await Client.GetAsync($"/v1/customers/{c}/capabilities"), 200))["capabilities"]!.AsArray()
            .Select(x => (string)x!).ToList();

        Assert.Contains("plan:lifetime", capabilities);
        Assert.Contains("plan:pro", capabilities);
        await Json.ProblemAsync(await App.PostAsync("/v1/checkouts", new { customer_id = c, product = "lifetime" }), 409, "not_eligible");
    }

    [Fact]
    public async Task ARefundAfterPartialSpend_ClawsBack_TheSpentPartBecomesDebt_RepaidByTheNextGrant()
    {
        var c = TollgateApp.NewCustomer();
        await App.BuyInSandboxAsync(c, "starter_pack");
        await Json.ReadAsync(await App.UseAsync(c, "credits", 30), 200);
        var payment = (await App.Services.GetRequiredService<IPaymentStore>().ListPaymentsAsync(c, CancellationToken.None)).Single();

        await Sandbox.RefundAsync(c, payment.ProviderPaymentId, payment.Amount!.Value, payment.Currency!, full: true, CancellationToken.None);
        var owing = await App.BalanceAsync(c, "credits");
        var refunded = (await App.Services.GetRequiredService<IPaymentStore>().ListPaymentsAsync(c, CancellationToken.None)).Single();
        await App.GrantAsync(c, "credits", 50);
        var repaid = await App.BalanceAsync(c, "credits");

        Assert.Equal((0L, 30L), ((long)owing["available"]!, (long)owing["debt"]!));
        Assert.Equal((PaymentStatus.Refunded, 100L), (refunded.Status, refunded.CreditsClawed));
        Assert.Equal((20L, 0L), ((long)repaid["available"]!, (long)repaid["debt"]!));
    }

    [Fact]
    public async Task APartialRefund_ClawsBackItsShareOfTheCredits_Once()
    {
        var c = TollgateApp.NewCustomer();
        await App.BuyInSandboxAsync(c, "starter_pack"); // 100 credits for 500
        var payment = (await App.Services.GetRequiredService<IPaymentStore>().ListPaymentsAsync(c, CancellationToken.None)).Single();

        await Sandbox.RefundAsync(c, payment.ProviderPaymentId, 125, "USD", full: false, CancellationToken.None);
        var afterQuarter = await App.BalanceAsync(c, "credits");
        var stored = (await App.Services.GetRequiredService<IPaymentStore>().ListPaymentsAsync(c, CancellationToken.None)).Single();

        Assert.Equal(75, (long)afterQuarter["available"]!);
        Assert.Equal((PaymentStatus.Completed, 125L, 25L), (stored.Status, stored.RefundedAmount, stored.CreditsClawed));
    }

    [Fact]
    public async Task AccessEnsure_AnswersFromCapabilities_OrStartsACheckout()
    {
        var c = TollgateApp.NewCustomer();

        var missing = await Json.ReadAsync(await App.PostAsync("/v1/access/ensure", new { customer_id = c, capability = "plan:pro", product = "pro" }), 200);
        await App.BuyInSandboxAsync(c, "pro");
        var held = await Json.ReadAsync(await App.PostAsync("/v1/access/ensure", new { customer_id = c, capability = "plan:pro", product = "pro" }), 200);

        Assert.False((bool)missing["already_has_access"]!);
        Assert.StartsWith("chk_", (string?)missing["checkout_id"]);
        Assert.Contains("/sandbox/checkout/", (string?)missing["checkout_url"]);
        Assert.True((bool)held["already_has_access"]!);
        Assert.Null(held["checkout_url"]);
    }

    [Fact]
    public async Task ACheckoutNobodyPays_ExpiresAfterADay()
    {
        var c = TollgateApp.NewCustomer();
        var checkout = await Json.ReadAsync(await App.PostAsync("/v1/checkouts", new { customer_id = c, product = "starter_pack" }), 201);

        App.Clock.Advance(TimeSpan.FromHours(23));
        await App.Services.GetRequiredService<CheckoutService>().ExpireStaleAsync();
        var open = await Json.ReadAsync(await Client.GetAsync($"/v1/checkouts/{checkout["id"]}"), 200);
        App.Clock.Advance(TimeSpan.FromHours(2));
        await App.Services.GetRequiredService<CheckoutService>().ExpireStaleAsync();
        var expired = await Json.ReadAsync(await Client.GetAsync($"/v1/checkouts/{checkout["id"]}"), 200);

        Assert.Equal(("open", "expired"), ((string)open["status"]!, (string)expired["status"]!));
    }

    [Fact]
    public async Task AnExpiredCheckout_CannotBePaidOnTheSandboxPage_AndNothingIsGranted()
    {
        var c = TollgateApp.NewCustomer();
        var checkout = await Json.ReadAsync(await App.PostAsync("/v1/checkouts", new { customer_id = c, product = "starter_pack" }), 201);
        var page = new Uri((string)checkout["url"]!).PathAndQuery;

        App.Clock.Advance(CheckoutService.OpenFor);
        var late = await Client.PostAsync(page, new FormUrlEncodedContent([KeyValuePair.Create("card", "4242424242424242")]));
        var shown = await Client.GetStringAsync(page);

        Assert.Equal(409, (int)late.StatusCode);
        Assert.Contains("data-closed=\"expired\"", await late.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Contains("This checkout has expired. Nothing was charged", shown, StringComparison.Ordinal);
        Assert.DoesNotContain("name=\"card\"", shown, StringComparison.Ordinal);
        Assert.Equal(0, (long)(await App.BalanceAsync(c, "credits"))["available"]!);
        Assert.Equal("open", (string)(await Json.ReadAsync(await Client.GetAsync($"/v1/checkouts/{checkout["id"]}"), 200))["status"]!);
    }

    [Fact]
    public async Task ACanceledCheckout_CannotBePaidAfterwards_FromThePageOrASecondTab()
    {
        var c = TollgateApp.NewCustomer();
        var checkout = await Json.ReadAsync(await App.PostAsync("/v1/checkouts",
            new { customer_id = c, product = "starter_pack", cancel_url = "https://app.example/pricing?canceled=1" }), 201);
        var page = new Uri((string)checkout["url"]!).PathAndQuery;
        Assert.Contains($"action=\"{page}/cancel\"", await Client.GetStringAsync(page), StringComparison.Ordinal);

        var cancel = await Client.PostAsync(page + "/cancel", null);
        var again = await Client.PostAsync(page + "/cancel", null);
        var pay = await Client.PostAsync(page, new FormUrlEncodedContent([KeyValuePair.Create("card", "4242424242424242")]));

        Assert.Equal(302, (int)cancel.StatusCode);
        Assert.Equal("https://app.example/pricing?canceled=1", cancel.Headers.Location?.OriginalString);
        Assert.Equal(302, (int)again.StatusCode); // canceling twice goes back twice, and changes nothing
        Assert.Contains("data-closed=\"canceled\"", await Client.GetStringAsync(page), StringComparison.Ordinal);
        Assert.Equal(409, (int)pay.StatusCode);
        Assert.Equal(0, (long)(await App.BalanceAsync(c, "credits"))["available"]!);
        Assert.Equal(404, (int)(await Client.PostAsync("/sandbox/checkout/sbx_cs_nope/cancel", null)).StatusCode);
    }

    [Fact]
    public async Task ReplayingAnAppliedWebhook_ChangesNothing()
    {
        var c = TollgateApp.NewCustomer();
        await App.BuyInSandboxAsync(c, "starter_pack");
        var inbox = App.Services.GetRequiredService<IWebhookInbox>();
        var completed = (await inbox.ListByCustomerAsync(c, 10, CancellationToken.None)).Single(e => e.EventType == "checkout.completed");

        var replayed = await App.Services.GetRequiredService<WebhookProcessor>().ReplayAsync("sandbox", completed.EventId);

        Assert.Equal((WebhookStatus.Applied, 2), (replayed!.Status, replayed.Attempts));
        Assert.Equal(100, (long)(await App.BalanceAsync(c, "credits"))["available"]!);
        Assert.Single(await App.Services.GetRequiredService<IPaymentStore>().ListPaymentsAsync(c, CancellationToken.None));
    }

    [Fact]
    public async Task Checkouts_RefuseWhatCannotBeBought()
    {
        var c = TollgateApp.NewCustomer();

        await Json.ProblemAsync(await App.PostAsync("/v1/checkouts", new { customer_id = c, product = "yacht" }), 404, "unknown_product");
        await Json.ProblemAsync(await App.PostAsync("/v1/checkouts", new { customer_id = c, product = "free" }), 400, "invalid_request");
        await Json.ProblemAsync(await App.PostAsync("/v1/checkouts", new { customer_id = c, product = "pro", provider = "paypal" }), 400, "invalid_request");
        await Json.ProblemAsync(await App.PostAsync("/v1/checkouts", new { customer_id = c, product = "pro", success_url = "javascript:alert(1)" }), 400, "invalid_request");
        await Json.ProblemAsync(await App.PostAsync("/v1/checkouts", new { product = "pro" }), 400, "invalid_request");
        await Json.ProblemAsync(await Client.GetAsync("/v1/checkouts/chk_nope"), 404, "checkout_not_found");
    }

    [Fact]
    public async Task ThePortalLink_IsSignedAndShortLived()
    {
        var c = TollgateApp.NewCustomer();
        await App.SendAsync(HttpMethod.Put, $"/v1/customers/{c}", "{}");

        var portal = await Json.ReadAsync(await App.PostAsync($"/v1/customers/{c}/portal", null), 200);
        var tokens = App.Services.GetRequiredService<Server.Sessions.PortalTokens>();
        var token = Uri.UnescapeDataString(new Uri((string)portal["url"]!).Query.Split("token=")[1]);

        Assert.Equal((c, (string?)null), await tokens.ValidateAsync(token, CancellationToken.None));
        Assert.Equal("2026-01-15T10:00:00+00:00", (string)portal["expires_at"]!);
        Assert.Equal("forged", (await tokens.ValidateAsync(token[..^2] + "AA", CancellationToken.None)).Problem);
        App.Clock.Advance(TimeSpan.FromHours(1));
        Assert.Equal("expired", (await tokens.ValidateAsync(token, CancellationToken.None)).Problem);
        await Json.ProblemAsync(await App.PostAsync($"/v1/customers/{TollgateApp.NewCustomer()}/portal", null), 404, "customer_not_found");
    }
}

public sealed class SqliteSandboxFlows : SandboxFlows
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresSandboxFlows : SandboxFlows
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}

/// <summary>The flows again on PostgreSQL with one pooled connection, shared by the requests, the webhooks' flows and
/// the background workers: a flow holds its connection from its first statement to its commit, and a read in it that
/// took a second one (a plan change reading what the period granted) would wait for the pool's timeout and fail.
/// Tollgate's default pool is small (docs/operations.md, "Pool").</summary>
public sealed class PostgresSandboxFlowsOnOneConnection : SandboxFlows
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;

    protected override bool OnePooledConnection => true;
}
