using System.Net;
using System.Net.Sockets;
using Tollgate.Client.Tests.Support;

namespace Tollgate.Client.Tests;

/// <summary>
/// The client's retries, keys, timeouts and error mapping, against a scripted stub server: answers a real server gives
/// only when something fails (a lost answer, a 5xx, a Retry-After, a hang). What the stub saw is the evidence.
/// </summary>
public sealed class RetryTests
{
    private const string Hold = """{"id":"hold_1","status":"active","amount":5,"expires_at":"2030-01-01T00:00:00+00:00","feature":"credits"}""";
    private const string Grant = """{"lot_id":"lot_1","feature":"credits","amount":30}""";
    private const string CheckoutSession = """{"id":"chk_1","provider":"sandbox","provider_checkout_id":"sbx_1","url":"http://127.0.0.1/sandbox/checkout/sbx_1","status":"open","customer_id":"alice","product":"starter_pack","created_at":"2030-01-01T00:00:00+00:00"}""";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static TollgateClient ClientOf(Uri address, Action<TollgateClientOptions>? configure = null)
    {
        var options = new TollgateClientOptions
        {
            BaseAddress = address,
            SecretKey = "tg_stub_key",
            RetryDelay = TimeSpan.FromMilliseconds(10),
            AttemptTimeout = TimeSpan.FromSeconds(30),
            Deadline = TimeSpan.FromSeconds(60),
        };
        configure?.Invoke(options);
        return new TollgateClient(new HttpClient(), options);
    }

    private static UsageRequest Usage(string? key = null) => new("alice", "credits", 3) { IdempotencyKey = key };

    [Fact]
    public async Task AnAnswerLostInTransit_IsRetriedWithTheSameKey()
    {
        await using var stub = await StubServer.StartAsync(Answer.Drop(), Answer.Json(200, Answer.Usage));

        var result = await ClientOf(stub.BaseAddress).UseAsync(Usage(), Ct);

        Assert.True(result.Succeeded, result.ToString());
        Assert.Equal(7, result.Value.Remaining);
        var seen = stub.Requests;
        Assert.Equal(2, seen.Count);
        Assert.StartsWith("tgc_", seen[0].IdempotencyKey, StringComparison.Ordinal);
        Assert.Equal(seen[0].IdempotencyKey, seen[1].IdempotencyKey);
        Assert.Equal(seen[0].Body, seen[1].Body);
    }

    [Fact]
    public async Task HoldsAndGrants_AreRetriedWithTheirKeys_Too()
    {
        await using var holds = await StubServer.StartAsync(Answer.Drop(), Answer.Json(201, Hold));
        await using var grants = await StubServer.StartAsync(Answer.Drop(), Answer.Json(201, Grant));

        var hold = await ClientOf(holds.BaseAddress).CreateHoldAsync(new CreateHoldRequest("alice", "credits", 5), Ct);
        var grant = await ClientOf(grants.BaseAddress).GrantAsync(new CreateGrantRequest("alice", "credits", 30, "welcome") { IdempotencyKey = "grant-42" }, Ct);

        Assert.Equal("hold_1", hold.EnsureSuccess().Id);
        Assert.Equal("lot_1", grant.EnsureSuccess().LotId);
        Assert.Equal(2, holds.Requests.Count);
        Assert.NotNull(holds.Requests[0].IdempotencyKey);
        Assert.Equal(holds.Requests[0].IdempotencyKey, holds.Requests[1].IdempotencyKey);
        Assert.Equal(["grant-42", "grant-42"], grants.Requests.Select(r => r.IdempotencyKey));
    }

    [Fact]
    public async Task EachLogicalCall_HasAKeyOfItsOwn_AndTheCallersKeyIsSentAsIs()
    {
        await using var stub = await StubServer.StartAsync(Answer.Json(200, Answer.Usage));
        var client = ClientOf(stub.BaseAddress);

        await client.UseAsync(Usage(), Ct);
        await client.UseAsync(Usage(), Ct);
        await client.UseAsync(Usage("msg-42"), Ct);

        var keys = stub.Requests.Select(r => r.IdempotencyKey).ToList();
        Assert.Equal(3, keys.Count);
        Assert.NotEqual(keys[0], keys[1]);
        Assert.Equal("msg-42", keys[2]);
    }

