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
    [InlineData("Tollgate:Providers:Default", "apple", "Tollgate__Providers__Apple__BundleId")]
    [InlineData("Tollgate:Providers:Apple:Environment", "Sandbox", "Tollgate__Providers__Apple__BundleId")]
    [InlineData("Tollgate:Providers:Apple:RootCertificates:0", "/no/such/root.cer", "Tollgate__Providers__Apple__BundleId")]
    public void ABadSetting_IsReportedWithItsKey(string key, string value, string reportedKey)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [key] = value }).Build();

        var error = Assert.Throws<ConfigurationException>(() => TollgateSettings.Read(configuration));

        Assert.Equal(reportedKey, error.Key);
        Assert.StartsWith(reportedKey + ": ", error.Message, StringComparison.Ordinal);
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

        Assert.Equal(("apple", "com.example.app", Tollgate.Providers.Apple.AppleEnvironment.Sandbox, 0, false),
            (settings.Providers.Default, settings.Providers.Apple!.BundleId, settings.Providers.Apple.Environment, settings.Providers.Apple.RootCertificates.Count,
                settings.Providers.Apple.OnlineChecks));
    }

    [Fact]
    public void NoConfiguration_MeansSqliteSandboxAndTheDemoCatalog()
    {
        var settings = TollgateSettings.Read(new ConfigurationBuilder().Build());

        Assert.Equal((DatabaseProvider.Sqlite, "Data Source=tollgate.db"), (settings.Database.Provider, settings.Database.ConnectionString));
        Assert.Equal("sandbox", settings.Providers.Default);
        Assert.Empty(settings.ApiKeys);
        Assert.Equal(5, settings.LoadCatalog().Plans.Count);
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
