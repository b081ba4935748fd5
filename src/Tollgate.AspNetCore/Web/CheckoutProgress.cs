using Tollgate.Core.Catalog;
using Tollgate.Core.Common;
using Tollgate.Core.Payments;

namespace Tollgate.Server.Web;

/// <summary>What the checkout return page shows: the checkout's status as the provider's webhook left it, and what
/// the purchase granted once it is applied. No ids of the customer, no provider secrets.</summary>
public sealed record CheckoutStatusView(string Status, string Product, string ProductName, IReadOnlyList<string> Granted, string? Failure);

public static class CheckoutProgress
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

    public static CheckoutStatusView View(Checkout checkout, ProductCatalog catalog, Texts t)
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
        return new CheckoutStatusView(SnakeCase<CheckoutStatus>.Name(checkout.Status), checkout.Product,
            t.Name(Catalogs.ProductName(catalog, checkout.Product)), granted, failure);
    }

    public static IEndpointRouteBuilder MapCheckoutStatus(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/checkout/status/{id}", async (string id, HttpContext http, CheckoutService checkouts, PortalSessions sessions,
            ProductCatalog catalog, Texts t) =>
        {
            http.Response.Headers.CacheControl = "no-store";
            return await FindAsync(id, http, checkouts, sessions) is { } checkout
                ? Results.Json(View(checkout, catalog, t), Api.Http.ApiJson.Options)
                : Results.Json(new { status = "not_found" }, Api.Http.ApiJson.Options, statusCode: StatusCodes.Status404NotFound);
        }).ExcludeFromDescription();
        return endpoints;
    }
}
