using Tollgate.Core.Ledger;
using Tollgate.Core.Payments;
using Tollgate.Core.Usage;
using Tollgate.Storage;

namespace Tollgate.Server.Hosting;

/// <summary>Writes the expiry entries of lots and holds that are due. Reads never wait for it (they apply expiries
/// themselves); it keeps the ledger's history complete.</summary>
internal sealed class LedgerSweeper(LedgerEngine ledger, TimeProvider time, ILogger<LedgerSweeper> logger) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await ledger.SweepAsync(cancellationToken: stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogWarning(ex, "Ledger sweep failed; retrying in {Interval}", Interval);
            }
        }
    }
}

/// <summary>Applies webhook events whose attempt is due: failed ones, with backoff, and any whose first attempt never
/// finished (the process stopped between storing and applying).</summary>
internal sealed class WebhookRetryWorker(WebhookProcessor processor, CheckoutService checkouts, Core.Subscriptions.TrialService trials,
    ILogger<WebhookRetryWorker> logger) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Wall-clock polling: how often to look is operations, not business time; the events' due times come from the clock.
        using var timer = new PeriodicTimer(Interval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                while (await processor.RetryDueAsync(cancellationToken: stoppingToken) > 0)
                {
                }

                await checkouts.ExpireStaleAsync(stoppingToken);
                // Housekeeping of the same kind: ended card-less trials are marked expired (their access ended already).
                await trials.ExpireEndedAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogWarning(ex, "Webhook retry pass failed");
            }
        }
    }
}

/// <summary>Deletes API responses and request-keyed ledger operations past the idempotency window and empties old processed
/// webhook payloads (docs/operations.md, "Retention"): batch after batch, each its own short statement, until a batch
/// comes back short; then waits for the next pass. Every server runs it; on PostgreSQL they skip each other's rows.</summary>
internal sealed class RetentionSweeper(TollgateDatabase database, TollgateSettings settings, TimeProvider time, ILogger<RetentionSweeper> logger)
    : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromMinutes(5);

    /// <summary>Between batches: writers waiting on the same tables (SQLite's single writer above all) get their turn.</summary>
    private static readonly TimeSpan Pause = TimeSpan.FromMilliseconds(50);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Wall-clock polling, as the other workers; what is old enough comes from the clock.
        using var timer = new PeriodicTimer(Interval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                var options = settings.RetentionOrDefault;
                Storage.Stores.RetentionReport report;
                var total = 0;
                do
                {
                    report = await database.Retention.SweepOnceAsync(options, time.GetUtcNow(), stoppingToken);
                    total += report.Total;
                    await Task.Delay(Pause, stoppingToken);
                }
                while (Math.Max(Math.Max(report.ApiResponses, report.Operations), report.WebhookPayloads) >= options.BatchSize);

                if (total > 0)
                {
                    logger.LogInformation("Retention sweep removed {Count} rows past their window", total);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogWarning(ex, "Retention sweep failed; retrying in {Interval}", Interval);
            }
        }
    }
}

/// <summary>Keeps what the dashboard reads small (docs/operations.md, "Revenue rollup" and "Subscription counts"): each pass computes the revenue
/// of the window's closed days that were never computed or whose payments changed since, drops what is older, and folds
/// the subscription count changes into the counts. The dashboard is exact whether it runs or not (it sums live what is
/// not computed, and adds the changes not folded); it only keeps the page cheap. Every server runs it; two computing one
/// day take turns on the day's row, two folds skip each other's rows.</summary>
internal sealed class DashboardRollupWorker(TollgateDatabase database, TimeProvider time, ILogger<DashboardRollupWorker> logger) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromMinutes(1);

    /// <summary>Changes folded per statement; a fold repeats until one comes back short.</summary>
    private const int FoldBatch = 10_000;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Wall-clock polling, as the other workers; which days are closed comes from the clock.
        using var timer = new PeriodicTimer(Interval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                var now = time.GetUtcNow();
                var today = DateOnly.FromDateTime(now.UtcDateTime);
                await database.RevenueRollup.RollUpAsync(today.AddDays(-(Pages.Admin.IndexModel.Days - 1)), today, now, stoppingToken);
                while (await database.SubscriptionCounts.FoldAsync(FoldBatch, stoppingToken) == FoldBatch)
                {
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogWarning(ex, "Dashboard rollup pass failed; retrying in {Interval}", Interval);
            }
        }
    }
}

/// <summary>Renews (or ends) Sandbox subscriptions whose period has ended, as a real provider's billing run would.</summary>
internal sealed class SandboxRenewer(Tollgate.Providers.Sandbox.SandboxBilling billing, ILogger<SandboxRenewer> logger) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(30);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await billing.RenewDueAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogWarning(ex, "Sandbox renewal pass failed");
            }
        }
    }
}

/// <summary>Keeps the gate's cache honest across servers: drops a customer's cached view when another server
/// changes them, and turns the cache off while those changes cannot be heard.</summary>
internal sealed class ChangeFeedListener(TollgateDatabase database, Gate gate, Health.ChangeFeedStatus status, ILogger<ChangeFeedListener> logger)
    : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        database.ListenForChangesAsync(change =>
        {
            if (change.LedgerOnly)
            {
                gate.InvalidateLedger(change.CustomerId);
            }
            else
            {
                gate.Invalidate(change.CustomerId);
            }
        }, up =>
        {
            if (up != gate.CacheEnabled)
            {
                logger.LogInformation("Change feed {State}; gate cache {Cache}", up ? "up" : "down", up ? "on" : "off");
            }

            gate.CacheEnabled = up;
            status.Report(up);
        }, stoppingToken);
}
