using Microsoft.Extensions.Configuration;
using Tollgate.Core.Catalog;
using Tollgate.Core.Payments;
using Tollgate.Providers;
using Tollgate.Server.Hosting;

namespace Tollgate.Server.Tests.Payments;

/// <summary>A provider is a plug-in: settings, default choice and catalog mapping of one the engine has never heard of
/// follow from its <see cref="ProviderPlugin"/> alone.</summary>
public sealed class ProviderPluginTests
{
    /// <summary>A web provider that exists only in this test.</summary>
    private sealed class PaddlePlugin : ProviderPlugin
    {
        public override string Id => "paddle";

        public override string Section => "Paddle";

        public override CatalogMapping Catalog { get; } = new("paddle", "price");

        public override string RequiredSetting => "ApiKey";

        public override object? ReadSettings(IConfigurationSection section) =>
            Value(section, "ApiKey") is { } key
                ? key.StartsWith("pdl_", StringComparison.Ordinal) ? key : throw new ProviderSettingException(Key("ApiKey"), "must start with pdl_.")
                : null;

        public override IPaymentProvider Create(object settings, IServiceProvider services) => throw new NotSupportedException();
    }

    private static readonly ProviderPlugin[] WithPaddle = [.. ProviderPlugins.BuiltIn, new PaddlePlugin()];

    private static ProviderSettings Read(params (string Key, string Value)[] values) =>
        ProviderSettings.Read(new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => KeyValuePair.Create(v.Key, (string?)v.Value))).Build()
            .GetSection("Tollgate:Providers"), WithPaddle);

    [Fact]
    public void ANewProvider_IsLiveAndTheDefault_WhenItIsTheOnlyOneConfigured_AndTheSandboxGoesOff()
    {
        var settings = Read(("Tollgate:Providers:Paddle:ApiKey", "pdl_123"));

        Assert.Equal(("paddle", false), (settings.Default, settings.SandboxEnabled));
        Assert.Equal(["paddle"], settings.LiveIds);
        Assert.Equal("pdl_123", settings.Get<string>("paddle"));
    }

    [Fact]
    public void ANewProvidersSettingErrors_NameItsOwnKeys()
    {
        var wrong = Assert.Throws<ConfigurationException>(() => Read(("Tollgate:Providers:Paddle:ApiKey", "sk_123")));
        var missing = Assert.Throws<ConfigurationException>(() => Read(("Tollgate:Providers:Default", "paddle")));
        var both = Assert.Throws<ConfigurationException>(() =>
            Read(("Tollgate:Providers:Paddle:ApiKey", "pdl_123"), ("Tollgate:Providers:Creem:ApiKey", "creem_test_x"), ("Tollgate:Providers:Creem:WebhookSecret", "whsec_x")));

        Assert.Equal(("Tollgate__Providers__Paddle__ApiKey", "Tollgate__Providers__Paddle__ApiKey", "Tollgate__Providers__Default"), (wrong.Key, missing.Key, both.Key));
        Assert.Contains("paddle", both.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ACatalog_MayMapProductsForANewProvider_OnlyWhenItIsRegistered()
    {
        const string yaml = "features:\n  credits: { type: credits }\nplans:\n  pro: { interval: month, providers: { paddle: { price: pri_pro } } }\n";

        var catalog = CatalogLoader.Parse(yaml, "c.yaml", ProviderPlugins.CatalogMappings(WithPaddle));
        var refused = Assert.Throws<CatalogException>(() => CatalogLoader.Parse(yaml, "c.yaml", ProviderPlugins.CatalogMappings(ProviderPlugins.BuiltIn)));

        Assert.Equal("pro", catalog.FindByProviderRef("paddle", "pri_pro").Plan?.Id);
        Assert.Equal("pro", catalog.FindByProviderRef("sandbox", "pro").Plan?.Id);
        Assert.Contains("providers.paddle", refused.Message, StringComparison.Ordinal);
    }
}
