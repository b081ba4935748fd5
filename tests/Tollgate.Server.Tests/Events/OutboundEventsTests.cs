using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Tollgate.Core.Catalog;
using Tollgate.Core.Events;
using Tollgate.Server.Tests.Support;
using Tollgate.Storage;
using Tollgate.Testing;
using Tollgate.Testing.Fakes;

namespace Tollgate.Server.Tests.Events;

/// <summary>
/// Outbound events (API.md §6.3) end to end: a real server (test host, real database) delivers over real HTTP to a
/// receiver that verifies every signature with the StandardWebhooks package. Deliveries run on the wall clock; the
/// server's business clock is a manual one set to now (receivers reject timestamps more than 5 minutes off).
/// </summary>
public abstract class OutboundEventsTests : IAsyncLifetime
{
    private readonly List<IAsyncDisposable> _owned = [];
    private string? _catalog;

    protected abstract DatabaseProvider Provider { get; }

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        for (var i = _owned.Count - 1; i >= 0; i--)
        {
            await _owned[i].DisposeAsync();
        }

        if (_catalog is not null)
        {
            File.Delete(_catalog);
        }

        GC.SuppressFinalize(this);
    }

    /// <summary>The demo catalog with <c>alerts: [100, 20]</c> on credits and <c>alerts: [20]</c> on the metered ai_messages.</summary>
    private string AlertCatalog()
    {
        if (_catalog is null)
        {
            using var stream = typeof(CatalogLoader).Assembly.GetManifestResourceStream("Tollgate.Core.Catalog.demo-catalog.yaml")!;
            var yaml = new StreamReader(stream).ReadToEnd();
            var alerting = yaml.Replace("credits:     { type: credits,     name: Credits }", "credits:     { type: credits,     name: Credits, alerts: [100, 20] }",
                StringComparison.Ordinal);
            Assert.NotEqual(yaml, alerting);
            var metered = alerting.Replace("ai_messages: { type: metered,     name: AI messages, credit_cost: 1 }",
                "ai_messages: { type: metered,     name: AI messages, credit_cost: 1, alerts: [20] }", StringComparison.Ordinal);
            Assert.NotEqual(alerting, metered);
            alerting = metered;
            _catalog = Path.Combine(Path.GetTempPath(), $"tollgate-alerts-{Guid.NewGuid():N}.yaml");
            File.WriteAllText(_catalog, alerting);
        }

        return _catalog;
    }

    private async Task<TollgateApp> StartAsync(bool allowPrivate = true, bool alerts = false, TestDatabase? database = null, ManualTimeProvider? clock = null)
    {
        var settings = new Dictionary<string, string?> { ["Tollgate:Webhooks:AllowPrivateAddresses"] = allowPrivate ? "true" : "false" };
        if (alerts)
        {
            settings["Tollgate:Catalog"] = AlertCatalog();
        }

        var app = await TollgateApp.StartAsync(Provider, clock ?? new ManualTimeProvider(TimeProvider.System.GetUtcNow()), settings: settings, database: database);
        _owned.Add(app);
        return app;
    }

    private async Task<EventReceiver> ReceiverAsync()
    {
        var receiver = await EventReceiver.StartAsync();
        _owned.Add(receiver);
        return receiver;
    }

    private static async Task<JsonObject> CreateEndpointAsync(TollgateApp app, EventReceiver receiver, string[]? events = null)
    {
        var created = await Json.ReadAsync(await app.PostAsync("/v1/webhook-endpoints", new { url = receiver.Url.ToString(), events }), 201);
        receiver.Trust((string)created["secret"]!);
        return created;
    }

    [Fact]
    public async Task Events_AreSignedPerStandardWebhooks_AndArriveInOrderPerCustomer()
    {
        var app = await StartAsync();
        var receiver = await ReceiverAsync();
        var endpoint = await CreateEndpointAsync(app, receiver);
        Assert.StartsWith("whsec_", (string)endpoint["secret"]!, StringComparison.Ordinal);
        Assert.True(Convert.FromBase64String(((string)endpoint["secret"]!)["whsec_".Length..]).Length >= 24);
        Assert.Equal("enabled", (string)endpoint["status"]!);
        var customer = TollgateApp.NewCustomer();
        foreach (var amount in new[] { 10, 20, 30, 40, 50 })
        {
            await app.GrantAsync(customer, "credits", amount);
        }

        var received = await receiver.WaitForAsync(r => r.Count(e => e.CustomerId == customer) >= 5);
        var mine = received.Where(e => e.CustomerId == customer).ToList();
        Assert.All(mine, e => Assert.True(e.Verified, $"signature of {e.WebhookId} did not verify"));
        Assert.Equal([1L, 2, 3, 4, 5], mine.Select(e => e.Sequence));
        Assert.Equal([10L, 20, 30, 40, 50], mine.Select(e => e.Data.GetProperty("amount").GetInt64()));
        Assert.All(mine, e => Assert.Equal(EventTypes.CreditsGranted, e.Type));
        Assert.All(mine, e => Assert.Equal(JsonNode.Parse(e.Body)!["id"]!.GetValue<string>(), e.WebhookId));
        Assert.All(mine, e => Assert.Equal("admin", e.Data.GetProperty("source").GetString()));

        var listed = await Json.ReadAsync(await app.Client.GetAsync("/v1/webhook-endpoints"), 200);
        var only = Assert.Single(listed["endpoints"]!.AsArray());
        Assert.Null(only!["secret"]);
    }

    [Fact]
    public async Task FailingReceiver_IsRetriedOnSchedule_HonouringRetryAfter_UntilItRecovers()
    {
        var app = await StartAsync();
        var receiver = await ReceiverAsync();
        var endpoint = await CreateEndpointAsync(app, receiver);
        receiver.AnswerNext(500);
        receiver.AnswerNext(503, times: 2, retryAfter: "2");
        var customer = TollgateApp.NewCustomer();
        await app.GrantAsync(customer, "credits", 5);

        var endpointId = (string)endpoint["id"]!;
        await receiver.WaitForAsync(r => r.Count == 1);
        // Each failure is recorded (with its next attempt, from the clock) before the clock moves on.
        await WaitForAttemptsAsync(app, endpointId, 1);
        // A 500 without Retry-After: the schedule's first step, about 5 s (±10 %) on the server's clock, not before.
        app.Clock.Advance(TimeSpan.FromSeconds(4));
        await Task.Delay(1500);
        Assert.Single(receiver.Received);
        app.Clock.Advance(TimeSpan.FromSeconds(2));
        await receiver.WaitForAsync(r => r.Count == 2);
        await WaitForAttemptsAsync(app, endpointId, 2);
        // 503 with Retry-After: 2 → due 2 s later, instead of the schedule's 5 minutes.
        await Task.Delay(1500);
        Assert.Equal(2, receiver.Received.Count);
        app.Clock.Advance(TimeSpan.FromSeconds(2));
        await receiver.WaitForAsync(r => r.Count == 3);
        await WaitForAttemptsAsync(app, endpointId, 3);
        app.Clock.Advance(TimeSpan.FromSeconds(2));
        var received = await receiver.WaitForAsync(r => r.Count == 4);

        Assert.Equal([500, 503, 503, 200], received.Select(r => r.Answered));
        Assert.Single(received.Select(r => r.WebhookId).Distinct());
        Assert.All(received, r => Assert.True(r.Verified));
        var deliveries = await WaitForAttemptsAsync(app, endpointId, 4);
        Assert.Equal([200, 503, 503, 500], deliveries.Select(d => (int)d!["status_code"]!));
        Assert.Equal([4, 3, 2, 1], deliveries.Select(d => (int)d!["attempt"]!));
        Assert.Null(deliveries[0]!["next_attempt_at"]);
        Assert.NotNull(deliveries[1]!["next_attempt_at"]);
    }

    [Fact]
    public async Task AReceiverThatKeepsFailing_IsTriedOnTheWholeSchedule_ThenTheDeliveryFails()
    {
        var app = await StartAsync();
        var receiver = await ReceiverAsync();
        var endpoint = await CreateEndpointAsync(app, receiver);
        var endpointId = (string)endpoint["id"]!;
        receiver.AnswerNext(500, times: 20);
        await app.GrantAsync(TollgateApp.NewCustomer(), "credits", 5);

        // Ten attempts: the first, then one after each step of about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h.
        for (var attempt = 1; attempt <= 10; attempt++)
        {
            await receiver.WaitForAsync(r => r.Count == attempt);
            await WaitForAttemptsAsync(app, endpointId, attempt);
            // Past the longest step with its jitter (24 h + 10 %).
            app.Clock.Advance(TimeSpan.FromHours(27));
        }

        await Task.Delay(2500);
        Assert.Equal(10, receiver.Received.Count);
        Assert.Single(receiver.Received.Select(r => r.WebhookId).Distinct());
        var attempts = (await WaitForAttemptsAsync(app, endpointId, 10)).Reverse().ToList();
        Assert.Equal(Enumerable.Range(1, 10), attempts.Select(a => (int)a!["attempt"]!));
        for (var i = 0; i < 9; i++)
        {
            var wait = DateTimeOffset.Parse((string)attempts[i]!["next_attempt_at"]!, System.Globalization.CultureInfo.InvariantCulture)
                - DateTimeOffset.Parse((string)attempts[i]!["at"]!, System.Globalization.CultureInfo.InvariantCulture);
            var step = RetrySchedule.Delays[i];
            Assert.InRange(wait.TotalSeconds, step.TotalSeconds * 0.9 - 0.001, step.TotalSeconds * 1.1 + 0.001);
        }

        Assert.Equal(
            [5.0, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400],
            RetrySchedule.Delays.Select(d => d.TotalSeconds));
        // After the tenth failure nothing is scheduled: the delivery has failed (a redelivery would send it again).
        Assert.Null(attempts[9]!["next_attempt_at"]);
        var backlog = await app.Services.GetRequiredService<IWebhookEndpointStore>().BacklogAsync(CancellationToken.None);
        Assert.Equal((0L, 1L), (backlog.Pending, backlog.Failed));
    }

    [Fact]
    public async Task Gone_DisablesTheEndpoint_AndNothingMoreIsSent()
    {
        var app = await StartAsync();
        var receiver = await ReceiverAsync();
        var endpoint = await CreateEndpointAsync(app, receiver);
        receiver.AnswerNext(410);
        var customer = TollgateApp.NewCustomer();
        await app.GrantAsync(customer, "credits", 5);
        await receiver.WaitForAsync(r => r.Count == 1);
        var id = (string)endpoint["id"]!;
        JsonObject view;
        var until = TimeProvider.System.GetUtcNow().AddSeconds(20);
        do
        {
            await Task.Delay(100);
            view = await Json.ReadAsync(await app.Client.GetAsync($"/v1/webhook-endpoints/{id}"), 200);
        }
        while ((string)view["status"]! != "disabled" && TimeProvider.System.GetUtcNow() < until);

        Assert.Equal("disabled", (string)view["status"]!);
        await app.GrantAsync(customer, "credits", 6);
        app.Clock.Advance(TimeSpan.FromHours(30));
        await Task.Delay(2500);
        Assert.Single(receiver.Received);
    }

    [Fact]
    public async Task RotatedSecret_SignsBesideTheOldOneForTheOverlap()
    {
        var app = await StartAsync();
        var receiver = await ReceiverAsync();
        var endpoint = await Json.ReadAsync(await app.PostAsync("/v1/webhook-endpoints", new { url = receiver.Url.ToString() }), 201);
        var oldSecret = (string)endpoint["secret"]!;
        var rotated = await Json.ReadAsync(await app.PostAsync($"/v1/webhook-endpoints/{endpoint["id"]}/rotate-secret", null), 200);
        var newSecret = (string)rotated["secret"]!;
        Assert.NotEqual(oldSecret, newSecret);
        receiver.Trust(newSecret);

        var customer = TollgateApp.NewCustomer();
        await app.GrantAsync(customer, "credits", 5);
        var first = Assert.Single(await receiver.WaitForAsync(r => r.Count == 1));
        Assert.True(first.Verified);
        Assert.Equal(2, first.Signature.Split(' ').Length);
        Assert.All(first.Signature.Split(' '), s => Assert.StartsWith("v1,", s, StringComparison.Ordinal));

        // Each secret alone verifies it (StandardWebhooks accepts any one matching signature): the app may switch at
        // its own pace during the overlap. After the overlap only the new secret signs.
        var headers = new Microsoft.AspNetCore.Http.HeaderDictionary
        {
            ["webhook-id"] = first.WebhookId,
            ["webhook-timestamp"] = first.Timestamp,
            ["webhook-signature"] = first.Signature,
        };
        new StandardWebhooks.StandardWebhook(newSecret).Verify(first.Body, headers);
        // StandardWebhooks 1.1.2 compares only the first of several signatures (its loop re-reads the whole header for
        // the last one; see docs/api.md): the previous secret's signature, second, is checked on its own.
        headers["webhook-signature"] = first.Signature.Split(' ')[1];
        new StandardWebhooks.StandardWebhook(oldSecret).Verify(first.Body, headers);
        headers["webhook-signature"] = first.Signature;
        Assert.Throws<StandardWebhooks.Diagnostics.WebhookVerificationException>(() =>
            new StandardWebhooks.StandardWebhook(WebhookSecrets.New()).Verify(first.Body, headers));

        app.Clock.Advance(Tollgate.Server.Api.EventsApi.RotationOverlap + TimeSpan.FromSeconds(1));
        await app.GrantAsync(customer, "credits", 6);
        var received = await receiver.WaitForAsync(r => r.Count == 2);
        Assert.Single(received[1].Signature.Split(' '));
    }

    [Fact]
    public async Task PrivateAddresses_AreRefusedAtCreation_UnlessAllowed()
    {
        var app = await StartAsync(allowPrivate: false);
        foreach (var url in new[]
        {
            "http://127.0.0.1:8080/hook", "http://localhost/hook", "http://10.0.0.5/hook", "http://192.168.1.1/hook", "http://169.254.169.254/latest/meta-data",
            "http://[::1]/hook", "http://[fd00::1]/hook", "http://[fe80::1]/hook", "http://[::ffff:127.0.0.1]/hook", "http://0.0.0.0/hook",
            "ftp://example.com/hook", "not a url", "http://user:pass@example.com/hook",
        })
        {
            var problem = await Json.ProblemAsync(await app.PostAsync("/v1/webhook-endpoints", new { url }), 400, "invalid_request");
            Assert.NotNull(problem["detail"]);
        }

        Assert.Equal(0, await app.CountRowsAsync("webhook_endpoints"));
        await Json.ProblemAsync(await app.PostAsync("/v1/webhook-endpoints", new { url = "https://example.com/hook", events = new[] { "credits.nope" } }), 400,
            "invalid_request");
        await Json.ProblemAsync(await app.Client.GetAsync("/v1/webhook-endpoints/we_none"), 404, "endpoint_not_found");
        await Json.ProblemAsync(await app.Client.DeleteAsync("/v1/webhook-endpoints/we_none"), 404, "endpoint_not_found");
        await Json.ProblemAsync(await app.PostAsync("/v1/events/evt_none/redeliver", null), 404, "event_not_found");
    }

    [Fact]
    public async Task EndpointApi_GetShowsNoSecret_DeleteStopsDeliveries_AndUnknownIdsAre404()
    {
        var app = await StartAsync();
        var receiver = await ReceiverAsync();
        var endpoint = await CreateEndpointAsync(app, receiver, [EventTypes.CreditsGranted]);
        var id = (string)endpoint["id"]!;
        var got = await Json.ReadAsync(await app.Client.GetAsync($"/v1/webhook-endpoints/{id}"), 200);
        Assert.Equal((id, receiver.Url.ToString(), "enabled"), ((string)got["id"]!, (string)got["url"]!, (string)got["status"]!));
        Assert.Equal([EventTypes.CreditsGranted], got["events"]!.AsArray().Select(e => (string)e!));
        Assert.Null(got["secret"]);

        var customer = TollgateApp.NewCustomer();
        await app.GrantAsync(customer, "credits", 5);
        await receiver.WaitForAsync(r => r.Count == 1);
        await WaitForAttemptsAsync(app, id, 1);
        await Json.ProblemAsync(await app.Client.GetAsync($"/v1/webhook-endpoints/{id}/deliveries?limit=0"), 400, "invalid_request");
        await Json.ProblemAsync(await app.Client.GetAsync($"/v1/webhook-endpoints/{id}/deliveries?limit=101"), 400, "invalid_request");

        // Deleted: its deliveries go with it, and later events are not sent to it.
        Assert.Equal(HttpStatusCode.NoContent, (await app.Client.DeleteAsync($"/v1/webhook-endpoints/{id}")).StatusCode);
        Assert.Equal(0, await app.CountRowsAsync("event_deliveries"));
        await Json.ProblemAsync(await app.Client.GetAsync($"/v1/webhook-endpoints/{id}"), 404, "endpoint_not_found");
        await Json.ProblemAsync(await app.Client.GetAsync($"/v1/webhook-endpoints/{id}/deliveries"), 404, "endpoint_not_found");
        await Json.ProblemAsync(await app.PostAsync($"/v1/webhook-endpoints/{id}/rotate-secret", null), 404, "endpoint_not_found");
        Assert.Empty((await Json.ReadAsync(await app.Client.GetAsync("/v1/webhook-endpoints"), 200))["endpoints"]!.AsArray());
        await app.GrantAsync(customer, "credits", 6);
        Assert.Equal(0, await app.CountRowsAsync("event_deliveries"));
        await Task.Delay(1500);
        Assert.Single(receiver.Received);
    }

    [Fact]
    public async Task PrivateAddress_IsRefusedAtSend_OnTheAddressActuallyConnected()
    {
        // An endpoint whose name resolved to a public address when it was created and to a private one now (DNS
        // rebinding): stored directly, as creation would have accepted it. The send-time check must refuse it.
        var app = await StartAsync(allowPrivate: false);
        var receiver = await ReceiverAsync();
        var store = app.Services.GetRequiredService<IWebhookEndpointStore>();
        var now = app.Clock.GetUtcNow();
        await store.CreateAsync(new WebhookEndpoint("we_rebound", $"http://localhost:{receiver.Url.Port}/hooks", null, null, EndpointStatus.Enabled, null,
            WebhookSecrets.New(), null, null, now, now), CancellationToken.None);
        await app.GrantAsync(TollgateApp.NewCustomer(), "credits", 5);

        var attempts = await WaitForAttemptsAsync(app, "we_rebound", 1);
        Assert.Contains("refused", (string)attempts[0]!["error"]!, StringComparison.Ordinal);
        Assert.Null(attempts[0]!["status_code"]);
        Assert.Empty(receiver.Received);
    }

    [Fact]
    public async Task EventsAWebhookFlowWrote_AreFoundByTheirIdAlone_AndRedeliverable()
    {
        // A paid checkout's events are written in the webhook's flow (on PostgreSQL with its batched writes): each must
        // carry its customer_keys row, which GET /v1/events/{id} and redelivery find it by (migration 0017).
        var app = await StartAsync();
        var receiver = await ReceiverAsync();
        await CreateEndpointAsync(app, receiver);
        var customer = TollgateApp.NewCustomer();
        Assert.Equal(302, (await app.BuyInSandboxAsync(customer, "new_user_pack")).PayStatus);

        var received = await receiver.WaitForAsync(r => r.Count(e => e.CustomerId == customer) >= 2);
        var mine = received.Where(e => e.CustomerId == customer).ToList();
        Assert.Contains(mine, e => e.Type == EventTypes.PaymentSucceeded);
        Assert.Contains(mine, e => e.Type == EventTypes.CreditsGranted);
        foreach (var e in mine)
        {
            var stored = await Json.ReadAsync(await app.Client.GetAsync($"/v1/events/{e.WebhookId}"), 200);
            Assert.Equal((customer, e.Type), ((string)stored["customer_id"]!, (string)stored["type"]!));
        }

        Assert.Equal(202, (int)(await app.PostAsync($"/v1/events/{mine[0].WebhookId}/redeliver", null)).StatusCode);
    }

    [Fact]
    public async Task Redeliver_SendsTheSameEventAgain()
    {
        var app = await StartAsync();
        var receiver = await ReceiverAsync();
        var endpoint = await CreateEndpointAsync(app, receiver);
        await app.GrantAsync(TollgateApp.NewCustomer(), "credits", 5);
        var first = Assert.Single(await receiver.WaitForAsync(r => r.Count == 1));
        // The receiver records a request on arrival; until the sender has recorded the answer the delivery is still in
        // flight, and a redelivery asked then is left to that attempt (docs/api.md). Wait for the record, so the request
        // below is a redelivery of a delivered event (under load the race made this test fail now and then).
        await WaitForAttemptsAsync(app, (string)endpoint["id"]!, 1);
        var stored = await Json.ReadAsync(await app.Client.GetAsync($"/v1/events/{first.WebhookId}"), 200);
        Assert.Equal(EventTypes.CreditsGranted, (string)stored["type"]!);
        Assert.Equal(202, (int)(await app.PostAsync($"/v1/events/{first.WebhookId}/redeliver", null)).StatusCode);
        var received = await receiver.WaitForAsync(r => r.Count == 2);
        Assert.Equal(first.WebhookId, received[1].WebhookId);
        Assert.Equal(first.Body, received[1].Body);
        Assert.True(received[1].Verified);
    }

    [Fact]
    public async Task EndpointFilter_SendsOnlyItsTypes_AndAPurchaseReportsPaymentCheckoutAndGrant()
    {
        var app = await StartAsync();
        var all = await ReceiverAsync();
        var payments = await ReceiverAsync();
        await CreateEndpointAsync(app, all);
        await CreateEndpointAsync(app, payments, [EventTypes.PaymentSucceeded]);
        var customer = TollgateApp.NewCustomer();
        var (_, status) = await app.BuyInSandboxAsync(customer, "new_user_pack");
        Assert.Equal(302, status);

        var received = await all.WaitForAsync(r => r.Count(e => e.CustomerId == customer) >= 3);
        var types = received.Where(e => e.CustomerId == customer).Select(e => e.Type).ToHashSet();
        Assert.Superset(new HashSet<string> { EventTypes.PaymentSucceeded, EventTypes.CheckoutCompleted, EventTypes.CreditsGranted }, types);
        Assert.Equal([1L, 2, 3], received.Where(e => e.CustomerId == customer).Select(e => e.Sequence).Order());
        var paid = Assert.Single(await payments.WaitForAsync(r => r.Count == 1));
        Assert.Equal(EventTypes.PaymentSucceeded, paid.Type);
        await Task.Delay(1000);
        Assert.Single(payments.Received);
    }

    [Fact]
    public async Task BalanceAlerts_FireOncePerCrossing_Under64ConcurrentCallers_AndReArmOnRecovery()
    {
        var app = await StartAsync(alerts: true);
        var customer = TollgateApp.NewCustomer();
        await app.GrantAsync(customer, "credits", 130);
        var calls = Enumerable.Range(0, 64).Select(_ => app.UseAsync(customer, "credits", 2)).ToList();
        var responses = await Task.WhenAll(calls);
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(2, (long)(await app.BalanceAsync(customer, "credits"))["available"]!);

        var events = await EventsOfAsync(app, customer);
        Assert.Equal(["credits.granted", "credits.low:100", "credits.low:20"], events);

        await app.GrantAsync(customer, "credits", 200);
        var again = await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => app.UseAsync(customer, "credits", 2)));
        Assert.All(again, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        var more = await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => app.UseAsync(customer, "credits", 2)));
        Assert.Equal(74, more.Count(r => r.StatusCode == HttpStatusCode.OK) * 2 + (int)(long)(await app.BalanceAsync(customer, "credits"))["available"]!);

        events = await EventsOfAsync(app, customer);
        Assert.Equal(
            ["credits.granted", "credits.low:100", "credits.low:20", "credits.granted", "credits.recovered:100", "credits.low:100", "credits.low:20",
                "credits.depleted"],
            events);
    }

    [Fact]
    public async Task BalanceAlerts_OnAMeteredAllowance_FireLowAndDepleted_AndRecoverWhenTheNextPeriodResetsIt()
    {
        var app = await StartAsync(alerts: true);
        var customer = TollgateApp.NewCustomer();
        // The free plan's 50 AI messages a month: 50 → 15 crosses 20, 15 → 0 depletes the allowance.
        var first = await Task.WhenAll(Enumerable.Range(0, 35).Select(_ => app.UseAsync(customer, "ai_messages", 1)));
        Assert.All(first, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(["credits.low:20"], await EventsOfAsync(app, customer));
        Assert.Equal(HttpStatusCode.OK, (await app.UseAsync(customer, "ai_messages", 15)).StatusCode);
        Assert.Equal(["credits.low:20", "credits.depleted"], await EventsOfAsync(app, customer));

        // Next month the allowance is whole again: the first use of the new period reports the recovery, once.
        app.Clock.Advance(TimeSpan.FromDays(32));
        Assert.Equal(HttpStatusCode.OK, (await app.UseAsync(customer, "ai_messages", 1)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await app.UseAsync(customer, "ai_messages", 1)).StatusCode);
        Assert.Equal(["credits.low:20", "credits.depleted", "credits.recovered:20"], await EventsOfAsync(app, customer));
    }

    private static async Task<List<string>> EventsOfAsync(TollgateApp app, string customer)
    {
        await using var connection = app.Database.Options.Provider == DatabaseProvider.Postgres
            ? (System.Data.Common.DbConnection)new Npgsql.NpgsqlConnection(app.Database.Options.ConnectionString)
            : new Microsoft.Data.Sqlite.SqliteConnection(app.Database.Options.ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT payload FROM events WHERE customer_id = @c ORDER BY seq";
        var parameter = command.CreateParameter();
        parameter.ParameterName = "@c";
        parameter.Value = customer;
        command.Parameters.Add(parameter);
        var list = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var body = JsonNode.Parse(reader.GetString(0))!;
            var type = (string)body["type"]!;
            list.Add(body["data"]!["threshold"] is { } t && type != EventTypes.CreditsGranted ? $"{type}:{t}" : type);
        }

        return list;
    }

    private static async Task<JsonArray> WaitForAttemptsAsync(TollgateApp app, string endpointId, int count)
    {
        var until = TimeProvider.System.GetUtcNow().AddSeconds(30);
        while (true)
        {
            var page = await Json.ReadAsync(await app.Client.GetAsync($"/v1/webhook-endpoints/{endpointId}/deliveries?limit=100"), 200);
            var deliveries = page["deliveries"]!.AsArray();
            if (deliveries.Count >= count || TimeProvider.System.GetUtcNow() > until)
            {
                return deliveries;
            }

            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task TwoServersOnOneDatabase_DeliverEveryEventExactlyOnce()
    {
        var first = await StartAsync();
        var second = await StartAsync(database: first.Database.Borrow(), clock: first.Clock);
        var receiver = await ReceiverAsync();
        await CreateEndpointAsync(first, receiver);
        var customers = Enumerable.Range(0, 8).Select(_ => TollgateApp.NewCustomer()).ToList();
        var grants = new List<Task>();
        for (var i = 0; i < 120; i++)
        {
            var app = i % 2 == 0 ? first : second;
            grants.Add(app.GrantAsync(customers[i % customers.Count], "credits", 1 + i));
        }

        await Task.WhenAll(grants);
        var received = await receiver.WaitForAsync(r => r.Select(e => e.WebhookId).Distinct().Count() >= 120, TimeSpan.FromSeconds(60));
        await Task.Delay(2000);
        received = receiver.Received;
        Assert.Equal(120, received.Count);
        Assert.Equal(120, received.Select(e => e.WebhookId).Distinct().Count());
        Assert.All(received, e => Assert.True(e.Verified));
        foreach (var group in received.GroupBy(e => e.CustomerId))
        {
            // In order per customer, whichever server sent each.
            Assert.Equal(Enumerable.Range(1, group.Count()).Select(i => (long)i), group.Select(e => e.Sequence));
        }
    }
}

public sealed class SqliteOutboundEventsTests : OutboundEventsTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresOutboundEventsTests : OutboundEventsTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
