using Tollgate.Core.Payments;
using Tollgate.Core.Subscriptions;
using Tollgate.Providers.Stripe;
using Tollgate.Testing.Fakes;
using static Tollgate.Providers.Tests.TestSupport;

namespace Tollgate.Providers.Tests.Stripe;

public sealed class StripeClientTests
{
    private const string FormType = "application/x-www-form-urlencoded";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static void AssertStripeHeaders(RecordedRequest request)
    {
        Assert.Equal("Bearer " + FakeStripe.SecretKey, request.Header("Authorization"));
        Assert.Equal("2025-03-31.basil", request.Header("Stripe-Version"));
    }

    [Fact]
    public async Task GetPrice_ReadsUnitAmountUpperCaseCurrencyAndInterval()
    {
        await using var server = await FakeStripe.StartAsync();

        var price = await NewStripe(server).GetPriceAsync("price_1QPro", Ct);

        Assert.Equal(new ProviderPrice("price_1QPro", 2000, "USD", "month"), price);
        var request = server.SingleRequest;
        Assert.Equal(("GET", "/v1/prices/price_1QPro", ""), (request.Method, request.Path, request.Body));
        AssertStripeHeaders(request);
        Assert.Null(request.Header("Idempotency-Key"));
    }

    [Theory]
    [InlineData("price_pack", 4900, "USD", null)]
    [InlineData("price_quarterly", 5400, "EUR", "3 month")]
    public async Task GetPrice_OneTimeAndUnusualCadences(string priceId, long amount, string currency, string? interval)
    {
        await using var server = await FakeStripe.StartAsync();

        Assert.Equal(new ProviderPrice(priceId, amount, currency, interval), await NewStripe(server).GetPriceAsync(priceId, Ct));
    }

