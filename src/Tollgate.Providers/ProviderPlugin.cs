using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Tollgate.Core.Catalog;
using Tollgate.Core.Payments;

namespace Tollgate.Providers;

/// <summary>How a provider takes payments, which decides when it is live and which one is the default.</summary>
public enum ProviderKind
{
    /// <summary>Hosted web checkouts (Creem, Stripe): live when configured; with exactly one configured, the default.</summary>
    Web,

    /// <summary>Sells only inside an app (the App Store): live when configured; the default only when no web provider is.</summary>
    InApp,

    /// <summary>Takes test payments (the Sandbox): live when no real provider is configured, or when an operator turns it
    /// on with <c>Tollgate__Providers__&lt;Section&gt;__Enabled</c>; never live by default beside a real one, where a
    /// test card would buy anything.</summary>
    Test,
}

/// <summary>
/// A payment provider as a plug-in: everything the engine needs to know of it is here — its id, the key of its catalog
/// mapping, how it reads its settings, and how its <see cref="IPaymentProvider"/> (webhook verification and parsing,
/// checkouts) is built. Adding a provider is its folder plus one line in <see cref="ProviderPlugins.BuiltIn"/>.
/// </summary>
public abstract class ProviderPlugin
{
    /// <summary>The provider id: <c>/webhooks/{id}</c>, the catalog's <c>providers.{id}</c>, the API's <c>provider</c>.</summary>
    public abstract string Id { get; }

    /// <summary>The configuration section under <c>Tollgate:Providers</c> (<c>Stripe</c>).</summary>
    public abstract string Section { get; }

    /// <summary>How the catalog names a product at this provider.</summary>
    public abstract CatalogMapping Catalog { get; }

    /// <summary>How it takes payments (see <see cref="ProviderKind"/>).</summary>
    public virtual ProviderKind Kind => ProviderKind.Web;

    /// <summary>The setting whose presence turns the provider on, named when it is the default and is not configured.</summary>
    public abstract string RequiredSetting { get; }

    /// <summary>Reads and checks the provider's settings from its section; null when the provider is not configured.</summary>
    /// <exception cref="ProviderSettingException">A setting is wrong; it names the key.</exception>
    public abstract object? ReadSettings(IConfigurationSection section);

    /// <summary>Registers what the provider needs besides itself (the Sandbox's own billing); nothing by default. Called
    /// for every known provider, live or not, since pages may ask for these services either way.</summary>
    public virtual void AddServices(IServiceCollection services)
    {
    }

    /// <summary>Builds the provider from the settings <see cref="ReadSettings"/> returned; called once per app.</summary>
    public abstract IPaymentProvider Create(object settings, IServiceProvider services);

    /// <summary>Whether <see cref="CreateListing"/> gives a listing (the reconcile verb and page offer the provider).</summary>
    public virtual bool Reconciles => false;

    /// <summary>The read-only listing client reconciliation compares the books with; null when the provider has none.</summary>
    public virtual IProviderListing? CreateListing(object settings, HttpClient httpClient, TimeProvider timeProvider) => null;

    /// <summary>A setting's key in the environment form the documentation uses (<c>Tollgate__Providers__Stripe__SecretKey</c>).</summary>
    public string Key(string setting) => $"Tollgate__Providers__{Section}__{setting}";

    /// <summary>A trimmed value, or null when it is missing or blank.</summary>
    protected static string? Value(IConfigurationSection section, string key)
    {
        ArgumentNullException.ThrowIfNull(section);
        return string.IsNullOrWhiteSpace(section[key]) ? null : section[key]!.Trim();
    }
}

/// <summary>A wrong provider setting, reported at start-up with its key.</summary>
/// <param name="key">The key in its environment form (<see cref="ProviderPlugin.Key"/>).</param>
/// <param name="problem">What is wrong, in words an operator can act on.</param>
public sealed class ProviderSettingException(string key, string problem) : Exception($"{key}: {problem}")
{
    /// <summary>The key in its environment form.</summary>
    public string Key { get; } = key;

    /// <summary>What is wrong with it.</summary>
    public string Problem { get; } = problem;
}

/// <summary>The providers Tollgate ships with, in the order the start-up log and error messages list them.</summary>
public static class ProviderPlugins
{
    /// <summary>Sandbox, Creem, Stripe and the App Store. A new provider is one more line here.</summary>
    public static IReadOnlyList<ProviderPlugin> BuiltIn { get; } =
    [
        new Sandbox.SandboxPlugin(),
        new Creem.CreemPlugin(),
        new Stripe.StripePlugin(),
        new Apple.ApplePlugin(),
    ];

    /// <summary>The catalog mappings of <paramref name="plugins"/>, for <see cref="CatalogLoader"/>.</summary>
    public static IReadOnlyCollection<CatalogMapping> CatalogMappings(IEnumerable<ProviderPlugin> plugins) =>
        [.. plugins.Select(p => p.Catalog)];
}
