using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Tollgate.Core.Catalog;
using Tollgate.Core.Payments;

namespace Tollgate.Providers.Apple;

/// <summary>The App Store as a plug-in (API.md §6.4): <c>Tollgate__Providers__Apple__{BundleId,Environment,RootCertificates__N,OnlineChecks}</c>,
/// catalog <c>providers.apple.product</c>. It sells inside the app only, so it is the default only without a web provider.</summary>
public sealed class ApplePlugin : ProviderPlugin
{
    /// <summary>The App Store's provider id.</summary>
    public const string ProviderId = "apple";

    /// <inheritdoc/>
    public override string Id => ProviderId;

    /// <inheritdoc/>
    public override string Section => "Apple";

    /// <inheritdoc/>
    public override CatalogMapping Catalog { get; } = new("apple", "product");

    /// <inheritdoc/>
    public override ProviderKind Kind => ProviderKind.InApp;

    /// <inheritdoc/>
    public override string RequiredSetting => "BundleId";

    /// <inheritdoc/>
    public override object? ReadSettings(IConfigurationSection section)
    {
        ArgumentNullException.ThrowIfNull(section);
        var bundleId = Value(section, "BundleId");
        var roots = section.GetSection("RootCertificates").GetChildren().Where(c => !string.IsNullOrWhiteSpace(c.Value)).ToList();
        if (bundleId is null)
        {
            return Value(section, "Environment") is null && roots.Count == 0
                ? null
                : throw new ProviderSettingException(Key("BundleId"), "is required when the App Store is configured.");
        }

        var environment = Value(section, "Environment") switch
        {
            null or "Production" => AppleEnvironment.Production,
            "Sandbox" => AppleEnvironment.Sandbox,
            var other => throw new ProviderSettingException(Key("Environment"), $"'{other}' is not an App Store environment; use Production or Sandbox."),
        };
        var online = Value(section, "OnlineChecks") is { } raw
            ? bool.TryParse(raw, out var parsed) ? parsed : throw new ProviderSettingException(Key("OnlineChecks"), "must be true or false.")
            : false;
        return new AppleOptions
        {
            BundleId = bundleId,
            Environment = environment,
            AdditionalRoots = roots.Select(LoadRoot).ToList(),
            OnlineRevocationChecks = online,
        };
    }

    /// <inheritdoc/>
    public override IPaymentProvider Create(object settings, IServiceProvider services) =>
        PaymentProviders.CreateApple((AppleOptions)settings, services.GetRequiredService<TimeProvider>());

    private X509Certificate2 LoadRoot(IConfigurationSection entry)
    {
        var key = Key("RootCertificates__" + entry.Key);
        var path = entry.Value!.Trim();
        if (!File.Exists(path))
        {
            throw new ProviderSettingException(key, $"no certificate file at '{path}'.");
        }

        try
        {
            return X509CertificateLoader.LoadCertificateFromFile(path);
        }
        catch (CryptographicException ex)
        {
            throw new ProviderSettingException(key, $"'{path}' is not a DER or PEM certificate ({ex.Message}).");
        }
    }
}
