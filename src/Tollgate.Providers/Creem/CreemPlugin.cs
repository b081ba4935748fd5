using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Tollgate.Core.Catalog;
using Tollgate.Core.Payments;

namespace Tollgate.Providers.Creem;

/// <summary>Creem as a plug-in: <c>Tollgate__Providers__Creem__{ApiKey,WebhookSecret,BaseUrl}</c>, catalog
/// <c>providers.creem.product</c>.</summary>
public sealed class CreemPlugin : ProviderPlugin
{
    /// <inheritdoc/>
    public override string Id => "creem";

    /// <inheritdoc/>
    public override string Section => "Creem";

    /// <inheritdoc/>
    public override CatalogMapping Catalog { get; } = new("creem", "product");

    /// <inheritdoc/>
    public override string RequiredSetting => "ApiKey";

    /// <inheritdoc/>
    public override object? ReadSettings(IConfigurationSection section)
    {
        var apiKey = Value(section, "ApiKey");
        var secret = Value(section, "WebhookSecret");
        if (apiKey is null)
        {
            return secret is null ? null : throw new ProviderSettingException(Key("ApiKey"), "is required with a webhook secret.");
        }

        if (secret is null)
        {
            throw new ProviderSettingException(Key("WebhookSecret"), "is required when Creem is enabled (an API key is set).");
        }

        var baseUrl = Value(section, "BaseUrl");
        Uri? uri = null;
        return baseUrl is null || Uri.TryCreate(baseUrl, UriKind.Absolute, out uri)
            ? new CreemOptions { ApiKey = apiKey, WebhookSecret = secret, BaseUrl = uri }
            : throw new ProviderSettingException(Key("BaseUrl"), $"'{baseUrl}' is not an absolute URL.");
    }

    /// <inheritdoc/>
    public override IPaymentProvider Create(object settings, IServiceProvider services) =>
        // Provider calls time out and back off in wall-clock time, whatever clock the business logic runs on.
        PaymentProviders.CreateCreem(new HttpClient(), (CreemOptions)settings, TimeProvider.System,
            services.GetRequiredService<ILoggerFactory>().CreateLogger("Tollgate.Providers"));

    /// <inheritdoc/>
    public override bool Reconciles => true;

    /// <inheritdoc/>
    public override IProviderListing CreateListing(object settings, HttpClient httpClient, TimeProvider timeProvider) =>
        ProviderListings.CreateCreem(httpClient, (CreemOptions)settings, timeProvider);
}
