using Tollgate.Core.Catalog;
using Tollgate.Core.Payments;
using Tollgate.Core.Subscriptions;
using Tollgate.Testing;

namespace Tollgate.Core.Tests.Payments;

/// <summary>
/// Rules of the prices shown to customers (<see cref="PriceBook"/>) and of the enabled providers
/// (<see cref="ProviderRegistry"/>): a provider's live price, kept for its TTL, the last one marked stale when the
/// provider fails (the catalog's when it never answered); the catalog's price from a provider that cannot be asked;
/// nothing for a product the provider does not sell. Each test names its rule.
/// </summary>
public sealed class PriceBookTests
{
    private const string Yaml = """
        features:
          credits: { type: credits, name: Credits }
        plans:
          free:
            default: true
            providers: { shop: { product: shop_free } }
          pro:
            interval: month
            price: { amount: 1900, currency: USD }
            providers: { creem: { product: prod_pro }, shop: { product: shop_pro } }
            features:
              credits: { grant: 10, reset: month }
          team:
            interval: month
            providers: { creem: { product: prod_team } }
        packs:
          pack:
            credits: 100
            price: { amount: 500, currency: EUR }
            providers: { creem: { product: prod_pack } }
        """;

    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly ManualTimeProvider _clock = new(T0);
    private readonly Provider _creem = new("creem");
    private readonly Provider _shop = new("shop") { Capabilities = ProviderCapabilities.Checkout };
    private readonly ListLogger<PriceBook> _log = new();
    private readonly PriceBook _prices;

    public PriceBookTests()
    {
        var catalog = CatalogLoader.Parse(Yaml, "catalog.yaml", [new CatalogMapping("creem", "product"), new CatalogMapping("shop", "product")]);
        _prices = new PriceBook(catalog, new ProviderRegistry([_creem, _shop], "creem"), _clock, _log);
    }

    [Fact]
    public async Task Rule_TheProvidersPrice_IsShown_ItsCurrencyUpperCased_AndKeptForTheTtl()
    {
        _creem.Prices["prod_pro"] = new ProviderPrice("prod_pro", 1700, "usd", "month");

        Assert.Equal(new ShownPrice(1700, "USD", false), await _prices.PriceAsync("pro")); // the default provider
        _creem.Prices["prod_pro"] = new ProviderPrice("prod_pro", 2100, "usd", "month");
        _clock.Advance(PriceBook.Ttl - TimeSpan.FromTicks(1));
        Assert.Equal(new ShownPrice(1700, "USD", false), await _prices.PriceAsync("pro", "creem"));
        _clock.Advance(TimeSpan.FromTicks(1));
        Assert.Equal(new ShownPrice(2100, "USD", false), await _prices.PriceAsync("pro", "creem"));
        Assert.Equal(["prod_pro", "prod_pro"], _creem.Asked);
        Assert.Equal(TimeSpan.FromMinutes(5), PriceBook.Ttl);
    }

    [Fact]
    public async Task Rule_WhenTheProviderFails_TheLastPriceIsShownStale_ElseTheCatalogsStale_ElseNothing_Logged()
    {
        _creem.Prices["prod_pro"] = new ProviderPrice("prod_pro", 1700, "usd", "month");
        await _prices.PriceAsync("pro");
        _creem.Failure = new ProviderException("creem", "boom");
        _clock.Advance(PriceBook.Ttl);

        Assert.Equal(new ShownPrice(1700, "USD", true), await _prices.PriceAsync("pro"));
        Assert.Equal(new ShownPrice(500, "EUR", true), await _prices.PriceAsync("pack")); // never answered: the catalog's
        Assert.Null(await _prices.PriceAsync("team")); // no catalog price either
        Assert.Equal((3001, "Could not fetch the creem price of prod_pro: boom; showing the last known price"), _log.Lines[0]);
        Assert.Equal(3, _log.Lines.Count);

        // Not a provider's failure: it is not taken for one.
        _creem.Failure = new InvalidOperationException("bug");
        await Assert.ThrowsAsync<InvalidOperationException>(() => _prices.PriceAsync("pro"));
    }

    [Fact]
    public async Task Rule_AProviderThatCannotBeAsked_ShowsTheCatalogsPrice_NeverStale()
    {
        Assert.Equal(new ShownPrice(1900, "USD", false), await _prices.PriceAsync("pro", "shop"));
        Assert.Null(await _prices.PriceAsync("free", "shop")); // no price in the catalog
        Assert.Empty(_shop.Asked);
    }

