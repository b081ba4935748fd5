using System.Net;
using Tollgate.Core.Catalog;
using Tollgate.Core.Payments.Sandbox;
using Tollgate.Providers.Sandbox;
using Tollgate.Server.Pages.Shared;

namespace Tollgate.Server.Pages.Sandbox;

/// <summary>The Sandbox's hosted checkout page: what Creem's or Stripe's page is to a real purchase. It stands for
/// another site, so it takes no form token of Tollgate's: the unguessable session in its address is what a
/// provider's page relies on too.</summary>
internal static class SandboxPages
{
    public static IEndpointRouteBuilder MapSandboxPages(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/sandbox/checkout/{session}", async (string session, HttpContext http, ISandboxStore store, ProductCatalog catalog) =>
        {
            var t = Texts.For(Languages.Of(http));
            var checkout = await store.GetCheckoutAsync(session, http.RequestAborted);
            return checkout is null
                ? NotFound(http, t)
                : Html(StatusCodes.Status200OK, CheckoutPage(http, checkout, catalog, t, null));
        }).ExcludeFromDescription();

        endpoints.MapPost("/sandbox/checkout/{session}", async (string session, HttpContext http, SandboxBilling billing, ProductCatalog catalog) =>
        {
            var t = Texts.For(Languages.Of(http));
            var form = await http.Request.ReadFormAsync(http.RequestAborted);
            var (result, checkout) = await billing.PayAsync(session, form["card"].ToString(), http.RequestAborted);
            return result switch
            {
                _ when checkout is null => NotFound(http, t),
                SandboxPayment.Paid => Results.Redirect(checkout.SuccessUrl, permanent: false, preserveMethod: false),
                SandboxPayment.Declined => Html(StatusCodes.Status402PaymentRequired, CheckoutPage(http, checkout, catalog, t, t["sandbox.declined"])),
                SandboxPayment.InsufficientFunds => Html(StatusCodes.Status402PaymentRequired, CheckoutPage(http, checkout, catalog, t, t["sandbox.insufficient"])),
                SandboxPayment.Closed => Html(StatusCodes.Status409Conflict, CheckoutPage(http, checkout, catalog, t, null)),
                _ => Html(StatusCodes.Status400BadRequest, CheckoutPage(http, checkout, catalog, t, t["sandbox.unknown_card"])),
            };
        }).DisableAntiforgery().ExcludeFromDescription();

        endpoints.MapPost("/sandbox/checkout/{session}/cancel", async (string session, HttpContext http, SandboxBilling billing, ProductCatalog catalog) =>
        {
            var t = Texts.For(Languages.Of(http));
            var checkout = await billing.CancelAsync(session, http.RequestAborted);
            return checkout switch
            {
                null => NotFound(http, t),
                { Status: "canceled", CancelUrl: { } back } => Results.Redirect(back, permanent: false, preserveMethod: false),
                _ => Html(StatusCodes.Status200OK, CheckoutPage(http, checkout, catalog, t, null)),
            };
        }).DisableAntiforgery().ExcludeFromDescription();
        return endpoints;
    }

    private static IResult NotFound(HttpContext http, Texts t) =>
        Html(StatusCodes.Status404NotFound, Page(http, t, t["sandbox.notfound.title"],
            $"""<section class="card problem"><h1>{E(t["sandbox.notfound.title"])}</h1><p>{E(t["sandbox.notfound.message"])}</p></section>"""));

    private static string CheckoutPage(HttpContext http, SandboxCheckout checkout, ProductCatalog catalog, Texts t, string? error)
    {
        var name = t.Name(Catalogs.ProductName(catalog, checkout.Product));
        var price = t.Money(checkout.Amount, checkout.Currency);
        // A closed session says why in the visitor's language (paid, canceled, expired) and leads on: a paid one to the
        // app's return page, a canceled or expired one back to where the customer came from.
        var closedKey = checkout.Status is "paid" or "canceled" or "expired" ? "sandbox.closed." + checkout.Status : "sandbox.closed.other";
        var onward = checkout.Status == "paid" ? checkout.SuccessUrl : checkout.CancelUrl ?? checkout.SuccessUrl;
        var body = checkout.Status != "open"
            ? $"""<p class="alert alert-info" data-closed="{E(checkout.Status)}">{E(t[closedKey])}</p><p><a class="btn" href="{E(onward)}">{E(t["sandbox.continue"])}</a></p>"""
            : $"""
              {(error is null ? "" : $"<p class=\"alert alert-bad\" role=\"alert\">{E(error)}</p>")}
              <form method="post" class="stack">
                <label for="card">{E(t["sandbox.card"])}</label>
                <input id="card" name="card" inputmode="numeric" autocomplete="cc-number" aria-describedby="cards" required>
                <p id="cards" class="muted small hint">{E(t["sandbox.cards"])}</p>
                <button type="submit" class="btn btn-lg">{E(t.F("sandbox.pay", price))}</button>
              </form>
              {(checkout.CancelUrl is null ? "" : $"<form method=\"post\" action=\"/sandbox/checkout/{Uri.EscapeDataString(checkout.SessionId)}/cancel\"><button type=\"submit\" class=\"btn btn-link\">{E(t["sandbox.cancel"])}</button></form>")}
              """;
        return Page(http, t, t.F("sandbox.title", name), $"""
            <section class="card sandbox" aria-labelledby="sandbox-title">
              <p><span class="badge badge-warn">{E(t["sandbox.badge"])}</span></p>
              <h1 id="sandbox-title">{E(name)}</h1>
              <p class="price">{E(price)}{(catalog.PlansById.GetValueOrDefault(checkout.Product) is { } plan ? $" <span class=\"per\">{E(t.Interval(plan.Interval))}</span>" : "")}</p>
              {body}
            </section>
            """);
    }

    private static string Page(HttpContext http, Texts t, string title, string content) => HtmlShell.Render(http, t, title, content, "Tollgate Sandbox");

    private static IResult Html(int status, string html) => Results.Content(html, "text/html; charset=utf-8", statusCode: status);

    private static string E(string value) => WebUtility.HtmlEncode(value);
}
