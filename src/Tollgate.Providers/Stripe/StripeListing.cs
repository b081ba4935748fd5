using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Tollgate.Core.Payments;
using Tollgate.Providers.Http;

namespace Tollgate.Providers.Stripe;

/// <summary>Stripe's list endpoints for reconciliation: subscriptions, checkout sessions (one-time payments) and invoices
/// (subscription payments). Lists come newest first (stripe.md §3.5), so paging with <c>starting_after</c> stops at the
/// first object created before the period instead of reading the whole account.</summary>
internal sealed class StripeListing : IProviderListing
{
    private const int PageSize = 100;

    private readonly ProviderHttp _http;

    public StripeListing(HttpClient http, StripeOptions options, TimeProvider time, ILogger? logger)
    {
        _http = new ProviderHttp("stripe", "Stripe", http, options.BaseUrl,
            [new("Authorization", "Bearer " + options.SecretKey), new("Stripe-Version", StripeOptions.ApiVersion)],
            options.SecretKey, StripeClient.ReadErrorMessage, options.Resilience, time, logger);
    }

    public async Task<ProviderListing> ListAsync(DateTimeOffset since, CancellationToken cancellationToken)
    {
        var subscriptions = new List<ProviderSubscriptionRecord>();
        // status=all: without it Stripe leaves canceled subscriptions out of the list, and those are the ones to compare.
        await foreach (var s in PagesAsync("v1/subscriptions?status=all", since, cancellationToken))
        {
            if (s.Str("id") is { } id && SubscriptionStatus(s.Str("status")) is { } status)
            {
                subscriptions.Add(new ProviderSubscriptionRecord(id, status, s.IdOf("customer"), Created(s)));
            }
        }

        var payments = new List<ProviderPaymentRecord>();
        await foreach (var session in PagesAsync("v1/checkout/sessions", since, cancellationToken))
        {
            // A subscription's checkout is paid by its first invoice, listed below; only payment-mode sessions are payments.
            if (session.Str("mode") == "payment" && session.Str("status") == "complete" && session.Str("id") is { } id)
            {
                var state = session.Str("payment_status") is "paid" or "no_payment_required" ? ProviderPaymentState.Paid : ProviderPaymentState.Pending;
                payments.Add(new ProviderPaymentRecord(id, JsonRead.Ids(id, session.IdOf("payment_intent")), state,
                    session.Long("amount_total"), session.UpperCurrency("currency"), Created(session)));
            }
        }

        await foreach (var invoice in PagesAsync("v1/invoices", since, cancellationToken))
        {
            var subscription = invoice.Obj("parent").Obj("subscription_details").IdOf("subscription") ?? invoice.IdOf("subscription");
            if (invoice.Str("id") is not { } id || subscription is null)
            {
                continue;
            }

            ProviderPaymentState? state = invoice.Str("status") switch
            {
                "paid" => ProviderPaymentState.Paid,
                // Tollgate records a failed attempt (invoice.payment_failed); an open invoice never attempted is not a payment yet.
                "open" or "uncollectible" when invoice.Long("attempt_count") > 0 => ProviderPaymentState.Failed,
                _ => null,
            };
            if (state is { } known)
            {
                payments.Add(new ProviderPaymentRecord(id, [id], known,
                    known == ProviderPaymentState.Paid ? invoice.Long("amount_paid") : invoice.Long("amount_due"), invoice.UpperCurrency("currency"), Created(invoice)));
            }
        }

        return new ProviderListing(subscriptions, payments,
            ["Stripe refunds and disputes are not listed here: a payment refunded at Stripe shows as paid."]);
    }

    private async IAsyncEnumerable<JsonElement> PagesAsync(string path, DateTimeOffset since,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string? after = null;
        while (true)
        {
            var query = path + (path.Contains('?', StringComparison.Ordinal) ? "&" : "?") + "limit=" + PageSize.ToString(CultureInfo.InvariantCulture)
                + (after is null ? "" : "&starting_after=" + Uri.EscapeDataString(after));
            var page = await _http.SendForJsonAsync(new ProviderRequest(HttpMethod.Get, query), cancellationToken).ConfigureAwait(false);
            if (!page.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array)
            {
                throw _http.Unexpected("a list's data");
            }

            string? last = null;
            foreach (var item in data.EnumerateArray())
            {
                if (Created(item) < since)
                {
                    yield break;
                }

                last = item.Str("id");
                yield return item;
            }

            if (page.Bool("has_more") != true || last is null)
            {
                yield break;
            }

            after = last;
        }
    }

    private DateTimeOffset Created(JsonElement item) => item.UnixSeconds("created") ?? throw _http.Unexpected("an object's created time");

    // The same mapping as the webhook's (StripeWebhook.Snapshot).
    private static ProviderSubscriptionStatus? SubscriptionStatus(string? status) => status switch
    {
        "incomplete" => ProviderSubscriptionStatus.Incomplete,
        "incomplete_expired" or "unpaid" => ProviderSubscriptionStatus.Expired,
        "trialing" => ProviderSubscriptionStatus.Trialing,
        "active" => ProviderSubscriptionStatus.Active,
        "past_due" => ProviderSubscriptionStatus.PastDue,
        "canceled" => ProviderSubscriptionStatus.Canceled,
        "paused" => ProviderSubscriptionStatus.Paused,
        _ => null,
    };
}
