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
        context.Items[Tollgate.Server.Health.RefusalCounting.GateCustomerKey] = customer;
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
        (string Feature, TollgateResult<Hold> Result)? refused = null;
        try
        {
            foreach (var charge in charges)
            {
                // Not the request's token: a hold the ledger commits just as the caller hangs up must still come back
                // here with its id, or nothing could release it before it expires (and its units stay reserved).
                var hold = await tollgate.CreateHoldAsync(new CreateHoldRequest(customer, charge.Feature, charge.Amount), CancellationToken.None);
                if (!hold.Succeeded)
                {
                    refused = (charge.Feature, hold);
                    break;
                }

                holds.Add(hold.Value);
            }
        }
        catch
        {
            // A later charge failed (the database, a bug): the holds already taken go back before the error does.
            await ReleaseAsync(tollgate, holds);
            throw;
        }

        if (refused is { } refusal)
        {
            await ReleaseAsync(tollgate, holds);
            await RefuseAsync(context, tollgate, refusal.Feature, refusal.Result.Refusal!, refusal.Result.Detail);
            return;
        }

        try
        {
            await next(context);
        }
        catch when (context.Response.HasStarted && context.RequestAborted.IsCancellationRequested && context.Response.StatusCode < 400)
        {
            // A streaming answer the caller hung up on part-way: the work was done and partly delivered (an AI reply
            // generated, tokens paid for upstream), so it is charged as an answered request is. Only a failure of the
            // handler's own (not the caller leaving) restores the quota.
            await SettleAsync(tollgate, holds);
            throw;
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

        await SettleAsync(tollgate, holds);
    }

    /// <summary>Settles each hold on its own, never throwing (see <see cref="ReleaseAsync"/>).</summary>
    private async Task SettleAsync(ITollgate tollgate, List<Hold> holds)
    {
        foreach (var hold in holds)
        {
            // Not the request's token: the work was done and answered, so the charge is owed even if the caller hung up.
            // Each hold on its own: one that cannot be settled must not leave the others unsettled. One that fails
            // expires on its own and returns its units: the customer is not charged for it.
            try
            {
                var settled = await tollgate.SettleHoldAsync(new SettleHoldRequest(hold.Id), CancellationToken.None);
                if (!settled.Succeeded)
                {
                    Log.SettleFailed(logger, hold.Id, settled.Refusal!.Code);
                }
            }
            catch (Exception ex)
            {
                Log.SettleFailed(logger, hold.Id, ex.GetType().Name);
            }
        }
    }

    /// <summary>Releases each hold on its own, never throwing: it runs while the handler's own exception is on its way
    /// out, which it must not replace.</summary>
    private async Task ReleaseAsync(ITollgate tollgate, List<Hold> holds)
    {
        foreach (var hold in holds)
        {
            try
            {
                var released = await tollgate.ReleaseHoldAsync(hold.Id, CancellationToken.None);
                if (!released.Succeeded)
                {
                    Log.ReleaseFailed(logger, hold.Id, released.Refusal!.Code);
                }
            }
            catch (Exception ex)
            {
                Log.ReleaseFailed(logger, hold.Id, ex.GetType().Name);
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
        Tollgate.Server.Health.RefusalCounting.Count(context, status, code);
        await JsonSerializer.SerializeAsync(context.Response.Body,
            new GateProblem($"https://tollgate.dev/problems/{code}", title, status, detail, code, products), ApiJson.Options, context.RequestAborted);
    }

    private sealed record GateProblem(string Type, string Title, int Status, string? Detail, string Code, IReadOnlyList<string>? Products);
}
