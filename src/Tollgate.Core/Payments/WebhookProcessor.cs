using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Tollgate.Core.Common;
using Tollgate.Core.Usage;

namespace Tollgate.Core.Payments;

public enum WebhookReceipt
{
    /// <summary>Stored (and applied, or queued for retry): answer 200.</summary>
    Accepted,

    /// <summary>Already stored: answer 200, nothing happens twice.</summary>
    Duplicate,

    UnknownProvider,
    BadSignature,

    /// <summary>Signed correctly, but not the JSON the provider sends: answer 400, nothing stored.</summary>
    Malformed,
}

/// <summary>
/// The webhook pipeline, the same for every provider: verify the raw body's signature → parse → store in the inbox,
/// unique by (provider, event id), before answering → apply idempotently → on failure, retry with backoff and keep the
/// error visible. An operator can replay any stored event.
/// </summary>
public sealed class WebhookProcessor(
    ProviderRegistry providers,
    IWebhookInbox inbox,
    PaymentApplier applier,
    Gate gate,
    TimeProvider time,
    ILogger<WebhookProcessor>? logger = null)
{
    /// <summary>How long a received event is left to its first (inline) attempt before the retry worker takes it.</summary>
    public static readonly TimeSpan InlineLease = TimeSpan.FromMinutes(1);

    public const int MaxAttempts = 12;

    private readonly ILogger _logger = (ILogger?)logger ?? NullLogger.Instance;

    public async Task<(WebhookReceipt Receipt, WebhookEvent? Event)> ReceiveAsync(string providerId, IReadOnlyDictionary<string, string> headers,
        byte[] body, CancellationToken cancellationToken = default)
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
            payload = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(body);
        }
        catch (Exception ex) when (ex is FormatException or DecoderFallbackException)
        {
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
        var stored = new WebhookEvent(parsed.Provider, parsed.EventId, parsed.EventType, Instants.Normalize(parsed.OccurredAt), now, payload,
            WebhookStatus.Received, 0, now + InlineLease, null, null, null);
        if (!await inbox.TryStoreAsync(stored, cancellationToken).ConfigureAwait(false))
        {
            return (WebhookReceipt.Duplicate, await inbox.GetAsync(parsed.Provider, parsed.EventId, cancellationToken).ConfigureAwait(false));
        }

        // Stored: from here on the event is safe whatever happens; applying it now just makes it visible sooner.
        return (WebhookReceipt.Accepted, await ApplyAsync(stored, parsed, CancellationToken.None).ConfigureAwait(false));
    }

    /// <summary>Applies events whose attempt is due (failed ones, and received ones whose first attempt never finished).</summary>
    public async Task<int> RetryDueAsync(int limit = 50, CancellationToken cancellationToken = default)
    {
        var now = Instants.Now(time);
        var due = await inbox.ClaimDueAsync(now, now + InlineLease, limit, cancellationToken).ConfigureAwait(false);
        foreach (var stored in due)
        {
            await ApplyStoredAsync(stored, cancellationToken).ConfigureAwait(false);
        }

        return due.Count;
    }

    /// <summary>Applies a stored event again, whatever its status (operator replay). Effects are keyed, so an event
    /// that was applied before changes nothing.</summary>
    public async Task<WebhookEvent?> ReplayAsync(string providerId, string eventId, CancellationToken cancellationToken = default)
    {
        var stored = await inbox.GetAsync(providerId, eventId, cancellationToken).ConfigureAwait(false);
        return stored is null ? null : await ApplyStoredAsync(stored, cancellationToken).ConfigureAwait(false);
    }

    private async Task<WebhookEvent> ApplyStoredAsync(WebhookEvent stored, CancellationToken cancellationToken)
    {
        var provider = providers.Find(stored.Provider);
        if (provider is null)
        {
            var orphan = stored with { Status = WebhookStatus.Failed, LastError = $"provider {stored.Provider} is not enabled", NextAttemptAt = null };
            await inbox.UpdateAsync(orphan, cancellationToken).ConfigureAwait(false);
            return orphan;
        }

        return await ApplyAsync(stored, provider.ParseWebhook(Encoding.UTF8.GetBytes(stored.Payload)), cancellationToken).ConfigureAwait(false);
    }

    private async Task<WebhookEvent> ApplyAsync(WebhookEvent stored, ProviderEvent parsed, CancellationToken cancellationToken)
    {
        var attempt = stored.Attempts + 1;
        WebhookEvent updated;
        try
        {
            var outcome = await applier.ApplyAsync(parsed, stored.Payload, cancellationToken).ConfigureAwait(false);
            var now = Instants.Now(time);
            updated = outcome.Status == WebhookStatus.Failed
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
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            updated = Failed(stored, attempt, ex.Message, Instants.Now(time));
            Log.WebhookApplyFailed(_logger, stored.Provider, stored.EventId, stored.EventType, attempt, updated.NextAttemptAt, ex);
        }

        await inbox.UpdateAsync(updated, CancellationToken.None).ConfigureAwait(false);
        if (updated.CustomerId is { } customer)
        {
            gate.Invalidate(customer);
        }

        return updated;
    }

    /// <summary>Backoff 30 s, 1 min, 2 min … capped at 6 h; after <see cref="MaxAttempts"/> only an operator replays it.</summary>
    private static WebhookEvent Failed(WebhookEvent stored, int attempt, string error, DateTimeOffset now)
    {
        var delay = TimeSpan.FromSeconds(Math.Min(30 * Math.Pow(2, attempt - 1), TimeSpan.FromHours(6).TotalSeconds));
        return stored with
        {
            Status = WebhookStatus.Failed,
            Attempts = attempt,
            LastError = error.Length > 2000 ? error[..2000] : error,
            NextAttemptAt = attempt >= MaxAttempts ? null : now + delay,
        };
    }
}
