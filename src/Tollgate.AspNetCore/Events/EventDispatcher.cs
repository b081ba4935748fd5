using Tollgate.Core.Events;
using Tollgate.Storage;

namespace Tollgate.Server.Events;

/// <summary>
/// Delivers events: claims due deliveries (of each endpoint and customer only the next one in sequence), sends them,
/// and records each attempt with its outcome and next try. Runs on every server; the claims keep them from sending the
/// same delivery at once, and a claim not reported within its lease (a server killed mid-delivery) comes back, so an
/// unacknowledged attempt may be sent again (Standard Webhooks allows it: receivers deduplicate on webhook-id).
/// </summary>
internal sealed class EventDispatcher(TollgateDatabase database, WebhookSender sender, TimeProvider time, ILogger<EventDispatcher> logger) : BackgroundService
{
    /// <summary>How long a claim holds: well past the send timeout, so only a stopped server loses it.</summary>
    public static readonly TimeSpan Lease = TimeSpan.FromSeconds(60);

    private const int MaxInFlight = 32;

    private static readonly TimeSpan ClaimGathering = TimeSpan.FromMilliseconds(20);

    // Wall-clock polling for other servers' events; this server's own commits wake the loop at once.
    private static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var inFlight = new List<Task>();
        while (!stoppingToken.IsCancellationRequested)
        {
            inFlight.RemoveAll(t => t.IsCompleted);
            var asked = MaxInFlight - inFlight.Count;
            try
            {
                if (asked > 0)
                {
                    var now = time.GetUtcNow();
                    var work = await database.Endpoints.ClaimAsync(now, now + Lease, asked, stoppingToken);
                    inFlight.AddRange(work.Select(w => DeliverAsync(w, stoppingToken)));
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogWarning(ex, "Claiming event deliveries failed; retrying in {Interval}", PollInterval);
            }

            // Wait for news: a delivery finishing (a slot, and maybe its customer's next event due), the outbox's
            // signal, or the poll interval. A full claim leaves no slot, so claiming again at once would find none.
            using var woken = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            var signal = database.OutboxSignal.WaitAsync(PollInterval, woken.Token);
            try
            {
                var first = await Task.WhenAny(inFlight.Append(signal));
                if (first != signal && inFlight.Count > 1)
                {
                    // A delivery finished (its customer's next event may be due): gather a few more finishing before
                    // claiming again, so a claim (a scan of the due deliveries) serves several slots, not one.
                    await Task.WhenAny(Task.Delay(ClaimGathering, stoppingToken), Task.WhenAll(inFlight));
                }
            }
            finally
            {
                // A wait left behind would swallow the next signal.
                await woken.CancelAsync();
                try
                {
                    await signal;
                }
                catch (OperationCanceledException)
                {
                }
            }
        }

        await Task.WhenAll(inFlight);
    }

    private async Task DeliverAsync(DeliveryWork work, CancellationToken stoppingToken)
    {
        try
        {
            await Task.Yield();
            var result = await sender.SendAsync(work, stoppingToken);
            var attempt = work.Attempts + 1;
            var at = time.GetUtcNow();
            DeliveryOutcome outcome;
            if (result.StatusCode is >= 200 and < 300)
            {
                outcome = new DeliveryOutcome(work.Endpoint.Id, work.EventId, work.Claim, attempt, result.StatusCode, null, DeliveryStatus.Delivered, at, null, false)
                {
                    CustomerId = work.CustomerId,
                };
            }
            else if (result.StatusCode == 410)
            {
                // 410 Gone: the app says the endpoint no longer exists (Standard Webhooks): stop sending to it.
                outcome = new DeliveryOutcome(work.Endpoint.Id, work.EventId, work.Claim, attempt, 410, "HTTP 410 Gone: endpoint disabled", DeliveryStatus.Failed,
                    at, null, true)
                {
                    CustomerId = work.CustomerId,
                };
            }
            else
            {
                var wait = RetrySchedule.After(attempt, result.RetryAfter, Random.Shared.NextDouble());
                outcome = new DeliveryOutcome(work.Endpoint.Id, work.EventId, work.Claim, attempt, result.StatusCode, result.Error,
                    wait is null ? DeliveryStatus.Failed : DeliveryStatus.Pending, at, wait is { } w ? at + w : null, false)
                {
                    CustomerId = work.CustomerId,
                };
            }

            if (!await database.Endpoints.CompleteAsync(outcome, CancellationToken.None))
            {
                logger.LogWarning("Delivery of {Event} to {Endpoint} was reported after its claim ended", work.EventId, work.Endpoint.Id);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
        {
            // Unreported, the claim comes back when its lease ends and the delivery is tried again.
            logger.LogWarning(ex, "Delivering {Event} to {Endpoint} failed", work.EventId, work.Endpoint.Id);
        }
        catch (OperationCanceledException)
        {
            // Stopping: the claim comes back when its lease ends.
        }
    }
}

/// <summary>
/// Prunes the outbox: events older than <c>Tollgate__Webhooks__RetentionDays</c> (default 30) none of whose deliveries is
/// pending go, with their deliveries and attempts, in small batches (short transactions, no long lock on a busy
/// outbox). Runs on every server; two pruning at once delete disjoint or already-deleted rows.
/// </summary>
internal sealed class EventRetention(TollgateDatabase database, Tollgate.Server.Hosting.TollgateSettings settings, TimeProvider time,
    ILogger<EventRetention> logger) : BackgroundService
{
    public const int Batch = 500;

    // Wall-clock: how often to look is operations; what is old enough comes from the business clock.
    private static readonly TimeSpan Interval = TimeSpan.FromHours(1);

    /// <summary>Prunes until nothing old is left; returns how many events went.</summary>
    public static async Task<int> PruneAsync(TollgateDatabase database, TimeSpan keep, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(time);
        var before = time.GetUtcNow() - keep;
        var total = 0;
        int pruned;
        do
        {
            pruned = await database.Endpoints.PruneAsync(before, Batch, cancellationToken);
            total += pruned;
        }
        while (pruned > 0);

        return total;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval);
        do
        {
            try
            {
                var pruned = await PruneAsync(database, TimeSpan.FromDays(settings.EventRetentionDays), time, stoppingToken);
                if (pruned > 0)
                {
                    logger.LogInformation("Pruned {Count} events older than {Days} days", pruned, settings.EventRetentionDays);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogWarning(ex, "Pruning old events failed; trying again in {Interval}", Interval);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
