using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using Tollgate.Server.Hosting;
using Tollgate.Storage;

namespace Tollgate.Server.Tests.Api;

public sealed class ConfigurationTests
{
    [Theory]
    [InlineData("Tollgate:Database:Provider", "oracle", "Tollgate__Database__Provider")]
    [InlineData("Tollgate:Catalog", "/no/such/catalog.yaml", "Tollgate__Catalog")]
    [InlineData("Tollgate:ApiKeys:0", "short", "Tollgate__ApiKeys")]
    [InlineData("Tollgate:AdminKey", "short", "Tollgate__AdminKey")]
    [InlineData("Tollgate:PublicBaseUrl", "not a url", "Tollgate__PublicBaseUrl")]
    [InlineData("Tollgate:Providers:Default", "paypal", "Tollgate__Providers__Default")]
    [InlineData("Tollgate:Providers:Default", "stripe", "Tollgate__Providers__Stripe__SecretKey")]
    [InlineData("Tollgate:Providers:Default", "creem", "Tollgate__Providers__Creem__ApiKey")]
    [InlineData("Tollgate:Providers:Creem:ApiKey", "creem_test_abc", "Tollgate__Providers__Creem__WebhookSecret")]
    [InlineData("Tollgate:Providers:Stripe:SecretKey", "sk_test_abc", "Tollgate__Providers__Stripe__WebhookSecrets__0")]
    [InlineData("Tollgate:Subscriptions:PastDueKeepsAccess", "maybe", "Tollgate__Subscriptions__PastDueKeepsAccess")]
    [InlineData("Tollgate:Providers:Sandbox:Enabled", "maybe", "Tollgate__Providers__Sandbox__Enabled")]
    [InlineData("Tollgate:Providers:Sandbox:Enabled", "false", "Tollgate__Providers__Sandbox__Enabled")]
    [InlineData("Tollgate:Providers:Default", "apple", "Tollgate__Providers__Apple__BundleId")]
    [InlineData("Tollgate:Providers:Apple:Environment", "Sandbox", "Tollgate__Providers__Apple__BundleId")]
    [InlineData("Tollgate:Providers:Apple:RootCertificates:0", "/no/such/root.cer", "Tollgate__Providers__Apple__BundleId")]
    [InlineData("Tollgate:Retention:IdempotencyHours", "12", "Tollgate__Retention__IdempotencyHours")]
    [InlineData("Tollgate:Retention:IdempotencyHours", "a week", "Tollgate__Retention__IdempotencyHours")]
    [InlineData("Tollgate:Retention:WebhookPayloadDays", "-1", "Tollgate__Retention__WebhookPayloadDays")]
    [InlineData("Tollgate:Retention:BatchSize", "0", "Tollgate__Retention__BatchSize")]
    [InlineData("Tollgate:Ledger:Lanes", "0", "Tollgate__Ledger__Lanes")]
    [InlineData("Tollgate:Ledger:Lanes", "65", "Tollgate__Ledger__Lanes")]
    [InlineData("Tollgate:Ledger:Lanes", "four", "Tollgate__Ledger__Lanes")]
    // The database is SQLite (the default): one writer, one lane.
    [InlineData("Tollgate:Ledger:Lanes", "2", "Tollgate__Ledger__Lanes")]
    public void ABadSetting_IsReportedWithItsKey(string key, string value, string reportedKey)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [key] = value }).Build();

        var error = Assert.Throws<ConfigurationException>(() => TollgateSettings.Read(configuration));

        Assert.Equal(reportedKey, error.Key);
        Assert.StartsWith(reportedKey + ": ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LedgerLanes_AreOneOnSQLite_TheDefaultOnPostgreSQL_OrAsSet()
    {
        static TollgateSettings Read(params (string Key, string Value)[] values) => TollgateSettings.Read(new ConfigurationBuilder()
            .AddInMemoryCollection(values.ToDictionary(v => v.Key, v => (string?)v.Value)).Build());
        (string, string)[] postgres = [("Tollgate:Database:Provider", "postgres"), ("Tollgate:Database:ConnectionString", "Host=db")];

        Assert.Equal(1, Read().LedgerLanesOrDefault);
        Assert.Equal(1, Read(("Tollgate:Ledger:Lanes", "1")).LedgerLanesOrDefault);
        Assert.Equal(TollgateSettings.DefaultPostgresLanes, Read(postgres).LedgerLanesOrDefault);
        Assert.Equal(3, Read([.. postgres, ("Tollgate:Ledger:Lanes", "3")]).LedgerLanesOrDefault);
    }

    [Fact]
    public void Retention_DefaultsToAWeekOfReplaysAnd90DaysOfPayloads_AndReadsItsSettings()
    {
        var defaults = TollgateSettings.Read(new ConfigurationBuilder().Build()).RetentionOrDefault;
        Assert.Equal(TimeSpan.FromDays(7), defaults.IdempotencyWindow);
        Assert.Equal(TimeSpan.FromDays(90), defaults.WebhookPayloadWindow);

        var set = TollgateSettings.Read(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Tollgate:Retention:IdempotencyHours"] = "24",
            ["Tollgate:Retention:WebhookPayloadDays"] = "0",
            ["Tollgate:Retention:BatchSize"] = "200",
        }).Build()).RetentionOrDefault;
        Assert.Equal(new Tollgate.Storage.Stores.RetentionOptions(TimeSpan.FromHours(24), null, 200), set);
    }

    [Theory]
    [InlineData("Environment", "Staging", "Tollgate__Providers__Apple__Environment")]
    [InlineData("OnlineChecks", "often", "Tollgate__Providers__Apple__OnlineChecks")]
    [InlineData("RootCertificates:0", "/no/such/root.cer", "Tollgate__Providers__Apple__RootCertificates__0")]
    [InlineData("RootCertificates:0", "NOT_A_CERTIFICATE", "Tollgate__Providers__Apple__RootCertificates__0")]
    public void ABadAppleSetting_IsReportedWithItsKey(string key, string value, string reportedKey)
    {
        var notACertificate = Path.Combine(Path.GetTempPath(), $"not-a-cert-{Guid.NewGuid():N}.cer");
        File.WriteAllText(notACertificate, "hello");
        try
        {
            var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Tollgate:Providers:Apple:BundleId"] = "com.example.app",
                ["Tollgate:Providers:Apple:" + key] = value == "NOT_A_CERTIFICATE" ? notACertificate : value,
            }).Build();

            var error = Assert.Throws<ConfigurationException>(() => TollgateSettings.Read(configuration));

            Assert.Equal(reportedKey, error.Key);
        }
        finally
        {
            File.Delete(notACertificate);
        }
    }

    [Fact]
    public void AppleAlone_CanBeTheDefault_ForAnAppOnlySetUp()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Tollgate:Providers:Default"] = "apple",
            ["Tollgate:Providers:Apple:BundleId"] = "com.example.app",
            ["Tollgate:Providers:Apple:Environment"] = "Sandbox",
        }).Build();

        var settings = TollgateSettings.Read(configuration);
        var apple = settings.Providers.Get<Tollgate.Providers.Apple.AppleOptions>("apple")!;

        Assert.Equal(("apple", "com.example.app", Tollgate.Providers.Apple.AppleEnvironment.Sandbox, 0, false),
            (settings.Providers.Default, apple.BundleId, apple.Environment, apple.AdditionalRoots.Count, apple.OnlineRevocationChecks));
    }

    [Fact]
    public void NoConfiguration_MeansSqliteSandboxAndTheDemoCatalog()
    {
        var settings = TollgateSettings.Read(new ConfigurationBuilder().Build());

        Assert.Equal((DatabaseProvider.Sqlite, "Data Source=tollgate.db"), (settings.Database.Provider, settings.Database.ConnectionString));
        Assert.Equal(("sandbox", true), (settings.Providers.Default, settings.Providers.SandboxEnabled));
        Assert.Empty(settings.ApiKeys);
        Assert.Equal(5, settings.LoadCatalog().Plans.Count);
    }

    private static TollgateSettings Read(params (string Key, string Value)[] settings) =>
        TollgateSettings.Read(new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => KeyValuePair.Create(s.Key, (string?)s.Value))).Build());

    private static readonly (string, string)[] Creem =
        [("Tollgate:Providers:Creem:ApiKey", "creem_test_abc"), ("Tollgate:Providers:Creem:WebhookSecret", "whsec_abc")];

    private static readonly (string, string)[] Stripe =
        [("Tollgate:Providers:Stripe:SecretKey", "sk_test_abc"), ("Tollgate:Providers:Stripe:WebhookSecrets:0", "whsec_abc")];

    [Fact]
    public void Bug9_3_WithARealProviderConfigured_TheSandboxIsOff_AndTheRealProviderIsTheDefault()
    {
        var creem = Read(Creem);
        var stripe = Read(Stripe);

        Assert.Equal(("creem", false), (creem.Providers.Default, creem.Providers.SandboxEnabled));
        Assert.Equal(["creem"], creem.Providers.LiveIds);
        Assert.Equal(("stripe", false), (stripe.Providers.Default, stripe.Providers.SandboxEnabled));
    }

    [Fact]
    public void Bug9_3_TheSandboxBesideARealProvider_OnlyWhenAnOperatorTurnsItOn()
    {
        var beside = Read([.. Creem, ("Tollgate:Providers:Sandbox:Enabled", "true")]);
        var asDefault = Read([.. Creem, ("Tollgate:Providers:Sandbox:Enabled", "true"), ("Tollgate:Providers:Default", "sandbox")]);
        var refused = Assert.Throws<ConfigurationException>(() => Read([.. Creem, ("Tollgate:Providers:Default", "sandbox")]));

        Assert.Equal(("creem", true), (beside.Providers.Default, beside.Providers.SandboxEnabled));
        Assert.Equal(["creem", "sandbox"], beside.Providers.LiveIds);
        Assert.Equal(("sandbox", true), (asDefault.Providers.Default, asDefault.Providers.SandboxEnabled));
        Assert.Equal("Tollgate__Providers__Sandbox__Enabled", refused.Key);
    }

    [Fact]
    public void TwoRealProvidersAndNoDefault_IsAMisconfiguration_NamingTheKey()
    {
        var error = Assert.Throws<ConfigurationException>(() => Read([.. Creem, .. Stripe]));
        var named = Read([.. Creem, .. Stripe, ("Tollgate:Providers:Default", "stripe")]);

        Assert.Equal("Tollgate__Providers__Default", error.Key);
        Assert.Equal(("stripe", false), (named.Providers.Default, named.Providers.SandboxEnabled));
    }

    [Fact]
    public void ABrokenCatalogFile_IsReportedWithTheFileAndPath()
    {
        var file = Path.Combine(Path.GetTempPath(), $"catalog-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, "features:\n  credits: { type: credits, limt: 3 }\n");
        try
        {
            var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Tollgate:Catalog"] = file }).Build();
            var error = Assert.Throws<ConfigurationException>(() => TollgateSettings.Read(configuration).LoadCatalog());

            Assert.Equal("Tollgate__Catalog", error.Key);
            Assert.Contains($"{file}: features.credits.limt: unknown key", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task TheServer_RefusesToStartOnABadSetting_WithOneLineAndNoStackTrace()
    {
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "tollgate.dll")])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            WorkingDirectory = Path.GetTempPath(),
        };
        start.Environment["Tollgate__Database__Provider"] = "oracle";
        using var process = Process.Start(start)!;
        var stderr = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();

        Assert.Equal(2, process.ExitCode);
        Assert.Equal("tollgate: configuration error: Tollgate__Database__Provider: 'oracle' is not a database provider; use sqlite or postgres.",
            stderr.Trim());
    }
}
