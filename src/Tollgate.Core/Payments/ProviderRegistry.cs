namespace Tollgate.Core.Payments;

/// <summary>The payment providers this Tollgate has enabled, and which one new checkouts use by default.</summary>
public sealed class ProviderRegistry
{
    private readonly Dictionary<string, IPaymentProvider> _providers;

    public ProviderRegistry(IEnumerable<IPaymentProvider> providers, string defaultProvider)
    {
        _providers = providers.ToDictionary(p => p.Id, StringComparer.Ordinal);
        if (!_providers.ContainsKey(defaultProvider))
        {
            throw new ArgumentException($"The default provider '{defaultProvider}' is not enabled.", nameof(defaultProvider));
        }

        Default = defaultProvider;
    }

    public string Default { get; }

    public IReadOnlyCollection<string> Enabled => _providers.Keys;

    public IPaymentProvider? Find(string id) => _providers.GetValueOrDefault(id);
}
