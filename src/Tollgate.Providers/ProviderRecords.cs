using Microsoft.Extensions.Logging;
using Tollgate.Core.Payments;
using Tollgate.Providers.Creem;
using Tollgate.Providers.Stripe;

namespace Tollgate.Providers;

/// <summary>A subscription as the provider's list endpoint shows it.</summary>
public sealed record ProviderSubscriptionRecord(string Id, ProviderSubscriptionStatus Status, string? ProviderCustomerId, DateTimeOffset CreatedAt);

/// <summary>How a payment stands at the provider, in Tollgate's terms.</summary>
public enum ProviderPaymentState
{
    /// <summary>Started, not paid yet.</summary>
    Pending,

    /// <summary>Paid.</summary>
    Paid,

    /// <summary>The payment failed or was abandoned.</summary>
    Failed,

    /// <summary>Paid, then refunded (in whole or part).</summary>
    Refunded,

    /// <summary>Paid, then disputed by the card holder.</summary>
    Disputed,
}

/// <summary>A payment as the provider's list endpoint shows it.</summary>
/// <param name="Id">The id shown in the report (Stripe checkout session or invoice, Creem transaction).</param>
/// <param name="Ids">Every id of the payment Tollgate may have recorded it under (session and PaymentIntent, transaction
/// and order): Tollgate keys a payment by the one its webhook carried.</param>
public sealed record ProviderPaymentRecord(string Id, IReadOnlyList<string> Ids, ProviderPaymentState State, long? Amount, string? Currency,
    DateTimeOffset CreatedAt);

/// <summary>What a provider lists for a period, and what it could not list (said in the report, not hidden).</summary>
public sealed record ProviderListing(IReadOnlyList<ProviderSubscriptionRecord> Subscriptions, IReadOnlyList<ProviderPaymentRecord> Payments,
    IReadOnlyList<string> Notes);

/// <summary>Lists a provider's subscriptions and payments (read only), for reconciliation.</summary>
public interface IProviderListing
{
    /// <summary>Everything created at or after <paramref name="since"/>, every page of it.</summary>
    Task<ProviderListing> ListAsync(DateTimeOffset since, CancellationToken cancellationToken);
}

/// <summary>Builds the listing clients of Creem and Stripe over the same options the providers use.</summary>
public static class ProviderListings
{
    /// <summary>Stripe's list endpoints (<c>starting_after</c> pagination, newest first).</summary>
    public static IProviderListing CreateStripe(HttpClient httpClient, StripeOptions options, TimeProvider timeProvider, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return new StripeListing(httpClient, options, timeProvider, logger);
    }

    /// <summary>Creem's search endpoints (<c>page_number</c> pagination).</summary>
    public static IProviderListing CreateCreem(HttpClient httpClient, CreemOptions options, TimeProvider timeProvider, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return new CreemListing(httpClient, options, timeProvider, logger);
    }
}