    [Theory]
    [InlineData(402, "quota_exceeded")]
    [InlineData(402, "insufficient_balance")]
    [InlineData(402, "limit_reached")]
    [InlineData(402, "not_entitled")]
    [InlineData(404, "unknown_feature")]
    [InlineData(400, "invalid_request")]
    [InlineData(422, "idempotency_key_reused")]
    [InlineData(429, "concurrency_limit")]
    public async Task ARefusal_IsAValue_AndIsNeverRetried(int status, string code)
    {
        // Retry-After on a refusal too: the customer's limit is not the server asking to slow down.
        await using var stub = await StubServer.StartAsync(Answer.Problem(status, code, "why not", retryAfter: "0"), Answer.Json(200, Answer.Usage));

        var result = await ClientOf(stub.BaseAddress).UseAsync(Usage(), Ct);

        Assert.True(result.IsRefused);
        Assert.Equal(TollgateRefusal.FromCode(code), result.Refusal);
        Assert.True(result.Refusal.IsKnown);
        Assert.Equal("why not", result.Detail);
        Assert.Single(stub.Requests);
    }

    [Fact]
    public async Task AnUnknownCode_IsARefusalOfKindOther_CarryingTheRawCode()
    {
        await using var stub = await StubServer.StartAsync(Answer.Problem(409, "brand_new_rule", "a newer server's reason"));

        var result = await ClientOf(stub.BaseAddress).UseAsync(Usage(), Ct);

        Assert.Equal(TollgateRefusalKind.Other, result.Refusal?.Kind);
        Assert.Equal("brand_new_rule", result.Refusal!.Code);
        Assert.Equal("a newer server's reason", result.Detail);
        Assert.Single(stub.Requests);
    }

    [Theory]
    [InlineData(503, "unavailable")]
    [InlineData(429, "slow_down")]
    public async Task RetryAfter_IsWaitedFor_BeforeTheRetry(int status, string code)
    {
        await using var stub = await StubServer.StartAsync(Answer.Problem(status, code, retryAfter: "1"), Answer.Json(200, Answer.Usage));

        var result = await ClientOf(stub.BaseAddress).UseAsync(Usage(), Ct);

        Assert.True(result.Succeeded, result.ToString());
        var seen = stub.Requests;
        Assert.Equal(2, seen.Count);
        // The backoff alone would have waited about 10 ms; the server asked for a second.
        Assert.True(seen[1].After(seen[0]) >= TimeSpan.FromMilliseconds(950), $"retried after {seen[1].After(seen[0]).TotalMilliseconds} ms");
        Assert.Equal(seen[0].IdempotencyKey, seen[1].IdempotencyKey);
    }

    [Fact]
    public async Task ARetryAfterPastTheDeadline_IsNotWaitedFor()
    {
        await using var stub = await StubServer.StartAsync(Answer.Problem(503, "unavailable", "database down", retryAfter: "120"), Answer.Json(200, Answer.Usage));

        var result = await ClientOf(stub.BaseAddress, o => o.Deadline = TimeSpan.FromSeconds(20)).UseAsync(Usage(), Ct);

        Assert.Equal(TollgateRefusal.Unavailable, result.Refusal);
        Assert.Single(stub.Requests);
    }

    [Fact]
    public async Task Unavailable_ThatOutlastsTheRetries_IsTheRefusalUnavailable()
    {
        await using var stub = await StubServer.StartAsync(Answer.Problem(503, "unavailable", "Tollgate cannot reach its database."));

        var result = await ClientOf(stub.BaseAddress).UseAsync(Usage(), Ct);

        Assert.Equal(TollgateRefusal.Unavailable, result.Refusal);
        Assert.Equal(3, stub.Requests.Count);
        Assert.Single(stub.Requests.Select(r => r.IdempotencyKey).Distinct());
    }

    [Fact]
    public async Task ServerErrors_AreRetried_ThenThrown()
    {
        await using var stub = await StubServer.StartAsync(Answer.Problem(500, "internal_error", "The error was logged."));

        var error = await Assert.ThrowsAsync<TollgateException>(() => ClientOf(stub.BaseAddress).UseAsync(Usage(), Ct));

        Assert.Equal(500, error.Status);
        Assert.Equal("internal_error", error.Code);
        Assert.Equal(3, error.Attempts);
        Assert.Equal(3, stub.Requests.Count);
        // The key the client made: the app can send the usage again later with it, and be charged at most once.
        Assert.Equal(stub.Requests[0].IdempotencyKey, Assert.Single(stub.Requests.Select(r => r.IdempotencyKey).Distinct()));
        Assert.Equal(stub.Requests[0].IdempotencyKey, error.IdempotencyKey);
    }

