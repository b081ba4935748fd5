using System.Globalization;

namespace Tollgate.Server.Hosting;

/// <summary>
/// SIGTERM (or SIGINT) stops the server gracefully, in two steps:
/// <list type="number">
/// <item>Drain (<c>Tollgate__Shutdown__DrainSeconds</c>, default 0: set it behind a load balancer): <c>/readyz</c> answers 503 so a load balancer
/// stops sending, the server still accepts and answers everything, and every answer carries <c>Connection: close</c>,
/// so no client is left holding an idle connection that the server is about to close under a request it sends.</item>
/// <item>Stop: Kestrel stops accepting and finishes the requests in flight (each usage waits for the ledger batch
/// that commits it; a webhook is stored and applied before its answer), the background jobs stop (a webhook retry
/// already claimed is applied to the end: its application takes no cancellation), and disposing the host drains the
/// ledger's queues.</item>
/// </list>
/// All within <see cref="Timeout"/>.
/// </summary>
internal static class GracefulShutdown
{
    public const string DrainKey = "Tollgate__Shutdown__DrainSeconds";

    /// <summary>How long the host waits for the drain, requests and jobs in flight before it gives up on them.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    public static IServiceCollection AddGracefulShutdown(this IServiceCollection services)
    {
        services.Configure<HostOptions>(o => o.ShutdownTimeout = Timeout);
        services.AddHostedService<ShutdownDrain>();
        services.AddTransient<IStartupFilter, CloseConnectionsWhileStopping>();
        return services;
    }

    /// <summary>The drain's length, from <c>Tollgate:Shutdown:DrainSeconds</c>.</summary>
    internal static TimeSpan DrainTime(IConfiguration configuration)
    {
        var raw = configuration["Tollgate:Shutdown:DrainSeconds"];
        if (string.IsNullOrWhiteSpace(raw))
        {
            return TimeSpan.Zero;
        }

        return double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds >= 0 && seconds <= 20
            ? TimeSpan.FromSeconds(seconds)
            : throw new ConfigurationException(DrainKey, $"'{raw}' is not a number of seconds from 0 to 20.");
    }

    /// <summary>Holds the host's stop (Kestrel keeps accepting) for the drain; says when stopping starts and ends.</summary>
    private sealed class ShutdownDrain(IHostApplicationLifetime lifetime, IConfiguration configuration, ILogger<ShutdownDrain> logger)
        : IHostedLifecycleService
    {
        private readonly TimeSpan _drain = DrainTime(configuration);

        public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StartAsync(CancellationToken cancellationToken)
        {
            lifetime.ApplicationStopped.Register(() => Log.ShutdownFinished(logger));
            return Task.CompletedTask;
        }

        public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        /// <summary>Runs before any hosted service (Kestrel among them) stops.</summary>
        public async Task StoppingAsync(CancellationToken cancellationToken)
        {
            Log.ShutdownStarted(logger, _drain.TotalSeconds, Timeout.TotalSeconds);
            try
            {
                // Wall-clock wait: how long a load balancer needs to notice, not business time.
                await Task.Delay(_drain, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // The shutdown timeout ended the drain early: go on stopping.
            }
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>While stopping, every answer closes its connection (first in the pipeline, so errors get it too).</summary>
    private sealed class CloseConnectionsWhileStopping(IHostApplicationLifetime lifetime) : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use((context, nextMiddleware) =>
            {
                context.Response.OnStarting(() =>
                {
                    if (lifetime.ApplicationStopping.IsCancellationRequested)
                    {
                        context.Response.Headers.Connection = "close";
                    }

                    return Task.CompletedTask;
                });
                return nextMiddleware(context);
            });
            next(app);
        };
    }
}
