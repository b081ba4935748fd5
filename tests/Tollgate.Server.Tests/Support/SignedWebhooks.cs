using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Tollgate.Server.Tests.Support;

/// <summary>Provider webhooks built from the documented sample payloads (tests/Tollgate.Testing/Resources) and signed
/// exactly as the provider signs them.</summary>
public static class SignedWebhooks
{
    public const string CreemSecret = "whsec_creem_test_secret_0001";
    public const string StripeSecret = "whsec_stripe_test_secret_0001";
    public const string StripeOldSecret = "whsec_stripe_rotated_out_0002";

    public static JsonObject Sample(string provider, string name) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Resources", provider, name + ".json")))!.AsObject();

    /// <summary>Creem: <c>creem-signature</c> = lower-case hex HMAC-SHA256 of the raw body.</summary>
    public static HttpRequestMessage Creem(string body, string secret = CreemSecret)
    {
        var request = Post("/webhooks/creem", body);
        request.Headers.Add("creem-signature", Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(body))));
        return request;
    }

    /// <summary>Stripe: <c>Stripe-Signature: t=…,v1=…</c> over <c>"{t}.{body}"</c>, one v1 per secret.</summary>
    public static HttpRequestMessage Stripe(string body, DateTimeOffset at, params string[] secrets)
    {
        var request = Post("/webhooks/stripe", body);
        var t = at.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var signatures = (secrets.Length == 0 ? [StripeSecret] : secrets)
            .Select(s => "v1=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(s), Encoding.UTF8.GetBytes($"{t}.{body}"))));
        request.Headers.Add("Stripe-Signature", $"t={t},{string.Join(',', signatures)}");
        return request;
    }

    public static HttpRequestMessage Post(string path, string body) =>
        new(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };

    /// <summary>A catalog whose provider mappings are the fake servers' product and price ids.</summary>
    public static string CatalogFile()
    {
        var path = Path.Combine(Path.GetTempPath(), $"tollgate-catalog-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, """
            features:
              credits: { type: credits }
              ai_messages: { type: metered, credit_cost: 1 }
              hd_export: { type: boolean }
            plans:
              free:
                default: true
                features:
                  ai_messages: { limit: 5, reset: month }
              pro:
                interval: month
                price: { amount: 2900, currency: USD }
                providers: { creem: { product: prod_d1AY2Sadk9YAvLI0pj97f }, stripe: { price: price_1QPro } }
                features:
                  hd_export: true
                  ai_messages: { limit: 100, reset: month }
                  credits: { grant: 50, reset: month }
            packs:
              pack:
                credits: 100
                price: { amount: 4900, currency: USD }
                providers: { creem: { product: prod_pack }, stripe: { price: price_pack } }
              welcome:
                credits: 60
                once_per_customer: true
                price: { amount: 100, currency: USD }
                providers: { creem: { product: prod_welcome } }
            """);
        return path;
    }
}
