using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Tollgate.Core.Catalog;
using Tollgate.Core.Payments;

namespace Tollgate.Providers.Stripe;

/// <summary>Stripe as a plug-in: <c>Tollgate__Providers__Stripe__{SecretKey,WebhookSecrets__N,BaseUrl,SignatureToleranceSeconds}</c>,
/// catalog <c>providers.stripe.price</c>.</summary>
public sealed class StripePlugin : ProviderPlugin
{
    /// <inheritdoc/>
    public override string Id => "stripe";

    /// <inheritdoc/>
    public override string Section => "Stripe";

    /// <inheritdoc/>
    public override CatalogMapping Catalog { get; } = new("stripe", "price");

    /// <inheritdoc/>
    public override string RequiredSetting => "SecretKey";

    /// <inheritdoc/>
    public override object? ReadSettings(IConfigurationSection section)
    {
        ArgumentNullException.ThrowIfNull(section);
        var key = Value(section, "SecretKey");
        var secrets = section.GetSection("WebhookSecrets").GetChildren().Select(c => c.Value).OfType<string>().Where(v => v.Length > 0).ToList();
        if (key is null)
        {
            return secrets.Count == 0 ? null : throw new ProviderSettingException(Key("SecretKey"), "is required with webhook secrets.");
        }

        if (secrets.Count == 0)
        {
            throw new ProviderSettingException(Key("WebhookSecrets__0"), "is required when Stripe is enabled (a secret key is set).");
        }

        var baseUrl = Value(section, "BaseUrl") ?? "https://api.stripe.com";
        if (!Uri.TryCreate(baseUrl, UriKind.Absolute, out var uri))
        {
            throw new ProviderSettingException(Key("BaseUrl"), $"'{baseUrl}' is not an absolute URL.");
        }

        var tolerance = 300;
        if (Value(section, "SignatureToleranceSeconds") is { } raw && (!int.TryParse(raw, out tolerance) || tolerance < 1))
        {
            throw new ProviderSettingException(Key("SignatureToleranceSeconds"), "must be a whole number of seconds ≥ 1.");
        }

        return new StripeOptions { SecretKey = key, WebhookSecrets = secrets, BaseUrl = uri, SignatureToleranceSeconds = tolerance };
    }

    /// <inheritdoc/>
    public override IPaymentProvider Create(object settings, IServiceProvider services) =>
        // Provider calls time out and back off in wall-clock time, whatever clock the business logic runs on.
        PaymentProviders.CreateStripe(new HttpClient(), (StripeOptions)settings, TimeProvider.System,
            services.GetRequiredService<ILoggerFactory>().CreateLogger("Tollgate.Providers"));

    /// <inheritdoc/>
    public override bool Reconciles => true;

    /// <inheritdoc/>
    public override IProviderListing CreateListing(object settings, HttpClient httpClient, TimeProvider timeProvider) =>
        ProviderListings.CreateStripe(httpClient, (StripeOptions)settings, timeProvider);
}
