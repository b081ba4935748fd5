using System.Security.Cryptography;
using Tollgate.Core.Idempotency;
using Tollgate.Server.Api.Http;

namespace Tollgate.Server.Hosting;

/// <summary>The secret keys /v1 accepts: the configured ones, or (with none configured) a development key generated
/// once, kept in the database so it survives restarts, and printed at start-up.</summary>
internal sealed class ApiKeyRing(ILogger<ApiKeyRing> logger)
{
    private const string DevelopmentKeySetting = "development_api_key";

    public ApiKeys Keys { get; private set; } = new([]);

    public string? DevelopmentKey { get; private set; }

    public async Task LoadAsync(TollgateSettings settings, ISettingsStore store, CancellationToken cancellationToken)
    {
        if (settings.ApiKeys.Count > 0)
        {
            Keys = new ApiKeys(settings.ApiKeys);
            return;
        }

        DevelopmentKey = await store.GetOrAddAsync(DevelopmentKeySetting, "tg_dev_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(20)),
            cancellationToken);
        Keys = new ApiKeys([DevelopmentKey]);
        logger.LogWarning("No Tollgate__ApiKeys configured. Development secret key: {Key}", DevelopmentKey);
    }
}
