using System.Text.Json;
using Tollgate.Server;
using Tollgate.Server.Api.Http;

namespace Tollgate.AspNetCore.Gates;

/// <summary>
/// Runs the gates an endpoint declares: checks before the handler, holds before it and settles or releases after it.
/// A hold rather than a charge up front, so a request that fails (an exception, a status of 400 or more) costs nothing:
/// the seeds' "restore the quota when the job fails", without a refund that could race the next request.
/// </summary>
internal sealed class GateMiddleware(RequestDelegate next, ILogger<GateMiddleware> logger)
{
    private static readonly object Gated = new();

    public async Task InvokeAsync(HttpContext context)
    {
        var metadata = context.GetEndpoint()?.Metadata;
        var features = metadata?.GetOrderedMetadata<RequireFeatureAttribute>() ?? [];
        var charges = metadata?.GetOrderedMetadata<ChargeUsageAttribute>() ?? [];
        if ((features.Count == 0 && charges.Count == 0) || !context.Items.TryAdd(Gated, Gated))
        {
            await next(context);
            return;
        }

        var tollgate = context.RequestServices.GetRequiredService<ITollgate>();
        var customer = await context.RequestServices.GetRequiredService<ITollgateCustomerResolver>().ResolveAsync(context);
        if (customer is null)
        {
            await WriteAsync(context, StatusCodes.Status401Unauthorized, "unauthorized", "The request names no customer.",
                "Sign in; the customer comes from the ITollgateCustomerResolver.", null);
            return;
        }

        var ct = context.RequestAborted;
        foreach (var feature in features)
        {
            var check = await tollgate.CheckAsync(new CheckRequest(customer, feature.Feature), ct);
            if (!check.Succeeded)
            {
                await RefuseAsync(context, tollgate, feature.Feature, check.Refusal!, check.Detail);
                return;
            }
        }

        var holds = new List<Hold>(charges.Count);
        foreach (var charge in charges)
        {
            var hold = await tollgate.CreateHoldAsync(new CreateHoldRequest(customer, charge.Feature, charge.Amount), ct);
            if (!hold.Succeeded)
            {
                await ReleaseAsync(tollgate, holds);
                await RefuseAsync(context, tollgate, charge.Feature, hold.Refusal!, hold.Detail);
                return;
            }

            holds.Add(hold.Value);
        }

        try
        {
            await next(context);
        }
        catch
        {
            await ReleaseAsync(tollgate, holds);
            throw;
        }

        if (context.Response.StatusCode >= 400)
        {
            await ReleaseAsync(tollgate, holds);
            return;
        }

        foreach (var hold in holds)
        {
            // Not the request's token: the work was done and answered, so the charge is owed even if the caller hung up.
            var settled = await tollgate.SettleHoldAsync(new SettleHoldRequest(hold.Id), CancellationToken.None);
            if (!settled.Succeeded)
            {
                // The hold then expires on its own and returns its units: the customer is not charged for this request.
                Log.SettleFailed(logger, hold.Id, settled.Refusal!.Code);
            }
        }
    }

    private async Task ReleaseAsync(ITollgate tollgate, List<Hold> holds)
    {
        foreach (var hold in holds)
        {
            var released = await tollgate.ReleaseHoldAsync(hold.Id, CancellationToken.None);
            if (!released.Succeeded)
            {
                Log.ReleaseFailed(logger, hold.Id, released.Refusal!.Code);
            }
        }
    }

    private static async Task RefuseAsync(HttpContext context, ITollgate tollgate, string feature, TollgateRefusal refusal, string? detail)
    {
        if (refusal == TollgateRefusal.UnknownFeature || refusal == TollgateRefusal.InvalidRequest)
        {
            // The endpoint declares a feature the catalog lacks, or charges one that cannot be held: a bug in the app.
            throw new InvalidOperationException($"The endpoint's Tollgate gate on '{feature}' cannot work: {refusal.Code}: {detail}");
        }

        IReadOnlyList<string>? products = null;
        if (refusal == TollgateRefusal.NotEntitled)
        {
            var listing = await tollgate.GetProductsAsync(cancellationToken: context.RequestAborted);
            products = listing.Succeeded
                ? listing.Value.Plans.Where(p => p.Features.TryGetValue(feature, out var terms) && terms.Enabled).Select(p => p.Id).ToList()
                : [];
        }

        await WriteAsync(context, Refusals.GateStatus(refusal), refusal.Code, Refusals.Title(refusal), detail ?? $"{feature}: {refusal.Code}", products);
    }

    private static async Task WriteAsync(HttpContext context, int status, string code, string title, string? detail, IReadOnlyList<string>? products)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/problem+json";
        await JsonSerializer.SerializeAsync(context.Response.Body,
            new GateProblem($"https://tollgate.dev/problems/{code}", title, status, detail, code, products), ApiJson.Options, context.RequestAborted);
    }

    private sealed record GateProblem(string Type, string Title, int Status, string? Detail, string Code, IReadOnlyList<string>? Products);
}
