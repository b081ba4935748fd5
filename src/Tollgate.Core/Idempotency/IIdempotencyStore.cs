namespace Tollgate.Core.Idempotency;

/// <summary>A stored response of a call made with an Idempotency-Key.</summary>
public sealed record StoredResponse(string RequestHash, int Status, string Body);

/// <summary>Storage port for the HTTP API's idempotency keys, scoped per API key.</summary>
public interface IIdempotencyStore
{
    /// <summary>The response stored under <paramref name="key"/> for the API key <paramref name="scope"/>, or null.</summary>
    Task<StoredResponse?> GetAsync(string scope, string key, CancellationToken cancellationToken);

    /// <summary>Stores the first response for a key; returns false (and keeps the first) when one is already stored.</summary>
    Task<bool> TryStoreAsync(string scope, string key, StoredResponse response, DateTimeOffset now, CancellationToken cancellationToken);
}

/// <summary>Small named values Tollgate keeps for itself (the development API key, the Sandbox signing secret).</summary>
public interface ISettingsStore
{
    /// <summary>The value stored under <paramref name="name"/>, or null.</summary>
    Task<string?> GetAsync(string name, CancellationToken cancellationToken);

    /// <summary>Stores <paramref name="value"/> unless the name already has one; returns the value that is stored.</summary>
    Task<string> GetOrAddAsync(string name, string value, CancellationToken cancellationToken);
}
