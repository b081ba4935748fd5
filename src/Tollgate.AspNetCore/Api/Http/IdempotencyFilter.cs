using System.Security.Cryptography;
using System.Text;
using Tollgate.Core.Idempotency;

namespace Tollgate.Server.Api.Http;

/// <summary>
/// Calls marked (idem) in API.md need an <c>Idempotency-Key</c>. The first response under a key (any status below
/// 500) is stored; the same key with the same request replays it, byte for byte; with a different request it is
/// refused with 422.
/// </summary>
/// <remarks>
/// A call that reaches the ledger hands the key to it (<see cref="Call{T}"/>): the ledger stores the response in the
/// transaction of the call's effect and answers a key it finds stored from what is stored, so a response is stored
/// exactly when its effect commits, and two calls racing on one key get one effect and one answer between them
/// (issue 9, item 2). A call answered before it reaches the ledger (input the feature cannot take) is stored here,
/// after the fact; the first response stored under a key wins either way.
/// </remarks>
internal sealed class IdempotencyFilter(IIdempotencyStore store, TimeProvider time) : IEndpointFilter
{
    public const string Header = "Idempotency-Key";
    public const int MaxKeyLength = 255;

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var key = http.Request.Headers[Header].ToString();
        if (key.Length == 0 || key.Length > MaxKeyLength)
        {
            return Problems.InvalidRequest($"This call needs an {Header} header of 1–{MaxKeyLength} characters.");
        }

        var body = await RequestBody.ReadBytesAsync(http);
        if (body is null)
        {
            return Problems.TooLarge(RequestBody.MaxBytes);
        }

        var claim = new Claim(ApiKeyFilter.Scope(http), key, Fingerprint(http.Request.Method, http.Request.Path.Value ?? "", body));
        http.Items[typeof(IdempotencyFilter)] = claim;
        var result = await next(context);
        if (claim.Answered || result is not ApiResult response || response.Status >= 500)
        {
            return result;
        }

        var first = new StoredResponse(claim.RequestHash, response.Status, Encoding.UTF8.GetString(response.Body));
        if (await store.TryStoreAsync(claim.Scope, key, first, time.GetUtcNow(), CancellationToken.None))
        {
            return response;
        }

        // Another call stored its response under this key first: answer as it did.
        var winner = await store.GetAsync(claim.Scope, key, CancellationToken.None);
        return winner is null ? response : winner.RequestHash == claim.RequestHash ? Replay(winner) : Problems.KeyReused();
    }

    /// <summary>The call's key for the ledger, with <paramref name="render"/> to turn its outcome into the response
    /// stored with its effect.</summary>
    public static IdempotentCall<T> Call<T>(HttpContext http, Func<T, ApiResult> render)
    {
        var claim = (Claim)http.Items[typeof(IdempotencyFilter)]!;
        return new IdempotentCall<T>(claim.Scope, claim.Key, claim.RequestHash, outcome =>
        {
            var response = render(outcome);
            return new StoredResponse(claim.RequestHash, response.Status, Encoding.UTF8.GetString(response.Body));
        });
    }

    /// <summary>The answer to a call the ledger took: the response stored under its key (its own, or an earlier call's),
    /// or 422 when the key was used with another request (<paramref name="keyReused"/> without a stored response).
    /// Null when the call was answered before it reached the ledger: its response is then stored by the filter.</summary>
    public static ApiResult? Answer(HttpContext http, StoredResponse? stored, bool keyReused)
    {
        if (stored is null && !keyReused)
        {
            return null;
        }

        ((Claim)http.Items[typeof(IdempotencyFilter)]!).Answered = true;
        return stored is null ? Problems.KeyReused() : Replay(stored);
    }

    private static ApiResult Replay(StoredResponse stored) =>
        new(stored.Status, Encoding.UTF8.GetBytes(stored.Body), stored.Status >= 400 ? "application/problem+json" : "application/json");

    private static string Fingerprint(string method, string path, byte[] body)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes($"{method} {path}\n"));
        hash.AppendData(body);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private sealed class Claim(string scope, string key, string requestHash)
    {
        public string Scope { get; } = scope;
        public string Key { get; } = key;
        public string RequestHash { get; } = requestHash;

        /// <summary>The ledger stored the response, or answered from a stored one: nothing left to store.</summary>
        public bool Answered { get; set; }
    }
}
