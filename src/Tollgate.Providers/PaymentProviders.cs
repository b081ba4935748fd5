using Microsoft.Extensions.Logging;
using Tollgate.Core.Payments;
using Tollgate.Providers.Apple;
using Tollgate.Providers.Creem;
using Tollgate.Providers.Stripe;

namespace Tollgate.Providers;

/// <summary>Builds the Creem, Stripe and App Store implementations of <see cref="IPaymentProvider"/>. The providers are
/// thread-safe and meant to live as long as the app; they do not own (or dispose) the <see cref="HttpClient"/>.</summary>
public static class PaymentProviders
{
    /// <summary>Creem (<c>creem</c>), calling <see cref="CreemOptions.EffectiveBaseUrl"/> with the given client.</summary>
    /// <param name="timeProvider">Clock for retry delays and timeouts.</param>
    /// <param name="logger">Receives a warning for each retry; optional.</param>
    /// <exception cref="ArgumentException">The options are incomplete or invalid; the message names the setting.</exception>
    public static IPaymentProvider CreateCreem(HttpClient httpClient, CreemOptions options, TimeProvider timeProvider, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        options.Validate();
        return new CreemProvider(new CreemClient(httpClient, options, timeProvider, logger), options.WebhookSecret);
    }

    /// <summary>Stripe (<c>stripe</c>), calling <see cref="StripeOptions.BaseUrl"/> with the given client and pinning
    /// <see cref="StripeOptions.ApiVersion"/>.</summary>
    /// <param name="timeProvider">Clock for retry delays and timeouts.</param>
    /// <param name="logger">Receives a warning for each retry; optional.</param>
    /// <exception cref="ArgumentException">The options are incomplete or invalid; the message names the setting.</exception>
    public static IPaymentProvider CreateStripe(HttpClient httpClient, StripeOptions options, TimeProvider timeProvider, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        options.Validate();
        return new StripeProvider(new StripeClient(httpClient, options, timeProvider, logger), options);
    }

    /// <summary>The App Store (<c>apple</c>): verifies Apple-signed data offline against Apple Root CA - G3 (built in, its
    /// fingerprint checked) and <see cref="AppleOptions.AdditionalRoots"/>. It calls no Apple API.</summary>
    /// <param name="timeProvider">Clock for data that carries no signing date.</param>
    /// <exception cref="ArgumentException">The options are incomplete or invalid; the message names the setting.</exception>
    public static AppleAppStore CreateApple(AppleOptions options, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        options.Validate();
        var jws = new AppleJwsVerifier(AppleRoots.LoadAppleRootCaG3(), options.AdditionalRoots, options.OnlineRevocationChecks, timeProvider);
        return new AppleAppStore(new AppleVerifier(jws, options));
    }
}
