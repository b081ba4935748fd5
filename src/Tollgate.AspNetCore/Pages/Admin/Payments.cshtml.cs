using Tollgate.Core.Catalog;
using Tollgate.Core.Payments;
using Tollgate.Server.Pages.Shared;

namespace Tollgate.Server.Pages.Admin;

/// <summary>One provider whose payments are made inside the app (the App Store), with its newest payments.</summary>
internal sealed record InAppPayments(string Provider, IReadOnlyList<Payment> Payments);

internal sealed class PaymentsModel(IPaymentStore payments, ProviderRegistry providers, ProductCatalog catalog) : AdminPageModel
{
    public IReadOnlyList<Payment> Flagged { get; private set; } = [];

    /// <summary>Providers without a web checkout: their payments are seen nowhere else (no checkout led to them).</summary>
    public IReadOnlyList<InAppPayments> InApp { get; private set; } = [];

    public ProductCatalog Catalog => catalog;

    public async Task OnGetAsync()
    {
        var ct = HttpContext.RequestAborted;
        Flagged = await payments.ListFlaggedPaymentsAsync(200, ct);
        var inApp = new List<InAppPayments>();
        foreach (var provider in providers.Enabled.Order(StringComparer.Ordinal))
        {
            if (!providers.Find(provider)!.Capabilities.HasFlag(ProviderCapabilities.Checkout))
            {
                inApp.Add(new InAppPayments(provider, await payments.ListPaymentsByProviderAsync(provider, 100, ct)));
            }
        }

        InApp = inApp;
    }
}
