using System.Globalization;
using System.Net;
using Tollgate.Core.Catalog;
using Tollgate.Core.Payments.Sandbox;

namespace Tollgate.Server.Payments.Sandbox;

/// <summary>The Sandbox's hosted checkout page: what Creem's or Stripe's page is to a real purchase.</summary>
public static class SandboxPages
{
    public static IEndpointRouteBuilder MapSandboxPages(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/sandbox/checkout/{session}", async (string session, ISandboxStore store, ProductCatalog catalog, CancellationToken ct) =>
        {
            var checkout = await store.GetCheckoutAsync(session, ct);
            return checkout is null
                ? Html(StatusCodes.Status404NotFound, Page("Checkout not found", "<p>This Sandbox checkout does not exist.</p>"))
                : Html(StatusCodes.Status200OK, CheckoutPage(checkout, catalog, null));
        }).ExcludeFromDescription();

        endpoints.MapPost("/sandbox/checkout/{session}", async (string session, HttpContext http, SandboxBilling billing, ProductCatalog catalog) =>
        {
            var form = await http.Request.ReadFormAsync(http.RequestAborted);
            var (result, checkout) = await billing.PayAsync(session, form["card"].ToString(), http.RequestAborted);
            return result switch
            {
                _ when checkout is null => Html(StatusCodes.Status404NotFound, Page("Checkout not found", "<p>This Sandbox checkout does not exist.</p>")),
                SandboxPayment.Paid => Results.Redirect(checkout.SuccessUrl, permanent: false, preserveMethod: false),
                SandboxPayment.Declined => Html(StatusCodes.Status402PaymentRequired, CheckoutPage(checkout, catalog, "Your card was declined. Nothing was charged.")),
                SandboxPayment.InsufficientFunds => Html(StatusCodes.Status402PaymentRequired, CheckoutPage(checkout, catalog, "Your card has insufficient funds. Nothing was charged.")),
                SandboxPayment.Closed => Html(StatusCodes.Status409Conflict, CheckoutPage(checkout, catalog, "This checkout is already paid.")),
                _ => Html(StatusCodes.Status400BadRequest, CheckoutPage(checkout, catalog,
                    "Use a Sandbox test card: 4242 4242 4242 4242 pays, 4000 0000 0000 0002 is declined, 4000 0000 0000 9995 has insufficient funds.")),
            };
        }).DisableAntiforgery().ExcludeFromDescription();
        return endpoints;
    }

    private static string CheckoutPage(SandboxCheckout checkout, ProductCatalog catalog, string? error)
    {
        var name = catalog.PlansById.GetValueOrDefault(checkout.Product)?.Name ?? catalog.PacksById.GetValueOrDefault(checkout.Product)?.Name ?? checkout.Product;
        var price = (checkout.Amount / 100m).ToString("0.00", CultureInfo.InvariantCulture) + " " + checkout.Currency;
        var body = checkout.Status != "open"
            ? $"""<p class="done">This checkout is {E(checkout.Status)}.</p><p><a href="{E(checkout.SuccessUrl)}">Continue</a></p>"""
            : $"""
              {(error is null ? "" : $"<p class=\"error\" role=\"alert\">{E(error)}</p>")}
              <form method="post">
                <label for="card">Card number</label>
                <input id="card" name="card" inputmode="numeric" autocomplete="cc-number" placeholder="4242 4242 4242 4242" required>
                <button type="submit">Pay {E(price)}</button>
              </form>
              <p class="hint">Test cards: 4242 4242 4242 4242 pays · 4000 0000 0000 0002 is declined · 4000 0000 0000 9995 has insufficient funds.</p>
              {(checkout.CancelUrl is { } cancel ? $"<p><a href=\"{E(cancel)}\">Cancel and go back</a></p>" : "")}
              """;
        return Page($"Pay for {name}", $"""
            <p class="badge">Sandbox — no real money moves</p>
            <h1>{E(name)}</h1>
            <p class="price">{E(price)}{(checkout.Mode == Core.Payments.CheckoutMode.Subscription ? " per period" : "")}</p>
            {body}
            """);
    }

    private static string Page(string title, string content) => $$"""
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{E(title)}} · Tollgate Sandbox</title>
        <style>
          body { font-family: system-ui, sans-serif; max-width: 28rem; margin: 3rem auto; padding: 0 1rem; color: #1d2433; }
          .badge { display: inline-block; background: #fff4d6; color: #7a5300; padding: .2rem .6rem; border-radius: 1rem; font-size: .85rem; }
          .price { font-size: 1.5rem; font-weight: 600; }
          label { display: block; margin: 1rem 0 .3rem; }
          input { width: 100%; padding: .6rem; font-size: 1rem; box-sizing: border-box; }
          button { margin-top: 1rem; width: 100%; padding: .7rem; font-size: 1rem; background: #2f5bea; color: #fff; border: 0; border-radius: .4rem; }
          .error { background: #fde8e8; color: #8a1c1c; padding: .6rem; border-radius: .4rem; }
          .hint { color: #5b6475; font-size: .85rem; }
        </style></head>
        <body>{{content}}</body></html>
        """;

    private static IResult Html(int status, string html) => Results.Content(html, "text/html; charset=utf-8", statusCode: status);

    private static string E(string value) => WebUtility.HtmlEncode(value);
}