    [Fact]
    public async Task AProxysErrorPage_ThenSuccess_Succeeds()
    {
        await using var stub = await StubServer.StartAsync(Answer.Text(502, "text/html", "<html>Bad gateway</html>"), Answer.Problem(500, "internal_error"),
            Answer.Json(200, Answer.Usage));

        var result = await ClientOf(stub.BaseAddress).UseAsync(Usage(), Ct);

        Assert.True(result.Succeeded, result.ToString());
        Assert.Equal(3, stub.Requests.Count);
    }

    [Theory]
    [InlineData("checkout")]
    [InlineData("ensure")]
    [InlineData("settle")]
    [InlineData("release")]
    [InlineData("portal")]
    public async Task AnUnkeyedWrite_IsNotRepeated_AfterItMayHaveArrived(string call)
    {
        await using var stub = await StubServer.StartAsync(Answer.Drop(), Answer.Problem(500, "internal_error"), Answer.Json(201, CheckoutSession));
        var client = ClientOf(stub.BaseAddress);

        var error = await Assert.ThrowsAsync<TollgateException>(() => call switch
        {
            "checkout" => client.CreateCheckoutAsync(new CreateCheckoutRequest("alice", "starter_pack"), Ct),
            "ensure" => client.EnsureAccessAsync(new EnsureAccessRequest("alice", "feature:hd_export", "pro"), Ct),
            "settle" => client.SettleHoldAsync(new SettleHoldRequest("hold_1"), Ct),
            "release" => client.ReleaseHoldAsync("hold_1", Ct),
            _ => (Task)client.CreatePortalLinkAsync("alice", Ct),
        });

        Assert.Equal("network_error", error.Code);
        Assert.Null(error.Status);
        Assert.Equal(1, error.Attempts);
        Assert.Single(stub.Requests);
    }

    [Fact]
    public async Task AServerErrorOnAnUnkeyedWrite_IsNotRepeated()
    {
        await using var stub = await StubServer.StartAsync(Answer.Problem(500, "internal_error"), Answer.Json(201, CheckoutSession));

        var error = await Assert.ThrowsAsync<TollgateException>(() => ClientOf(stub.BaseAddress).CreateCheckoutAsync(new CreateCheckoutRequest("alice", "starter_pack"), Ct));

        Assert.Equal(500, error.Status);
        Assert.Single(stub.Requests);
    }

    [Fact]
    public async Task AConnectionThatCannotOpen_IsRetried_EvenForAnUnkeyedWrite_ThenThrown()
    {
        // Nothing listens there: the request never left, so repeating it cannot start a second checkout.
        var closed = ClosedPort();

        var error = await Assert.ThrowsAsync<TollgateException>(() =>
            ClientOf(new Uri($"http://127.0.0.1:{closed}/")).CreateCheckoutAsync(new CreateCheckoutRequest("alice", "starter_pack"), Ct));

        Assert.Equal("network_error", error.Code);
        Assert.Equal(3, error.Attempts);
        Assert.IsType<HttpRequestException>(error.InnerException);
    }

    [Fact]
    public async Task AnAttemptThatHangs_TimesOut_AndIsRetriedWithTheSameKey()
    {
        await using var stub = await StubServer.StartAsync(Answer.Hang(), Answer.Json(200, Answer.Usage));

        var result = await ClientOf(stub.BaseAddress, o => o.AttemptTimeout = TimeSpan.FromMilliseconds(500)).UseAsync(Usage(), Ct);

        Assert.True(result.Succeeded, result.ToString());
        Assert.Equal(2, stub.Requests.Count);
        Assert.Equal(stub.Requests[0].IdempotencyKey, stub.Requests[1].IdempotencyKey);
    }