    [Fact]
    public async Task Rule_NoPrice_ForAProductTheProviderDoesNotSell_AnUnknownProduct_OrAProviderNotEnabled()
    {
        Assert.Null(await _prices.PriceAsync("pack", "shop"));
        Assert.Null(await _prices.PriceAsync("gold"));
        var catalog = CatalogLoader.Parse(Yaml, "catalog.yaml", [new CatalogMapping("creem", "product"), new CatalogMapping("shop", "product")]);
        var onlyShop = new PriceBook(catalog, new ProviderRegistry([_shop], "shop"), _clock);
        Assert.Null(await onlyShop.PriceAsync("pro", "creem"));
        Assert.Equal(new ShownPrice(1900, "USD", false), await onlyShop.PriceAsync("pro"));
        Assert.Empty(_creem.Asked);
    }

    [Fact]
    public void Rule_TheDefaultProvider_MustBeEnabled()
    {
        var error = Assert.Throws<ArgumentException>(() => new ProviderRegistry([_creem], "stripe"));
        Assert.Equal(("defaultProvider", "The default provider 'stripe' is not enabled. (Parameter 'defaultProvider')"), (error.ParamName, error.Message));

        var registry = new ProviderRegistry([_creem, _shop], "shop");
        Assert.Equal(("shop", (IPaymentProvider?)_creem, (IPaymentProvider?)null), (registry.Default, registry.Find("creem"), registry.Find("stripe")));
        Assert.Equal(["creem", "shop"], registry.Enabled.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Rule_AProviderUnlessItSaysOtherwise_CanDoEverything_HasACustomerPortal_ButCannotChangeAQuantity()
    {
        IPaymentProvider plain = new Minimal();

        Assert.Equal((ProviderCapabilities.All, true), (plain.Capabilities, plain.HasCustomerPortal));
        var refused = await Assert.ThrowsAsync<NotSupportedException>(() => plain.ChangeQuantityAsync("sub_1", 3, PlanChangePolicy.Immediate, CancellationToken.None));
        Assert.Equal("minimal cannot change a subscription's quantity.", refused.Message);
    }

    /// <summary>A provider with prices to give, or a failure, that records what it was asked. It maps
    /// <see cref="IPaymentProvider.Capabilities"/> again (the interface re-implemented), which <see cref="Minimal"/> leaves to the default.</summary>
    private sealed class Provider(string id) : Minimal(id), IPaymentProvider
    {
        public ProviderCapabilities Capabilities { get; init; } = ProviderCapabilities.All;

        public Dictionary<string, ProviderPrice> Prices { get; } = [];

        public Exception? Failure { get; set; }

        public List<string> Asked { get; } = [];

        public override Task<ProviderPrice> GetPriceAsync(string providerProductRef, CancellationToken cancellationToken)
        {
            Asked.Add(providerProductRef);
            return Failure is not null ? Task.FromException<ProviderPrice>(Failure) : Task.FromResult(Prices[providerProductRef]);
        }
    }

    /// <summary>A provider that overrides none of the interface's defaults, and can do nothing else.</summary>
    private class Minimal(string id = "minimal") : IPaymentProvider
    {
        public string Id => id;

        public virtual Task<ProviderPrice> GetPriceAsync(string providerProductRef, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<ProviderCheckout> CreateCheckoutAsync(CheckoutRequest request, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task CancelSubscriptionAsync(string providerSubscriptionId, bool atPeriodEnd, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task ResumeSubscriptionAsync(string providerSubscriptionId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task ChangeSubscriptionAsync(string providerSubscriptionId, string newProviderProductRef, PlanChangePolicy policy, CancellationToken cancellationToken) =>
            throw new NotSupportedException();

        public Task<string?> GetCustomerPortalUrlAsync(string providerCustomerId, string returnUrl, CancellationToken cancellationToken) => throw new NotSupportedException();

        public WebhookVerification VerifyWebhook(IReadOnlyDictionary<string, string> headers, ReadOnlySpan<byte> body, DateTimeOffset now) =>
            throw new NotSupportedException();

        public ProviderEvent ParseWebhook(ReadOnlySpan<byte> body) => throw new NotSupportedException();
    }
}
