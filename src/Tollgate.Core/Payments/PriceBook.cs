using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Tollgate.Core.Catalog;

namespace Tollgate.Core.Payments;

/// <summary>A product's price as shown to customers. <see cref="Stale"/>: the provider could not be asked just now,
/// so this is the last price it gave (or the catalog's, when it never answered).</summary>
public sealed record ShownPrice(long Amount, string Currency, bool Stale);

/// <summary>
/// Live prices: the Sandbox sells at the catalog's prices; Creem and Stripe prices are fetched from the provider and
/// kept for <see cref="Ttl"/>. When the provider fails, the last known price is shown, marked stale. A provider without a
/// price lookup (the App Store, whose prices a server cannot ask for) shows the catalog's price for the products it sells.
/// </summary>
public sealed class PriceBook(ProductCatalog catalog, ProviderRegistry providers, TimeProvider time, ILogger<PriceBook>? logger = null)
{
    /// <summary>How long a provider's price is kept before it is asked again.</summary>
    public static readonly TimeSpan Ttl = TimeSpan.FromMinutes(5);

    private readonly ConcurrentDictionary<(string Provider, string Ref), (ShownPrice Price, DateTimeOffset At)> _known = new();
    private readonly ILogger _logger = (ILogger?)logger ?? NullLogger.Instance;

    /// <summary>The price to show for a plan or pack: the provider's (cached for <see cref="Ttl"/>), or the catalog's when the provider cannot say; null when neither knows.</summary>
    public async Task<ShownPrice?> PriceAsync(string product, string? provider = null, CancellationToken cancellationToken = default)
    {
        provider ??= providers.Default;
        var (catalogPrice, mappings) = catalog.PlansById.TryGetValue(product, out var plan) ? (plan.Price, plan.Providers)
            : catalog.PacksById.TryGetValue(product, out var pack) ? (pack.Price, pack.Providers)
            : (null, ProviderMappings.None);
        if (mappings.For(provider) is not { } reference || providers.Find(provider) is not { } payments)
        {
            return null;
        }

        if (!payments.Capabilities.HasFlag(ProviderCapabilities.PriceLookup))
        {
            return catalogPrice is { } listed ? new ShownPrice(listed.Amount, listed.Currency, false) : null;
        }

        var key = (provider, reference);
        var now = time.GetUtcNow();
        if (_known.TryGetValue(key, out var cached) && now - cached.At < Ttl)
        {
            return cached.Price;
        }

        try
        {
            var live = await payments.GetPriceAsync(reference, cancellationToken).ConfigureAwait(false);
            var price = new ShownPrice(live.Amount, live.Currency.ToUpperInvariant(), false);
            _known[key] = (price, now);
            return price;
        }
        catch (ProviderException ex)
        {
            Log.PriceFetchFailed(_logger, provider, reference, ex.Message);
            return cached.Price is { } last ? last with { Stale = true }
                : catalogPrice is { } fallback ? new ShownPrice(fallback.Amount, fallback.Currency, true)
                : null;
        }
    }
}