    [Fact]
    public async Task TheDeadline_EndsTheRetries()
    {
        await using var stub = await StubServer.StartAsync(Answer.Hang());

        var error = await Assert.ThrowsAsync<TollgateException>(() => ClientOf(stub.BaseAddress, o =>
        {
            o.AttemptTimeout = TimeSpan.FromMilliseconds(400);
            o.Deadline = TimeSpan.FromSeconds(1);
            o.MaxAttempts = 20;
        }).UseAsync(Usage(), Ct));

        // Each attempt takes its 400 ms (the last one what is left of the second): the deadline, not the 20 attempts
        // allowed, ended it.
        Assert.Equal("timeout", error.Code);
        Assert.InRange(error.Attempts, 1, 3);
        Assert.Null(error.Status);
    }

    [Fact]
    public async Task TheCallersCancellation_EndsTheCall_WithoutRetry()
    {
        await using var stub = await StubServer.StartAsync(Answer.Hang());
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cancel.CancelAfter(TimeSpan.FromMilliseconds(300));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ClientOf(stub.BaseAddress).UseAsync(Usage(), cancel.Token));

        Assert.Single(stub.Requests);
    }

    [Fact]
    public async Task ARejectedKey_Throws_WithoutRetry()
    {
        await using var stub = await StubServer.StartAsync(Answer.Problem(401, "unauthorized", "Send Authorization: Bearer <secret key>."));

        var error = await Assert.ThrowsAsync<TollgateException>(() => ClientOf(stub.BaseAddress).GetBalancesAsync("alice", Ct));

        Assert.Equal(401, error.Status);
        Assert.Equal("unauthorized", error.Code);
        Assert.Contains("SecretKey", error.Message, StringComparison.Ordinal);
        Assert.Single(stub.Requests);
    }

    [Theory]
    [InlineData(200, "application/json", "<html>not json</html>")]
    [InlineData(200, "application/json", """{"feature":"credits"}""")]
    [InlineData(200, "application/json", """{"feature":null,"remaining":3}""")]
    [InlineData(400, "text/plain", "Bad Request")]
    [InlineData(404, "application/problem+json", """{"type":"x","title":"Not found.","status":404,"code":"not_found"}""")]
    public async Task AnAnswerThisClientCannotRead_IsUnexpected_NotAGuess(int status, string contentType, string body)
    {
        await using var stub = await StubServer.StartAsync(Answer.Text(status, contentType, body));

        var error = await Assert.ThrowsAsync<TollgateException>(() => ClientOf(stub.BaseAddress).UseAsync(Usage(), Ct));

        Assert.Equal(status, error.Status);
        Assert.Equal(status == 404 ? "not_found" : "unexpected_response", error.Code);
    }

    [Fact]
    public async Task ACheckThatSaysNo_IsARefusal_ThatKeepsTheAnswer()
    {
        await using var stub = await StubServer.StartAsync(Answer.Json(200,
            """{"customer_id":"alice","feature":"ai_messages","allowed":false,"reason":"quota_exceeded","balance":{"available":0,"held":0,"limit":50,"used":50,"resets_at":"2030-02-01T00:00:00+00:00"}}"""));

        var result = await ClientOf(stub.BaseAddress).CheckAsync(new CheckRequest("alice", "ai_messages"), Ct);

        Assert.Equal(TollgateRefusal.QuotaExceeded, result.Refusal);
        Assert.False(result.Value!.Allowed);
        Assert.Equal(TollgateRefusal.QuotaExceeded, result.Value.Reason);
        Assert.Equal(new BalanceSnapshot(0, 0, 50, 50, new DateTimeOffset(2030, 2, 1, 0, 0, 0, TimeSpan.Zero)), result.Value.Balance);
        Assert.Equal(TollgateRefusal.QuotaExceeded, Assert.Throws<TollgateRefusalException>(() => result.EnsureSuccess()).Refusal);
    }

    [Fact]
    public async Task ANewerServersFieldsAndStatuses_DoNotBreakTheAnswer()
    {
        await using var stub = await StubServer.StartAsync(Answer.Json(200, CheckoutSession.Replace("\"open\"", "\"refunded\"", StringComparison.Ordinal)
            .Replace("\"created_at\"", "\"tax\":{\"amount\":19},\"created_at\"", StringComparison.Ordinal)));

        var checkout = (await ClientOf(stub.BaseAddress).GetCheckoutAsync("chk_1", Ct)).EnsureSuccess();

        Assert.Equal(CheckoutState.Unknown, checkout.Status);
        Assert.Equal("chk_1", checkout.Id);
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
