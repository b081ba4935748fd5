using Tollgate.Core.Catalog;
using Tollgate.Core.Payments;
using Tollgate.Server.Web;

namespace Tollgate.Server.Pages.Admin;

public sealed class PaymentsModel(IPaymentStore payments, ProductCatalog catalog) : AdminPageModel
{
    public IReadOnlyList<Payment> Flagged { get; private set; } = [];

    public ProductCatalog Catalog => catalog;

    public async Task OnGetAsync() => Flagged = await payments.ListFlaggedPaymentsAsync(200, HttpContext.RequestAborted);
}
