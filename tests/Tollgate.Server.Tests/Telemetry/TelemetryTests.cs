using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Tollgate.Core.Payments;
using Tollgate.Server.Telemetry;
using Tollgate.Server.Tests.Support;
using Tollgate.Storage;

namespace Tollgate.Server.Tests.Telemetry;

/// <summary>Traces and metrics through OpenTelemetry's in-memory exporter. Tollgate's sources are process-wide, so these
/// tests run one at a time (one collection) and find their own spans by trace id, event id or customer.</summary>
[Collection(nameof(TelemetryCollection))]
public abstract class TelemetryTests : IAsyncLifetime
{
    private readonly List<Activity> _spans = [];
    private readonly List<Metric> _metrics = [];
    private TollgateApp _app = null!;

    protected abstract DatabaseProvider Provider { get; }

    public async ValueTask InitializeAsync() => _app = await TollgateApp.StartAsync(Provider,
        // Private addresses allowed: the outbox test registers an endpoint on this machine.
        settings: new Dictionary<string, string?> { ["Tollgate:Telemetry:Enabled"] = "true", ["Tollgate:Webhooks:AllowPrivateAddresses"] = "true" },
        services: services =>
        {
            services.ConfigureOpenTelemetryTracerProvider(b => b.AddInMemoryExporter(_spans));
            services.ConfigureOpenTelemetryMeterProvider(b => b.AddInMemoryExporter(_metrics));
        });

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        GC.SuppressFinalize(this);
    }

    [Fact]
    public async Task A_usage_call_is_one_trace_from_HTTP_through_the_gate_to_the_ledger_batch_that_committed_it()
    {
        var customer = TollgateApp.NewCustomer();
        await _app.GrantAsync(customer, "credits", 10);
        var traceId = ActivityTraceId.CreateRandom();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/usage")
        {
            Content = new StringContent($$"""{"customer_id":"{{customer}}","feature":"credits","amount":3}""", System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Idempotency-Key", _app.Key());
        request.Headers.Add("traceparent", $"00-{traceId}-{ActivitySpanId.CreateRandom()}-01");
        await Json.ReadAsync(await _app.Client.SendAsync(request), 200);

        var spans = await SpansAsync(s => s.TraceId == traceId, s => s.Any(a => a.Kind == ActivityKind.Server));
        var http = spans.Single(s => s.Kind == ActivityKind.Server);
        var gate = spans.Single(s => s.OperationName == "gate.usage");
        var batch = spans.Single(s => s.OperationName == "ledger.batch");
        Assert.Equal(http.SpanId, gate.ParentSpanId);
        Assert.Equal(gate.SpanId, batch.ParentSpanId);
        Assert.Contains(batch.Links, l => l.Context.SpanId == gate.SpanId);
        Assert.Equal("charged", gate.GetTagItem("tollgate.outcome"));
        Assert.Equal("credits", gate.GetTagItem("tollgate.feature"));
        Assert.Equal(1, batch.GetTagItem("tollgate.batch_size"));
        if (Provider == DatabaseProvider.Postgres)
        {
            // The database's own spans (Npgsql's) sit under the batch.
            Assert.Contains(spans, s => s.Source.Name == "Npgsql" && s.ParentSpanId == batch.SpanId);
        }
    }

    [Fact]
    public async Task A_webhook_is_traced_from_its_receipt_to_its_application()
    {
        var customer = TollgateApp.NewCustomer();
        var (_, pay) = await _app.BuyInSandboxAsync(customer, "new_user_pack");
        Assert.Equal(302, pay);
        var events = await _app.Services.GetRequiredService<IWebhookInbox>().ListByCustomerAsync(customer, 10, CancellationToken.None);
        var eventId = Assert.Single(events).EventId;

        var apply = (await SpansAsync(s => s.OperationName == "webhook.apply" && (string?)s.GetTagItem("tollgate.event_id") == eventId, s => s.Count > 0)).Single();
        // The parents end after the application (the server span once the answer is sent): wait for them, as for it.
        var receive = (await SpansAsync(s => s.SpanId == apply.ParentSpanId, s => s.Count > 0)).Single();
        Assert.Equal("webhook.receive", receive.OperationName);
        Assert.Equal("accepted", receive.GetTagItem("tollgate.receipt"));
        Assert.Equal("applied", apply.GetTagItem("tollgate.status"));
        var http = (await SpansAsync(s => s.SpanId == receive.ParentSpanId, s => s.Count > 0)).Single();
        Assert.Equal(ActivityKind.Server, http.Kind);
        Assert.Equal("/webhooks/{provider}", http.GetTagItem("http.route"));
    }

    [Fact]
    public async Task Checks_and_usage_are_counted_by_outcome_and_batches_by_size_and_commit_time()
    {
        var customer = TollgateApp.NewCustomer();
        await _app.GrantAsync(customer, "credits", 5);
        await Json.ReadAsync(await _app.UseAsync(customer, "credits", 4), 200);
        await Json.ProblemAsync(await _app.UseAsync(customer, "credits", 4), 402, "insufficient_balance");
        Assert.False((bool)(await _app.CheckAsync(customer, "credits", 2))["allowed"]!);
        Assert.True((bool)(await _app.CheckAsync(customer, "credits", 1))["allowed"]!);

        Flush();
        Assert.True(Sum("tollgate.gate.usage", ("feature", "credits"), ("outcome", "charged")) >= 1);
        Assert.True(Sum("tollgate.gate.usage", ("feature", "credits"), ("outcome", "insufficient_balance")) >= 1);
        Assert.True(Sum("tollgate.gate.checks", ("feature", "credits"), ("outcome", "allowed")) >= 1);
        Assert.True(Sum("tollgate.gate.checks", ("feature", "credits"), ("outcome", "insufficient_balance")) >= 1);
        Assert.True(HistogramCount("tollgate.ledger.batch_size") >= 2);
        Assert.True(HistogramCount("tollgate.ledger.commit.duration") >= 2);
        if (Provider == DatabaseProvider.Sqlite)
        {
            // The check after a write answers from the customer's cached view (SQLite: one writer, always cached).
            Assert.True(Sum("tollgate.gate.cache", ("result", "hit")) >= 1);
        }
    }

    [Fact]
    public async Task The_inbox_backlog_and_the_age_of_its_oldest_event_are_gauges()
    {
        var inbox = _app.Services.GetRequiredService<IWebhookInbox>();
        var now = _app.Clock.GetUtcNow();
        await inbox.TryStoreAsync(new WebhookEvent("sandbox", "evt_backlog_old", "checkout.completed", now.AddMinutes(-3), now.AddMinutes(-2), "{}",
            WebhookStatus.Failed, 2, now.AddMinutes(5), "planted", null, null), CancellationToken.None);
        await inbox.TryStoreAsync(new WebhookEvent("sandbox", "evt_backlog_new", "checkout.completed", now, now, "{}",
            WebhookStatus.Received, 0, now.AddMinutes(1), null, null, null), CancellationToken.None);
        await inbox.TryStoreAsync(new WebhookEvent("sandbox", "evt_given_up", "checkout.completed", now.AddHours(-9), now.AddHours(-9), "{}",
            WebhookStatus.Failed, 12, null, "planted", null, null), CancellationToken.None);
        // Processed events, with no next attempt like the given-up one: neither pending nor given up.
        await inbox.TryStoreAsync(new WebhookEvent("sandbox", "evt_backlog_applied", "checkout.completed", now.AddHours(-8), now.AddHours(-8), "{}",
            WebhookStatus.Applied, 1, null, null, now.AddHours(-8), null), CancellationToken.None);
        await inbox.TryStoreAsync(new WebhookEvent("sandbox", "evt_backlog_ignored", "checkout.completed", now.AddHours(-7), now.AddHours(-7), "{}",
            WebhookStatus.Ignored, 1, null, null, null, null), CancellationToken.None);

        await _app.Services.GetRequiredService<InboxMetrics>().RefreshAsync(CancellationToken.None);
        Flush();
        Assert.Equal(2, Gauge("tollgate.webhooks.pending"));
        Assert.Equal(120, Gauge("tollgate.webhooks.oldest_pending_age"), 3);
        Assert.Equal(1, Gauge("tollgate.webhooks.given_up"));
    }

    [Fact]
    public async Task The_outbox_backlog_and_the_age_of_its_oldest_event_are_gauges()
    {
        await _app.Services.GetRequiredService<InboxMetrics>().RefreshAsync(CancellationToken.None);
        Flush();
        Assert.Equal(0, Gauge("tollgate.events.pending"));

        // An endpoint nobody listens on (port 1 refuses): the grant's credits.granted stays pending, retried later.
        await Json.ReadAsync(await _app.PostAsync("/v1/webhook-endpoints", new { url = "http://127.0.0.1:1/hook" }), 201);
        await _app.GrantAsync(TollgateApp.NewCustomer(), "credits", 5);
        _app.Clock.Advance(TimeSpan.FromSeconds(90));

        await _app.Services.GetRequiredService<InboxMetrics>().RefreshAsync(CancellationToken.None);
        Flush();
        Assert.Equal(1, Gauge("tollgate.events.pending"));
        Assert.InRange(Gauge("tollgate.events.oldest_pending_age"), 90, 91);
        Assert.Equal(0, Gauge("tollgate.events.failed"));
    }

    private async Task<List<Activity>> SpansAsync(Func<Activity, bool> mine, Func<List<Activity>, bool> complete)
    {
        // A server span ends just after its answer is sent: wait a moment for it.
        for (var attempt = 0; ; attempt++)
        {
            List<Activity> found;
            lock (_spans)
            {
                found = _spans.Where(mine).ToList();
            }

            if (complete(found) || attempt == 50)
            {
                return found;
            }

            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }

    private void Flush()
    {
        _metrics.Clear();
        Assert.True(_app.Services.GetRequiredService<MeterProvider>().ForceFlush());
    }

    private IEnumerable<MetricPoint> Points(string name)
    {
        foreach (var metric in _metrics.Where(m => m.Name == name))
        {
            foreach (ref readonly var point in metric.GetMetricPoints())
            {
                yield return point;
            }
        }
    }

    private static bool Has(MetricPoint point, (string Key, string Value)[] tags)
    {
        var present = new Dictionary<string, object?>();
        foreach (var tag in point.Tags)
        {
            present[tag.Key] = tag.Value;
        }

        return tags.All(t => present.TryGetValue(t.Key, out var v) && (string?)v == t.Value);
    }

    private long Sum(string name, params (string Key, string Value)[] tags) =>
        Points(name).Where(p => Has(p, tags)).Sum(p => p.GetSumLong());

    private long HistogramCount(string name) => Points(name).Sum(p => p.GetHistogramCount());

    private double Gauge(string name)
    {
        var point = Assert.Single(Points(name).ToList());
        return name.EndsWith("_age", StringComparison.Ordinal) ? point.GetGaugeLastValueDouble() : point.GetGaugeLastValueLong();
    }
}

[CollectionDefinition(nameof(TelemetryCollection), DisableParallelization = true)]
public sealed class TelemetryCollection;

public sealed class SqliteTelemetryTests : TelemetryTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresTelemetryTests : TelemetryTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}

/// <summary>Provider call metrics and the OTLP switch: neither depends on the database, so these run on SQLite only.</summary>
[Collection(nameof(TelemetryCollection))]
public sealed class ProviderAndOtlpTelemetryTests
{
    [Fact]
    public async Task Provider_calls_are_timed_by_provider_operation_and_outcome_and_failures_counted_as_errors()
    {
        var metrics = new List<Metric>();
        await using var creem = await Tollgate.Testing.Fakes.FakeCreem.StartAsync();
        await using var stripe = await Tollgate.Testing.Fakes.FakeStripe.StartAsync();
        // Creem answers; Stripe refuses the key (a wrong secret), as a revoked key would after a rotation.
        await using var app = await TollgateApp.StartAsync(DatabaseProvider.Sqlite,
            settings: new Dictionary<string, string?>
            {
                ["Tollgate:Telemetry:Enabled"] = "true",
                ["Tollgate:Providers:Default"] = "creem",
                ["Tollgate:Providers:Creem:ApiKey"] = Tollgate.Testing.Fakes.FakeCreem.ApiKey,
                ["Tollgate:Providers:Creem:WebhookSecret"] = SignedWebhooks.CreemSecret,
                ["Tollgate:Providers:Creem:BaseUrl"] = creem.BaseUrl.ToString(),
                ["Tollgate:Providers:Stripe:SecretKey"] = "sk_test_revoked_0000000000000000",
                ["Tollgate:Providers:Stripe:WebhookSecrets:0"] = SignedWebhooks.StripeSecret,
                ["Tollgate:Providers:Stripe:BaseUrl"] = stripe.BaseUrl.ToString(),
            },
            services: services => services.ConfigureOpenTelemetryMeterProvider(b => b.AddInMemoryExporter(metrics)));
        var customer = TollgateApp.NewCustomer();

        await Json.ReadAsync(await app.PostAsync("/v1/checkouts", new { customer_id = customer, product = "starter_pack", provider = "creem" }), 201);
        var refused = await app.PostAsync("/v1/checkouts", new { customer_id = customer, product = "starter_pack", provider = "stripe" });

        Assert.Equal(502, (int)refused.StatusCode);
        Assert.True(app.Services.GetRequiredService<MeterProvider>().ForceFlush());
        var durations = Points(metrics, "tollgate.provider.call.duration");
        var errors = Points(metrics, "tollgate.provider.call.errors");
        Assert.Contains(durations, p => Tag(p, "provider") == "creem" && Tag(p, "operation") == "POST v1/checkouts" && Tag(p, "outcome") == "ok"
            && p.GetHistogramCount() >= 1);
        Assert.Contains(durations, p => Tag(p, "provider") == "stripe" && Tag(p, "outcome") == "http_401");
        Assert.Contains(errors, p => Tag(p, "provider") == "stripe" && Tag(p, "outcome") == "http_401" && p.GetSumLong() >= 1);
        Assert.DoesNotContain(errors, p => Tag(p, "provider") == "creem" && Tag(p, "outcome") == "ok");
    }

    [Fact]
    public async Task The_standard_OTLP_endpoint_variable_turns_telemetry_on_and_exports_traces_and_metrics_there()
    {
        // A collector speaking OTLP over HTTP: it records what it is sent and answers 200.
        await using var collector = await Tollgate.Testing.Fakes.FakeServer.StartAsync(_ => new Tollgate.Testing.Fakes.FakeResponse(200, ""));
        var app = await TollgateApp.StartAsync(DatabaseProvider.Sqlite, settings: new Dictionary<string, string?>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.BaseUrl.ToString().TrimEnd('/'),
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_SERVICE_NAME"] = "tollgate-otlp-test",
        });
        var customer = TollgateApp.NewCustomer();
        await using (app)
        {
            Assert.NotNull(app.Services.GetService<MeterProvider>());
            Assert.NotNull(app.Services.GetService<TracerProvider>());
            await app.GrantAsync(customer, "credits", 5);
            await Json.ReadAsync(await app.UseAsync(customer, "credits", 2), 200);
        }

        // Stopping the host flushes both exporters: the spans and the metrics reach the collector's standard paths.
        var traces = collector.Requests.Where(r => r.Method == "POST" && r.Path == "/v1/traces").Select(r => r.Body).ToList();
        var metrics = collector.Requests.Where(r => r.Method == "POST" && r.Path == "/v1/metrics").Select(r => r.Body).ToList();
        Assert.Contains(traces, body => body.Contains("gate.usage", StringComparison.Ordinal) && body.Contains("tollgate-otlp-test", StringComparison.Ordinal));
        Assert.Contains(traces, body => body.Contains("ledger.batch", StringComparison.Ordinal));
        Assert.Contains(metrics, body => body.Contains("tollgate.gate.usage", StringComparison.Ordinal));
    }

    private static List<MetricPoint> Points(List<Metric> metrics, string name)
    {
        var points = new List<MetricPoint>();
        foreach (var metric in metrics.Where(m => m.Name == name))
        {
            foreach (ref readonly var point in metric.GetMetricPoints())
            {
                points.Add(point);
            }
        }

        return points;
    }

    private static string? Tag(MetricPoint point, string key)
    {
        foreach (var tag in point.Tags)
        {
            if (tag.Key == key)
            {
                return tag.Value as string;
            }
        }

        return null;
    }
}

public sealed class PrometheusTests
{
    [Fact]
    public async Task Metrics_are_served_at_slash_metrics_only_when_prometheus_is_turned_on()
    {
        await using (var on = await TollgateApp.StartAsync(DatabaseProvider.Sqlite, settings: new Dictionary<string, string?> { ["Tollgate:Metrics:Prometheus"] = "true" }))
        {
            await on.CheckAsync(TollgateApp.NewCustomer(), "credits");
            using var anonymous = on.App.GetTestClientWithoutKey();
            using var response = await anonymous.GetAsync(new Uri("/metrics", UriKind.Relative));
            var text = await response.Content.ReadAsStringAsync();
            Assert.Equal(200, (int)response.StatusCode);
            Assert.Contains("tollgate_gate_checks", text, StringComparison.Ordinal);
            Assert.Contains("outcome=\"insufficient_balance\"", text, StringComparison.Ordinal);
        }

        await using var off = await TollgateApp.StartAsync(DatabaseProvider.Sqlite);
        Assert.Equal(404, (int)(await off.App.GetTestClientWithoutKey().GetAsync(new Uri("/metrics", UriKind.Relative))).StatusCode);
        Assert.Null(off.Services.GetService<MeterProvider>());
    }
}
