using Tollgate.Core.Catalog;
using Tollgate.Core.Common;
using Tollgate.Server.Api.Http;

namespace Tollgate.Server.Api;

/// <summary><c>GET /v1/products</c>: the plans and packs for sale, with their prices.</summary>
public static class ProductsApi
{
    public static RouteGroupBuilder MapProductsApi(this RouteGroupBuilder v1)
    {
        v1.MapGet("/products", (string? customer_id, ProductCatalog catalog) =>
        {
            if (customer_id is not null && Validate.CustomerId(customer_id) is { } problem)
            {
                return problem;
            }

            return ApiResult.Ok(new ProductsView(
                catalog.Plans.Select(p => new PlanView(p.Id, p.Name, p.Interval is { } i ? SnakeCase<BillingInterval>.Name(i) : null,
                    PriceView.From(p.Price), p.IsDefault, p.Features.Values.ToDictionary(f => f.FeatureId, FeatureSettingView.From))).ToList(),
                catalog.Packs.Select(p => new PackView(p.Id, p.Name, p.Credits, p.OncePerCustomer, p.ExpiresAfterDays,
                    customer_id is null ? null : true, PriceView.From(p.Price))).ToList()));
        }).Produces<ProductsView>();
        return v1;
    }
}

public sealed record PriceView(long Amount, string Currency, bool Stale = false)
{
    public static PriceView? From(Money? price) => price is { } p ? new PriceView(p.Amount, p.Currency) : null;
}

public sealed record FeatureSettingView(bool Enabled, long? Limit, long? Grant, string? Reset)
{
    public static FeatureSettingView From(PlanFeature f) =>
        new(f.Enabled, f.Limit, f.Grant, f.Limit is null && f.Grant is null || f.Reset == ResetInterval.Never ? null : SnakeCase<ResetInterval>.Name(f.Reset));
}

public sealed record PlanView(string Id, string Name, string? Interval, PriceView? Price, bool Default, IReadOnlyDictionary<string, FeatureSettingView> Features);

public sealed record PackView(string Id, string Name, long Credits, bool OncePerCustomer, int? ExpiresAfterDays, bool? Eligible, PriceView? Price);

public sealed record ProductsView(IReadOnlyList<PlanView> Plans, IReadOnlyList<PackView> Packs);
