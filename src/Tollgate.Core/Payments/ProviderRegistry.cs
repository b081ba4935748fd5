namespace Tollgate.Core.Payments;

/// <summary>The payment providers this Tollgate has enabled, and which one new checkouts use by default.</summary>
public sealed class ProviderRegistry
{
    private readonly Dictionary<string, IPaymentProvider> _providers;

    /// <summary>The enabled providers; <paramref name="defaultProvider"/> must be one of them.</summary>
    public ProviderRegistry(IEnumerable<IPaymentProvider> providers, string defaultProvider)
    {
        _providers = providers.ToDictionary(p => p.Id, StringComparer.Ordinal);
        if (!_providers.ContainsKey(defaultProvider))
        {
            throw new ArgumentException($"The default provider '{defaultProvider}' is not enabled.", nameof(defaultProvider));
        }

        Default = defaultProvider;
    }

    /// <summary>The provider a checkout uses when it names none.</summary>
    public string Default { get; }

    /// <summary>Every enabled provider.</summary>
    public IReadOnlyCollection<string> Enabled => _providers.Keys;

    /// <summary>The enabled provider with this id, or null.</summary>
    public IPaymentProvider? Find(string id) => _providers.GetValueOrDefault(id);
}
