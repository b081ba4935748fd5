using System.Text.Json.Nodes;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Tollgate.Core.Payments;
using Tollgate.Server.Tests.Support;
using Tollgate.Storage;
using Tollgate.Testing.Fakes;

namespace Tollgate.Server.Tests.Payments;

/// <summary>
/// The App Store end to end, on a server that trusts a test chain (built in the test, shaped like Apple's) beside the
/// built-in Apple root: StoreKit 2 transactions forwarded by the app's backend to <c>/v1/apple/transactions</c>, and App
/// Store Server Notifications V2 delivered to <c>/webhooks/apple</c>, all signed as Apple signs them, in the documented
/// payload shapes. Creem is configured too: seed 001 sells the same credits on the web and in the app.
/// </summary>
public abstract class AppleFlows : IAsyncLifetime
{
    private const string Credits60 = "com.example.credits60";
    private const string ProMonthly = "com.example.pro.monthly";
    private const string BasicMonthly = "com.example.basic.monthly";

    /// <summary>Chains the server trusts (their roots are configured) that each break one of Apple's other rules.</summary>
    private static readonly Lazy<IReadOnlyDictionary<string, AppleTestPki>> Broken = new(() => new Dictionary<string, AppleTestPki>
    {
        ["leaf without OID"] = new(new ApplePkiOptions { Name = "No leaf OID", LeafOid = false }),
        ["intermediate without OID"] = new(new ApplePkiOptions { Name = "No intermediate OID", IntermediateOid = false }),
        ["expired leaf"] = new(new ApplePkiOptions { Name = "Expired", LeafNotAfter = new DateTimeOffset(2025, 12, 31, 0, 0, 0, TimeSpan.Zero) }),
    });

    private readonly FakeAppStore _store = new(AppleTestPki.Default);
    private readonly List<string> _brokenRoots = [];
    private FakeServer _creem = null!;
    private string _catalog = null!;
    private string _root = null!;

    protected abstract DatabaseProvider Provider { get; }

    protected TollgateApp App { get; private set; } = null!;

    private DateTimeOffset Now => App.Clock.GetUtcNow();

    private IPaymentStore Payments => App.Services.GetRequiredService<IPaymentStore>();

