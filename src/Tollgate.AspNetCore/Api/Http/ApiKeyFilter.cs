using System.Security.Cryptography;
using System.Text;

namespace Tollgate.Server.Api.Http;

/// <summary>The secret keys accepted on /v1 (configured, or the generated development key).</summary>
internal sealed class ApiKeys(IEnumerable<string> keys)
{
    private readonly byte[][] _hashes = keys.Select(Hash).ToArray();

    /// <summary>The calling key's scope for idempotency keys, or null when the request carries no valid key.</summary>
    public string? Authenticate(HttpContext context)
    {
        var header = context.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var presented = Hash(header["Bearer ".Length..].Trim());
        var match = false;
        foreach (var hash in _hashes)
        {
            // Compare against every key, matching or not, so the time taken tells nothing.
            match |= CryptographicOperations.FixedTimeEquals(hash, presented);
        }

        return match ? Convert.ToHexStringLower(presented)[..16] : null;
    }

    private static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));
}

/// <summary>Refuses /v1 calls without a valid secret key (401) and remembers the caller's scope.</summary>
internal sealed class ApiKeyFilter(ApiKeys keys) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var scope = keys.Authenticate(context.HttpContext);
        if (scope is null)
        {
            return Problems.Unauthorized();
        }

        context.HttpContext.Items[typeof(ApiKeyFilter)] = scope;
        return await next(context);
    }

    public static string Scope(HttpContext context) => (string)context.Items[typeof(ApiKeyFilter)]!;
}
