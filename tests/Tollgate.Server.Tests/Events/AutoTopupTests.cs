using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Tollgate.Core.Events;
using Tollgate.Server.Tests.Support;
using Tollgate.Storage;
using Tollgate.Testing;
using Tollgate.Testing.Fakes;

namespace Tollgate.Server.Tests.Events;

/// <summary>
/// Auto top-up (API.md §6.3) end to end on a real server and database: the settings API, the charge a crossing writes,
/// the worker's off-session charge through the Sandbox and through Stripe (a fake server speaking Stripe's documented
/// PaymentIntent API, with its idempotency), the credits arriving only from the provider's signed webhook, refusals
/// turning auto top-up off, the monthly limit under concurrency, and a server killed between charge and record.
/// </summary>
public abstract class AutoTopupTests : IAsyncLifetime
{
    private readonly List<IAsyncDisposable> _owned = [];
    private readonly List<string> _files = [];

    protected abstract DatabaseProvider Provider { get; }

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        for (var i = _owned.Count - 1; i >= 0; i--)
        {
            await _owned[i].DisposeAsync();
        }

        _files.ForEach(File.Delete);
        GC.SuppressFinalize(this);
    }

    private async Task<TollgateApp> SandboxAppAsync()
    {
        var app = await TollgateApp.StartAsync(Provider, new ManualTimeProvider(TimeProvider.System.GetUtcNow()));
        _owned.Add(app);
        return app;
    }

    private async Task<(TollgateApp App, FakeStripeCharges Stripe, FakeServer Server)> StripeAppAsync(TestDatabase? database = null,
        ManualTimeProvider? clock = null, FakeStripeCharges? stripe = null, FakeServer? server = null)
    {
        if (stripe is null)
        {
            stripe = new FakeStripeCharges();
            server = await stripe.StartAsync();
            _owned.Add(server);
        }

        var catalog = SignedWebhooks.CatalogFile();
        _files.Add(catalog);
        var app = await TollgateApp.StartAsync(Provider, clock ?? new ManualTimeProvider(TimeProvider.System.GetUtcNow()), settings: new Dictionary<string, string?>
        {
            ["Tollgate:Catalog"] = catalog,
            ["Tollgate:Providers:Default"] = "stripe",
            ["Tollgate:Providers:Stripe:SecretKey"] = FakeStripe.SecretKey,
            ["Tollgate:Providers:Stripe:WebhookSecrets:0"] = SignedWebhooks.StripeSecret,
            ["Tollgate:Providers:Stripe:BaseUrl"] = server!.BaseUrl.ToString(),
        }, database: database);
        if (database is null)
        {
            _owned.Add(app);
        }

        return (app, stripe, server!);
    }

    private static Task<HttpResponseMessage> PutAsync(TollgateApp app, string customer, object body) =>
        app.SendAsync(HttpMethod.Put, $"/v1/customers/{customer}/auto-topup", System.Text.Json.JsonSerializer.Serialize(body));

    private static IAutoTopupStore Store(TollgateApp app) => app.Services.GetRequiredService<TollgateDatabase>().AutoTopups;

    private static string Month(TollgateApp app) => AutoTopupTrigger.MonthOf(app.Clock.GetUtcNow());

    private static async Task<IReadOnlyList<TopupCharge>> WaitForChargesAsync(TollgateApp app, string customer, Func<IReadOnlyList<TopupCharge>, bool> done)
    {
        var until = TimeProvider.System.GetUtcNow().AddSeconds(30);
        while (true)
        {
            var charges = await Store(app).ChargesAsync(customer, Month(app), CancellationToken.None);
            if (done(charges))
            {
                return charges;
            }

            Assert.True(TimeProvider.System.GetUtcNow() < until, $"charges stayed {string.Join(", ", charges.Select(c => $"{c.Ordinal}:{c.Status}"))}");
            await Task.Delay(50);
        }
    }

    private static async Task<long> AvailableAsync(TollgateApp app, string customer) => (long)(await app.BalanceAsync(customer, "credits"))["available"]!;

    /// <summary>The customer's events of the given types, oldest first, as stored in the outbox.</summary>
    private static async Task<List<JsonObject>> EventsAsync(TollgateApp app, string customer, string prefix)
    {
        await using var connection = app.Database.Options.Provider == DatabaseProvider.Postgres
            ? (System.Data.Common.DbConnection)new Npgsql.NpgsqlConnection(app.Database.Options.ConnectionString)
            : new Microsoft.Data.Sqlite.SqliteConnection(app.Database.Options.ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT payload FROM events WHERE customer_id = @c ORDER BY seq";
        var p = command.CreateParameter();
        p.ParameterName = "@c";
        p.Value = customer;
        command.Parameters.Add(p);
        var events = new List<JsonObject>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var e = JsonNode.Parse(reader.GetString(0))!.AsObject();
            if (((string)e["type"]!).StartsWith(prefix, StringComparison.Ordinal))
            {
                events.Add(e);
            }
        }

        return events;
    }

    [Fact]
    public async Task Settings_PutGetDelete_AndBadInputIsRefusedWithNothingStored()
    {
        var app = await SandboxAppAsync();
        var customer = TollgateApp.NewCustomer();
        var valid = new { feature = "credits", below = 50, pack = "starter_pack", monthly_limit = 3 };

        await Json.ProblemAsync(await PutAsync(app, customer, valid), 404, "customer_not_found");
        await app.GrantAsync(customer, "credits", 10);
        await Json.ProblemAsync(await PutAsync(app, customer, new { feature = "ai_messages", below = 50, pack = "starter_pack", monthly_limit = 3 }), 400,
            "invalid_request");
        await Json.ProblemAsync(await PutAsync(app, customer, new { feature = "credits", below = 50, pack = "no_such_pack", monthly_limit = 3 }), 400,
            "invalid_request");
        await Json.ProblemAsync(await PutAsync(app, customer, new { feature = "credits", below = 0, pack = "starter_pack", monthly_limit = 3 }), 400,
            "invalid_request");
        await Json.ProblemAsync(await PutAsync(app, customer, new { feature = "credits", below = 50, pack = "starter_pack", monthly_limit = 101 }), 400,
            "invalid_request");
        await Json.ProblemAsync(await PutAsync(app, customer, new { feature = "credits", below = 50, pack = "starter_pack" }), 400, "invalid_request");
        await Json.ProblemAsync(await app.SendAsync(HttpMethod.Put, $"/v1/customers/{customer}/auto-topup", "{\"below\": \"many\"}"), 400, "invalid_request");
        Assert.Equal(0, await app.CountRowsAsync("auto_topups"));
        await Json.ProblemAsync(await app.Client.GetAsync($"/v1/customers/{customer}/auto-topup"), 404, "auto_topup_not_found");

        var put = await Json.ReadAsync(await PutAsync(app, customer, valid), 200);
        Assert.Equal((customer, "credits", 50L, "starter_pack", 3, "sandbox", true, 0),
            ((string)put["customer_id"]!, (string)put["feature"]!, (long)put["below"]!, (string)put["pack"]!, (int)put["monthly_limit"]!,
                (string)put["provider"]!, (bool)put["enabled"]!, (int)put["charges_this_month"]!));
        var got = await Json.ReadAsync(await app.Client.GetAsync($"/v1/customers/{customer}/auto-topup"), 200);
        Assert.Equal(put.ToJsonString(), got.ToJsonString());

        Assert.Equal(HttpStatusCode.NoContent, (await app.SendAsync(HttpMethod.Delete, $"/v1/customers/{customer}/auto-topup", null)).StatusCode);
        await Json.ProblemAsync(await app.Client.GetAsync($"/v1/customers/{customer}/auto-topup"), 404, "auto_topup_not_found");
        await Json.ProblemAsync(await app.SendAsync(HttpMethod.Delete, $"/v1/customers/{customer}/auto-topup", null), 404, "auto_topup_not_found");
    }

    [Fact]
    public async Task Creem_CannotChargeOffSession_SoSettingAutoTopupIs409NotSupported_AndNothingIsStored()
    {
        var creem = await FakeCreem.StartAsync();
        _owned.Add(creem);
        var catalog = SignedWebhooks.CatalogFile();
        _files.Add(catalog);
        var app = await TollgateApp.StartAsync(Provider, new ManualTimeProvider(TimeProvider.System.GetUtcNow()), settings: new Dictionary<string, string?>
        {
            ["Tollgate:Catalog"] = catalog,
            ["Tollgate:Providers:Default"] = "creem",
            ["Tollgate:Providers:Creem:ApiKey"] = FakeCreem.ApiKey,
            ["Tollgate:Providers:Creem:WebhookSecret"] = SignedWebhooks.CreemSecret,
            ["Tollgate:Providers:Creem:BaseUrl"] = creem.BaseUrl.ToString(),
        });
        _owned.Add(app);
        var customer = TollgateApp.NewCustomer();
        await app.GrantAsync(customer, "credits", 100);

        // The pack is mapped for Creem, but Creem has no off-session charge: refused before anything is stored.
        await Json.ProblemAsync(await PutAsync(app, customer, new { feature = "credits", below = 50, pack = "pack", monthly_limit = 3 }), 409, "not_supported");
        Assert.Equal(0, await app.CountRowsAsync("auto_topups"));
        await Json.ProblemAsync(await app.Client.GetAsync($"/v1/customers/{customer}/auto-topup"), 404, "auto_topup_not_found");

        // So a crossing charges nothing.
        Assert.Equal(HttpStatusCode.OK, (await app.UseAsync(customer, "credits", 70)).StatusCode);
        Assert.Equal(0, await app.CountRowsAsync("topup_charges"));
    }

    [Fact]
    public async Task Sandbox_ACrossing_ChargesTheSavedCardOnce_AndTheCreditsArriveFromItsWebhook()
    {
        var app = await SandboxAppAsync();
        var customer = TollgateApp.NewCustomer();
        Assert.Equal(302, (await app.BuyInSandboxAsync(customer, "starter_pack")).PayStatus);
        Assert.Equal(100, await AvailableAsync(app, customer));
        await Json.ReadAsync(await PutAsync(app, customer, new { feature = "credits", below = 50, pack = "starter_pack", monthly_limit = 5 }), 200);

        // 100 → 40: one crossing of 50, however many usages it took.
        var used = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => app.UseAsync(customer, "credits", 10)));
        Assert.All(used, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        var charge = Assert.Single(await WaitForChargesAsync(app, customer, c => c.Count == 1 && c[0].Status != TopupChargeStatus.Due));
        Assert.Equal(TopupChargeStatus.Succeeded, charge.Status);
        Assert.Equal("sbx_ord_" + charge.ChargeId, charge.ProviderPaymentId);
        Assert.Equal(140, await AvailableAsync(app, customer));

        var succeeded = Assert.Single(await EventsAsync(app, customer, "auto_topup."));
        Assert.Equal(EventTypes.AutoTopupSucceeded, (string)succeeded["type"]!);
        Assert.Equal((charge.ChargeId, "starter_pack", "sbx_ord_" + charge.ChargeId),
            ((string)succeeded["data"]!["charge_id"]!, (string)succeeded["data"]!["pack"]!, (string)succeeded["data"]!["payment_id"]!));
        var payments = await EventsAsync(app, customer, "payment.succeeded");
        Assert.Equal(2, payments.Count);

        // Still above the threshold after the top-up: using 80 (140 → 60) crosses nothing; 60 → 40 crosses again.
        Assert.Equal(HttpStatusCode.OK, (await app.UseAsync(customer, "credits", 80)).StatusCode);
        Assert.Single(await Store(app).ChargesAsync(customer, Month(app), CancellationToken.None));
        Assert.Equal(HttpStatusCode.OK, (await app.UseAsync(customer, "credits", 20)).StatusCode);
        await WaitForChargesAsync(app, customer, c => c.Count == 2 && c[1].Status == TopupChargeStatus.Succeeded);
        Assert.Equal(140, await AvailableAsync(app, customer));
        await Books.AssertBalancedAsync(app, customer);
    }

    [Fact]
    public async Task Sandbox_ADeclinedSavedCard_TurnsAutoTopupOff_AndSendsAutoTopupFailed()
    {
        var app = await SandboxAppAsync();
        var customer = TollgateApp.NewCustomer();
        Assert.Equal(302, (await app.BuyInSandboxAsync(customer, "starter_pack", "4000 0000 0000 0341")).PayStatus);
        await Json.ReadAsync(await PutAsync(app, customer, new { feature = "credits", below = 50, pack = "starter_pack", monthly_limit = 5 }), 200);

        Assert.Equal(HttpStatusCode.OK, (await app.UseAsync(customer, "credits", 60)).StatusCode);
        var charge = Assert.Single(await WaitForChargesAsync(app, customer, c => c.Count == 1 && c[0].Status != TopupChargeStatus.Due));
        Assert.Equal(TopupChargeStatus.Failed, charge.Status);
        Assert.Equal(40, await AvailableAsync(app, customer));
        var failed = Assert.Single(await EventsAsync(app, customer, "auto_topup."));
        Assert.Equal((EventTypes.AutoTopupFailed, "card_declined"), ((string)failed["type"]!, (string)failed["data"]!["code"]!));
        var settings = await Json.ReadAsync(await app.Client.GetAsync($"/v1/customers/{customer}/auto-topup"), 200);
        Assert.False((bool)settings["enabled"]!);
        Assert.Contains("card_declined", (string)settings["disabled_reason"]!, StringComparison.Ordinal);

        // Off: a later crossing charges nothing.
        await app.GrantAsync(customer, "credits", 100);
        Assert.Equal(HttpStatusCode.OK, (await app.UseAsync(customer, "credits", 100)).StatusCode);
        Assert.Single(await Store(app).ChargesAsync(customer, Month(app), CancellationToken.None));
    }

    /// <summary>Usages of six customers at once, which PostgreSQL's ledger writes in shared batches, their crossings in
    /// one statement (<c>TopupSql.TriggerAll</c>): each customer is charged exactly when its own threshold lies in the
    /// range its own balance fell through (one customer's range holds another's threshold), the edges included, and not
    /// when it has no auto top-up or turned it off.</summary>
    [Fact]
    public async Task UsagesOfManyCustomersAtOnce_ChargeExactlyThoseWhoseOwnThresholdTheirBalanceFellThrough()
    {
        var app = await SandboxAppAsync();
        // Each starts at 100 and uses four times its amount at once: 100 → 60, or 100 → 40 for the first.
        var setups = new (string Name, int Amount, int? Below, bool TurnedOff, bool Charged)[]
        {
            ("crossed", 15, 80, false, true),
            ("above", 10, 50, false, false),        // 50 lies in the first customer's (40, 100], not in its own (60, 100]
            ("none", 10, null, false, false),
            ("off", 10, 80, true, false),
            ("just_crossed", 10, 61, false, true),  // 61 lies in (60, 100]
            ("landed_on", 10, 60, false, false),    // the balance stops at 60: it did not fall below it
        };
        var customers = setups.ToDictionary(s => s.Name, _ => TollgateApp.NewCustomer());
        foreach (var (name, _, below, turnedOff, _) in setups)
        {
            Assert.Equal(302, (await app.BuyInSandboxAsync(customers[name], "starter_pack")).PayStatus);
            if (below is { } threshold)
            {
                await Json.ReadAsync(await PutAsync(app, customers[name], new { feature = "credits", below = threshold, pack = "starter_pack", monthly_limit = 5 }), 200);
            }

            if (turnedOff)
            {
                Assert.True((await app.SendAsync(HttpMethod.Delete, $"/v1/customers/{customers[name]}/auto-topup", null)).IsSuccessStatusCode);
            }
        }

        var used = await Task.WhenAll(setups.SelectMany(s => Enumerable.Range(0, 4).Select(_ => app.UseAsync(customers[s.Name], "credits", s.Amount))));
        Assert.All(used, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));

        foreach (var (name, _, _, _, _) in setups.Where(s => s.Charged))
        {
            await WaitForChargesAsync(app, customers[name], c => c.Count == 1 && c[0].Status == TopupChargeStatus.Succeeded);
        }

        await Task.Delay(500);
        foreach (var (name, amount, _, _, charged) in setups)
        {
            Assert.True((charged ? 1 : 0) == (await Store(app).ChargesAsync(customers[name], Month(app), CancellationToken.None)).Count,
                $"{name}: charged {!charged}");
            Assert.Equal(100 - (4 * amount) + (charged ? 100 : 0), await AvailableAsync(app, customers[name]));
            await Books.AssertBalancedAsync(app, customers[name]);
        }
    }

    [Fact]
    public async Task MonthlyLimit_HoldsExactly_Under64ConcurrentCrossings_AndAStormOfUsagesAndGrants()
    {
        var app = await SandboxAppAsync();
        var customer = TollgateApp.NewCustomer();
        Assert.Equal(302, (await app.BuyInSandboxAsync(customer, "starter_pack")).PayStatus);
        await app.GrantAsync(customer, "credits", 30);
        await Json.ReadAsync(await PutAsync(app, customer, new { feature = "credits", below = 100, pack = "starter_pack", monthly_limit = 2 }), 200);

        // 130 → 66 in 64 concurrent usages: the balance falls through 100 once, so one charge.
        var first = await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => app.UseAsync(customer, "credits", 1)));
        Assert.All(first, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        await WaitForChargesAsync(app, customer, c => c.Count == 1 && c[0].Status == TopupChargeStatus.Succeeded);
        Assert.Equal(166, await AvailableAsync(app, customer));

        // 166 → 102 → … a second crossing (the second and last charge of the month).
        var second = await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => app.UseAsync(customer, "credits", 2)));
        Assert.All(second, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        await WaitForChargesAsync(app, customer, c => c.Count == 2 && c.All(x => x.Status == TopupChargeStatus.Succeeded));
        Assert.Equal(138, await AvailableAsync(app, customer));

        // A storm around the threshold — 64 concurrent usages and grants, crossing it many times — charges nothing more.
        var storm = await Task.WhenAll(Enumerable.Range(0, 64).Select(i => i % 2 == 0
            ? app.UseAsync(customer, "credits", 40)
            : app.PostAsync($"/v1/customers/{customer}/grants", new { feature = "credits", amount = 40, reason = "storm" }, app.Key())));
        Assert.All(storm, r => Assert.True(r.IsSuccessStatusCode, r.StatusCode.ToString()));
        await Task.Delay(500);
        var charges = await Store(app).ChargesAsync(customer, Month(app), CancellationToken.None);
        Assert.Equal([1, 2], charges.Select(c => c.Ordinal));
        Assert.Equal(2, (await EventsAsync(app, customer, "auto_topup.succeeded")).Count);
        Assert.Equal(3, (await EventsAsync(app, customer, "payment.succeeded")).Count);
        Assert.Equal(138, await AvailableAsync(app, customer));
        await Books.AssertBalancedAsync(app, customer);
    }

    /// <summary>Links a Stripe customer the way a paid pack checkout does, and saves a payment method on it.</summary>
    private static async Task LinkStripeCustomerAsync(TollgateApp app, FakeStripeCharges stripe, string customer, string stripeCustomer, string method)
    {
        var checkout = await Json.ReadAsync(await app.PostAsync("/v1/checkouts", new { customer_id = customer, product = "pack" }), 201);
        var completed = SignedWebhooks.Sample("stripe", "checkout.session.completed.payment");
        completed["id"] = "evt_" + Guid.NewGuid().ToString("N");
        completed["data"]!["object"]!["id"] = "cs_" + Guid.NewGuid().ToString("N");
        completed["data"]!["object"]!["client_reference_id"] = (string)checkout["id"]!;
        completed["data"]!["object"]!["customer"] = stripeCustomer;
        completed["data"]!["object"]!["payment_intent"] = "pi_checkout_" + Guid.NewGuid().ToString("N");
        await Json.ReadAsync(await app.Client.SendAsync(SignedWebhooks.Stripe(completed.ToJsonString(), app.Clock.GetUtcNow())), 200);
        stripe.SavedMethods[stripeCustomer] = method;
    }

    /// <summary>Stripe's <c>payment_intent.succeeded</c> for a PaymentIntent as the fake stored it, signed.</summary>
    private static HttpRequestMessage IntentSucceeded(TollgateApp app, JsonObject intent) =>
        SignedWebhooks.Stripe(new JsonObject
        {
            ["id"] = "evt_" + Guid.NewGuid().ToString("N"),
            ["object"] = "event",
            ["api_version"] = "2025-03-31.basil",
            ["created"] = app.Clock.GetUtcNow().ToUnixTimeSeconds(),
            ["type"] = "payment_intent.succeeded",
            ["data"] = new JsonObject { ["object"] = intent.DeepClone() },
        }.ToJsonString(), app.Clock.GetUtcNow());

    [Fact]
    public async Task Stripe_ChargesOffSessionWithAnIdempotencyKey_AndOnlyTheWebhookGrants_Once()
    {
        var (app, stripe, server) = await StripeAppAsync();
        var customer = TollgateApp.NewCustomer();
        await LinkStripeCustomerAsync(app, stripe, customer, "cus_Top" + Guid.NewGuid().ToString("N")[..8], "pm_card_visa");
        var session = server.Requests.Single(r => r.Path == "/v1/checkout/sessions").FormMap();
        Assert.Equal("off_session", session["payment_intent_data[setup_future_usage]"]);
        Assert.Equal(100, await AvailableAsync(app, customer));
        await Json.ReadAsync(await PutAsync(app, customer, new { feature = "credits", below = 50, pack = "pack", monthly_limit = 1 }), 200);

        Assert.Equal(HttpStatusCode.OK, (await app.UseAsync(customer, "credits", 70)).StatusCode);
        var charge = Assert.Single(await WaitForChargesAsync(app, customer, c => c.Count == 1 && c[0].Status != TopupChargeStatus.Due));
        Assert.Equal(TopupChargeStatus.Succeeded, charge.Status);
        var intent = Assert.Single(stripe.Intents);
        Assert.Equal((string)intent["id"]!, charge.ProviderPaymentId);
        var sent = server.Requests.Single(r => r.Path == "/v1/payment_intents");
        var form = sent.FormMap();
        Assert.Equal(("4900", "usd", "true", "true", "pm_card_visa"), (form["amount"], form["currency"], form["off_session"], form["confirm"], form["payment_method"]));
        Assert.Equal((customer, "pack", charge.ChargeId),
            (form["metadata[tollgate_customer_id]"], form["metadata[tollgate_product]"], form["metadata[tollgate_topup_id]"]));
        Assert.Equal("tg-topup-" + charge.ChargeId, sent.Header("Idempotency-Key"));

        // The worker granted nothing: the credits come with Stripe's webhook, once however often it is delivered.
        Assert.Equal(30, await AvailableAsync(app, customer));
        await Json.ReadAsync(await app.Client.SendAsync(IntentSucceeded(app, intent)), 200);
        await Json.ReadAsync(await app.Client.SendAsync(IntentSucceeded(app, intent)), 200);
        Assert.Equal(130, await AvailableAsync(app, customer));
        Assert.Equal(EventTypes.AutoTopupSucceeded, (string)Assert.Single(await EventsAsync(app, customer, "auto_topup."))["type"]!);

        // monthly_limit 1: the next crossing this month charges nothing.
        Assert.Equal(HttpStatusCode.OK, (await app.UseAsync(customer, "credits", 100)).StatusCode);
        await Task.Delay(300);
        Assert.Single(await Store(app).ChargesAsync(customer, Month(app), CancellationToken.None));
        Assert.Single(stripe.Intents);
        await Books.AssertBalancedAsync(app, customer);
    }

    [Theory]
    [InlineData(FakeStripeCharges.DeclinedMethod, "card_declined")]
    [InlineData(FakeStripeCharges.AuthenticationRequiredMethod, "authentication_required")]
    public async Task Stripe_ADeclineOrAuthenticationRequired_TurnsAutoTopupOff_AndSendsAutoTopupFailed(string method, string code)
    {
        var (app, stripe, _) = await StripeAppAsync();
        var customer = TollgateApp.NewCustomer();
        await LinkStripeCustomerAsync(app, stripe, customer, "cus_Dec" + Guid.NewGuid().ToString("N")[..8], method);
        await Json.ReadAsync(await PutAsync(app, customer, new { feature = "credits", below = 50, pack = "pack", monthly_limit = 3 }), 200);

        Assert.Equal(HttpStatusCode.OK, (await app.UseAsync(customer, "credits", 70)).StatusCode);
        var charge = Assert.Single(await WaitForChargesAsync(app, customer, c => c.Count == 1 && c[0].Status != TopupChargeStatus.Due));
        Assert.Equal(TopupChargeStatus.Failed, charge.Status);
        var failed = Assert.Single(await EventsAsync(app, customer, "auto_topup."));
        Assert.Equal((EventTypes.AutoTopupFailed, code), ((string)failed["type"]!, (string)failed["data"]!["code"]!));
        Assert.False((bool)(await Json.ReadAsync(await app.Client.GetAsync($"/v1/customers/{customer}/auto-topup"), 200))["enabled"]!);
        Assert.Equal(30, await AvailableAsync(app, customer));
    }

    [Fact]
    public async Task Stripe_NoSavedPaymentMethod_FailsTheTopUp()
    {
        var (app, _, _) = await StripeAppAsync();
        var customer = TollgateApp.NewCustomer();
        await app.GrantAsync(customer, "credits", 100);
        await Json.ReadAsync(await PutAsync(app, customer, new { feature = "credits", below = 50, pack = "pack", monthly_limit = 3 }), 200);
        Assert.Equal(HttpStatusCode.OK, (await app.UseAsync(customer, "credits", 70)).StatusCode);
        Assert.Equal(TopupChargeStatus.Failed,
            Assert.Single(await WaitForChargesAsync(app, customer, c => c.Count == 1 && c[0].Status != TopupChargeStatus.Due)).Status);
        Assert.Equal("no_payment_method", (string)Assert.Single(await EventsAsync(app, customer, "auto_topup.failed"))["data"]!["code"]!);
    }

    [Fact]
    public async Task Stripe_ACrossingWhileAChargeWaitsToRetry_WritesNoSecondCharge()
    {
        var (app, stripe, _) = await StripeAppAsync();
        var customer = TollgateApp.NewCustomer();
        await LinkStripeCustomerAsync(app, stripe, customer, "cus_Due" + Guid.NewGuid().ToString("N")[..8], "pm_card_visa");
        await Json.ReadAsync(await PutAsync(app, customer, new { feature = "credits", below = 50, pack = "pack", monthly_limit = 3 }), 200);

        // Stripe is unreachable: the first crossing's charge stays due, waiting to retry (the clock does not move).
        stripe.IntentsUnavailable = true;
        Assert.Equal(HttpStatusCode.OK, (await app.UseAsync(customer, "credits", 70)).StatusCode);
        await WaitForChargesAsync(app, customer, c => c.Count == 1 && c[0].Status == TopupChargeStatus.Due && c[0].Attempts == 1);

        // A grant lifts the balance over the threshold (30 → 90) and a usage takes it through again (90 → 30): the
        // charge still due answers that crossing too. No second charge, though the monthly limit (3) would allow one.
        await Json.ReadAsync(await app.PostAsync($"/v1/customers/{customer}/grants", new { feature = "credits", amount = 60, reason = "refill" }, app.Key()), 201);
        Assert.Equal(HttpStatusCode.OK, (await app.UseAsync(customer, "credits", 60)).StatusCode);
        await Task.Delay(300);
        var charge = Assert.Single(await Store(app).ChargesAsync(customer, Month(app), CancellationToken.None));
        Assert.Equal(TopupChargeStatus.Due, charge.Status);
        Assert.Equal(30, await AvailableAsync(app, customer));
        await Books.AssertBalancedAsync(app, customer);
    }

    [Theory]
    [InlineData("portal")]
    [InlineData("delete")]
    public async Task Stripe_TurnedOffWhileAChargeWaitsToRetry_IsNotCharged(string how)
    {
        var (app, stripe, server) = await StripeAppAsync();
        var customer = TollgateApp.NewCustomer();
        await LinkStripeCustomerAsync(app, stripe, customer, "cus_Off" + Guid.NewGuid().ToString("N")[..8], "pm_card_visa");
        await Json.ReadAsync(await PutAsync(app, customer, new { feature = "credits", below = 50, pack = "pack", monthly_limit = 3 }), 200);

        // Stripe is unreachable when the crossing's charge is first tried: the charge stays due, waiting to retry.
        stripe.IntentsUnavailable = true;
        Assert.Equal(HttpStatusCode.OK, (await app.UseAsync(customer, "credits", 70)).StatusCode);
        await WaitForChargesAsync(app, customer, c => c.Count == 1 && c[0].Status == TopupChargeStatus.Due && c[0].Attempts == 1);

        // Meanwhile the customer turns it off in the portal (the portal's own call), or the app deletes it.
        if (how == "portal")
        {
            Assert.True(await Store(app).SetEnabledAsync(customer, false, "turned off by the customer", app.Clock.GetUtcNow(), CancellationToken.None));
        }
        else
        {
            Assert.Equal(HttpStatusCode.NoContent, (await app.SendAsync(HttpMethod.Delete, $"/v1/customers/{customer}/auto-topup", null)).StatusCode);
        }

        // Stripe is back and the retry falls due: the charge is not made, and the app hears why.
        stripe.IntentsUnavailable = false;
        var requestsBefore = server.Requests.Count(r => r.Path == "/v1/payment_intents");
        app.Clock.Advance(TimeSpan.FromHours(2));
        var charge = Assert.Single(await WaitForChargesAsync(app, customer, c => c.Count == 1 && c[0].Status != TopupChargeStatus.Due));
        Assert.Equal(TopupChargeStatus.Failed, charge.Status);
        Assert.Empty(stripe.Intents);
        Assert.Equal(requestsBefore, server.Requests.Count(r => r.Path == "/v1/payment_intents"));
        var failed = Assert.Single(await EventsAsync(app, customer, "auto_topup."));
        Assert.Equal((EventTypes.AutoTopupFailed, Tollgate.Server.Events.AutoTopupCharger.TurnedOff),
            ((string)failed["type"]!, (string)failed["data"]!["code"]!));
        Assert.Equal(30, await AvailableAsync(app, customer));
        if (how == "portal")
        {
            // The customer's own reason stays: the skipped charge does not overwrite it.
            var settings = await Json.ReadAsync(await app.Client.GetAsync($"/v1/customers/{customer}/auto-topup"), 200);
            Assert.Equal((false, "turned off by the customer"), ((bool)settings["enabled"]!, (string)settings["disabled_reason"]!));
        }

        await Books.AssertBalancedAsync(app, customer);
    }

    [Fact]
    public async Task Stripe_AServerKilledBetweenChargeAndRecord_DoesNotChargeTwice()
    {
        var clock = new ManualTimeProvider(TimeProvider.System.GetUtcNow());
        var database = await TestDatabase.CreateAsync(Provider, clock, migrate: false);
        _owned.Add(database);
        var (first, stripe, server) = await StripeAppAsync(database, clock);
        var customer = TollgateApp.NewCustomer();
        await LinkStripeCustomerAsync(first, stripe, customer, "cus_Kill" + Guid.NewGuid().ToString("N")[..8], "pm_card_visa");
        await Json.ReadAsync(await PutAsync(first, customer, new { feature = "credits", below = 50, pack = "pack", monthly_limit = 3 }), 200);

        // Stripe creates the PaymentIntent, and the server dies before its answer is recorded.
        stripe.HangNextIntentAnswer();
        Assert.Equal(HttpStatusCode.OK, (await first.UseAsync(customer, "credits", 70)).StatusCode);
        var until = TimeProvider.System.GetUtcNow().AddSeconds(30);
        while (stripe.Intents.Count == 0)
        {
            Assert.True(TimeProvider.System.GetUtcNow() < until, "no PaymentIntent was created");
            await Task.Delay(20);
        }

        await first.App.StopAsync();
        await first.App.DisposeAsync();
        Assert.Equal(TopupChargeStatus.Due, Assert.Single(await database.Database.AutoTopups.ChargesAsync(customer, Month(first), CancellationToken.None)).Status);

        // Another server, once the claim's lease is over, charges it again — under the same key, so Stripe answers with
        // the first PaymentIntent.
        clock.Advance(Tollgate.Server.Events.AutoTopupCharger.Lease + TimeSpan.FromSeconds(1));
        var (second, _, _) = await StripeAppAsync(database, clock, stripe, server);
        _owned.Add(new Stopper(second));
        var charge = Assert.Single(await WaitForChargesAsync(second, customer, c => c.Count == 1 && c[0].Status != TopupChargeStatus.Due));
        Assert.Equal(TopupChargeStatus.Succeeded, charge.Status);
        var intent = Assert.Single(stripe.Intents);
        Assert.Equal((string)intent["id"]!, charge.ProviderPaymentId);
        var posts = server.Requests.Where(r => r.Path == "/v1/payment_intents").ToList();
        Assert.True(posts.Count >= 2, $"{posts.Count} PaymentIntent requests");
        Assert.Single(posts.Select(p => p.Header("Idempotency-Key")).Distinct());
        Assert.Single(await EventsAsync(second, customer, "auto_topup.succeeded"));
        await Json.ReadAsync(await second.Client.SendAsync(IntentSucceeded(second, intent)), 200);
        Assert.Equal(130, await AvailableAsync(second, customer));
    }

    /// <summary>Stops a server that shares a database owned elsewhere (its own disposal would drop that database).</summary>
    private sealed class Stopper(TollgateApp app) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await app.App.StopAsync();
            await app.App.DisposeAsync();
        }
    }
}

public sealed class SqliteAutoTopupTests : AutoTopupTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresAutoTopupTests : AutoTopupTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
