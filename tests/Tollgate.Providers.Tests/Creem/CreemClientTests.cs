using System.Text.Json;
using Tollgate.Core.Payments;
using Tollgate.Core.Subscriptions;
using Tollgate.Providers.Creem;
using Tollgate.Testing.Fakes;
using static Tollgate.Providers.Tests.TestSupport;

namespace Tollgate.Providers.Tests.Creem;

public sealed class CreemClientTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task GetPrice_SendsApiKeyAndProductId_ReadsPriceCurrencyAndMonthlyInterval()
    {
        await using var server = await FakeCreem.StartAsync();

        var price = await NewCreem(server).GetPriceAsync("prod_abc123", Ct);

        Assert.Equal(new ProviderPrice("prod_abc123", 2900, "USD", "month"), price);
        var request = server.SingleRequest;
        Assert.Equal("GET", request.Method);
        Assert.Equal("/v1/products", request.Path);
        Assert.Equal("?product_id=prod_abc123", request.Query);
        Assert.Equal(FakeCreem.ApiKey, request.Header("x-api-key"));
        Assert.Equal("", request.Body);
    }

    [Theory]
    [InlineData("prod_yearly", 29000, "EUR", "year")]
    [InlineData("prod_pack", 100, "USD", null)]
    [InlineData("prod_quarterly", 7500, "USD", "every-three-months")]
    public async Task GetPrice_MapsBillingPeriod(string product, long amount, string currency, string? interval)
    {
        await using var server = await FakeCreem.StartAsync();

        var price = await NewCreem(server).GetPriceAsync(product, Ct);

        Assert.Equal(new ProviderPrice(product, amount, currency, interval), price);
    }

    [Fact]
    public async Task CreateCheckout_WithEmail_SendsProductRequestIdSuccessUrlMetadataAndCustomerEmail()
    {
        await using var server = await FakeCreem.StartAsync();
        var metadata = new Dictionary<string, string> { ["campaign"] = "spring", ["tollgate_customer_id"] = "someone_else" };

        var checkout = await NewCreem(server).CreateCheckoutAsync(Checkout(metadata: metadata), Ct);

        Assert.Equal(new ProviderCheckout("ch_1QyIQDw9cbFWdA1ry5Qc6I", "https://checkout.creem.io/ch_1QyIQDw9cbFWdA1ry5Qc6I"), checkout);
        var request = server.SingleRequest;
        Assert.Equal("POST", request.Method);
        Assert.Equal("/v1/checkouts", request.Path);
        Assert.Equal(FakeCreem.ApiKey, request.Header("x-api-key"));
        Assert.StartsWith("application/json", request.Header("Content-Type"), StringComparison.Ordinal);
        var expected = """
            {"product_id":"prod_abc123","request_id":"chk_01JD4Z","success_url":"https://app.example.com/billing/done",
             "metadata":{"tollgate_customer_id":"user_42","tollgate_product":"pro","campaign":"spring"},
             "customer":{"email":"ada@example.com"}}
            """;
        Assert.True(JsonElement.DeepEquals(JsonDocument.Parse(expected).RootElement, request.Json()), request.Body);
    }

    [Fact]
    public async Task CreateCheckout_WithProviderCustomer_SendsOnlyTheCustomerId()
    {
        await using var server = await FakeCreem.StartAsync();

        await NewCreem(server).CreateCheckoutAsync(Checkout(providerCustomerId: "cust_1OcIK1GEuVvXZwD19tjq2z"), Ct);

        var customer = server.SingleRequest.Json().GetProperty("customer");
        Assert.Equal("""{"id":"cust_1OcIK1GEuVvXZwD19tjq2z"}""", customer.GetRawText());
    }

    [Fact]
    public async Task CreateCheckout_WithoutEmailOrCustomer_SendsNoCustomer()
    {
        await using var server = await FakeCreem.StartAsync();

        await NewCreem(server).CreateCheckoutAsync(Checkout(email: null), Ct);

        Assert.False(server.SingleRequest.Json().TryGetProperty("customer", out _));
    }

    [Theory]
    [InlineData(true, "scheduled")]
    [InlineData(false, "immediate")]
    public async Task Cancel_PostsModeToTheCancelAction(bool atPeriodEnd, string mode)
    {
        await using var server = await FakeCreem.StartAsync();

        await NewCreem(server).CancelSubscriptionAsync("sub_6pC2lNB6joCRQIZ1aMrTpi", atPeriodEnd, Ct);

        var request = server.SingleRequest;
        Assert.Equal("POST", request.Method);
        Assert.Equal("/v1/subscriptions/sub_6pC2lNB6joCRQIZ1aMrTpi/cancel", request.Path);
        Assert.Equal($$"""{"mode":"{{mode}}"}""", request.Body);
        Assert.Equal(FakeCreem.ApiKey, request.Header("x-api-key"));
    }

    [Fact]
    public async Task Resume_PostsToTheResumeAction()
    {
        await using var server = await FakeCreem.StartAsync();

        await NewCreem(server).ResumeSubscriptionAsync("sub_6pC2lNB6joCRQIZ1aMrTpi", Ct);

        var request = server.SingleRequest;
        Assert.Equal("POST", request.Method);
        Assert.Equal("/v1/subscriptions/sub_6pC2lNB6joCRQIZ1aMrTpi/resume", request.Path);
        Assert.Equal(FakeCreem.ApiKey, request.Header("x-api-key"));
    }

    [Theory]
    [InlineData(PlanChangePolicy.Immediate, "proration-charge-immediately")]
    [InlineData(PlanChangePolicy.NextCycle, "proration-none")]
    public async Task Change_PostsProductAndUpdateBehaviorToTheUpgradeAction(PlanChangePolicy policy, string behavior)
    {
        await using var server = await FakeCreem.StartAsync();

        await NewCreem(server).ChangeSubscriptionAsync("sub_6pC2lNB6joCRQIZ1aMrTpi", "prod_yearly", policy, Ct);

        var request = server.SingleRequest;
        Assert.Equal("/v1/subscriptions/sub_6pC2lNB6joCRQIZ1aMrTpi/upgrade", request.Path);
        Assert.Equal($$"""{"product_id":"prod_yearly","update_behavior":"{{behavior}}"}""", request.Body);
    }

    [Theory]
    [InlineData(PlanChangePolicy.Immediate, "proration-charge-immediately")]
    [InlineData(PlanChangePolicy.NextCycle, "proration-none")]
    public async Task Quantity_ReadsTheItemThenPostsItsUnits(PlanChangePolicy policy, string behavior)
    {
        await using var server = await FakeCreem.StartAsync();

        await NewCreem(server).ChangeQuantityAsync("sub_6pC2lNB6joCRQIZ1aMrTpi", 4, policy, Ct);

        Assert.Collection(
            server.Requests,
            get => Assert.Equal(("GET", "/v1/subscriptions", "?subscription_id=sub_6pC2lNB6joCRQIZ1aMrTpi"), (get.Method, get.Path, get.Query)),
            post =>
            {
                Assert.Equal(("POST", "/v1/subscriptions/sub_6pC2lNB6joCRQIZ1aMrTpi"), (post.Method, post.Path));
                Assert.Equal($$"""{"items":[{"id":"sitem_3QWlqRbAat2eBRakAxFtt9","units":4}],"update_behavior":"{{behavior}}"}""", post.Body);
            });
    }

    [Fact]
    public async Task CreateCheckout_WithSeats_SendsUnits()
    {
        await using var server = await FakeCreem.StartAsync();

        await NewCreem(server).CreateCheckoutAsync(Checkout() with { Quantity = 3 }, Ct);

        Assert.Equal(3, server.SingleRequest.Json().GetProperty("units").GetInt64());
    }

    [Fact]
    public async Task Portal_PostsCustomerId_ReturnsThePortalLink()
    {
        await using var server = await FakeCreem.StartAsync();

        var url = await NewCreem(server).GetCustomerPortalUrlAsync("cust_1OcIK1GEuVvXZwD19tjq2z", "https://app.example.com/account", Ct);

        Assert.Equal("https://creem.io/my-orders/login/cust_1OcIK1GEuVvXZwD19tjq2z", url);
        var request = server.SingleRequest;
        Assert.Equal("/v1/customers/billing", request.Path);
        Assert.Equal("""{"customer_id":"cust_1OcIK1GEuVvXZwD19tjq2z"}""", request.Body);
    }

    [Fact]
    public async Task BadRequest_SurfacesCreemMessagesJoined_WithoutRetrying()
    {
        await using var server = await FakeCreem.StartAsync();
        server.FailNext(FakeCreem.Error(400, "Bad Request", "product_id must be a string", "success_url must be a valid URL"));

        var error = await Assert.ThrowsAsync<ProviderException>(() => NewCreem(server).CreateCheckoutAsync(Checkout(), Ct));

        Assert.Equal("creem", error.Provider);
        Assert.Equal("product_id must be a string; success_url must be a valid URL", error.Message);
        Assert.Equal(400, error.StatusCode);
        Assert.False(error.Transient);
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task UnknownProduct_SurfacesNotFoundMessage()
    {
        await using var server = await FakeCreem.StartAsync();

        var error = await Assert.ThrowsAsync<ProviderException>(() => NewCreem(server).GetPriceAsync("prod_missing", Ct));

        Assert.Equal("Product not found", error.Message);
        Assert.Equal(404, error.StatusCode);
        Assert.False(error.Transient);
    }

    [Fact]
    public async Task RejectedKey_IsAnAuthFailure_NotTransient_AndNeverShowsTheKey()
    {
        await using var server = await FakeCreem.StartAsync();
        const string wrongKey = "creem_test_WRONGwrongWRONG";

        var error = await Assert.ThrowsAsync<ProviderException>(() => NewCreem(server, apiKey: wrongKey).GetPriceAsync("prod_abc123", Ct));

        Assert.Equal(403, error.StatusCode);
        Assert.False(error.Transient);
        Assert.Equal("Creem refused the API key (HTTP 403).", error.Message);
        Assert.DoesNotContain(wrongKey, error.ToString(), StringComparison.Ordinal);
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task Unauthorized_IsAnAuthFailure_NotTransient()
    {
        await using var server = await FakeCreem.StartAsync();
        server.FailNext(FakeCreem.Error(401, "Unauthorized", "Invalid or missing API key"));

        var error = await Assert.ThrowsAsync<ProviderException>(() => NewCreem(server).ResumeSubscriptionAsync("sub_1", Ct));

        Assert.Equal(401, error.StatusCode);
        Assert.False(error.Transient);
        Assert.Equal("Invalid or missing API key", error.Message);
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task ErrorMessageEchoingTheKey_IsRedacted()
    {
        await using var server = await FakeCreem.StartAsync();
        server.FailNext(FakeCreem.Error(400, "Bad Request", "key " + FakeCreem.ApiKey + " is not allowed here"));

        var error = await Assert.ThrowsAsync<ProviderException>(() => NewCreem(server).GetPriceAsync("prod_abc123", Ct));

        Assert.DoesNotContain(FakeCreem.ApiKey, error.Message, StringComparison.Ordinal);
        Assert.Equal("key [redacted] is not allowed here", error.Message);
    }

    [Fact]
    public async Task SuccessWithoutCheckoutUrl_IsAnUnexpectedAnswer()
    {
        await using var server = await FakeCreem.StartAsync();
        server.FailNext(FakeResponse.Json(200, new { id = "ch_1", status = "pending" }));

        var error = await Assert.ThrowsAsync<ProviderException>(() => NewCreem(server).CreateCheckoutAsync(Checkout(), Ct));

        Assert.Equal("Creem answered without a checkout_url.", error.Message);
        Assert.False(error.Transient);
    }

    [Theory]
    [InlineData("creem_test_abc", "https://test-api.creem.io/")]
    [InlineData("creem_abc", "https://api.creem.io/")]
    [InlineData("creem_live_abc", "https://api.creem.io/")]
    public void BaseUrl_FollowsTheKeyWhenUnset(string key, string expected)
    {
        Assert.Equal(new Uri(expected), new CreemOptions { ApiKey = key }.EffectiveBaseUrl);
    }

    [Fact]
    public void BaseUrl_WhenSet_WinsOverTheKey()
    {
        var options = new CreemOptions { ApiKey = "creem_test_abc", BaseUrl = new Uri("http://127.0.0.1:9999") };

        Assert.Equal(new Uri("http://127.0.0.1:9999"), options.EffectiveBaseUrl);
    }

    [Fact]
    public void Create_WithoutApiKey_FailsNamingTheSetting()
    {
        var error = Assert.Throws<ArgumentException>(() => PaymentProviders.CreateCreem(SharedHttp, new CreemOptions(), TimeProvider.System));

        Assert.Contains("Tollgate__Providers__Creem__ApiKey", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_ToString_ShowsNoSecrets()
    {
        var options = new CreemOptions { ApiKey = FakeCreem.ApiKey, WebhookSecret = "whsec_test_secret_123" };

        var text = options.ToString();

        Assert.DoesNotContain(FakeCreem.ApiKey, text, StringComparison.Ordinal);
        Assert.DoesNotContain("whsec_test_secret_123", text, StringComparison.Ordinal);
        Assert.Contains("https://test-api.creem.io/", text, StringComparison.Ordinal);
    }
}
