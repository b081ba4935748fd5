using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Tollgate.Core.Payments;
using Tollgate.Providers.Http;

namespace Tollgate.Providers.Creem;

/// <summary>Creem's documented list endpoints for reconciliation (creem.md §1.2): <c>GET /v1/subscriptions/search</c> and
/// <c>GET /v1/transactions/search</c>, paged by <c>page_number</c> until <c>pagination.next_page</c> is null. Creem
/// documents no date filter and no order for them, so every page is read and the period is applied here.</summary>
internal sealed class CreemListing : IProviderListing
{
    private const int PageSize = 100;

    /// <summary>A bound on pages, so an answer whose next_page never ends cannot loop forever.</summary>
    private const int MaxPages = 10_000;

    private readonly ProviderHttp _http;

    public CreemListing(HttpClient http, CreemOptions options, TimeProvider time, ILogger? logger)
    {
        _http = new ProviderHttp("creem", "Creem", http, options.EffectiveBaseUrl, [new("x-api-key", options.ApiKey)], options.ApiKey,
            CreemClient.ReadErrorMessage, options.Resilience, time, logger);
    }

    public async Task<ProviderListing> ListAsync(DateTimeOffset since, CancellationToken cancellationToken)
    {
        var subscriptions = new List<ProviderSubscriptionRecord>();
        await foreach (var s in PagesAsync("v1/subscriptions/search", cancellationToken))
        {
            if (s.Str("id") is { } id && SubscriptionStatus(s.Str("status")) is { } status && s.MillisOrIso("created_at") is { } created && created >= since)
            {
                subscriptions.Add(new ProviderSubscriptionRecord(id, status, s.IdOf("customer"), created));
            }
        }

        var payments = new List<ProviderPaymentRecord>();
        await foreach (var t in PagesAsync("v1/transactions/search", cancellationToken))
        {
            // created_at is milliseconds here, unlike most Creem entities (creem.md, TransactionEntity).
            if (t.Str("id") is not { } id || t.MillisOrIso("created_at") is not { } created || created < since)
            {
                continue;
            }

            ProviderPaymentState? state = t.Str("status") switch
            {
                "paid" or "partialRefund" => ProviderPaymentState.Paid,
                "refunded" => ProviderPaymentState.Refunded,
                "chargedBack" => ProviderPaymentState.Disputed,
                "declined" or "uncollectible" or "void" => ProviderPaymentState.Failed,
                "pending" => ProviderPaymentState.Pending,
                _ => null,
            };
            if (state is { } known)
            {
                // Tollgate keys a one-time purchase by its order and a subscription payment by its transaction.
                payments.Add(new ProviderPaymentRecord(id, JsonRead.Ids(id, t.IdOf("order")), known, t.Long("amount_paid") ?? t.Long("amount"),
                    t.UpperCurrency("currency"), created));
            }
        }

        return new ProviderListing(subscriptions, payments, []);
    }

    private async IAsyncEnumerable<JsonElement> PagesAsync(string path,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        long page = 1;
        for (var read = 0; read < MaxPages; read++)
        {
            var answer = await _http.SendForJsonAsync(new ProviderRequest(HttpMethod.Get,
                $"{path}?page_number={page.ToString(CultureInfo.InvariantCulture)}&page_size={PageSize.ToString(CultureInfo.InvariantCulture)}"),
                cancellationToken).ConfigureAwait(false);
            if (!answer.TryGetProperty("items", out var items) || items.ValueKind != JsonValueKind.Array)
            {
                throw _http.Unexpected("a list's items");
            }

            foreach (var item in items.EnumerateArray())
            {
                yield return item;
            }

            if (answer.Obj("pagination").Long("next_page") is not { } next || next <= page)
            {
                yield break;
            }

            page = next;
        }

        throw _http.Unexpected($"a last page within {MaxPages} pages");
    }

    // The same mapping as the webhook's (CreemWebhook.StateOf); a scheduled cancellation is still active.
    private static ProviderSubscriptionStatus? SubscriptionStatus(string? status) => status switch
    {
        "active" or "scheduled_cancel" => ProviderSubscriptionStatus.Active,
        "trialing" => ProviderSubscriptionStatus.Trialing,
        "past_due" => ProviderSubscriptionStatus.PastDue,
        "paused" => ProviderSubscriptionStatus.Paused,
        "canceled" => ProviderSubscriptionStatus.Canceled,
        "expired" or "unpaid" => ProviderSubscriptionStatus.Expired,
        "incomplete" => ProviderSubscriptionStatus.Incomplete,
        _ => null,
    };
}