    public async ValueTask InitializeAsync()
    {
        _creem = await FakeCreem.StartAsync();
        _root = AppleTestPki.Default.WriteRootFile();
        _catalog = Path.Combine(Path.GetTempPath(), $"tollgate-apple-catalog-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(_catalog, """
            features:
              credits: { type: credits }
              ai_messages: { type: metered, credit_cost: 1 }
              hd_export: { type: boolean }
            plans:
              free:
                default: true
                features:
                  ai_messages: { limit: 5, reset: month }
              basic:
                interval: month
                price: { amount: 999, currency: USD }
                providers: { apple: { product: com.example.basic.monthly } }
                features:
                  ai_messages: { limit: 50, reset: month }
              pro:
                interval: month
                price: { amount: 2900, currency: USD }
                providers: { apple: { product: com.example.pro.monthly }, creem: { product: prod_d1AY2Sadk9YAvLI0pj97f } }
                features:
                  hd_export: true
                  ai_messages: { limit: 100, reset: month }
                  credits: { grant: 50, reset: month }
              lifetime:
                interval: once
                price: { amount: 19900, currency: USD }
                providers: { apple: { product: com.example.lifetime } }
                features:
                  hd_export: true
            packs:
              credits60:
                credits: 60
                expires_after_days: 365
                price: { amount: 499, currency: USD }
                providers: { apple: { product: com.example.credits60 }, creem: { product: prod_pack } }
            """);
        var settings = new Dictionary<string, string?>
        {
            ["Tollgate:Catalog"] = _catalog,
            ["Tollgate:AdminKey"] = "admin_test_0123456789abcdef",
            ["Tollgate:Providers:Apple:BundleId"] = FakeAppStore.BundleId,
            ["Tollgate:Providers:Apple:Environment"] = "Production",
            ["Tollgate:Providers:Apple:RootCertificates:0"] = _root,
            ["Tollgate:Providers:Creem:ApiKey"] = FakeCreem.ApiKey,
            ["Tollgate:Providers:Creem:WebhookSecret"] = SignedWebhooks.CreemSecret,
            ["Tollgate:Providers:Creem:BaseUrl"] = _creem.BaseUrl.ToString(),
        };
        foreach (var pki in Broken.Value.Values)
        {
            _brokenRoots.Add(pki.WriteRootFile());
            settings[$"Tollgate:Providers:Apple:RootCertificates:{_brokenRoots.Count}"] = _brokenRoots[^1];
        }

        App = await TollgateApp.StartAsync(Provider, settings: settings);
    }

    public async ValueTask DisposeAsync()
    {
        await App.DisposeAsync();
        await _creem.DisposeAsync();
        File.Delete(_catalog);
        File.Delete(_root);
        _brokenRoots.ForEach(File.Delete);
        GC.SuppressFinalize(this);
    }

    private async Task<string> TokenAsync(string customer) =>
        (string)(await Json.ReadAsync(await App.PostAsync($"/v1/customers/{customer}/apple/account-token", null), 200))["app_account_token"]!;

    private Task<HttpResponseMessage> ForwardAsync(string customer, string signedTransaction) =>
        App.PostAsync("/v1/apple/transactions", new { customer_id = customer, signed_transaction = signedTransaction });

    private async Task<JsonObject> NotifyAsync(JsonObject notification, int status = 200) =>
        await Json.ReadAsync(await App.Client.SendAsync(SignedWebhooks.Post("/webhooks/apple", _store.Body(notification))), status);

    private AppleTransactionPayload Pack(string id, string? token = null) =>
        new(id, Credits60, AppleTransactionPayload.Consumable, Now) { AppAccountToken = token };

    private static AppleTransactionPayload Period(string id, DateTimeOffset start, string? token, string product = ProMonthly) =>
        new(id, product, AppleTransactionPayload.AutoRenewable, start)
        {
            OriginalTransactionId = "1000",
            ExpiresDate = start.AddMonths(1),
            AppAccountToken = token,
            Price = 29990,
        };

    private static AppleRenewalPayload Renewal(DateTimeOffset at, string? token, bool autoRenew = true, string? next = null, DateTimeOffset? grace = null) =>
        new("1000", ProMonthly, at) { AppAccountToken = token, AutoRenew = autoRenew, AutoRenewProductId = next, GracePeriodExpiresDate = grace };

    private async Task<JsonObject> CustomerAsync(string customer) => await Json.ReadAsync(await App.Client.GetAsync($"/v1/customers/{customer}"), 200);

    [Fact]
    public async Task TheAccountToken_IsAUuid_StablePerCustomer_AndDifferentForAnother()
    {
        var a = TollgateApp.NewCustomer();
        var first = await TokenAsync(a);
        var again = await TokenAsync(a);
        var other = await TokenAsync(TollgateApp.NewCustomer());

        Assert.True(Guid.TryParseExact(first, "D", out _));
        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
    }

    [Fact]
    public async Task TheOpenApiDocument_DescribesTheAppStoreEndpoints()
    {
        var document = await App.Client.GetStringAsync("/openapi/v1.json");

        Assert.Contains("\"/v1/apple/transactions\"", document, StringComparison.Ordinal);
        Assert.Contains("\"/v1/customers/{id}/apple/account-token\"", document, StringComparison.Ordinal);
    }

    [Fact]
    public async Task APackBoughtInTheApp_GrantsItsCreditsOnce_WithThePacksExpiry_AndIsRecordedAsAnApplePayment()
    {
        var c = TollgateApp.NewCustomer();
        var jws = _store.SignTransaction(Pack("2000000000000001", await TokenAsync(c)));

        var first = await Json.ReadAsync(await ForwardAsync(c, jws), 200);
        var second = await Json.ReadAsync(await ForwardAsync(c, jws), 200);
        var balance = await App.BalanceAsync(c, "credits");

        Assert.Equal(("2000000000000001", "credits60", "applied"), ((string)first["transaction_id"]!, (string)first["product"]!, (string)first["status"]!));
        Assert.Equal("duplicate", (string)second["status"]!);
        Assert.Equal(60, (long)balance["available"]!);
        var lot = balance["lots"]!.AsArray().Single()!;
        Assert.Equal(Now.AddDays(365), DateTimeOffset.Parse((string)lot["expires_at"]!, System.Globalization.CultureInfo.InvariantCulture));
        var payment = (await Payments.ListPaymentsAsync(c, CancellationToken.None)).Single();
        Assert.Equal(("apple", PaymentKind.Pack, "2000000000000001", 499L, "USD", PaymentStatus.Completed),
            (payment.Provider, payment.Kind, payment.ProviderPaymentId, payment.Amount, payment.Currency, payment.Status));
        await Books.AssertBalancedAsync(App, c);
    }

    [Fact]
    public async Task APackBoughtInQuantity_GrantsThatManyTimesItsCredits()
    {
        var c = TollgateApp.NewCustomer();

        await Json.ReadAsync(await ForwardAsync(c, _store.SignTransaction(Pack("2000000000000014") with { Quantity = 3 })), 200);

        Assert.Equal(180, (long)(await App.BalanceAsync(c, "credits"))["available"]!);
        var payment = (await Payments.ListPaymentsAsync(c, CancellationToken.None)).Single();
        Assert.Equal((180L, 1497L), (payment.Credits, payment.Amount!.Value));
    }

    [Fact]
    public async Task ConcurrentForwardsOfOneTransaction_AndItsNotification_GrantOnce()
    {
        var c = TollgateApp.NewCustomer();
        var token = await TokenAsync(c);
        var transaction = Pack("2000000000000002", token);
        var jws = _store.SignTransaction(transaction);
        var notification = _store.Notification("ONE_TIME_CHARGE", null, Now.AddSeconds(2), transaction);

        var forwards = Enumerable.Range(0, 8).Select(_ => Task.Run(() => ForwardAsync(c, jws))).ToList();
        var notified = Task.Run(() => NotifyAsync(notification));
        var answers = await Task.WhenAll(forwards);
        await notified;
        var statuses = new List<string>();
        foreach (var answer in answers)
        {
            statuses.Add((string)(await Json.ReadAsync(answer, 200))["status"]!);
        }

        Assert.InRange(statuses.Count(s => s == "applied"), 0, 1);
        Assert.All(statuses, s => Assert.Contains(s, new[] { "applied", "duplicate" }));
        Assert.Equal(60, (long)(await App.BalanceAsync(c, "credits"))["available"]!);
        Assert.Single(await Payments.ListPaymentsAsync(c, CancellationToken.None));
        await Books.AssertBalancedAsync(App, c);
    }

    [Fact]
    public async Task TheSameCustomer_BuyingOnTheWebAndInTheApp_SeesOneBalance()
    {
        var c = TollgateApp.NewCustomer();
        var web = SignedWebhooks.Sample("creem", "checkout.completed");
        web["id"] = "evt_web_pack";
        var o = web["object"]!.AsObject();
        o.Remove("subscription");
        o["request_id"] = null;
        o["order"]!["product"] = "prod_pack";
        o["product"]!["id"] = "prod_pack";
        o["metadata"] = new JsonObject { ["tollgate_customer_id"] = c, ["tollgate_product"] = "credits60" };

        await Json.ReadAsync(await App.Client.SendAsync(SignedWebhooks.Creem(web.ToJsonString())), 200);
        await Json.ReadAsync(await ForwardAsync(c, _store.SignTransaction(Pack("2000000000000003", await TokenAsync(c)))), 200);

        Assert.Equal(120, (long)(await App.BalanceAsync(c, "credits"))["available"]!);
        Assert.Equal(["apple", "creem"], (await Payments.ListPaymentsAsync(c, CancellationToken.None)).Select(p => p.Provider).Order());
        await Books.AssertBalancedAsync(App, c);
    }

    [Fact]
    public async Task ATransactionWhoseTokenBelongsToAnotherCustomer_Is409_AndNothingIsStored()
    {
        var owner = TollgateApp.NewCustomer();
        var intruder = TollgateApp.NewCustomer();
        var jws = _store.SignTransaction(Pack("2000000000000004", await TokenAsync(owner)));

        await Json.ProblemAsync(await ForwardAsync(intruder, jws), 409, "customer_mismatch");

        Assert.Equal(0, await App.CountRowsAsync("webhook_events"));
        Assert.Equal(0, await App.CountRowsAsync("payments"));
        Assert.Equal(0, (long)(await App.BalanceAsync(intruder, "credits"))["available"]!);
    }

    [Fact]
    public async Task ATransactionAlreadyRecordedForAnotherCustomer_Is409_EvenWithoutAToken()
    {
        var owner = TollgateApp.NewCustomer();
        var intruder = TollgateApp.NewCustomer();
        var jws = _store.SignTransaction(Pack("2000000000000005"));
        await Json.ReadAsync(await ForwardAsync(owner, jws), 200);

        await Json.ProblemAsync(await ForwardAsync(intruder, jws), 409, "customer_mismatch");

        Assert.Equal(0, (long)(await App.BalanceAsync(intruder, "credits"))["available"]!);
        Assert.Equal(60, (long)(await App.BalanceAsync(owner, "credits"))["available"]!);
    }

    [Fact]
    public async Task AnUnmappedProduct_Is404_AndNothingIsStored()
    {
        var c = TollgateApp.NewCustomer();
        var jws = _store.SignTransaction(new AppleTransactionPayload("2000000000000006", "com.example.unknown", AppleTransactionPayload.Consumable, Now));

        await Json.ProblemAsync(await ForwardAsync(c, jws), 404, "unknown_product");

        Assert.Equal(0, await App.CountRowsAsync("webhook_events"));
        Assert.Equal(0, await App.CountRowsAsync("provider_customers"));
    }

    public static TheoryData<string> Forgeries() =>
        ["wrong root", "leaf without OID", "intermediate without OID", "expired leaf", "alg none", "alg HS256", "tampered", "two certificates",
            "wrong bundle", "sandbox on production"];

    /// <summary>Every forgery, through both doors: refused with 401, and nothing stored or granted.</summary>
    [Theory]
    [MemberData(nameof(Forgeries))]
    public async Task AForgery_Is401_AtBothEndpoints_AndNothingIsStored(string forgery)
    {
        var c = TollgateApp.NewCustomer();
        var token = await TokenAsync(c);
        var transaction = Pack("2000000000000007", token);
        var signed = Forge(forgery, transaction);
        var notification = Forge(forgery, _store.Notification("ONE_TIME_CHARGE", null, Now, transaction));

        await Json.ProblemAsync(await ForwardAsync(c, signed), 401, "invalid_signature");
        await Json.ProblemAsync(await App.Client.SendAsync(SignedWebhooks.Post("/webhooks/apple",
            new JsonObject { ["signedPayload"] = notification }.ToJsonString())), 401, "invalid_signature");

        Assert.Equal(0, await App.CountRowsAsync("webhook_events"));
        Assert.Equal(0, await App.CountRowsAsync("payments"));
        Assert.Equal(0, (long)(await App.BalanceAsync(c, "credits"))["available"]!);
    }

    private string Forge(string forgery, AppleTransactionPayload transaction) => Forge(forgery, transaction.ToJson());

    private static string Forge(string forgery, JsonObject payload)
    {
        var pki = AppleTestPki.Default;
        switch (forgery)
        {
            case "wrong root":
                using (var stranger = new AppleTestPki(new ApplePkiOptions { Name = "Stranger" }))
                {
                    return stranger.Sign(payload);
                }

            case "leaf without OID" or "intermediate without OID" or "expired leaf":
                return Broken.Value[forgery].Sign(payload);
            case "alg none":
                return B64(new JsonObject { ["alg"] = "none", ["x5c"] = pki.X5c() }.ToJsonString()) + "." + B64(payload.ToJsonString()) + ".";
            case "alg HS256":
                var input = B64(new JsonObject { ["alg"] = "HS256", ["x5c"] = pki.X5c() }.ToJsonString()) + "." + B64(payload.ToJsonString());
                return input + "." + System.Buffers.Text.Base64Url.EncodeToString(
                    System.Security.Cryptography.HMACSHA256.HashData(pki.LeafPublicKey, System.Text.Encoding.ASCII.GetBytes(input)));
            case "tampered":
                var parts = pki.Sign(payload).Split('.');
                var edited = payload.DeepClone().AsObject();
                edited["quantity"] = 100;
                return parts[0] + "." + B64(edited.ToJsonString()) + "." + parts[2];
            case "two certificates":
                return pki.Sign(new JsonObject { ["alg"] = "ES256", ["x5c"] = pki.X5c(2) }, payload.ToJsonString());
            case "wrong bundle":
                var otherApp = payload.DeepClone().AsObject();
                (otherApp["data"]?.AsObject() ?? otherApp)["bundleId"] = "com.example.other";
                return pki.Sign(otherApp);
            default:
                var sandbox = payload.DeepClone().AsObject();
                (sandbox["data"]?.AsObject() ?? sandbox)["environment"] = "Sandbox";
                return pki.Sign(sandbox);
        }
    }

    private static string B64(string json) => System.Buffers.Text.Base64Url.EncodeToString(System.Text.Encoding.UTF8.GetBytes(json));

    [Fact]
    public async Task ASubscription_WithRenewals_AGracePeriod_AndItsEnd_OnAFakeClock()
    {
        var c = TollgateApp.NewCustomer();
        var token = await TokenAsync(c);
        var t0 = Now;
        var t1 = t0.AddMonths(1);
        var t2 = t1.AddMonths(1);

        var subscribed = await NotifyAsync(_store.Notification("SUBSCRIBED", "INITIAL_BUY", t0, Period("1000", t0, token), Renewal(t0, token), status: 1));
        var first = await CustomerAsync(c);
        var allowance = await App.BalanceAsync(c, "credits");

        App.Clock.Set(t1.AddMinutes(-30));
        await NotifyAsync(_store.Notification("DID_RENEW", null, t1.AddMinutes(-30), Period("1001", t1, token), Renewal(t1, token), status: 1));
        App.Clock.Set(t1.AddMinutes(5));
        var renewed = await App.BalanceAsync(c, "credits");

        // The next renewal fails; Apple's billing grace period keeps access 16 days past the period end.
        var graceEnd = t2.AddDays(16);
        App.Clock.Set(t2.AddMinutes(1));
        await NotifyAsync(_store.Notification("DID_FAIL_TO_RENEW", "GRACE_PERIOD", t2.AddMinutes(1), Period("1001", t1, token),
            Renewal(t2, token, grace: graceEnd), status: 4));
        App.Clock.Set(t2.AddDays(10));
        var inGrace = await App.CheckAsync(c, "hd_export");
        var graceSubscription = (await CustomerAsync(c))["subscriptions"]![0]!;

        App.Clock.Set(graceEnd.AddMinutes(1));
        await NotifyAsync(_store.Notification("GRACE_PERIOD_EXPIRED", null, graceEnd.AddMinutes(1), Period("1001", t1, token), Renewal(graceEnd, token), status: 3));
        var afterGrace = await App.CheckAsync(c, "hd_export");
        App.Clock.Set(graceEnd.AddDays(2));
        await NotifyAsync(_store.Notification("EXPIRED", "BILLING_RETRY", graceEnd.AddDays(2), Period("1001", t1, token),
            Renewal(graceEnd.AddDays(2), token, autoRenew: false), status: 2));
        var ended = await CustomerAsync(c);

        Assert.Equal("applied", (string)subscribed["status"]!);
        Assert.Equal(("pro", "active", "apple"), ((string?)first["plan"], (string)first["subscriptions"]![0]!["status"]!, (string)first["subscriptions"]![0]!["provider"]!));
        Assert.Equal(50, (long)allowance["available"]!);
        // The first period's allowance ended with it; the renewal granted the second period's, which ends with that period.
        var renewedLot = renewed["lots"]!.AsArray().Single()!;
        Assert.Equal((50L, t2), ((long)renewed["available"]!, DateTimeOffset.Parse((string)renewedLot["expires_at"]!, System.Globalization.CultureInfo.InvariantCulture)));
        Assert.True((bool)inGrace["allowed"]!);
        Assert.Equal("past_due", (string)graceSubscription["status"]!);
        Assert.False((bool)afterGrace["allowed"]!);
        Assert.Equal(("free", "expired"), ((string?)ended["plan"], (string)ended["subscriptions"]![0]!["status"]!));
        var payments = await Payments.ListPaymentsAsync(c, CancellationToken.None);
        Assert.Equal(["1000", "1001"], payments.Select(p => p.ProviderPaymentId).Order());
        Assert.All(payments, p => Assert.Equal((2999L, PaymentKind.Subscription), (p.Amount!.Value, p.Kind)));
        await Books.AssertBalancedAsync(App, c);
    }

    [Fact]
    public async Task ARenewalThatNeverArrives_EndsAccessAtExpiresDate_FailClosed()
    {
        var c = TollgateApp.NewCustomer();
        var token = await TokenAsync(c);
        var t0 = Now;
        await NotifyAsync(_store.Notification("SUBSCRIBED", "INITIAL_BUY", t0, Period("1000", t0, token), Renewal(t0, token), status: 1));

        App.Clock.Set(t0.AddMonths(1).AddMinutes(-1));
        var before = await App.CheckAsync(c, "hd_export");
        App.Clock.Set(t0.AddMonths(1));
        var at = await App.CheckAsync(c, "hd_export");

        Assert.True((bool)before["allowed"]!);
        Assert.False((bool)at["allowed"]!);
    }

    [Fact]
    public async Task TurningAutoRenewOff_CancelsAtPeriodEnd_AndBackOnResumes_AsAppleSaysSo()
    {
        var c = TollgateApp.NewCustomer();
        var token = await TokenAsync(c);
        var t0 = Now;
        await NotifyAsync(_store.Notification("SUBSCRIBED", "INITIAL_BUY", t0, Period("1000", t0, token), Renewal(t0, token), status: 1));

        await NotifyAsync(_store.Notification("DID_CHANGE_RENEWAL_STATUS", "AUTO_RENEW_DISABLED", t0.AddDays(3), Period("1000", t0, token),
            Renewal(t0.AddDays(3), token, autoRenew: false), status: 1));
        var off = (await Json.ReadAsync(await App.Client.GetAsync($"/v1/customers/{c}/subscriptions"), 200))["subscriptions"]![0]!;
        // An older notification arriving late changes nothing.
        await NotifyAsync(_store.Notification("DID_CHANGE_RENEWAL_STATUS", "AUTO_RENEW_ENABLED", t0.AddDays(2), Period("1000", t0, token),
            Renewal(t0.AddDays(2), token), status: 1));
        var stillOff = (await Json.ReadAsync(await App.Client.GetAsync($"/v1/customers/{c}/subscriptions"), 200))["subscriptions"]![0]!;
        await NotifyAsync(_store.Notification("DID_CHANGE_RENEWAL_STATUS", "AUTO_RENEW_ENABLED", t0.AddDays(4), Period("1000", t0, token),
            Renewal(t0.AddDays(4), token), status: 1));
        var on = (await Json.ReadAsync(await App.Client.GetAsync($"/v1/customers/{c}/subscriptions"), 200))["subscriptions"]![0]!;

        Assert.True((bool)off["cancel_at_period_end"]!);
        Assert.True((bool)stillOff["cancel_at_period_end"]!);
        Assert.False((bool)on["cancel_at_period_end"]!);
    }

    [Fact]
    public async Task ADowngrade_WaitsForTheRenewal_ThenTakesEffect()
    {
        var c = TollgateApp.NewCustomer();
        var token = await TokenAsync(c);
        var t0 = Now;
        var t1 = t0.AddMonths(1);
        await NotifyAsync(_store.Notification("SUBSCRIBED", "INITIAL_BUY", t0, Period("1000", t0, token), Renewal(t0, token), status: 1));

        await NotifyAsync(_store.Notification("DID_CHANGE_RENEWAL_PREF", "DOWNGRADE", t0.AddDays(5), Period("1000", t0, token),
            Renewal(t0.AddDays(5), token, next: BasicMonthly), status: 1));
        var pending = await CustomerAsync(c);
        App.Clock.Set(t1.AddMinutes(1));
        await NotifyAsync(_store.Notification("DID_RENEW", null, t1, Period("1001", t1, token, BasicMonthly), Renewal(t1, token), status: 1));
        var renewed = await CustomerAsync(c);

        Assert.Equal("pro", (string?)pending["plan"]);
        var subscription = await App.Services.GetRequiredService<Core.Subscriptions.ISubscriptionStore>().FindByProviderIdAsync("apple", "1000", CancellationToken.None);
        Assert.Equal(("basic", (string?)null), (subscription!.PlanId, subscription.PendingPlanId));
        Assert.Equal("basic", (string?)renewed["plan"]);
    }

    [Fact]
    public async Task ARefundAfterPartialSpend_BecomesDebt_AndItsReversalRestoresTheCredits()
    {
        var c = TollgateApp.NewCustomer();
        var token = await TokenAsync(c);
        var bought = Pack("2000000000000008", token);
        await Json.ReadAsync(await ForwardAsync(c, _store.SignTransaction(bought)), 200);
        await Json.ReadAsync(await App.UseAsync(c, "credits", 45), 200);

        var refunded = await NotifyAsync(_store.Notification("REFUND", null, Now.AddDays(2), bought with { RevocationDate = Now.AddDays(2) }));
        var owing = await App.BalanceAsync(c, "credits");
        var payment = (await Payments.ListPaymentsAsync(c, CancellationToken.None)).Single();
        var reversed = await NotifyAsync(_store.Notification("REFUND_REVERSED", null, Now.AddDays(5), bought));
        var restored = await App.BalanceAsync(c, "credits");

        Assert.Equal("applied", (string)refunded["status"]!);
        Assert.Equal((0L, 45L), ((long)owing["available"]!, (long)owing["debt"]!));
        Assert.Equal((PaymentStatus.Refunded, 499L, 60L), (payment.Status, payment.RefundedAmount, payment.CreditsClawed));
        Assert.Equal("applied", (string)reversed["status"]!);
        Assert.Equal((15L, 0L), ((long)restored["available"]!, (long)restored["debt"]!));
        Assert.Equal(PaymentStatus.Completed, (await Payments.ListPaymentsAsync(c, CancellationToken.None)).Single().Status);
        await Books.AssertBalancedAsync(App, c);
    }

    [Fact]
    public async Task ARefundDeliveredTwice_ClawsBackOnce()
    {
        var c = TollgateApp.NewCustomer();
        var bought = Pack("2000000000000009", await TokenAsync(c));
        await Json.ReadAsync(await ForwardAsync(c, _store.SignTransaction(bought)), 200);
        var refund = _store.Notification("REFUND", null, Now.AddDays(1), bought with { RevocationDate = Now.AddDays(1) });

        await NotifyAsync(refund);
        var again = await NotifyAsync(refund);
        // The app's backend forwards the revoked transaction too: the same refund, not a second one.
        var forwarded = await Json.ReadAsync(await ForwardAsync(c, _store.SignTransaction(bought with { RevocationDate = Now.AddDays(1) })), 200);
        await App.GrantAsync(c, "credits", 10);

        Assert.True((bool)again["duplicate"]!);
        Assert.Equal("duplicate", (string)forwarded["status"]!);
        Assert.Equal((10L, 0L), ((long)(await App.BalanceAsync(c, "credits"))["available"]!, (long)(await App.BalanceAsync(c, "credits"))["debt"]!));
        await Books.AssertBalancedAsync(App, c);
    }

    /// <summary>
    /// The race on the refund path: Apple delivers its notification more than once (and retries overlap) while the app's
    /// backend forwards the same revoked transaction, all at the same moment. One reversal, clawed back once: the spent
    /// part is debt exactly once. REVOKE (a Family Sharing purchase no longer shared) takes the same path as REFUND.
    /// </summary>
    [Theory]
    [InlineData("REFUND")]
    [InlineData("REVOKE")]
    public async Task ARefundDeliveredAndForwardedConcurrently_ClawsBackOnce(string type)
    {
        var c = TollgateApp.NewCustomer();
        var bought = Pack(type == "REFUND" ? "2000000000000017" : "2000000000000018", await TokenAsync(c));
        await Json.ReadAsync(await ForwardAsync(c, _store.SignTransaction(bought)), 200);
        await Json.ReadAsync(await App.UseAsync(c, "credits", 45), 200);
        var revoked = bought with { RevocationDate = Now.AddDays(1) };
        var notification = _store.Notification(type, null, Now.AddDays(1), revoked);
        var forwarded = _store.SignTransaction(revoked);

        var deliveries = Enumerable.Range(0, 4).Select(_ => Task.Run(() => App.Client.SendAsync(SignedWebhooks.Post("/webhooks/apple", _store.Body(notification)))));
        var forwards = Enumerable.Range(0, 4).Select(_ => Task.Run(() => ForwardAsync(c, forwarded)));
        var answers = await Task.WhenAll(deliveries.Concat(forwards));

        Assert.All(answers, a => Assert.Equal(200, (int)a.StatusCode));
        var balance = await App.BalanceAsync(c, "credits");
        Assert.Equal((0L, 45L), ((long)balance["available"]!, (long)balance["debt"]!));
        var payment = (await Payments.ListPaymentsAsync(c, CancellationToken.None)).Single();
        Assert.Equal((PaymentStatus.Refunded, 499L, 60L), (payment.Status, payment.RefundedAmount, payment.CreditsClawed));
        await Books.AssertBalancedAsync(App, c);
    }

    /// <summary>A subscription belongs to whoever it was first recorded for: another customer forwarding one of its
    /// periods (without a token, so only the subscription's owner can tell) is refused and gets nothing.</summary>
    [Fact]
    public async Task ASubscriptionPeriodForwardedByAnotherCustomer_Is409_AndGivesThemNothing()
    {
        var owner = TollgateApp.NewCustomer();
        var intruder = TollgateApp.NewCustomer();
        var t0 = Now;
        await Json.ReadAsync(await ForwardAsync(owner, _store.SignTransaction(Period("1000", t0, null))), 200);

        await Json.ProblemAsync(await ForwardAsync(intruder, _store.SignTransaction(Period("1001", t0.AddMonths(1), null))), 409, "customer_mismatch");

        Assert.Equal("pro", (string?)(await CustomerAsync(owner))["plan"]);
        // Refused before anything is stored: the intruder is not even a customer.
        await Json.ProblemAsync(await App.Client.GetAsync($"/v1/customers/{intruder}"), 404, "customer_not_found");
        Assert.Empty(await Payments.ListPaymentsAsync(intruder, CancellationToken.None));
        Assert.Single(await Payments.ListPaymentsAsync(owner, CancellationToken.None));
    }

    [Fact]
    public async Task AConsumptionRequest_IsFlaggedOnThePayment_ForTheOperator()
    {
        var c = TollgateApp.NewCustomer();
        var bought = Pack("2000000000000010", await TokenAsync(c));
        await Json.ReadAsync(await ForwardAsync(c, _store.SignTransaction(bought)), 200);
        var request = _store.Notification("CONSUMPTION_REQUEST", null, Now.AddDays(1), bought);
        request["data"]!["consumptionRequestReason"] = "UNINTENDED_PURCHASE";

        var answer = await NotifyAsync(request);
        await NotifyAsync(request);
        // An operator replaying it does not note it twice either.
        await App.Services.GetRequiredService<WebhookProcessor>().ReplayAsync("apple", (string)request["notificationUUID"]!);

        Assert.Equal("applied", (string)answer["status"]!);
        var flagged = Assert.Single(await Payments.ListFlaggedPaymentsAsync(10, CancellationToken.None));
        Assert.Equal("2000000000000010", flagged.ProviderPaymentId);
        Assert.Contains("consumption request", flagged.Flag, StringComparison.Ordinal);
        Assert.Contains("UNINTENDED_PURCHASE", flagged.Flag, StringComparison.Ordinal);
        Assert.Single(flagged.Flag!.Split("; "));
        Assert.Equal(60, (long)(await App.BalanceAsync(c, "credits"))["available"]!);
    }

    [Fact]
    public async Task TheTestNotification_IsStoredAndIgnored_AndADuplicateDeliveryChangesNothing()
    {
        var test = _store.Notification("TEST", null, Now, null);

        var first = await NotifyAsync(test);
        var again = await NotifyAsync(test);

        Assert.Equal(("ignored", false), ((string)first["status"]!, (bool)first["duplicate"]!));
        Assert.True((bool)again["duplicate"]!);
        Assert.Equal(1, await App.CountRowsAsync("webhook_events"));
    }

    [Fact]
    public async Task ASubscriptionNotificationForAnUnknownToken_IsKeptAsUnmatched()
    {
        var answer = await NotifyAsync(_store.Notification("SUBSCRIBED", "INITIAL_BUY", Now, Period("1000", Now, Guid.NewGuid().ToString("D")),
            Renewal(Now, null), status: 1));

        Assert.Equal("unmatched", (string)answer["status"]!);
    }

    [Fact]
    public async Task ASubscriptionForwardedByTheApp_BeforeAnyNotification_GivesThePlan_AndTheLaterNotificationIsADuplicate()
    {
        var c = TollgateApp.NewCustomer();
        var token = await TokenAsync(c);
        var t0 = Now;

        var forwarded = await Json.ReadAsync(await ForwardAsync(c, _store.SignTransaction(Period("1000", t0, token))), 200);
        var customer = await CustomerAsync(c);
        await NotifyAsync(_store.Notification("SUBSCRIBED", "INITIAL_BUY", t0.AddSeconds(5), Period("1000", t0, token), Renewal(t0, token), status: 1));
        var again = await Json.ReadAsync(await ForwardAsync(c, _store.SignTransaction(Period("1000", t0, token))), 200);

        Assert.Equal(("applied", "pro"), ((string)forwarded["status"]!, (string)forwarded["product"]!));
        Assert.Equal("pro", (string?)customer["plan"]);
        Assert.Equal("duplicate", (string)again["status"]!);
        Assert.Single(await Payments.ListPaymentsAsync(c, CancellationToken.None));
    }

    [Fact]
    public async Task ANonConsumable_GivesTheLifetimePlan()
    {
        var c = TollgateApp.NewCustomer();

        await Json.ReadAsync(await ForwardAsync(c, _store.SignTransaction(
            new AppleTransactionPayload("2000000000000011", "com.example.lifetime", AppleTransactionPayload.NonConsumable, Now))), 200);

        Assert.Equal("lifetime", (string?)(await CustomerAsync(c))["plan"]);
    }

    [Fact]
    public async Task ARefundedNonConsumable_EndsTheLifetimePlan_AndItsReversalRestoresIt()
    {
        var c = TollgateApp.NewCustomer();
        var bought = new AppleTransactionPayload("2000000000000016", "com.example.lifetime", AppleTransactionPayload.NonConsumable, Now)
        {
            AppAccountToken = await TokenAsync(c),
        };
        await Json.ReadAsync(await ForwardAsync(c, _store.SignTransaction(bought)), 200);

        await NotifyAsync(_store.Notification("REFUND", null, Now.AddDays(1), bought with { RevocationDate = Now.AddDays(1) }));
        var refunded = await CustomerAsync(c);
        await NotifyAsync(_store.Notification("REFUND_REVERSED", null, Now.AddDays(3), bought));
        var restored = await CustomerAsync(c);

        Assert.Equal("free", (string?)refunded["plan"]);
        Assert.Equal("lifetime", (string?)restored["plan"]);
        Assert.Equal(PaymentStatus.Completed, (await Payments.ListPaymentsAsync(c, CancellationToken.None)).Single().Status);
    }

    [Fact]
    public async Task AProductOfTheWrongKind_Is404()
    {
        var c = TollgateApp.NewCustomer();

        var problem = await Json.ProblemAsync(await ForwardAsync(c, _store.SignTransaction(
            new AppleTransactionPayload("2000000000000012", ProMonthly, AppleTransactionPayload.Consumable, Now))), 404, "unknown_product");

        Assert.Contains("recurring plan", (string?)problem["detail"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task AppleHasNoWebCheckout_NoPriceLookup_AndItsSubscriptionsAreNotCancelledFromHere()
    {
        var c = TollgateApp.NewCustomer();
        var token = await TokenAsync(c);
        await NotifyAsync(_store.Notification("SUBSCRIBED", "INITIAL_BUY", Now, Period("1000", Now, token), Renewal(Now, token), status: 1));
        var subscription = (string)(await CustomerAsync(c))["subscriptions"]![0]!["id"]!;

        var checkout = await Json.ProblemAsync(await App.PostAsync("/v1/checkouts", new { customer_id = c, product = "credits60", provider = "apple" }), 409,
            "not_supported");
        var cancel = await App.PostAsync($"/v1/subscriptions/{subscription}/cancel", new { at_period_end = true });
        var products = await Json.ReadAsync(await App.Client.GetAsync("/v1/products?provider=apple"), 200);

        Assert.Contains("apple has no web checkout", (string?)checkout["detail"], StringComparison.Ordinal);
        await Json.ProblemAsync(cancel, 409, "conflict");
        var pack = products["packs"]!.AsArray().Single(p => (string)p!["id"]! == "credits60")!;
        Assert.Equal((499L, "USD"), ((long)pack["price"]!["amount"]!, (string)pack["price"]!["currency"]!));
        Assert.Null(pack["price"]!["stale"]);
        Assert.Equal(0, await App.CountRowsAsync("checkouts"));
    }

    [Fact]
    public async Task ThePortal_ShowsAnAppStoreSubscriptionAsManagedInTheAppStore_WithoutCancelButtons()
    {
        var c = TollgateApp.NewCustomer();
        await Json.ReadAsync(await App.SendAsync(HttpMethod.Put, $"/v1/customers/{c}", "{}"), 200);
        var token = await TokenAsync(c);
        await NotifyAsync(_store.Notification("SUBSCRIBED", "INITIAL_BUY", Now, Period("1000", Now, token), Renewal(Now, token), status: 1));

        var html = await PageAsync(await PortalCookieAsync(c), "/portal");

        Assert.Contains("data-managed-at=\"apple\"", html, StringComparison.Ordinal);
        Assert.Contains($"href=\"{Tollgate.Providers.Apple.AppleAppStore.ManageSubscriptionsUrl}\"", html, StringComparison.Ordinal);
        Assert.Contains("Manage in the App Store", html, StringComparison.Ordinal);
        Assert.DoesNotContain("Cancel at period end", html, StringComparison.Ordinal);
        Assert.DoesNotContain("handler=Cancel", html, StringComparison.Ordinal);
        Assert.DoesNotContain("handler=Change", html, StringComparison.Ordinal);
        Assert.DoesNotContain("/portal/confirm", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheAdminConsole_ShowsApplePayments_AndConsumptionRequests()
    {
        var c = TollgateApp.NewCustomer();
        var bought = Pack("2000000000000015", await TokenAsync(c));
        await Json.ReadAsync(await ForwardAsync(c, _store.SignTransaction(bought)), 200);
        var request = _store.Notification("CONSUMPTION_REQUEST", null, Now.AddHours(3), bought);
        request["data"]!["consumptionRequestReason"] = "FULFILLMENT_ISSUE";
        await NotifyAsync(request);

        var sessions = App.Services.GetRequiredService<Tollgate.Server.Sessions.AdminSessions>();
        var http = new Microsoft.AspNetCore.Http.DefaultHttpContext();
        sessions.SignIn(http);
        var html = await PageAsync(http.Response.Headers.SetCookie.ToString().Split(';')[0], "/admin/payments");

        var inApp = html[html.IndexOf("data-in-app=\"apple\"", StringComparison.Ordinal)..];
        Assert.Contains("Payments made in the App Store", inApp, StringComparison.Ordinal);
        Assert.Contains("2000000000000015", inApp, StringComparison.Ordinal);
        Assert.Contains("FULFILLMENT_ISSUE", inApp, StringComparison.Ordinal);
        Assert.Contains("consumption request", html[..html.IndexOf("data-in-app", StringComparison.Ordinal)], StringComparison.Ordinal);
    }

    private async Task<string> PortalCookieAsync(string customer)
    {
        var url = (string)(await Json.ReadAsync(await App.PostAsync($"/v1/customers/{customer}/portal", null), 200))["url"]!;
        using var browser = App.App.GetTestServer().CreateClient();
        using var signIn = await browser.GetAsync(new Uri(url).PathAndQuery);
        return signIn.Headers.GetValues("Set-Cookie").Single(v => v.StartsWith("tollgate_portal=", StringComparison.Ordinal)).Split(';')[0];
    }

    private async Task<string> PageAsync(string cookie, string path)
    {
        using var browser = App.App.GetTestServer().CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Add("Cookie", cookie);
        using var response = await browser.SendAsync(request);
        var html = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode}");
        return html;
    }

    [Fact]
    public async Task AnAppOnlySetUp_WithAppleAsTheDefault_RefusesWebCheckoutsClearly_AndServesItsPages()
    {
        await using var appOnly = await TollgateApp.StartAsync(Provider, settings: new Dictionary<string, string?>
        {
            ["Tollgate:Catalog"] = _catalog,
            ["Tollgate:Providers:Default"] = "apple",
            ["Tollgate:Providers:Apple:BundleId"] = FakeAppStore.BundleId,
            ["Tollgate:Providers:Apple:RootCertificates:0"] = _root,
        });
        var c = TollgateApp.NewCustomer();

        await Json.ProblemAsync(await appOnly.PostAsync("/v1/checkouts", new { customer_id = c, product = "credits60" }), 409, "not_supported");
        await Json.ProblemAsync(await appOnly.PostAsync("/v1/access/ensure", new { customer_id = c, capability = "plan:pro", product = "pro" }), 409,
            "not_supported");
        using var pricing = await appOnly.App.GetTestServer().CreateClient().GetAsync("/pricing");
        var products = await Json.ReadAsync(await appOnly.Client.GetAsync("/v1/products"), 200);

        Assert.True(pricing.IsSuccessStatusCode);
        Assert.Equal(2900, (long)products["plans"]!.AsArray().Single(p => (string)p!["id"]! == "pro")!["price"]!["amount"]!);
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("{\"customer_id\": \"c1\"}")]
    [InlineData("{\"customer_id\": \"c 1\", \"signed_transaction\": \"a.b.c\"}")]
    [InlineData("{\"customer_id\": \"c1\", \"signed_transaction\": 5}")]
    public async Task ABadRequest_Is400(string body) =>
        await Json.ProblemAsync(await App.SendAsync(HttpMethod.Post, "/v1/apple/transactions", body), 400, "invalid_request");

    [Fact]
    public async Task AFailedApply_IsStored_AnsweredPending_AndRetried()
    {
        // A refund forwarded for a purchase Tollgate never saw: stored, applied later when the purchase arrives.
        var c = TollgateApp.NewCustomer();
        var token = await TokenAsync(c);
        var refund = _store.Notification("REFUND", null, Now, Pack("2000000000000013", token) with { RevocationDate = Now });

        var early = await NotifyAsync(refund);
        await Json.ReadAsync(await ForwardAsync(c, _store.SignTransaction(Pack("2000000000000013", token))), 200);
        App.Clock.Advance(TimeSpan.FromMinutes(1));
        await App.Services.GetRequiredService<WebhookProcessor>().RetryDueAsync();

        Assert.Equal("failed", (string)early["status"]!);
        Assert.Equal((0L, 0L), ((long)(await App.BalanceAsync(c, "credits"))["available"]!, (long)(await App.BalanceAsync(c, "credits"))["debt"]!));
        Assert.Equal(PaymentStatus.Refunded, (await Payments.ListPaymentsAsync(c, CancellationToken.None)).Single().Status);
    }
}

public sealed class SqliteAppleFlows : AppleFlows
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresAppleFlows : AppleFlows
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
