namespace Tollgate.Providers.Creem;

/// <summary>Creem settings; API.md §2 binds them from <c>Tollgate__Providers__Creem__*</c>.</summary>
public sealed record CreemOptions
{
    /// <summary>The API base for live keys.</summary>
    public static readonly Uri LiveBaseUrl = new("https://api.creem.io");

    /// <summary>The API base for test-mode keys (<c>creem_test_…</c>).</summary>
    public static readonly Uri TestBaseUrl = new("https://test-api.creem.io");

    /// <summary>The API key, sent as <c>x-api-key</c>. Required.</summary>
    public string ApiKey { get; init; } = "";

    /// <summary>The webhook signing secret. Without it every webhook verifies as
    /// <see cref="Core.Payments.WebhookVerification.NotConfigured"/>.</summary>
    public string? WebhookSecret { get; init; }

    /// <summary>The API base. When unset it follows the key: <see cref="TestBaseUrl"/> for <c>creem_test_…</c>
    /// keys, else <see cref="LiveBaseUrl"/> (Creem rejects a key sent to the other environment).</summary>
    public Uri? BaseUrl { get; init; }

    /// <summary>Timeouts and retries for API calls.</summary>
    public ProviderResilienceOptions Resilience { get; init; } = new();

    /// <summary>The base URL calls go to.</summary>
    public Uri EffectiveBaseUrl =>
        BaseUrl ?? (ApiKey.StartsWith("creem_test_", StringComparison.Ordinal) ? TestBaseUrl : LiveBaseUrl);

    /// <summary>Never prints the key or the secret, so the options can be logged.</summary>
    public override string ToString() =>
        $"CreemOptions {{ BaseUrl = {EffectiveBaseUrl}, ApiKey = {(ApiKey.Length > 0 ? "[set]" : "[missing]")}, "
        + $"WebhookSecret = {(string.IsNullOrEmpty(WebhookSecret) ? "[missing]" : "[set]")} }}";

    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(ApiKey))
        {
            throw new ArgumentException("Creem ApiKey is required (Tollgate__Providers__Creem__ApiKey).");
        }

        if (BaseUrl is { IsAbsoluteUri: false })
        {
            throw new ArgumentException("Creem BaseUrl must be an absolute URL (Tollgate__Providers__Creem__BaseUrl).");
        }

        Resilience.Validate("Creem");
    }
}
