using System.Security.Cryptography;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Tollgate.Core.Catalog;
using Tollgate.Core.Idempotency;
using Tollgate.Core.Payments;
using Tollgate.Core.Payments.Sandbox;

namespace Tollgate.Providers.Sandbox;

/// <summary>
/// The Sandbox as a plug-in: a test provider (live alone, or beside a real one only with
/// <c>Tollgate__Providers__Sandbox__Enabled=true</c>) that sells the catalog's own ids at the catalog's prices. Its host
/// supplies an <see cref="ISandboxHost"/> and an <see cref="ISandboxStore"/>, and serves its checkout page.
/// </summary>
public sealed class SandboxPlugin : ProviderPlugin
{
    /// <summary>The Sandbox's provider id.</summary>
    public const string ProviderId = "sandbox";

    /// <inheritdoc/>
    public override string Id => ProviderId;

    /// <inheritdoc/>
    public override string Section => "Sandbox";

    /// <inheritdoc/>
    public override CatalogMapping Catalog { get; } = new(ProviderId, null);

    /// <inheritdoc/>
    public override ProviderKind Kind => ProviderKind.Test;

    /// <inheritdoc/>
    public override string RequiredSetting => "Enabled";

    /// <summary>The Sandbox has nothing to configure beyond being on, which <see cref="ProviderKind.Test"/> decides.</summary>
    public override object? ReadSettings(IConfigurationSection section) => SandboxOptions.Instance;

    /// <inheritdoc/>
    public override void AddServices(IServiceCollection services)
    {
        services.AddSingleton<SandboxSecret>();
        services.AddSingleton(sp => new SandboxBilling(sp.GetRequiredService<ISandboxStore>(), sp.GetRequiredService<ProductCatalog>(),
            sp.GetRequiredService<ISandboxHost>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<SandboxSecret>().GetAsync,
            sp.GetRequiredService<ILogger<SandboxBilling>>()));
    }

    /// <inheritdoc/>
    public override IPaymentProvider Create(object settings, IServiceProvider services) =>
        new SandboxProvider(services.GetRequiredService<ISandboxStore>(), services.GetRequiredService<ProductCatalog>(),
            services.GetRequiredService<ISandboxHost>(), services.GetRequiredService<SandboxBilling>(), services.GetRequiredService<TimeProvider>(),
            services.GetRequiredService<SandboxSecret>().GetAsync);
}

/// <summary>The Sandbox's settings: none yet.</summary>
public sealed record SandboxOptions
{
    /// <summary>The one instance.</summary>
    public static SandboxOptions Instance { get; } = new();
}

/// <summary>The Sandbox's webhook signing secret, created once and kept in the database.</summary>
public sealed class SandboxSecret(ISettingsStore settings)
{
    private Task<string>? _secret;

    /// <summary>The secret, created on first use.</summary>
    public Task<string> GetAsync() =>
        _secret ??= settings.GetOrAddAsync("sandbox_webhook_secret", "sbx_whsec_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24)), CancellationToken.None);
}
