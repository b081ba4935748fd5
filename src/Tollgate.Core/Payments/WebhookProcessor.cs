using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Tollgate.Core.Common;
using Tollgate.Core.Usage;

namespace Tollgate.Core.Payments;

/// <summary>How a received webhook was answered.</summary>
public enum WebhookReceipt
{
    /// <summary>Stored (and applied, or queued for retry): answer 200.</summary>
    Accepted,

    /// <summary>Already stored: answer 200, nothing happens twice.</summary>
    Duplicate,

    /// <summary>No enabled provider has this id: answer 404.</summary>
    UnknownProvider,
    /// <summary>The signature is missing, wrong or too old: answer 401, nothing stored.</summary>
    BadSignature,

    /// <summary>Signed correctly, but not the JSON the provider sends: answer 400, nothing stored.</summary>
    Malformed,
}

/// <summary>
/// The webhook pipeline, the same for every provider: verify the raw body's signature → parse → in one database
/// transaction: store in the inbox, unique by (provider, event id), and apply idempotently → commit → answer. A duplicate
/// finds the event stored and changes nothing; one concurrent with the first delivery finds it at the latest when its
/// own row's insert waits for the first one's commit (PostgreSQL writes that row at the end: IWebhookInbox.TryBeginAsync),
/// and is rolled back whole. When applying
/// fails, the transaction is rolled back and the event is stored on its own as failed, with the error visible and a
/// retry with backoff; an operator can replay any stored event.
/// </summary>
public sealed class WebhookProcessor(
    ProviderRegistry providers,
    IWebhookInbox inbox,
    PaymentApplier applier,
    Gate gate,
    IDatabaseTransactions transactions,
    TimeProvider time,
    ILogger<WebhookProcessor>? logger = null,
    bool batchPackDeliveries = true)
{
    /// <summary>How long a received event is left to its first (inline) attempt before the retry worker takes it.</summary>
    public static readonly TimeSpan InlineLease = TimeSpan.FromMinutes(1);

    /// <summary>Attempts after which a failing event is given up (it waits for an operator's replay).</summary>
    public const int MaxAttempts = 12;

    // A deadlock or serialization failure aborts a delivery's transaction: it runs again from the start, a few times.
    private const int TransactionAttempts = 4;

    private readonly ILogger _logger = (ILogger?)logger ?? NullLogger.Instance;

    // Deliveries of this process on the batched path, by event and by payment, each with the task that completes when it
    // is done. A second one of either waits for that, and then takes the one-transaction path, which finds the first
    // one's rows committed (a duplicate, or a payment recorded). Not at once: the two paths take the same keys in
    // different orders (a flow takes the provider link's and the payment's keys before the customer's lock, a batch
    // locks its customers first), so a flow beside a batch of the same payment could deadlock with it until PostgreSQL
    // broke the cycle a second later, which is what a burst of duplicates sent while their originals were in flight did.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Task> _batching = new(StringComparer.Ordinal);

    /// <summary>Verifies, stores and applies a provider's webhook. A delivery seen before is a duplicate and changes nothing.</summary>
    public async Task<(WebhookReceipt Receipt, WebhookEvent? Event)> ReceiveAsync(string providerId, IReadOnlyDictionary<string, string> headers,
        byte[] body, CancellationToken cancellationToken = default)
    {
        using var activity = WebhookTelemetry.StartReceive(providerId);
        var answer = await ReceiveCoreAsync(providerId, headers, body, cancellationToken).ConfigureAwait(false);
        WebhookTelemetry.Receipt(activity, providerId, answer.Receipt);
        return answer;
    }

    private async Task<(WebhookReceipt Receipt, WebhookEvent? Event)> ReceiveCoreAsync(string providerId, IReadOnlyDictionary<string, string> headers,
        byte[] body, CancellationToken cancellationToken)
    {
        if (providers.Find(providerId) is not { } provider)
        {
            return (WebhookReceipt.UnknownProvider, null);
        }

        if (provider.VerifyWebhook(headers, body, time.GetUtcNow()) != WebhookVerification.Valid)
        {
            return (WebhookReceipt.BadSignature, null);
        }

        ProviderEvent parsed;
        string payload;
        try
        {
            parsed = provider.ParseWebhook(body);
            // Stryker disable once Boolean : a provider's JSON parse (above) refuses invalid UTF-8 first, and the BOM flag only affects encoding
            payload = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(body);
        }
        catch (Exception ex) when (ex is FormatException or DecoderFallbackException)
        {
            // Answered 400, so the provider stops retrying it; kept, so an operator can see what was refused.
            await inbox.TryStoreAsync(Rejected(providerId, body, Instants.Now(time), ex.Message), cancellationToken).ConfigureAwait(false);
            return (WebhookReceipt.Malformed, null);
        }

        return await StoreAndApplyAsync(parsed, payload, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The same inbox for an event a provider's own API path verified (an App Store transaction the app's backend
    /// forwards behind the API key): stored once per (provider, event id), then applied. <paramref name="payload"/> is what
    /// the provider's <see cref="IPaymentProvider.ParseWebhook"/> reads back into <paramref name="verified"/> for retries
    /// and replays.</summary>
    public Task<(WebhookReceipt Receipt, WebhookEvent? Event)> ReceiveVerifiedAsync(ProviderEvent verified, string payload,
        CancellationToken cancellationToken = default) =>
        providers.Find(verified.Provider) is null
            ? Task.FromResult<(WebhookReceipt, WebhookEvent?)>((WebhookReceipt.UnknownProvider, null))
            : StoreAndApplyAsync(verified, payload, cancellationToken);

    private async Task<(WebhookReceipt Receipt, WebhookEvent? Event)> StoreAndApplyAsync(ProviderEvent parsed, string payload,
        CancellationToken cancellationToken)
    {
        var now = Instants.Now(time);
        // The lease is for a process that dies mid-attempt; the row is stored and settled in one transaction, so this
        // lease is never committed as such (a failed attempt is stored with its own retry time).
        // Stryker disable once Arithmetic : never committed (above)
        var received = new WebhookEvent(parsed.Provider, parsed.EventId, parsed.EventType, Instants.Normalize(parsed.OccurredAt), now, payload,
            WebhookStatus.Received, 0, now + InlineLease, null, null, null);
        // From here on the provider's request no longer cancels anything: the event is stored whatever happens.
        if (batchPackDeliveries && await TryBatchedAsync(received, parsed).ConfigureAwait(false) is { } batched)
        {
            return (WebhookReceipt.Accepted, batched);
        }

        var stored = await InTransactionAsync(async () =>
        {
            if (!await inbox.TryBeginAsync(received, CancellationToken.None).ConfigureAwait(false))
            {
                return null;
            }

            return await ApplyAsync(received, parsed, firstAttempt: true).ConfigureAwait(false);
        }, received).ConfigureAwait(false);
        if (stored is null)
        {
            return (WebhookReceipt.Duplicate, await inbox.GetAsync(parsed.Provider, parsed.EventId, CancellationToken.None).ConfigureAwait(false));
        }

        return (WebhookReceipt.Accepted, stored);
    }

    /// <summary>
    /// A paid credit pack's first delivery, written in a ledger batch with other requests' (the ledger's lanes gather
    /// them): its grant carries its payment, inbox row and events (<see cref="PackDelivery"/>), so a batch writes each kind
    /// of row once for all of its deliveries, in one transaction and two round trips, where the one-transaction path
    /// takes five of its own per delivery. Null when the delivery is not one of those, or its write did not go through:
    /// stored or paid meanwhile (a duplicate, a second event of one payment), refused, or failed. Nothing of it was
    /// written then, and the caller takes the one-transaction path, which answers for every one of those cases.
    /// </summary>
    private async Task<WebhookEvent?> TryBatchedAsync(WebhookEvent received, ProviderEvent parsed)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var eventKey = $"event\n{received.Provider}\n{received.EventId}";
        if (!await TryTakeAsync(eventKey, done.Task).ConfigureAwait(false))
        {
            return null;
        }

        string? paymentKey = null;
        try
        {
            var plan = await applier.PlanPackDeliveryAsync(parsed, received.Payload, received, CancellationToken.None).ConfigureAwait(false);
            if (plan is null)
            {
                return null;
            }

            paymentKey = $"payment\n{plan.Rows.Payment.Provider}\n{plan.Rows.Payment.ProviderPaymentId}";
            if (!await TryTakeAsync(paymentKey, done.Task).ConfigureAwait(false))
            {
                paymentKey = null;
                return null;
            }

            using var activity = WebhookTelemetry.StartApply(received);
            if (!await applier.WritePackDeliveryAsync(plan, CancellationToken.None).ConfigureAwait(false))
            {
                return null;
            }

            var applied = plan.Rows.Inbox;
            WebhookTelemetry.Outcome(activity, applied.Status);
            WebhookTelemetry.Stored(applied.Provider, applied.Status);
            // The ledger's commit dropped what the gate caches of the customer's balances; its payments changed too.
            gate.Invalidate(plan.Rows.Payment.CustomerId);
            Log.WebhookApplied(_logger, applied.Provider, applied.EventId, applied.EventType, applied.CustomerId);
            return applied;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Expected for a duplicate that raced this one (the inbox's or the payment's key); the other path decides.
            Log.BatchedDeliveryFellBack(_logger, received.Provider, received.EventId, ex.Message);
            return null;
        }
        finally
        {
            _batching.TryRemove(eventKey, out _);
            if (paymentKey is not null)
            {
                _batching.TryRemove(paymentKey, out _);
            }

            done.TrySetResult();
        }
    }

    /// <summary>Takes <paramref name="key"/> for this delivery (true), or waits until the delivery holding it is done
    /// (false: the caller then takes the one-transaction path).</summary>
    private async Task<bool> TryTakeAsync(string key, Task done)
    {
        var holder = _batching.GetOrAdd(key, done);
        if (holder == done)
        {
            return true;
        }

        await holder.ConfigureAwait(false);
        return false;
    }

    /// <summary>Applies events whose attempt is due (failed ones, and received ones whose first attempt never finished).</summary>
    public async Task<int> RetryDueAsync(int limit = 50, CancellationToken cancellationToken = default)
    {
        var now = Instants.Now(time);
        var due = await inbox.ClaimDueAsync(now, now + InlineLease, limit, cancellationToken).ConfigureAwait(false);
        foreach (var stored in due)
        {
            await ApplyStoredAsync(stored).ConfigureAwait(false);
        }

        return due.Count;
    }

    /// <summary>Applies a stored event again, whatever its status (operator replay). Effects are keyed, so an event
    /// that was applied before changes nothing.</summary>
    public async Task<WebhookEvent?> ReplayAsync(string providerId, string eventId, CancellationToken cancellationToken = default)
    {
        var stored = await inbox.GetAsync(providerId, eventId, cancellationToken).ConfigureAwait(false);
        return stored is null ? null : await ApplyStoredAsync(stored).ConfigureAwait(false);
    }

    private async Task<WebhookEvent> ApplyStoredAsync(WebhookEvent stored)
    {
        // A processed event whose payload the retention sweep emptied: it was applied (or ignored) and its effects are
        // keyed, so there is nothing to apply again, and nothing to read it from.
        if (stored.Status == WebhookStatus.Rejected || stored.Payload.Length == 0)
        {
            return stored;
        }

        var provider = providers.Find(stored.Provider);
        if (provider is null)
        {
            var orphan = stored with { Status = WebhookStatus.Failed, LastError = $"provider {stored.Provider} is not enabled", NextAttemptAt = null };
            await inbox.UpdateAsync(orphan, CancellationToken.None).ConfigureAwait(false);
            return orphan;
        }

        var parsed = provider.ParseWebhook(Encoding.UTF8.GetBytes(stored.Payload));
        return (await InTransactionAsync(() => ApplyAsync(stored, parsed, firstAttempt: false), stored).ConfigureAwait(false))!;
    }

    /// <summary>
    /// Runs <paramref name="work"/> (store and apply, or apply again) in one transaction and commits it, then drops
    /// what the gate caches of the event's customer. A transaction aborted by the database (a deadlock, a
    /// serialization failure, a busy lock) runs again from the start. When applying fails otherwise, nothing of it is
    /// kept, and <paramref name="webhookEvent"/> is stored (or updated) as failed, on its own, to be retried.
    /// </summary>
    /// <returns>The event as stored, or null when <paramref name="work"/> found it stored already (a duplicate).</returns>
    private async Task<WebhookEvent?> InTransactionAsync(Func<Task<WebhookEvent?>> work, WebhookEvent webhookEvent)
    {
        Exception? failure = null;
        for (var attempt = 1; attempt <= TransactionAttempts; attempt++)
        {
            WebhookEvent? result = null;
            try
            {
                await using (var transaction = transactions.Begin())
                {
                    result = await work().ConfigureAwait(false);
                    if (result is null)
                    {
                        return null;
                    }

                    await transaction.CommitAsync(CancellationToken.None).ConfigureAwait(false);
                }

                WebhookTelemetry.Stored(result.Provider, result.Status);

                if (result.CustomerId is { } customer)
                {
                    gate.Invalidate(customer);
                }

                // One line per event applied, after its commit: what an operator looks for when credits did not arrive.
                if (result.Status == WebhookStatus.Applied && webhookEvent.Status != WebhookStatus.Applied)
                {
                    Log.WebhookApplied(_logger, result.Provider, result.EventId, result.EventType, result.CustomerId);
                }

                return result;
            }
            catch (Exception ex) when (webhookEvent.Status == WebhookStatus.Received && webhookEvent.Attempts == 0 && inbox.IsDuplicate(ex))
            {
                // The inbox's insert or check went with a later statement and found the event stored (by an earlier or
                // a concurrent delivery, which it waited for): the transaction is rolled back, nothing of it is kept.
                if (result is { Status: not WebhookStatus.Failed } && inbox.IsStoredMeanwhile(ex)
                    && await inbox.GetAsync(webhookEvent.Provider, webhookEvent.EventId, CancellationToken.None).ConfigureAwait(false)
                        is { Status: WebhookStatus.Failed, Attempts: 1 } failedMeanwhile)
                {
                    // Except one order: a concurrent first delivery failed for good and stored the event as failed after
                    // this attempt began, and this attempt, which succeeded, lost the key to it. Apply it again now, as
                    // its retry, rather than leaving a success to the retry worker's next pass.
                    return await ApplyStoredAsync(failedMeanwhile).ConfigureAwait(false);
                }

                return null;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                failure = ex;
                if (!transactions.IsTransient(ex))
                {
                    break;
                }
            }
        }

        // Nothing of the attempt is kept: store the event as failed, so it is retried and visible.
        var failed = Failed(webhookEvent, webhookEvent.Attempts + 1, failure!.Message, Instants.Now(time));
        Log.WebhookApplyFailed(_logger, webhookEvent.Provider, webhookEvent.EventId, webhookEvent.EventType, failed.Attempts, failed.NextAttemptAt, failure);
        if (webhookEvent.Status != WebhookStatus.Received || webhookEvent.Attempts != 0)
        {
            await inbox.UpdateAsync(failed, CancellationToken.None).ConfigureAwait(false);
        }
        else if (!await inbox.TryStoreAsync(failed, CancellationToken.None).ConfigureAwait(false))
        {
            // Stored meanwhile by a concurrent delivery of the same event: that one answers for it.
            return await inbox.GetAsync(webhookEvent.Provider, webhookEvent.EventId, CancellationToken.None).ConfigureAwait(false);
        }

        WebhookTelemetry.Stored(failed.Provider, failed.Status);
        return failed;
    }

    /// <summary>Applies an event inside the caller's transaction and records the outcome on the stored event: the first
    /// attempt's, begun by <see cref="IWebhookInbox.TryBeginAsync"/>, through <see cref="IWebhookInbox.StoreOutcomeAsync"/>.</summary>
    private async Task<WebhookEvent?> ApplyAsync(WebhookEvent stored, ProviderEvent parsed, bool firstAttempt)
    {
        var attempt = stored.Attempts + 1;
        using var activity = WebhookTelemetry.StartApply(stored);
        var outcome = await applier.ApplyAsync(parsed, stored.Payload, CancellationToken.None).ConfigureAwait(false);
        WebhookTelemetry.Outcome(activity, outcome.Status);
        var now = Instants.Now(time);
        var updated = outcome.Status == WebhookStatus.Failed
            ? Failed(stored, attempt, outcome.Problem!, now) with { CustomerId = outcome.CustomerId ?? stored.CustomerId }
            : stored with
            {
                Status = outcome.Status,
                Attempts = attempt,
                NextAttemptAt = null,
                LastError = outcome.Problem,
                AppliedAt = outcome.Status == WebhookStatus.Applied ? now : stored.AppliedAt,
                CustomerId = outcome.CustomerId ?? stored.CustomerId,
            };
        if (outcome.Status == WebhookStatus.Unmatched)
        {
            Log.WebhookUnmatched(_logger, stored.Provider, stored.EventId, stored.EventType);
        }

        await (firstAttempt ? inbox.StoreOutcomeAsync(updated, CancellationToken.None) : inbox.UpdateAsync(updated, CancellationToken.None))
            .ConfigureAwait(false);
        return updated;
    }

    /// <summary>A signed body that could not be read, as a stored event: keyed by its hash (a redelivery is one row), its
    /// text made storable (invalid UTF-8 and NUL become U+FFFD).</summary>
    private static WebhookEvent Rejected(string provider, byte[] body, DateTimeOffset now, string reason)
    {
        var id = "rejected:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(body))[..32];
        var text = Encoding.UTF8.GetString(body).Replace('\0', '\uFFFD');
        return new WebhookEvent(provider, id, "rejected", now, now, text, WebhookStatus.Rejected, 0, null, Storable(reason), null, null);
    }

    /// <summary>An error as the inbox can store it: at most 2,000 characters, and no NUL, which PostgreSQL's text refuses
    /// (a reason may quote the body or an id from it, and JSON can carry <c>\u0000</c>).</summary>
    // Stryker disable once Equality : at exactly 2,000 characters the cut keeps the whole text
    private static string Storable(string error) => (error.Length > 2000 ? error[..2000] : error).Replace('\0', '\uFFFD');

    /// <summary>Backoff 30 s, 1 min, 2 min … capped at 6 h; after <see cref="MaxAttempts"/> only an operator replays it.</summary>
    private static WebhookEvent Failed(WebhookEvent stored, int attempt, string error, DateTimeOffset now)
    {
        var delay = TimeSpan.FromSeconds(Math.Min(30 * Math.Pow(2, attempt - 1), TimeSpan.FromHours(6).TotalSeconds));
        return stored with
        {
            Status = WebhookStatus.Failed,
            Attempts = attempt,
            LastError = Storable(error),
            NextAttemptAt = attempt >= MaxAttempts ? null : now + delay,
        };
    }
}
