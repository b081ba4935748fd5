using Tollgate.Core.Catalog;
using Tollgate.Core.Common;
using Tollgate.Core.Payments;
using Tollgate.Server.Api.Http;

namespace Tollgate.Server.Api;

/// <summary><c>GET /v1/products</c>: the plans and packs for sale, with their prices.</summary>
internal static class ProductsApi
{
    public static RouteGroupBuilder MapProductsApi(this RouteGroupBuilder v1)
    {
        v1.MapGet("/products", async (string? customer_id, string? provider, ProductCatalog catalog, PriceBook prices, ProviderRegistry providers,
            CheckoutService checkouts, Core.Subscriptions.TrialService trials, CancellationToken ct) =>
        {
            if (customer_id is not null && Validate.CustomerId(customer_id) is { } problem)
            {
                return problem;
            }

            if (provider is not null && providers.Find(provider) is null)
            {
                return Problems.InvalidRequest($"provider '{provider}' is not enabled.");
            }

            var plans = new List<PlanView>();
            foreach (var plan in catalog.Plans)
            {
                var price = plan.IsDefault ? null : await prices.PriceAsync(plan.Id, provider, ct);
                bool? eligible = customer_id is null || plan.IsDefault ? null : await checkouts.IneligibleAsync(customer_id, plan, null, ct) is null;
                bool? trialEligible = customer_id is null || plan.TrialDays is null ? null : await trials.IneligibleAsync(customer_id, plan, ct) is null;
                plans.Add(new PlanView(plan.Id, plan.Name, plan.Interval is { } i ? SnakeCase<BillingInterval>.Name(i) : null, PriceView.From(price),
                    plan.IsDefault, eligible, plan.Features.Values.ToDictionary(f => f.FeatureId, FeatureSettingView.From), plan.TrialDays, trialEligible));
            }

            var packs = new List<PackView>();
            foreach (var pack in catalog.Packs)
            {
                bool? eligible = customer_id is null ? null : await checkouts.IneligibleAsync(customer_id, null, pack, ct) is null;
                packs.Add(new PackView(pack.Id, pack.Name, pack.Credits, pack.OncePerCustomer, pack.ExpiresAfterDays, eligible,
                    PriceView.From(await prices.PriceAsync(pack.Id, provider, ct))));
            }

            return ApiResult.Ok(new ProductsView(provider ?? providers.Default, plans, packs));
        }).Produces<ProductsView>().WithName("listProducts").Refuses(400, "invalid_request");
        return v1;
    }
}

internal sealed record PriceView(long Amount, string Currency, bool? Stale)
{
    public static PriceView? From(ShownPrice? price) => price is null ? null : new PriceView(price.Amount, price.Currency, price.Stale ? true : null);
}

/// <param name="Rollover">A monthly or yearly plan's credits: unused credits carry into the next paid window, up to its max.</param>
internal sealed record FeatureSettingView(bool Enabled, long? Limit, long? Grant, string? Reset, RolloverView? Rollover = null)
{
    public static FeatureSettingView From(PlanFeature f) =>
        new(f.Enabled, f.Limit, f.Grant, f.Limit is null && f.Grant is null || f.Reset == ResetInterval.Never ? null : SnakeCase<ResetInterval>.Name(f.Reset),
            f.RolloverMax is { } max ? new RolloverView(max) : null);
}

/// <summary>Catalog <c>rollover: { max }</c>: the most unused credits carried into the next paid window.</summary>
internal sealed record RolloverView(long Max);

/// <param name="TrialDays">Catalog <c>trial_days</c>: the plan's free trial, once per customer.</param>
/// <param name="TrialEligible">With <c>customer_id</c>, for a plan with a trial: whether that customer may start it now.</param>
internal sealed record PlanView(string Id, string Name, string? Interval, PriceView? Price, bool Default, bool? Eligible,
    IReadOnlyDictionary<string, FeatureSettingView> Features, int? TrialDays = null, bool? TrialEligible = null);

internal sealed record PackView(string Id, string Name, long Credits, bool OncePerCustomer, int? ExpiresAfterDays, bool? Eligible, PriceView? Price);

internal sealed record ProductsView(string Provider, IReadOnlyList<PlanView> Plans, IReadOnlyList<PackView> Packs);
