using Tollgate.Core.Payments;
using Tollgate.Testing.Fakes;
using static Tollgate.Providers.Tests.TestSupport;

namespace Tollgate.Providers.Tests.Http;

/// <summary>The shared transport's policy, seen through Creem (Stripe's retries are covered with its idempotency keys).</summary>
public sealed class ResilienceTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ServerErrorThenTooManyRequests_AreRetried_ThenSucceed()
    {
        await using var server = await FakeCreem.StartAsync();
        server.FailNext(FakeCreem.Error(500, "Internal Server Error", "boom"), FakeCreem.Error(429, "Too Many Requests", "slow down"));

        var price = await NewCreem(server).GetPriceAsync("prod_abc123", Ct);

        Assert.Equal(2900, price.Amount);
        Assert.Equal(3, server.Requests.Count);
        Assert.All(server.Requests, r => Assert.Equal("/v1/products", r.Path));
    }

    [Fact]
    public async Task RetriedPost_SendsTheSameBodyEachTime()
    {
        await using var server = await FakeCreem.StartAsync();
        server.FailNext(FakeCreem.Error(503, "Service Unavailable", "maintenance"));

        await NewCreem(server).CreateCheckoutAsync(Checkout(), Ct);

        Assert.Equal(2, server.Requests.Count);
        Assert.Equal(server.Requests[0].Body, server.Requests[1].Body);
        Assert.Contains("\"request_id\":\"chk_01JD4Z\"", server.Requests[1].Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PersistentServerError_GivesUpAfterThreeAttempts_AsTransient()
    {
        await using var server = await FakeCreem.StartAsync();
        server.FailNext(
            FakeCreem.Error(500, "Internal Server Error", "boom 1"),
            FakeCreem.Error(502, "Bad Gateway", "boom 2"),
            FakeCreem.Error(500, "Internal Server Error", "boom 3"),
            FakeCreem.Error(500, "Internal Server Error", "never reached"));

        var error = await Assert.ThrowsAsync<ProviderException>(() => NewCreem(server).GetPriceAsync("prod_abc123", Ct));

        Assert.Equal(("creem", 500, true, "boom 3"), (error.Provider, error.StatusCode, error.Transient, error.Message));
        Assert.Equal(3, server.Requests.Count);
    }

    [Theory]
    [InlineData(400)]
    [InlineData(404)]
    [InlineData(409)]
    [InlineData(422)]
    public async Task ClientErrors_AreNotRetried(int status)
    {
        await using var server = await FakeCreem.StartAsync();
        server.FailNext(FakeCreem.Error(status, "Bad Request", "no"));

        var error = await Assert.ThrowsAsync<ProviderException>(() => NewCreem(server).CancelSubscriptionAsync("sub_1", true, Ct));

        Assert.Equal((status, false), (error.StatusCode, error.Transient));
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task NonJsonErrorBody_GivesAPlainMessage()
    {
        await using var server = await FakeCreem.StartAsync();
        server.FailNext(new FakeResponse(502, "<html>bad gateway</html>"), new FakeResponse(502, "<html>bad gateway</html>"));

        var error = await Assert.ThrowsAsync<ProviderException>(() => NewCreem(server, Resilience(attempts: 2)).GetPriceAsync("prod_abc123", Ct));

        Assert.Equal(("Creem answered HTTP 502.", 502, true), (error.Message, error.StatusCode, error.Transient));
    }

    [Fact]
    public async Task NoAnswerWithinTheAttemptTimeout_IsATransientTimeout()
    {
        await using var server = await FakeCreem.StartAsync();
        server.FailNext(FakeResponse.Hang, FakeResponse.Hang);

        var error = await Assert.ThrowsAsync<ProviderException>(
            () => NewCreem(server, Resilience(attempts: 2, attemptTimeout: TimeSpan.FromMilliseconds(300))).GetPriceAsync("prod_abc123", Ct));

        Assert.True(error.Transient);
        Assert.Null(error.StatusCode);
        Assert.Equal("Creem did not answer within 0.3 s.", error.Message);
    }

    [Fact]
    public async Task TimedOutAttempt_IsRetried_ThenSucceeds()
    {
        await using var server = await FakeCreem.StartAsync();
        server.FailNext(FakeResponse.Hang);

        var price = await NewCreem(server, Resilience(attemptTimeout: TimeSpan.FromSeconds(1))).GetPriceAsync("prod_abc123", Ct);

        Assert.Equal(2900, price.Amount);
        Assert.True(server.Requests.Count >= 2);
    }

    [Fact]
    public async Task UnreachableServer_IsTransient()
    {
        var server = await FakeCreem.StartAsync();
        var provider = NewCreem(server, Resilience(attempts: 2));
        await server.DisposeAsync();

        var error = await Assert.ThrowsAsync<ProviderException>(() => provider.GetPriceAsync("prod_abc123", Ct));

        Assert.True(error.Transient);
        Assert.Null(error.StatusCode);
        Assert.StartsWith("Could not reach Creem", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(FakeCreem.ApiKey, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CallersCancellation_IsNotTurnedIntoAProviderError()
    {
        await using var server = await FakeCreem.StartAsync();
        server.FailNext(FakeResponse.Hang);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var call = NewCreem(server).GetPriceAsync("prod_abc123", cancel.Token);
        while (server.Requests.Count == 0)
        {
            await Task.Delay(10, Ct);
        }

        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
        Assert.Single(server.Requests);
    }

    [Theory]
    [InlineData(0, 10_000, 1)]
    [InlineData(3, 0, 1)]
    [InlineData(3, 10_000, -1)]
    public void Create_WithNonsenseResilience_Fails(int attempts, int timeoutMs, int delayMs)
    {
        var resilience = new ProviderResilienceOptions
        {
            MaxAttempts = attempts,
            AttemptTimeout = TimeSpan.FromMilliseconds(timeoutMs),
            RetryBaseDelay = TimeSpan.FromMilliseconds(delayMs),
        };

        Assert.Throws<ArgumentException>(() => PaymentProviders.CreateCreem(
            SharedHttp, new Providers.Creem.CreemOptions { ApiKey = FakeCreem.ApiKey, Resilience = resilience }, TimeProvider.System));
    }
}
