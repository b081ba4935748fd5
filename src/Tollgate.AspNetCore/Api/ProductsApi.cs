using Tollgate.Core.Catalog;
using Tollgate.Core.Common;
using Tollgate.Core.Payments;
using Tollgate.Server.Api.Http;
using Tollgate.Storage;

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
                plans.Add(new PlanView(plan.Id, plan.Name, catalog.Versions.Current(plan.Id), plan.Interval is { } i ? SnakeCase<BillingInterval>.Name(i) : null, PriceView.From(price),
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

        v1.MapPost("/plans/{id}/migrate", async (string id, HttpContext http, ProductCatalog catalog, TollgateDatabase database,
            Tollgate.Core.Subscriptions.SubscriptionService subscriptions) =>
        {
            var (body, problem) = await RequestBody.ReadAsync<MigrateBody>(http);
            problem ??= Validate.Text(id, "id", 200, required: true) ?? Validate.Positive(body!.FromVersion, "from_version");
            if (problem is not null)
            {
                return problem;
            }

            if (!catalog.PlansById.ContainsKey(id))
            {
                return Problems.NotFound("plan_not_found", $"No plan '{id}' in the catalog.");
            }

            // Loaded at start-up; a version stored since by a server with a newer catalog is not known here.
            var from = body!.FromVersion!.Value;
            if (from > int.MaxValue || !catalog.Versions.Has(id, (int)from) || catalog.Versions.Current(id) is not { } current)
            {
                return Problems.NotFound("version_not_found", $"Plan '{id}' has no version {from}.");
            }

            if (from >= current)
            {
                return Problems.Create(409, from == current ? "already_current" : "newer_version",
                    from == current ? "That version is the current one." : "That version is newer than this server's catalog.",
                    $"Plan '{id}' is at version {current} in this server's catalog; subscriptions move from an older version to it.");
            }

            // This server's cached views of the moved customers go; other servers hear of them through the change feed.
            var migrated = await subscriptions.MigrateVersionAsync(database.PlanVersions, id, (int)from, current, http.RequestAborted);
            return ApiResult.Ok(new MigrateView(id, (int)from, current, migrated));
        }).JsonBody<MigrateBody>().Produces<MigrateView>().WithName("migratePlan")
            .Refuses(404, "plan_not_found", "version_not_found").Refuses(409, "already_current", "newer_version");
        return v1;
    }
}

/// <param name="FromVersion">The plan version whose subscriptions move to the current one.</param>
internal sealed record MigrateBody(long? FromVersion);

/// <summary>What <c>POST /v1/plans/{id}/migrate</c> did: <paramref name="Migrated"/> subscriptions moved from
/// <paramref name="FromVersion"/> to <paramref name="ToVersion"/> (0 when none was left on it).</summary>
internal sealed record MigrateView(string Plan, int FromVersion, int ToVersion, int Migrated);

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

/// <param name="Version">The version of the plan's terms on sale now (a subscription keeps the version it was sold under).</param>
/// <param name="TrialDays">Catalog <c>trial_days</c>: the plan's free trial, once per customer.</param>
/// <param name="TrialEligible">With <c>customer_id</c>, for a plan with a trial: whether that customer may start it now.</param>
internal sealed record PlanView(string Id, string Name, int? Version, string? Interval, PriceView? Price, bool Default, bool? Eligible,
    IReadOnlyDictionary<string, FeatureSettingView> Features, int? TrialDays = null, bool? TrialEligible = null);

internal sealed record PackView(string Id, string Name, long Credits, bool OncePerCustomer, int? ExpiresAfterDays, bool? Eligible, PriceView? Price);

internal sealed record ProductsView(string Provider, IReadOnlyList<PlanView> Plans, IReadOnlyList<PackView> Packs);
