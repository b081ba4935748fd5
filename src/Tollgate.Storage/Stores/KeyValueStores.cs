using Tollgate.Core.Idempotency;
using Tollgate.Storage.Common;

namespace Tollgate.Storage.Stores;

internal sealed class IdempotencyStore(Sql sql) : IIdempotencyStore
{
    public Task<StoredResponse?> GetAsync(string scope, string key, CancellationToken cancellationToken) =>
        sql.QuerySingleAsync("SELECT request_hash, status, response FROM api_idempotency WHERE scope = @s AND idempotency_key = @k",
            r => new StoredResponse(r.GetString(0), r.GetInt32(1), r.GetString(2)), cancellationToken, ("@s", scope), ("@k", key));

    public async Task<bool> TryStoreAsync(string scope, string key, StoredResponse response, DateTimeOffset now, CancellationToken cancellationToken) =>
        await sql.ExecuteAsync(
            """
            INSERT INTO api_idempotency (scope, idempotency_key, request_hash, status, response, created_at)
            VALUES (@s, @k, @h, @status, @body, @now) ON CONFLICT (scope, idempotency_key) DO NOTHING
            """,
            cancellationToken, ("@s", scope), ("@k", key), ("@h", response.RequestHash), ("@status", response.Status),
            ("@body", response.Body), ("@now", now)).ConfigureAwait(false) == 1;
}

internal sealed class SettingsStore(Sql sql) : ISettingsStore
{
    public async Task<string?> GetAsync(string name, CancellationToken cancellationToken) =>
        (await sql.QueryAsync("SELECT value FROM settings WHERE name = @n", r => r.GetString(0), cancellationToken, ("@n", name))
            .ConfigureAwait(false)).FirstOrDefault();

    public async Task<string> GetOrAddAsync(string name, string value, CancellationToken cancellationToken)
    {
        await sql.ExecuteAsync("INSERT INTO settings (name, value) VALUES (@n, @v) ON CONFLICT (name) DO NOTHING", cancellationToken,
            ("@n", name), ("@v", value)).ConfigureAwait(false);
        return (await GetAsync(name, cancellationToken).ConfigureAwait(false))!;
    }
}
