using Tollgate.Core.Catalog;
using Tollgate.Core.Payments;
using Tollgate.Server.Pages.Shared;

namespace Tollgate.Server.Pages.Portal;

/// <summary>The customer's payments, newest first: amount, date, product, what became of each (refunds, disputes).</summary>
internal sealed class PaymentsModel(IPaymentStore payments, ProductCatalog catalog, Texts t) : PortalPageModel
{
    public IReadOnlyList<PaymentLine> Lines { get; private set; } = [];

    public async Task OnGetAsync()
    {
        var all = await payments.ListPaymentsAsync(CustomerId, HttpContext.RequestAborted);
        Lines = all.OrderByDescending(p => p.CreatedAt).Select(p => PaymentReceipts.Line(p, catalog, t)).ToList();
    }
}
