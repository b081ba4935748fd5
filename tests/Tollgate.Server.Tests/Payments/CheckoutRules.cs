using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Tollgate.Core.Catalog;
using Tollgate.Core.Customers;
using Tollgate.Core.Payments;
using Tollgate.Core.Subscriptions;
using Tollgate.Core.Usage;
using Tollgate.Server.Tests.Support;
using Tollgate.Storage;

namespace Tollgate.Server.Tests.Payments;

/// <summary>
/// Rules of starting a checkout (issue 19, mutation testing of CheckoutService): every refusal says what is wrong (the
/// product, the plan, the provider and the enabled ones, the payer), a member buys nothing it could never spend, a
/// quantity is the seats of a recurring plan with seats and only through a provider that sells several, and a started
/// checkout carries the caller's URLs and metadata (or the defaults) with Tollgate's own keys to the provider and the
/// store. Refusals go through POST /v1/checkouts (status, code, detail); what the API cannot reach (a second provider,
/// a quantity below 1, which only in-process callers can send) goes to the service itself, over the server's real
/// stores, with a provider that records what it is asked.
/// </summary>
public abstract class CheckoutRules : IAsyncLifetime
{
    protected abstract DatabaseProvider Provider { get; }

    private static readonly Uri PublicBase = new("https://billing.example/");

    private TollgateApp App { get; set; } = null!;

    private string _catalog = null!;

