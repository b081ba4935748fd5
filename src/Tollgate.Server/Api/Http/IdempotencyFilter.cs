using System.Security.Cryptography;
using System.Text;
using Tollgate.Core.Idempotency;

namespace Tollgate.Server.Api.Http;

/// <summary>
/// Calls marked (idem) in API.md need an <c>Idempotency-Key</c>. The first response under a key (any status below
/// 500) is stored; the same key with the same request replays it, byte for byte; with a different request it is
/// refused with 422. Effects are exactly-once independently of this store: the ledger keys them as well.
/// </summary>
public sealed class IdempotencyFilter(IIdempotencyStore store, TimeProvider time) : IEndpointFilter
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

        var scope = ApiKeyFilter.Scope(http);
        var hash = Fingerprint(http.Request.Method, http.Request.Path.Value ?? "", body);
        var stored = await store.GetAsync(scope, key, http.RequestAborted);
        if (stored is not null)
        {
            return stored.RequestHash == hash ? Replay(stored) : Problems.KeyReused();
        }

        var result = await next(context);
        if (result is not ApiResult response || response.Status >= 500)
        {
            return result;
        }

        var first = new StoredResponse(hash, response.Status, Encoding.UTF8.GetString(response.Body));
        if (await store.TryStoreAsync(scope, key, first, time.GetUtcNow(), CancellationToken.None))
        {
            return response;
        }

        // A concurrent request with the same key stored its response first: answer as it did.
        var winner = await store.GetAsync(scope, key, CancellationToken.None);
        return winner is null ? response : winner.RequestHash == hash ? Replay(winner) : Problems.KeyReused();
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
}
