using Microsoft.AspNetCore.Mvc;
using Tollgate.Core.Catalog;
using Tollgate.Core.Payments;
using Tollgate.Server.Pages.Shared;

namespace Tollgate.Server.Pages.Portal;

/// <summary>A receipt for one of the signed-in customer's payments, made to be printed. Another customer's payment
/// id is answered exactly as an unknown one.</summary>
internal sealed class ReceiptModel(IPaymentStore payments, ProductCatalog catalog, Texts t) : PortalPageModel
{
    public PaymentLine Line { get; private set; } = null!;

    public async Task<IActionResult> OnGetAsync(string id)
    {
        var found = (await payments.ListPaymentsAsync(CustomerId, HttpContext.RequestAborted)).FirstOrDefault(p => p.Id == id);
        if (found is null)
        {
            return Problem(new ProblemView(StatusCodes.Status404NotFound, "payments.notfound.title", "payments.notfound.message", "payments.back", "/portal/payments"));
        }

        Line = PaymentReceipts.Line(found, catalog, t);
        return Page();
    }
}