    public async ValueTask InitializeAsync()
    {
        _catalog = Path.Combine(Path.GetTempPath(), $"tollgate-checkout-rules-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(_catalog, """
            features:
              credits: { type: credits }
              seats: { type: count, seats: true }
              projects: { type: count }
              api_calls: { type: metered, credit_cost: 1 }
              sso: { type: boolean }
            plans:
              free:
                default: true
                features:
                  projects: { limit: 1 }
              team:
                interval: month
                price: { amount: 1000, currency: USD }
                providers: { creem: { product: prod_team } }
                features:
                  seats: {}
                  sso: true
                  projects: { limit: 10 }
                  credits: { grant: 100, reset: month }
              granted:
                interval: month
                price: { amount: 500, currency: USD }
                features:
                  credits: { grant: 50, reset: month }
              metered:
                interval: month
                price: { amount: 500, currency: USD }
                features:
                  api_calls: { limit: 100, reset: month }
              counted:
                interval: month
                price: { amount: 500, currency: USD }
                features:
                  projects: { limit: 5 }
              features_only:
                interval: month
                price: { amount: 100, currency: USD }
                features:
                  sso: true
              lifetime_team:
                interval: once
                price: { amount: 9900, currency: USD }
                providers: { creem: { product: prod_lifetime_team } }
                features:
                  seats: {}
                  sso: true
            packs:
              starter:
                credits: 100
                price: { amount: 500, currency: USD }
              welcome:
                credits: 10
                once_per_customer: true
                price: { amount: 100, currency: USD }
            """);
        App = await TollgateApp.StartAsync(Provider, settings: new Dictionary<string, string?> { ["Tollgate:Catalog"] = _catalog });
    }

    public async ValueTask DisposeAsync()
    {
        await App.DisposeAsync();
        File.Delete(_catalog);
        GC.SuppressFinalize(this);
    }

    /// <summary>A provider that records every checkout it is asked for and sells it; nothing else is called here.</summary>
    private sealed class RecordingProvider(string id, ProviderCapabilities capabilities) : IPaymentProvider
    {
        public List<CheckoutRequest> Requests { get; } = [];

        public string Id => id;

        public ProviderCapabilities Capabilities => capabilities;

        public Task<ProviderCheckout> CreateCheckoutAsync(CheckoutRequest request, CancellationToken cancellationToken)
        {
            lock (Requests)
            {
                Requests.Add(request);
            }

            return Task.FromResult(new ProviderCheckout("pc_" + request.CheckoutId, $"https://pay.example/{id}/{request.CheckoutId}"));
        }

        public Task<ProviderPrice> GetPriceAsync(string providerProductRef, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task CancelSubscriptionAsync(string providerSubscriptionId, bool atPeriodEnd, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task ResumeSubscriptionAsync(string providerSubscriptionId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task ChangeSubscriptionAsync(string providerSubscriptionId, string newProviderProductRef, PlanChangePolicy policy, CancellationToken cancellationToken) =>
            throw new NotSupportedException();

        public Task<string?> GetCustomerPortalUrlAsync(string providerCustomerId, string returnUrl, CancellationToken cancellationToken) => throw new NotSupportedException();

        public WebhookVerification VerifyWebhook(IReadOnlyDictionary<string, string> headers, ReadOnlySpan<byte> body, DateTimeOffset now) => throw new NotSupportedException();

        public ProviderEvent ParseWebhook(ReadOnlySpan<byte> body) => throw new NotSupportedException();
    }

    private static RecordingProvider Seller(string id = "creem") =>
        new(id, ProviderCapabilities.All | ProviderCapabilities.CheckoutQuantity);

    /// <summary>The server's own checkout service rebuilt over its real stores, with <paramref name="providers"/> enabled
    /// (the first is the default).</summary>
    private CheckoutService Service(params IPaymentProvider[] providers) => new(
        App.Services.GetRequiredService<ProductCatalog>(), new ProviderRegistry(providers, providers[0].Id),
        App.Services.GetRequiredService<IPaymentStore>(), App.Services.GetRequiredService<ICustomerStore>(),
        App.Services.GetRequiredService<Gate>(), App.Clock, () => PublicBase);

    private Task<HttpResponseMessage> Buy(object body) => App.PostAsync("/v1/checkouts", body);

    private async Task<string> CustomerAsync(string? billingCustomer = null)
    {
        var id = TollgateApp.NewCustomer();
        var json = billingCustomer is null ? "{}" : $$"""{"billing_customer_id":"{{billingCustomer}}"}""";
        await Json.ReadAsync(await App.SendAsync(HttpMethod.Put, $"/v1/customers/{id}", json), 200);
        return id;
    }

    private Task<long> CheckoutsOfAsync(string customer) => App.CountRowsAsync($"checkouts WHERE customer_id = '{customer}'");

    private static string Detail(JsonObject problem) => (string)problem["detail"]!;

    [Fact]
    public async Task Rule_AnUnknownProduct_Is404_NamingIt()
    {
        var problem = await Json.ProblemAsync(await Buy(new { customer_id = TollgateApp.NewCustomer(), product = "platinum" }), 404, "unknown_product");

        Assert.Equal("'platinum' is not a plan or pack of the catalog.", Detail(problem));
    }

    [Fact]
    public async Task Rule_TheFreeDefaultPlan_IsNotBought_400NamingIt()
    {
        var problem = await Json.ProblemAsync(await Buy(new { customer_id = TollgateApp.NewCustomer(), product = "free" }), 400, "invalid_request");

        Assert.Equal("'free' is the free default plan; it is not bought.", Detail(problem));
    }

    [Fact]
    public async Task Rule_AProviderThatIsNotEnabled_Is400_NamingItAndTheEnabledOnes()
    {
        var problem = await Json.ProblemAsync(await Buy(new { customer_id = TollgateApp.NewCustomer(), product = "starter", provider = "paddle" }), 400, "invalid_request");

        Assert.Equal("provider 'paddle' is not enabled here (enabled: sandbox).", Detail(problem));
    }

    [Fact]
    public async Task Rule_TheEnabledProviders_AreListedInOrdinalOrder_NotTheirRegistrationOrder()
    {
        var outcome = await Service(Seller("sandbox"), Seller("apple"), Seller("creem"))
            .CreateAsync(new CheckoutCommand(TollgateApp.NewCustomer(), "starter") { Provider = "paddle" });

        Assert.Equal(TollgateRefusal.InvalidRequest, outcome.Refusal);
        Assert.Equal("provider 'paddle' is not enabled here (enabled: apple, creem, sandbox).", outcome.Message);
    }

    [Fact]
    public async Task Rule_AProductWithoutAMappingForTheProvider_IsNotSoldThere_NamingBoth()
    {
        var creem = Seller();

        var outcome = await Service(creem).CreateAsync(new CheckoutCommand(TollgateApp.NewCustomer(), "starter"));

        Assert.Equal(TollgateRefusal.InvalidRequest, outcome.Refusal);
        Assert.Equal("'starter' is not sold through creem: the catalog has no creem mapping for it.", outcome.Message);
        Assert.Empty(creem.Requests);
    }

    /// <summary>Each branch of the member rule: a pack, a plan with a grant (among other features), a plan with only a
    /// grant, a plan with only a metered limit are refused naming the payer; a plan of features only and a plan whose
    /// only limit is on a count feature stay buyable. Nothing is stored for a refusal.</summary>
    [Fact]
    public async Task Rule_AMember_CannotBuyWhatItsPayerWouldSpend_ButMayBuyFeaturesAndCountLimits()
    {
        var org = await CustomerAsync();
        var now = App.Clock.GetUtcNow();
        // The organization's team plan gives the seat the member takes.
        await App.Services.GetRequiredService<SubscriptionService>().StartAsync(org, "team", "sandbox", null, null, SubscriptionStatus.Active, now, now.AddMonths(1));
        var alice = await CustomerAsync(billingCustomer: org);

        foreach (var product in new[] { "starter", "team", "granted", "metered" })
        {
            var problem = await Json.ProblemAsync(await Buy(new { customer_id = alice, product }), 409, "not_eligible");
            Assert.Equal($"'{alice}' is a member of '{org}', which pays for its usage: credits and allowances for it are bought by '{org}'.", Detail(problem));
        }

        Assert.Equal(0, await CheckoutsOfAsync(alice));
        await Json.ReadAsync(await Buy(new { customer_id = alice, product = "features_only" }), 201);
        await Json.ReadAsync(await Buy(new { customer_id = alice, product = "counted" }), 201);
        Assert.Equal(2, await CheckoutsOfAsync(alice));
    }

    [Fact]
    public async Task Rule_ACustomerWhoIsNoMember_MayBuyPacksAndPlansWithGrantsAndMeteredLimits()
    {
        var c = await CustomerAsync();

        foreach (var product in new[] { "starter", "granted", "metered" })
        {
            await Json.ReadAsync(await Buy(new { customer_id = c, product }), 201);
        }

        Assert.Equal(3, await CheckoutsOfAsync(c));
    }

    [Fact]
    public async Task Rule_AQuantity_IsOnlyTheSeatsOfARecurringPlanWithSeats_400NamingTheProduct()
    {
        var c = await CustomerAsync();

        foreach (var product in new[] { "starter", "features_only", "lifetime_team" })
        {
            var problem = await Json.ProblemAsync(await Buy(new { customer_id = c, product, quantity = 5 }), 400, "invalid_request");
            Assert.Equal($"quantity is the seats of a recurring plan with seats; '{product}' has none.", Detail(problem));
        }

        // The same through a provider that does sell several seats: the product is what is wrong, not the provider.
        var creem = Seller();
        var lifetime = await Service(creem).CreateAsync(new CheckoutCommand(c, "lifetime_team") { Quantity = 5 });
        Assert.Equal((TollgateRefusal.InvalidRequest, "quantity is the seats of a recurring plan with seats; 'lifetime_team' has none."),
            (lifetime.Refusal, lifetime.Message));
        Assert.Empty(creem.Requests);
        Assert.Equal(0, await CheckoutsOfAsync(c));
    }

    [Fact]
    public async Task Rule_AQuantityBelowOne_IsRefused_SayingSo_EvenOnAPlanWithSeats()
    {
        // The API refuses it first; in-process callers reach the service with it.
        var creem = Seller();
        var service = Service(creem);

        var zero = await service.CreateAsync(new CheckoutCommand(TollgateApp.NewCustomer(), "team") { Quantity = 0 });
        var negative = await service.CreateAsync(new CheckoutCommand(TollgateApp.NewCustomer(), "team") { Quantity = -3 });

        Assert.Equal((TollgateRefusal.InvalidRequest, "quantity must be at least 1."), (zero.Refusal, zero.Message));
        Assert.Equal((TollgateRefusal.InvalidRequest, "quantity must be at least 1."), (negative.Refusal, negative.Message));
        Assert.Empty(creem.Requests);
    }

    [Fact]
    public async Task Rule_SeveralSeats_ThroughAProviderThatSellsOnePerCheckout_Is409NotSupported_SayingHowToGetThem()
    {
        var c = await CustomerAsync();

        var problem = await Json.ProblemAsync(await Buy(new { customer_id = c, product = "team", quantity = 5 }), 409, "not_supported");
        var one = await Buy(new { customer_id = c, product = "team", quantity = 1 });

        Assert.Equal("sandbox sells one seat per checkout; buy one, then raise it with POST /v1/subscriptions/{id}/quantity.", Detail(problem));
        Assert.Equal(201, (int)one.StatusCode);
    }

    [Fact]
    public async Task Rule_SeveralSeats_ThroughAProviderThatSellsThem_AreSentToIt()
    {
        var creem = Seller();
        var service = Service(creem);
        var c = TollgateApp.NewCustomer();

        var five = await service.CreateAsync(new CheckoutCommand(c, "team") { Quantity = 5 });
        var unsaid = await service.CreateAsync(new CheckoutCommand(TollgateApp.NewCustomer(), "team"));

        Assert.Null(five.Refusal);
        Assert.Null(unsaid.Refusal);
        Assert.Equal([(5L, "prod_team", CheckoutMode.Subscription), (1L, "prod_team", CheckoutMode.Subscription)],
            creem.Requests.Select(r => (r.Quantity, r.ProviderProductRef, r.Mode)).ToArray());
    }

    [Fact]
    public async Task Rule_ACheckoutWithoutURLs_ReturnsToThePublicCheckoutPage_AndCancelsToPricing_AndCarriesTollgatesKeysBesideTheCallers()
    {
        var creem = Seller();
        var c = TollgateApp.NewCustomer();

        var outcome = await Service(creem).CreateAsync(new CheckoutCommand(c, "team")
        {
            Metadata = new Dictionary<string, string> { ["campaign"] = "spring" },
        });

        var checkout = outcome.Checkout!;
        var stored = await App.Services.GetRequiredService<CheckoutService>().GetAsync(checkout.Id);
        var sent = Assert.Single(creem.Requests);
        var expected = new Dictionary<string, string>
        {
            ["campaign"] = "spring",
            ["tollgate_customer_id"] = c,
            ["tollgate_product"] = "team",
            ["tollgate_checkout_id"] = checkout.Id,
        };
        var success = $"https://billing.example/checkout/return?checkout_id={checkout.Id}";
        Assert.Equal((checkout.Id, success, "https://billing.example/pricing"), (sent.CheckoutId, sent.SuccessUrl, sent.CancelUrl));
        Assert.Equal(expected, sent.Metadata.OrderBy(p => p.Key, StringComparer.Ordinal).ToDictionary());
        Assert.NotNull(stored);
        Assert.Equal((success, "https://billing.example/pricing", CheckoutStatus.Open, "creem", "pc_" + checkout.Id),
            (stored.SuccessUrl, stored.CancelUrl, stored.Status, stored.Provider, stored.ProviderCheckoutId));
        Assert.Equal(expected, stored.Metadata.OrderBy(p => p.Key, StringComparer.Ordinal).ToDictionary());
    }

    [Fact]
    public async Task Rule_TheCallersURLs_AreUsed_AndTheirNoMetadata_StillCarriesTollgatesKeys()
    {
        var creem = Seller();
        var c = TollgateApp.NewCustomer();

        var outcome = await Service(creem).CreateAsync(new CheckoutCommand(c, "team")
        {
            SuccessUrl = "https://app.example/thanks",
            CancelUrl = "https://app.example/back",
        });

        var sent = Assert.Single(creem.Requests);
        var stored = await App.Services.GetRequiredService<CheckoutService>().GetAsync(outcome.Checkout!.Id);
        Assert.Equal(("https://app.example/thanks", "https://app.example/back"), (sent.SuccessUrl, sent.CancelUrl));
        Assert.Equal(("https://app.example/thanks", "https://app.example/back"), (stored!.SuccessUrl, stored.CancelUrl));
        Assert.Equal(["tollgate_checkout_id", "tollgate_customer_id", "tollgate_product"], stored.Metadata.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Rule_AOncePerCustomerPack_BoughtAlready_Is409_NamingThePack()
    {
        var c = await CustomerAsync();
        var (_, paid) = await App.BuyInSandboxAsync(c, "welcome");

        var problem = await Json.ProblemAsync(await Buy(new { customer_id = c, product = "welcome" }), 409, "not_eligible");
        var another = await Buy(new { customer_id = c, product = "starter" });

        Assert.Equal(302, paid);
        Assert.Equal("'welcome' can be bought once per customer, and this customer has bought it.", Detail(problem));
        Assert.Equal(201, (int)another.StatusCode);
    }

    [Fact]
    public async Task Rule_APlanTheCustomerHolds_ActiveOrPastDueInItsPeriod_Is409_NamingThePlan()
    {
        var subscriptions = App.Services.GetRequiredService<SubscriptionService>();
        var now = App.Clock.GetUtcNow();
        var active = await CustomerAsync();
        var pastDue = await CustomerAsync();
        await subscriptions.StartAsync(active, "counted", "sandbox", null, null, SubscriptionStatus.Active, now, now.AddMonths(1));
        await subscriptions.StartAsync(pastDue, "counted", "sandbox", null, null, SubscriptionStatus.PastDue, now, now.AddMonths(1));

        foreach (var c in new[] { active, pastDue })
        {
            var problem = await Json.ProblemAsync(await Buy(new { customer_id = c, product = "counted" }), 409, "not_eligible");
            Assert.Equal("the customer already has 'counted'.", Detail(problem));
            Assert.Equal(201, (int)(await Buy(new { customer_id = c, product = "features_only" })).StatusCode);
        }
    }
}

public sealed class SqliteCheckoutRules : CheckoutRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresCheckoutRules : CheckoutRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
