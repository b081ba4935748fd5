using Microsoft.AspNetCore.Mvc;
using Tollgate.Core.Catalog;
using Tollgate.Core.Payments;
using Tollgate.Server.Sessions;
using Tollgate.Server.Pages.Shared;

namespace Tollgate.Server.Pages.Checkout;

/// <summary>
/// Where the provider sends the buyer back. Coming back proves nothing, so this page grants nothing: it shows the
/// checkout as the provider's webhook left it, and while that has not arrived it says so and asks again.
/// </summary>
internal sealed class ReturnModel(CheckoutService checkouts, PortalSessions sessions, IPaymentStore payments, ProductCatalog catalog, Texts t)
    : TollgatePageModel
{
    public string CheckoutId { get; private set; } = "";

    public CheckoutStatusView View { get; private set; } = null!;

    public bool SignedIn { get; private set; }

    public async Task<IActionResult> OnGetAsync([FromQuery(Name = "checkout_id")] string? checkoutId)
    {
        if (await CheckoutProgress.FindAsync(checkoutId, HttpContext, checkouts, sessions) is not { } checkout)
        {
            return Problem(new ProblemView(StatusCodes.Status404NotFound, "checkout.notfound.title", "checkout.notfound.message", "checkout.to_pricing", "/pricing"));
        }

        CheckoutId = checkout.Id;
        View = CheckoutProgress.View(checkout, catalog, t, await CheckoutProgress.PaymentOfAsync(checkout, payments, HttpContext.RequestAborted));
        SignedIn = (await sessions.ResolveAsync(HttpContext)).CustomerId is not null;
        return Page();
    }
}