    [Fact]
    public async Task CreateCheckout_Subscription_SendsTheFullForm()
    {
        await using var server = await FakeStripe.StartAsync();
        var metadata = new Dictionary<string, string> { ["campaign"] = "spring", ["tollgate_product"] = "not-this" };

        var checkout = await NewStripe(server).CreateCheckoutAsync(
            Checkout(CheckoutMode.Subscription, "price_1QPro", cancelUrl: "https://app.example.com/pricing", metadata: metadata),
            Ct);

        Assert.Equal(new ProviderCheckout("cs_test_a1SubsExample0001", "https://checkout.stripe.com/c/pay/cs_test_a1SubsExample0001"), checkout);
        var request = server.SingleRequest;
        Assert.Equal(("POST", "/v1/checkout/sessions"), (request.Method, request.Path));
        AssertStripeHeaders(request);
        Assert.StartsWith(FormType, request.Header("Content-Type"), StringComparison.Ordinal);
        Assert.Equal("tg-checkout-chk_01JD4Z", request.Header("Idempotency-Key"));
        Assert.Equal(
            [
                new("mode", "subscription"),
                new("line_items[0][price]", "price_1QPro"),
                new("line_items[0][quantity]", "1"),
                new("success_url", "https://app.example.com/billing/done"),
                new("cancel_url", "https://app.example.com/pricing"),
                new("client_reference_id", "chk_01JD4Z"),
                new("metadata[tollgate_customer_id]", "user_42"),
                new("metadata[tollgate_product]", "pro"),
                new("metadata[campaign]", "spring"),
                new("subscription_data[metadata][tollgate_customer_id]", "user_42"),
                new("subscription_data[metadata][tollgate_product]", "pro"),
                new("subscription_data[metadata][campaign]", "spring"),
                new KeyValuePair<string, string>("customer_email", "ada@example.com"),
            ],
            request.Form());
        Assert.Contains("&metadata[tollgate_customer_id]=user_42&", request.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CreateCheckout_Payment_AlwaysCreatesACustomer_AndHasNoSubscriptionData()
    {
        await using var server = await FakeStripe.StartAsync();

        await NewStripe(server).CreateCheckoutAsync(Checkout(CheckoutMode.Payment, "price_pack"), Ct);

        var form = server.SingleRequest.FormMap();
        Assert.Equal("payment", form["mode"]);
        Assert.Equal("always", form["customer_creation"]);
        Assert.Equal("ada@example.com", form["customer_email"]);
        Assert.DoesNotContain(form.Keys, k => k.StartsWith("subscription_data", StringComparison.Ordinal));
        Assert.DoesNotContain("cancel_url", form.Keys);
    }

    [Theory]
    [InlineData(CheckoutMode.Payment)]
    [InlineData(CheckoutMode.Subscription)]
    public async Task CreateCheckout_WithProviderCustomer_SendsOnlyTheCustomer(CheckoutMode mode)
    {
        await using var server = await FakeStripe.StartAsync();

        await NewStripe(server).CreateCheckoutAsync(Checkout(mode, "price_1QPro", providerCustomerId: "cus_RExample42"), Ct);

        var form = server.SingleRequest.FormMap();
        Assert.Equal("cus_RExample42", form["customer"]);
        Assert.DoesNotContain("customer_email", form.Keys);
        Assert.DoesNotContain("customer_creation", form.Keys);
    }

    [Fact]
    public async Task CancelAtPeriodEnd_PostsTheFlagWithAnIdempotencyKey()
    {
        await using var server = await FakeStripe.StartAsync();

        await NewStripe(server).CancelSubscriptionAsync("sub_1QExample42", atPeriodEnd: true, Ct);

        var request = server.SingleRequest;
        Assert.Equal(("POST", "/v1/subscriptions/sub_1QExample42", "cancel_at_period_end=true"), (request.Method, request.Path, request.Body));
        AssertStripeHeaders(request);
        Assert.StartsWith("tg-cancel-sub_1QExample42-", request.Header("Idempotency-Key"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task CancelNow_Deletes()
    {
        await using var server = await FakeStripe.StartAsync();

        await NewStripe(server).CancelSubscriptionAsync("sub_1QExample42", atPeriodEnd: false, Ct);

        var request = server.SingleRequest;
        Assert.Equal(("DELETE", "/v1/subscriptions/sub_1QExample42", ""), (request.Method, request.Path, request.Body));
        AssertStripeHeaders(request);
    }

    [Fact]
    public async Task Resume_ClearsTheFlag_WithAFreshKeyPerCall()
    {
        await using var server = await FakeStripe.StartAsync();
        var stripe = NewStripe(server);

        await stripe.ResumeSubscriptionAsync("sub_1QExample42", Ct);
        await stripe.ResumeSubscriptionAsync("sub_1QExample42", Ct);

        Assert.All(server.Requests, r => Assert.Equal(("POST", "/v1/subscriptions/sub_1QExample42", "cancel_at_period_end=false"), (r.Method, r.Path, r.Body)));
        var keys = server.Requests.Select(r => r.Header("Idempotency-Key")).ToList();
        Assert.All(keys, k => Assert.StartsWith("tg-resume-sub_1QExample42-", k, StringComparison.Ordinal));
        Assert.NotEqual(keys[0], keys[1]);
    }

    [Theory]
    [InlineData(PlanChangePolicy.Immediate, "always_invoice")]
    [InlineData(PlanChangePolicy.NextCycle, "none")]
    public async Task Change_ReadsTheItemThenSwapsItsPrice(PlanChangePolicy policy, string proration)
    {
        await using var server = await FakeStripe.StartAsync();

        await NewStripe(server).ChangeSubscriptionAsync("sub_1QExample42", "price_1QMax", policy, Ct);

        Assert.Collection(
            server.Requests,
            get => Assert.Equal(("GET", "/v1/subscriptions/sub_1QExample42", ""), (get.Method, get.Path, get.Body)),
            post =>
            {
                Assert.Equal(("POST", "/v1/subscriptions/sub_1QExample42"), (post.Method, post.Path));
                Assert.Equal(
                    [new("items[0][id]", "si_RExample1"), new("items[0][price]", "price_1QMax"), new KeyValuePair<string, string>("proration_behavior", proration)],
                    post.Form());
                Assert.StartsWith("tg-change-sub_1QExample42-", post.Header("Idempotency-Key"), StringComparison.Ordinal);
            });
    }

    [Theory]
    [InlineData(PlanChangePolicy.Immediate, "always_invoice")]
    [InlineData(PlanChangePolicy.NextCycle, "none")]
    public async Task Quantity_ReadsTheItemThenSetsItsQuantity(PlanChangePolicy policy, string proration)
    {
        await using var server = await FakeStripe.StartAsync();

        await NewStripe(server).ChangeQuantityAsync("sub_1QExample42", 5, policy, Ct);

        Assert.Collection(
            server.Requests,
            get => Assert.Equal(("GET", "/v1/subscriptions/sub_1QExample42"), (get.Method, get.Path)),
            post =>
            {
                Assert.Equal(("POST", "/v1/subscriptions/sub_1QExample42"), (post.Method, post.Path));
                Assert.Equal(
                    [new("items[0][id]", "si_RExample1"), new("items[0][quantity]", "5"), new KeyValuePair<string, string>("proration_behavior", proration)],
                    post.Form());
                Assert.StartsWith("tg-quantity-sub_1QExample42-", post.Header("Idempotency-Key"), StringComparison.Ordinal);
            });
    }

    [Fact]
    public async Task CreateCheckout_WithSeats_SendsTheLineItemsQuantity()
    {
        await using var server = await FakeStripe.StartAsync();

        await NewStripe(server).CreateCheckoutAsync(Checkout(CheckoutMode.Subscription, "price_1QPro") with { Quantity = 12 }, Ct);

        Assert.Contains(new KeyValuePair<string, string>("line_items[0][quantity]", "12"), server.SingleRequest.Form());
    }

    [Fact]
    public async Task Portal_PostsCustomerAndReturnUrl()
    {
        await using var server = await FakeStripe.StartAsync();

        var url = await NewStripe(server).GetCustomerPortalUrlAsync("cus_RExample42", "https://app.example.com/account", Ct);

        Assert.Equal("https://billing.stripe.com/p/session/test_YWNjdF8x", url);
        var request = server.SingleRequest;
        Assert.Equal(("POST", "/v1/billing_portal/sessions"), (request.Method, request.Path));
        Assert.Equal([new("customer", "cus_RExample42"), new KeyValuePair<string, string>("return_url", "https://app.example.com/account")], request.Form());
        Assert.StartsWith("tg-portal-cus_RExample42-", request.Header("Idempotency-Key"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task EveryCall_IsAuthenticatedAndVersioned_AndEveryPostHasAnIdempotencyKey()
    {
        await using var server = await FakeStripe.StartAsync();
        var stripe = NewStripe(server);

        await stripe.GetPriceAsync("price_1QPro", Ct);
        await stripe.CreateCheckoutAsync(Checkout(CheckoutMode.Payment, "price_pack"), Ct);
        await stripe.CancelSubscriptionAsync("sub_1", true, Ct);
        await stripe.CancelSubscriptionAsync("sub_1", false, Ct);
        await stripe.ResumeSubscriptionAsync("sub_1", Ct);
        await stripe.ChangeSubscriptionAsync("sub_1", "price_1QMax", PlanChangePolicy.Immediate, Ct);
        await stripe.GetCustomerPortalUrlAsync("cus_1", "https://app.example.com", Ct);

        Assert.Equal(8, server.Requests.Count);
        Assert.All(server.Requests, AssertStripeHeaders);
        Assert.Equal(5, server.Requests.Count(r => r.Method == "POST"));
        Assert.All(server.Requests.Where(r => r.Method == "POST"), r => Assert.False(string.IsNullOrEmpty(r.Header("Idempotency-Key"))));
    }

    [Theory]
    [InlineData(500)]
    [InlineData(429)]
    public async Task RetriedPost_KeepsItsIdempotencyKeyAndBody(int status)
    {
        await using var server = await FakeStripe.StartAsync();
        server.FailNext(FakeStripe.Error(status, "api_error", "try again"));

        await NewStripe(server).CancelSubscriptionAsync("sub_1QExample42", true, Ct);

        Assert.Equal(2, server.Requests.Count);
        Assert.Equal(server.Requests[0].Header("Idempotency-Key"), server.Requests[1].Header("Idempotency-Key"));
        Assert.Equal(server.Requests[0].Body, server.Requests[1].Body);
    }

    [Fact]
    public async Task RetriedCheckout_KeepsTheCheckoutsKey()
    {
        await using var server = await FakeStripe.StartAsync();
        server.FailNext(FakeStripe.Error(503, "api_error", "unavailable"), FakeStripe.Error(429, "invalid_request_error", "Too many requests", "rate_limit"));

        await NewStripe(server).CreateCheckoutAsync(Checkout(CheckoutMode.Subscription, "price_1QPro"), Ct);

        Assert.Equal(3, server.Requests.Count);
        Assert.All(server.Requests, r => Assert.Equal("tg-checkout-chk_01JD4Z", r.Header("Idempotency-Key")));
    }

    [Fact]
    public async Task NotFound_SurfacesStripesMessage_WithoutRetrying()
    {
        await using var server = await FakeStripe.StartAsync();

        var error = await Assert.ThrowsAsync<ProviderException>(() => NewStripe(server).GetPriceAsync("price_missing", Ct));

        Assert.Equal(("stripe", "No such price: 'price_missing'", 404, false), (error.Provider, error.Message, error.StatusCode, error.Transient));
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task InvalidRequest_IsNotRetried()
    {
        await using var server = await FakeStripe.StartAsync();
        server.FailNext(FakeStripe.Error(400, "invalid_request_error", "Missing required param: line_items[0][price].", "parameter_missing"));

        var error = await Assert.ThrowsAsync<ProviderException>(() => NewStripe(server).CreateCheckoutAsync(Checkout(), Ct));

        Assert.Equal(("Missing required param: line_items[0][price].", 400, false), (error.Message, error.StatusCode, error.Transient));
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task WrongKey_IsAnAuthFailure_AndNeverShowsTheKey()
    {
        await using var server = await FakeStripe.StartAsync();
        const string wrongKey = "sk_test_51WRONGwrongWRONG";

        var error = await Assert.ThrowsAsync<ProviderException>(() => NewStripe(server, secretKey: wrongKey).GetPriceAsync("price_1QPro", Ct));

        Assert.Equal((401, false), (error.StatusCode, error.Transient));
        Assert.Equal("Invalid API Key provided: sk_test_****0001", error.Message);
        Assert.DoesNotContain(wrongKey, error.ToString(), StringComparison.Ordinal);
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task ErrorMessageEchoingTheKey_IsRedacted()
    {
        await using var server = await FakeStripe.StartAsync();
        server.FailNext(FakeStripe.Error(403, "invalid_request_error", "The provided key '" + FakeStripe.SecretKey + "' does not have access"));

        var error = await Assert.ThrowsAsync<ProviderException>(() => NewStripe(server).GetPriceAsync("price_1QPro", Ct));

        Assert.Equal("The provided key '[redacted]' does not have access", error.Message);
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task PersistentServerErrors_AreTransient()
    {
        await using var server = await FakeStripe.StartAsync();
        server.FailNext(
            FakeStripe.Error(500, "api_error", "An unknown error occurred"),
            FakeStripe.Error(500, "api_error", "An unknown error occurred"),
            FakeStripe.Error(500, "api_error", "An unknown error occurred"));

        var error = await Assert.ThrowsAsync<ProviderException>(() => NewStripe(server).GetPriceAsync("price_1QPro", Ct));

        Assert.Equal(("An unknown error occurred", 500, true), (error.Message, error.StatusCode, error.Transient));
        Assert.Equal(3, server.Requests.Count);
    }

    [Fact]
    public async Task Timeout_IsTransient()
    {
        await using var server = await FakeStripe.StartAsync();
        server.FailNext(FakeResponse.Hang);

        var error = await Assert.ThrowsAsync<ProviderException>(
            () => NewStripe(server, Resilience(attempts: 1, attemptTimeout: TimeSpan.FromMilliseconds(300))).CreateCheckoutAsync(Checkout(), Ct));

        Assert.Equal(("stripe", true, (int?)null), (error.Provider, error.Transient, error.StatusCode));
        Assert.Equal("Stripe did not answer within 0.3 s.", error.Message);
    }

    [Fact]
    public void Create_WithoutSecretKey_FailsNamingTheSetting()
    {
        var error = Assert.Throws<ArgumentException>(() => PaymentProviders.CreateStripe(SharedHttp, new StripeOptions(), TimeProvider.System));

        Assert.Contains("Tollgate__Providers__Stripe__SecretKey", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_ToString_ShowsNoSecrets()
    {
        var options = new StripeOptions { SecretKey = FakeStripe.SecretKey, WebhookSecrets = ["whsec_one", "whsec_two"] };

        var text = options.ToString();

        Assert.DoesNotContain(FakeStripe.SecretKey, text, StringComparison.Ordinal);
        Assert.DoesNotContain("whsec_", text, StringComparison.Ordinal);
        Assert.Contains("2 set", text, StringComparison.Ordinal);
    }
}
