using Tollgate.Core.Catalog;
using Tollgate.Core.Customers;
using Tollgate.Core.Payments;
using Tollgate.Core.Subscriptions;
using Tollgate.Core.Usage;
using Tollgate.Server.Api.Http;
using Tollgate.Server.Sessions;
using Tollgate.Server.Hosting;
using Tollgate.Server.Payments;

namespace Tollgate.Server.Api;

internal sealed record CheckoutBody(string? CustomerId, string? Product, string? Provider, string? SuccessUrl, string? CancelUrl, Dictionary<string, string>? Metadata,
    long? Quantity = null);

internal sealed record EnsureBody(string? CustomerId, string? Capability, string? Product, string? SuccessUrl);

internal sealed record CancelBody(bool? AtPeriodEnd);

internal sealed record ChangeBody(string? Plan, string? Policy);

internal sealed record CheckoutView(string Id, string Provider, string ProviderCheckoutId, string Url, string Status, string CustomerId, string Product,
    string? Failure, DateTimeOffset CreatedAt, DateTimeOffset? CompletedAt, GrantedView? Granted);

internal sealed record GrantedView(long? Credits, string? Plan);

internal sealed record EnsureView(bool AlreadyHasAccess, string? CheckoutId, string? CheckoutUrl);

internal sealed record AcceptedView(string Id, string Status, string Detail);

internal sealed record PortalView(string Url, DateTimeOffset ExpiresAt);

/// <summary><c>/v1/checkouts</c>, <c>/v1/access/ensure</c>, subscription actions and the portal link.</summary>
internal static class PaymentsApi
{
    /// <summary>The most seats one subscription may bill: a typo guard, far above any real organization.</summary>
    private const long MaxQuantity = 100_000;

    public static RouteGroupBuilder MapPaymentsApi(this RouteGroupBuilder v1)
    {
        v1.MapPost("/checkouts", async (HttpContext http, CheckoutService checkouts, ProductCatalog catalog) =>
        {
            var (body, problem) = await RequestBody.ReadAsync<CheckoutBody>(http);
            problem ??= Validate.First(Validate.CustomerId(body!.CustomerId), Validate.Required(body.Product, "product"), Validate.Metadata(body.Metadata),
                Url(body.SuccessUrl, "success_url"), Url(body.CancelUrl, "cancel_url"),
                body.Quantity is < 1 or > MaxQuantity ? Problems.InvalidRequest($"quantity must be from 1 to {MaxQuantity}.") : null);
            if (problem is not null)
            {
                return problem;
            }

            var outcome = await checkouts.CreateAsync(new CheckoutCommand(body!.CustomerId!, body.Product!)
            {
                Provider = body.Provider,
                SuccessUrl = body.SuccessUrl,
                CancelUrl = body.CancelUrl,
                Metadata = body.Metadata,
                Quantity = body.Quantity,
            }, http.RequestAborted);
            return outcome.Checkout is { } checkout
                ? ApiResult.Json(StatusCodes.Status201Created, View(checkout, catalog))
                : CheckoutProblem(outcome);
        }).JsonBody<CheckoutBody>().Produces<CheckoutView>(StatusCodes.Status201Created).WithName("createCheckout")
            .Refuses(404, "unknown_product").Refuses(409, "not_eligible").Refuses(502, "provider_error");

        v1.MapGet("/checkouts/{id}", async (string id, CheckoutService checkouts, ProductCatalog catalog, CancellationToken ct) =>
            await checkouts.GetAsync(id, ct) is { } checkout
                ? ApiResult.Ok(View(checkout, catalog))
                : Problems.NotFound("checkout_not_found", $"No checkout {id}.")).Produces<CheckoutView>().WithName("getCheckout")
            .Refuses(404, "checkout_not_found");

        v1.MapPost("/access/ensure", async (HttpContext http, Gate gate, CheckoutService checkouts) =>
        {
            var (body, problem) = await RequestBody.ReadAsync<EnsureBody>(http);
            problem ??= Validate.First(Validate.CustomerId(body!.CustomerId), Validate.Required(body.Capability, "capability"),
                Validate.Required(body.Product, "product"), Url(body.SuccessUrl, "success_url"));
            if (problem is not null)
            {
                return problem;
            }

            if ((await gate.CapabilitiesAsync(body!.CustomerId!, http.RequestAborted)).Contains(body.Capability!))
            {
                return ApiResult.Ok(new EnsureView(true, null, null));
            }

            var outcome = await checkouts.CreateAsync(new CheckoutCommand(body.CustomerId!, body.Product!) { SuccessUrl = body.SuccessUrl }, http.RequestAborted);
            return outcome.Checkout is { } checkout ? ApiResult.Ok(new EnsureView(false, checkout.Id, checkout.Url)) : CheckoutProblem(outcome);
        }).JsonBody<EnsureBody>().Produces<EnsureView>().WithName("ensureAccess")
            .Refuses(404, "unknown_product").Refuses(409, "not_eligible").Refuses(502, "provider_error");

        v1.MapPost("/subscriptions/{id}/cancel", async (string id, HttpContext http, SubscriptionActions actions) =>
        {
            var (body, problem) = await RequestBody.ReadAsync<CancelBody>(http, allowEmpty: true);
            return problem ?? Answer(id, await actions.CancelAsync(id, body?.AtPeriodEnd ?? true, http.RequestAborted));
        }).JsonBody<CancelBody>().Produces<AcceptedView>(StatusCodes.Status202Accepted).WithName("cancelSubscription")
            .Refuses(404, "subscription_not_found").Refuses(409, "conflict").Refuses(502, "provider_error");

        v1.MapPost("/subscriptions/{id}/resume", async (string id, SubscriptionActions actions, CancellationToken ct) =>
            Answer(id, await actions.ResumeAsync(id, ct))).Produces<AcceptedView>(StatusCodes.Status202Accepted).WithName("resumeSubscription")
            .Refuses(404, "subscription_not_found").Refuses(409, "conflict").Refuses(502, "provider_error");

        v1.MapPost("/subscriptions/{id}/change", async (string id, HttpContext http, SubscriptionActions actions) =>
        {
            var (body, problem) = await RequestBody.ReadAsync<ChangeBody>(http);
            problem ??= Validate.Required(body!.Plan, "plan");
            var policy = body?.Policy switch
            {
                null or "immediate" => PlanChangePolicy.Immediate,
                "next_cycle" => PlanChangePolicy.NextCycle,
                _ => (PlanChangePolicy?)null,
            };
            if (problem is null && policy is null)
            {
                problem = Problems.InvalidRequest("policy must be immediate or next_cycle.");
            }

            return problem ?? Answer(id, await actions.ChangeAsync(id, body!.Plan!, policy!.Value, http.RequestAborted));
        }).JsonBody<ChangeBody>().Produces<AcceptedView>(StatusCodes.Status202Accepted).WithName("changeSubscription")
            .Refuses(404, "subscription_not_found", "unknown_product").Refuses(409, "conflict").Refuses(502, "provider_error");

        v1.MapPost("/subscriptions/{id}/quantity", async (string id, HttpContext http, SubscriptionActions actions) =>
        {
            var (body, problem) = await RequestBody.ReadAsync<QuantityBody>(http);
            problem ??= Validate.Required(body!.Quantity, "quantity");
            if (problem is null && body!.Quantity is < 1 or > MaxQuantity)
            {
                problem = Problems.InvalidRequest($"quantity must be from 1 to {MaxQuantity}.");
            }

            var policy = body?.Policy switch
            {
                null or "immediate" => PlanChangePolicy.Immediate,
                "next_cycle" => PlanChangePolicy.NextCycle,
                _ => (PlanChangePolicy?)null,
            };
            if (problem is null && policy is null)
            {
                problem = Problems.InvalidRequest("policy must be immediate or next_cycle.");
            }

            return problem ?? Answer(id, await actions.ChangeQuantityAsync(id, body!.Quantity!.Value, policy!.Value, http.RequestAborted));
        }).JsonBody<QuantityBody>().Produces<AcceptedView>(StatusCodes.Status202Accepted).WithName("changeSubscriptionQuantity")
            .Refuses(400, "invalid_request").Refuses(404, "subscription_not_found").Refuses(409, "conflict").Refuses(502, "provider_error");

        v1.MapPost("/customers/{id}/portal", async (string id, ICustomerStore customers, PortalTokens tokens, PublicUrls urls, CancellationToken ct) =>
        {
            if (Validate.CustomerId(id, "id") is { } problem)
            {
                return problem;
            }

            if (await customers.GetAsync(id, ct) is null)
            {
                return Problems.NotFound("customer_not_found", $"No customer '{id}'.");
            }

            var (token, expires) = await tokens.IssueAsync(id, ct);
            return ApiResult.Ok(new PortalView(new Uri(urls.Base, "portal?token=" + Uri.EscapeDataString(token)).ToString(), expires));
        }).Produces<PortalView>().WithName("createPortalLink").Refuses(400, "invalid_request").Refuses(404, "customer_not_found");

        return v1;
    }

