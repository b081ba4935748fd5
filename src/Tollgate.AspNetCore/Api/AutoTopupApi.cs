using Tollgate.Core.Catalog;
using Tollgate.Core.Common;
using Tollgate.Core.Events;
using Tollgate.Core.Payments;
using Tollgate.Server.Api.Http;
using Tollgate.Storage;

namespace Tollgate.Server.Api;

internal sealed record AutoTopupBody(string? Feature, long? Below, string? Pack, int? MonthlyLimit);

internal sealed record AutoTopupView(string CustomerId, string Feature, long Below, string Pack, int MonthlyLimit, string Provider, bool Enabled,
    string? DisabledReason, int ChargesThisMonth, DateTimeOffset UpdatedAt);

/// <summary><c>/v1/customers/{id}/auto-topup</c> (API.md §6.3): when the feature's available balance falls below
/// <c>below</c>, the pack is charged off-session on the customer's saved payment method, at most <c>monthly_limit</c>
/// times per calendar month (UTC).</summary>
internal static class AutoTopupApi
{
    public const int MaxMonthlyLimit = 100;

    public static RouteGroupBuilder MapAutoTopupApi(this RouteGroupBuilder v1)
    {
        v1.MapPut("/customers/{id}/auto-topup", async (string id, HttpContext http, TollgateDatabase database, ProductCatalog catalog,
            ProviderRegistry providers, TimeProvider time) =>
        {
            var (body, problem) = await RequestBody.ReadAsync<AutoTopupBody>(http);
            problem ??= Validate.CustomerId(id, "id")
                ?? Validate.Text(body!.Feature, "feature", 200, required: true)
                ?? Validate.Positive(body.Below, "below")
                ?? Validate.Text(body.Pack, "pack", 200, required: true)
                ?? Validate.Positive(body.MonthlyLimit, "monthly_limit");
            if (problem is null && body!.MonthlyLimit > MaxMonthlyLimit)
            {
                problem = Problems.InvalidRequest($"monthly_limit is at most {MaxMonthlyLimit}.");
            }

            if (problem is null && catalog.PacksById.GetValueOrDefault(body!.Pack!) is null)
            {
                problem = Problems.InvalidRequest($"'{body.Pack}' is not a pack of the catalog.");
            }

            if (problem is null && body!.Feature != catalog.CreditsFeature?.Id)
            {
                problem = Problems.InvalidRequest(catalog.CreditsFeature is { } credits
                    ? $"feature must be '{credits.Id}', the feature packs fill."
                    : "The catalog sells no credits: there is nothing to top up.");
            }

            if (problem is not null)
            {
                return problem;
            }

            if (await database.Customers.GetAsync(id, http.RequestAborted) is null)
            {
                return Problems.NotFound("customer_not_found", $"No customer '{id}'.");
            }

            // The provider checkouts go to by default: the one whose saved payment method a top-up charges.
            var provider = providers.Default;
            var pack = catalog.PacksById[body!.Pack!];
            if (providers.Find(provider) is not IOffSessionCharges || pack.Providers.For(provider) is null)
            {
                return Problems.Create(409, "not_supported", "Auto top-up is not supported here.",
                    $"Provider '{provider}' cannot charge pack '{pack.Id}' off-session (auto top-up works with Stripe and the Sandbox).");
            }

            var now = Instants.Now(time);
            await database.AutoTopups.PutAsync(new AutoTopupSettings(id, body.Feature!, body.Below!.Value, pack.Id, body.MonthlyLimit!.Value, provider, true,
                null, now, now), http.RequestAborted);
            return ApiResult.Ok(await ViewAsync(database, id, time, http.RequestAborted));
        }).JsonBody<AutoTopupBody>().Produces<AutoTopupView>().WithName("putAutoTopup")
            .Refuses(400, "invalid_request").Refuses(404, "customer_not_found").Refuses(409, "not_supported");

        v1.MapGet("/customers/{id}/auto-topup", async (string id, TollgateDatabase database, TimeProvider time, CancellationToken ct) =>
            Validate.CustomerId(id, "id") ?? (await ViewAsync(database, id, time, ct) is { } view ? ApiResult.Ok(view) : NotFound(id)))
            .Produces<AutoTopupView>().WithName("getAutoTopup").Refuses(400, "invalid_request").Refuses(404, "auto_topup_not_found");

        v1.MapDelete("/customers/{id}/auto-topup", async (string id, TollgateDatabase database, CancellationToken ct) =>
            Validate.CustomerId(id, "id") ?? (await database.AutoTopups.DeleteAsync(id, ct) ? (IResult)TypedResults.NoContent() : NotFound(id)))
            .Produces(StatusCodes.Status204NoContent).WithName("deleteAutoTopup").Refuses(400, "invalid_request").Refuses(404, "auto_topup_not_found");

        return v1;
    }

    /// <summary>The customer's settings with this month's charge count, or null when there are none.</summary>
    public static async Task<AutoTopupView?> ViewAsync(TollgateDatabase database, string customerId, TimeProvider time, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(database);
        if (await database.AutoTopups.GetAsync(customerId, ct) is not { } s)
        {
            return null;
        }

        var charges = await database.AutoTopups.ChargesAsync(customerId, AutoTopupTrigger.MonthOf(time.GetUtcNow()), ct);
        return new AutoTopupView(s.CustomerId, s.Feature, s.Below, s.Pack, s.MonthlyLimit, s.Provider, s.Enabled, s.DisabledReason, charges.Count, s.UpdatedAt);
    }

    private static ApiResult NotFound(string id) => Problems.NotFound("auto_topup_not_found", $"Customer '{id}' has no auto top-up.");
}
