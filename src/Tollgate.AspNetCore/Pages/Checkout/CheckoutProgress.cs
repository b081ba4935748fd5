using Tollgate.Core.Catalog;
using Tollgate.Core.Common;
using Tollgate.Core.Payments;
using Tollgate.Server.Pages.Shared;
using Tollgate.Server.Sessions;

namespace Tollgate.Server.Pages.Checkout;

// This namespace is named Checkout too; the alias keeps the engine's Checkout the one meant here.
using Checkout = Tollgate.Core.Payments.Checkout;

/// <summary>What the checkout return page shows: the checkout's status as the provider's webhook left it, and what
/// the purchase granted once it is applied. No ids of the customer, no provider secrets.</summary>
internal sealed record CheckoutStatusView(string Status, string Product, string ProductName, IReadOnlyList<string> Granted, string? Failure,
    string? Paid = null);

internal static class CheckoutProgress
{
    /// <summary>The checkout, if the visitor may see it: a signed-in portal customer sees only their own checkouts;
    /// anyone else needs its unguessable id, as with a provider's own checkout page.</summary>
    public static async Task<Checkout?> FindAsync(string? checkoutId, HttpContext http, CheckoutService checkouts, PortalSessions sessions)
    {
        if (string.IsNullOrEmpty(checkoutId) || checkoutId.Length > 100 || await checkouts.GetAsync(checkoutId, http.RequestAborted) is not { } checkout)
        {
            return null;
        }

        var session = await sessions.ResolveAsync(http);
        return session.CustomerId is null || session.CustomerId == checkout.CustomerId ? checkout : null;
    }

    /// <summary>The payment the checkout became, once the provider's webhook recorded it (for its amount, date and order
    /// number on the return page). A pack's or lifetime plan's payment names its checkout; a subscription's first
    /// payment comes with the subscription's paid event, which does not, so it is the first payment of that plan made
    /// since the checkout opened (a customer cannot hold one plan twice at once, so no other subscription's payment
    /// can be it).</summary>
    public static async Task<Payment?> PaymentOfAsync(Checkout checkout, IPaymentStore payments, CancellationToken cancellationToken)
    {
        if (checkout.Status != CheckoutStatus.Completed)
        {
            return null;
        }

        var all = await payments.ListPaymentsAsync(checkout.CustomerId, cancellationToken);
        return all.FirstOrDefault(p => p.CheckoutId == checkout.Id)
            ?? all.Where(p => p is { Kind: PaymentKind.Subscription, CheckoutId: null } && p.Product == checkout.Product && p.CreatedAt >= checkout.CreatedAt)
                .OrderBy(p => p.CreatedAt).FirstOrDefault();
    }

    public static CheckoutStatusView View(Checkout checkout, ProductCatalog catalog, Texts t, Payment? payment = null)
    {
        var granted = new List<string>();
        if (checkout.Status == CheckoutStatus.Completed)
        {
            if (catalog.PacksById.TryGetValue(checkout.Product, out var pack))
            {
                granted.Add(t.F("checkout.granted.credits", t.Number(pack.Credits)));
            }
            else if (catalog.PlansById.TryGetValue(checkout.Product, out var plan))
            {
                granted.Add(t.F("checkout.granted.plan", t.Name(plan.Name)));
                granted.AddRange(Catalogs.Allowances(plan, catalog, t));
            }
        }

        var failure = checkout.Status == CheckoutStatus.Failed ? t.Failure(checkout.Failure) : null;
        // "$19.00 paid on 1 Dec 2026 · order sbx_ord_…": what the customer will look for on a bank statement.
        var paid = payment is { Amount: { } amount, Currency: { } currency }
            ? t.F("checkout.paid", t.Money(amount, currency), t.Date(payment.CreatedAt), payment.ProviderPaymentId)
            : null;
        return new CheckoutStatusView(SnakeCase<CheckoutStatus>.Name(checkout.Status), checkout.Product,
            t.Name(Catalogs.ProductName(catalog, checkout.Product)), granted, failure, paid);
    }

    public static IEndpointRouteBuilder MapCheckoutStatus(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/checkout/status/{id}", async (string id, HttpContext http, CheckoutService checkouts, PortalSessions sessions,
            IPaymentStore payments, ProductCatalog catalog, Texts t) =>
        {
            http.Response.Headers.CacheControl = "no-store";
            return await FindAsync(id, http, checkouts, sessions) is { } checkout
                ? Results.Json(View(checkout, catalog, t, await PaymentOfAsync(checkout, payments, http.RequestAborted)), Api.Http.ApiJson.Options)
                : Results.Json(new { status = "not_found" }, Api.Http.ApiJson.Options, statusCode: StatusCodes.Status404NotFound);
        }).ExcludeFromDescription();
        return endpoints;
    }
}