    private static ApiResult Answer(string id, ActionOutcome outcome) => outcome.Result switch
    {
        ActionResult.Accepted => ApiResult.Json(StatusCodes.Status202Accepted, new AcceptedView(id, "pending", outcome.Message)),
        ActionResult.NotFound => Problems.NotFound(outcome.Message.StartsWith("No subscription", StringComparison.Ordinal) ? "subscription_not_found" : "unknown_product",
            outcome.Message),
        ActionResult.Conflict => Problems.Create(409, "conflict", "The request conflicts with the subscription's state.", outcome.Message),
        _ => Problems.Create(502, "provider_error", "The payment provider refused or failed.", outcome.Message),
    };

    private static ApiResult CheckoutProblem(CheckoutOutcome outcome) =>
        outcome.Refusal is { } refusal ? Refusals.Problem(refusal, outcome.Message) : Problems.InvalidRequest(outcome.Message!);

    private static ApiResult? Url(string? value, string field) =>
        value is null || (Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https")
            ? null
            : Problems.InvalidRequest($"{field} must be an absolute http(s) URL.");

    internal static CheckoutView View(Checkout c, ProductCatalog catalog)
    {
        GrantedView? granted = null;
        if (c.Status == CheckoutStatus.Completed)
        {
            granted = catalog.PacksById.TryGetValue(c.Product, out var pack) ? new GrantedView(pack.Credits, null) : new GrantedView(null, c.Product);
        }

        return new CheckoutView(c.Id, c.Provider, c.ProviderCheckoutId, c.Url, Core.Common.SnakeCase<CheckoutStatus>.Name(c.Status), c.CustomerId, c.Product,
            c.Failure, c.CreatedAt, c.CompletedAt, granted);
    }

}
