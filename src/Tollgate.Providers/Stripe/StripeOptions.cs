namespace Tollgate.Providers.Stripe;

/// <summary>Stripe settings; API.md §2 binds them from <c>Tollgate__Providers__Stripe__*</c>.</summary>
public sealed record StripeOptions
{
    /// <summary>The API version every request pins with <c>Stripe-Version</c>. Webhook endpoints should be registered
    /// with the same version; the parser also reads the pre-basil shapes.</summary>
    public const string ApiVersion = "2025-03-31.basil";

    /// <summary>The default API base.</summary>
    public static readonly Uri DefaultBaseUrl = new("https://api.stripe.com");

    /// <summary>The secret key (<c>sk_…</c> or restricted <c>rk_…</c>), sent as a bearer token. Required.</summary>
    public string SecretKey { get; init; } = "";

    /// <summary>Webhook signing secrets (<c>whsec_…</c>); more than one while a secret is being rolled. Without any,
    /// every webhook verifies as <see cref="Core.Payments.WebhookVerification.NotConfigured"/>.</summary>
    public IReadOnlyList<string> WebhookSecrets { get; init; } = [];

    /// <summary>The API base. Default <see cref="DefaultBaseUrl"/>.</summary>
    public Uri BaseUrl { get; init; } = DefaultBaseUrl;

    /// <summary>How far a signed event's timestamp may be from now, either way, in seconds. Default 300.</summary>
    public int SignatureToleranceSeconds { get; init; } = 300;

    /// <summary>Timeouts and retries for API calls.</summary>
    public ProviderResilienceOptions Resilience { get; init; } = new();

    /// <summary>Never prints the key or the secrets, so the options can be logged.</summary>
    public override string ToString() =>
        $"StripeOptions {{ BaseUrl = {BaseUrl}, SecretKey = {(SecretKey.Length > 0 ? "[set]" : "[missing]")}, "
        + $"WebhookSecrets = [{WebhookSecrets.Count} set], SignatureToleranceSeconds = {SignatureToleranceSeconds} }}";

    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(SecretKey))
        {
            throw new ArgumentException("Stripe SecretKey is required (Tollgate__Providers__Stripe__SecretKey).");
        }

        if (BaseUrl is null || !BaseUrl.IsAbsoluteUri)
        {
            throw new ArgumentException("Stripe BaseUrl must be an absolute URL (Tollgate__Providers__Stripe__BaseUrl).");
        }

        if (SignatureToleranceSeconds <= 0)
        {
            throw new ArgumentException(
                "Stripe SignatureToleranceSeconds must be positive (Tollgate__Providers__Stripe__SignatureToleranceSeconds).");
        }

        Resilience.Validate("Stripe");
    }
}
