using Tollgate.Server.Api.Http;
using Tollgate.Server.Payments;

namespace Tollgate.Server.Api;

internal sealed record AppleTransactionBody(string? CustomerId, string? SignedTransaction);

internal sealed record AppleAccountTokenView(string AppAccountToken);

/// <param name="Status"><c>applied</c>, <c>duplicate</c> (recorded before: nothing happened twice) or <c>pending</c>
/// (stored; applying failed and is retried).</param>
internal sealed record AppleTransactionView(string TransactionId, string Product, string Status);

/// <summary>The App Store (API.md §6.4): <c>POST /v1/customers/{id}/apple/account-token</c> and
/// <c>POST /v1/apple/transactions</c>. Apple's notifications arrive at <c>/webhooks/apple</c> like every provider's.</summary>
internal static class AppleApi
{
    /// <summary>A StoreKit 2 transaction JWS is a few kilobytes; this bounds what is verified.</summary>
    private const int MaxSignedTransactionLength = 32 * 1024;

    public static RouteGroupBuilder MapAppleApi(this RouteGroupBuilder v1)
    {
        v1.MapPost("/customers/{id}/apple/account-token", async (string id, AppleTransactions apple, CancellationToken ct) =>
        {
            if (Validate.CustomerId(id, "id") is { } problem)
            {
                return problem;
            }

            return apple.Enabled
                ? ApiResult.Ok(new AppleAccountTokenView(await apple.AccountTokenAsync(id, ct)))
                : NotEnabled();
        }).Produces<AppleAccountTokenView>().WithName("createAppleAccountToken").Refuses(400, "invalid_request").Refuses(404, "unknown_provider");

        v1.MapPost("/apple/transactions", async (HttpContext http, AppleTransactions apple) =>
        {
            var (body, problem) = await RequestBody.ReadAsync<AppleTransactionBody>(http);
            problem ??= Validate.First(Validate.CustomerId(body!.CustomerId), Validate.Text(body.SignedTransaction, "signed_transaction",
                MaxSignedTransactionLength, required: true));
            if (problem is not null)
            {
                return problem;
            }

            var outcome = await apple.ForwardAsync(body!.CustomerId!, body.SignedTransaction!.Trim(), http.RequestAborted);
            return outcome.Result switch
            {
                ForwardResult.Applied or ForwardResult.Duplicate or ForwardResult.Pending => ApiResult.Ok(new AppleTransactionView(outcome.TransactionId!,
                    outcome.Product!, Core.Common.SnakeCase<ForwardResult>.Name(outcome.Result))),
                ForwardResult.NotEnabled => NotEnabled(),
                ForwardResult.InvalidSignature => Problems.Create(401, "invalid_signature", "The signed transaction did not verify.", outcome.Detail),
                ForwardResult.UnknownProduct => Problems.NotFound("unknown_product", outcome.Detail!),
                _ => Problems.Create(409, "customer_mismatch", "The transaction belongs to another customer.", outcome.Detail),
            };
        }).JsonBody<AppleTransactionBody>().Produces<AppleTransactionView>().WithName("recordAppleTransaction")
            .Refuses(401, "invalid_signature").Refuses(404, "unknown_product", "unknown_provider").Refuses(409, "customer_mismatch");

        return v1;
    }

    private static ApiResult NotEnabled() =>
        Problems.NotFound("unknown_provider", "'apple' is not an enabled provider: set Tollgate__Providers__Apple__BundleId.");
}
