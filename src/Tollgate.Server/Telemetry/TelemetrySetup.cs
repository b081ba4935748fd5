using System.Diagnostics.Metrics;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Tollgate.Core.Events;
using Tollgate.Core.Ledger;
using Tollgate.Core.Payments;
using Tollgate.Core.Usage;
using Tollgate.Providers.Http;
using Tollgate.Server.Hosting;

namespace Tollgate.Server.Telemetry;

/// <summary>
/// OpenTelemetry, off by default. On when an OTLP endpoint is set (the standard <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>, or
/// its <c>_TRACES_</c> / <c>_METRICS_</c> forms: traces and metrics are exported there), when
/// <c>Tollgate__Metrics__Prometheus=true</c> (metrics at <c>GET /metrics</c>), or when
/// <c>Tollgate__Telemetry__Enabled=true</c> (collected for exporters the host adds itself, e.g. an embedding app's).
/// Traces: HTTP server → gate → ledger batch → database (Npgsql's spans) and webhook receive → apply, plus the provider
/// calls' HTTP client spans. Metrics: the Tollgate meters, ASP.NET Core's and the HTTP client's.
/// </summary>
public static class TelemetrySetup
{
    /// <summary>Every ActivitySource and Meter of Tollgate.</summary>
    public static readonly string[] Sources = [GateTelemetry.Name, LedgerTelemetry.Name, WebhookTelemetry.Name, ProviderTelemetry.Name, InboxMetrics.Name];

    public static IServiceCollection AddTollgateTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        var otlp = new[] { "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT" }
            .Any(k => !string.IsNullOrWhiteSpace(configuration[k]));
        var prometheus = Flag(configuration, "Tollgate:Metrics:Prometheus", "Tollgate__Metrics__Prometheus");
        var enabled = Flag(configuration, "Tollgate:Telemetry:Enabled", "Tollgate__Telemetry__Enabled");
        if (!otlp && !prometheus && !enabled)
        {
            return services;
        }

        services.AddSingleton<InboxMetrics>();
        services.AddHostedService(sp => sp.GetRequiredService<InboxMetrics>());
        services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(configuration["OTEL_SERVICE_NAME"] is { Length: > 0 } name ? name : "tollgate"))
            .WithTracing(tracing =>
            {
                tracing.AddSource(Sources).AddSource("Npgsql")
                    .AddAspNetCoreInstrumentation(o => o.Filter = context => !IsProbe(context.Request.Path))
                    .AddHttpClientInstrumentation();
                if (otlp)
                {
                    tracing.AddOtlpExporter();
                }
            })
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(Sources).AddAspNetCoreInstrumentation().AddHttpClientInstrumentation();
                if (otlp)
                {
                    metrics.AddOtlpExporter();
                }

                if (prometheus)
                {
                    metrics.AddPrometheusExporter();
                }
            });
        if (prometheus)
        {
            services.AddTransient<IStartupFilter, PrometheusEndpoint>();
        }

        return services;
    }

    private static bool IsProbe(PathString path) => path == "/healthz" || path == "/readyz" || path == "/metrics";

    private static bool Flag(IConfiguration configuration, string key, string environmentName) => configuration[key] switch
    {
        null or "" => false,
        var raw when bool.TryParse(raw, out var value) => value,
        var raw => throw new ConfigurationException(environmentName, $"'{raw}' is not true or false."),
    };

    /// <summary><c>GET /metrics</c> in Prometheus' text format, answered before the API's middleware (no key: expose
    /// it to the scraper's network only).</summary>
    private sealed class PrometheusEndpoint : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.UseOpenTelemetryPrometheusScrapingEndpoint("/metrics");
            next(app);
        };
    }
}

/// <summary>The backlogs of the provider webhook inbox and of the outbound events' outbox as gauges, read from the
/// database every 15 s (a gauge's callback must not query a database); shared by all servers, so every server reports
/// the same figures.</summary>
internal sealed class InboxMetrics(IWebhookInbox inbox, IWebhookEndpointStore outbox, TimeProvider time, ILogger<InboxMetrics> logger)
    : BackgroundService
{
    public const string Name = "Tollgate.Inbox";
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(15);
    private readonly Meter _meter = new(Name);
    private InboxBacklog? _last;
    private OutboxBacklog? _outbox;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        _meter.CreateObservableGauge("tollgate.webhooks.pending", () => _last?.Pending ?? 0, "{event}",
            "Provider events stored but not applied yet (received, or failed and due for a retry)");
        _meter.CreateObservableGauge("tollgate.webhooks.oldest_pending_age", () => _last?.OldestPendingReceivedAt is { } at
            ? Math.Max(0, (time.GetUtcNow() - at).TotalSeconds) : 0, "s", "Age of the oldest provider event not applied yet");
        _meter.CreateObservableGauge("tollgate.webhooks.given_up", () => _last?.GivenUp ?? 0, "{event}",
            "Failed provider events past their last retry, waiting for an operator's replay");
        _meter.CreateObservableGauge("tollgate.events.pending", () => _outbox?.Pending ?? 0, "{delivery}",
            "Outbound event deliveries not sent yet (one per event and endpoint)");
        _meter.CreateObservableGauge("tollgate.events.oldest_pending_age", () => _outbox?.OldestPendingCreatedAt is { } at
            ? Math.Max(0, (time.GetUtcNow() - at).TotalSeconds) : 0, "s", "Age of the oldest outbound event not delivered yet");
        _meter.CreateObservableGauge("tollgate.events.failed", () => _outbox?.Failed ?? 0, "{delivery}",
            "Outbound event deliveries given up after their last attempt, waiting for a redeliver");
        return base.StartAsync(cancellationToken);
    }

    /// <summary>Reads the backlog now (also what the timer does).</summary>
    public async Task RefreshAsync(CancellationToken cancellationToken)
    {
        _last = await inbox.BacklogAsync(cancellationToken);
        _outbox = await outbox.BacklogAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Wall-clock polling: how often to look is operations, not business time.
        using var timer = new PeriodicTimer(Interval);
        do
        {
            try
            {
                await RefreshAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogWarning(ex, "Reading the webhook inbox's and the outbox's backlogs failed; retrying in {Interval}", Interval);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    public override void Dispose()
    {
        _meter.Dispose();
        base.Dispose();
    }
}
