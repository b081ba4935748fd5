using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Tollgate.Core.Payments;
using Tollgate.Providers.Creem;
using Tollgate.Providers.Stripe;
using Tollgate.Testing.Fakes;

namespace Tollgate.Providers.Tests;

internal static class TestSupport
{
    public static readonly HttpClient SharedHttp = new();

    /// <summary>Retries without real waiting; a generous attempt timeout unless a test is about timeouts.</summary>
    public static ProviderResilienceOptions Resilience(int attempts = 3, TimeSpan? attemptTimeout = null) => new()
    {
        MaxAttempts = attempts,
        AttemptTimeout = attemptTimeout ?? TimeSpan.FromSeconds(10),
        RetryBaseDelay = TimeSpan.FromMilliseconds(1),
    };

    public static IPaymentProvider NewCreem(FakeServer server, ProviderResilienceOptions? resilience = null, string apiKey = FakeCreem.ApiKey) =>
        PaymentProviders.CreateCreem(
            SharedHttp,
            new CreemOptions { ApiKey = apiKey, BaseUrl = server.BaseUrl, Resilience = resilience ?? Resilience() },
            TimeProvider.System);

    public static IPaymentProvider NewStripe(FakeServer server, ProviderResilienceOptions? resilience = null, string secretKey = FakeStripe.SecretKey) =>
        PaymentProviders.CreateStripe(
            SharedHttp,
            new StripeOptions { SecretKey = secretKey, BaseUrl = server.BaseUrl, Resilience = resilience ?? Resilience() },
            TimeProvider.System);

    public static byte[] Resource(string name) => File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Resources", name));

    /// <summary>A copy of a resource payload with some edits, so the verbatim files stay verbatim.</summary>
    public static byte[] Edited(string name, Action<JsonNode> edit)
    {
        var node = JsonNode.Parse(Resource(name))!;
        edit(node);
        return Encoding.UTF8.GetBytes(node.ToJsonString());
    }

    /// <summary>Lower-case hex HMAC-SHA256, computed independently of the code under test.</summary>
    public static string HmacHex(string secret, byte[] message) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), message));

    public static CheckoutRequest Checkout(
        CheckoutMode mode = CheckoutMode.Subscription,
        string productRef = "prod_abc123",
        string? email = "ada@example.com",
        string? providerCustomerId = null,
        string? cancelUrl = null,
        IReadOnlyDictionary<string, string>? metadata = null) =>
        new(
            "chk_01JD4Z",
            "user_42",
            "pro",
            productRef,
            mode,
            "https://app.example.com/billing/done",
            cancelUrl,
            email,
            providerCustomerId,
            metadata ?? new Dictionary<string, string>());
}
