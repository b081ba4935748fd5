using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Tollgate.Bench;

/// <summary>One webhook delivery as Creem sends it: the raw body and its <c>creem-signature</c>. A duplicate delivery is
/// the very same bytes again.</summary>
internal sealed record CreemDelivery(string EventId, int Customer, byte[] Body, string Signature)
{
    public HttpRequestMessage ToRequest()
    {
        var content = new ByteArrayContent(Body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/webhooks/creem", UriKind.Relative)) { Content = content };
        request.Headers.TryAddWithoutValidation("creem-signature", Signature);
        return request;
    }
}

/// <summary>
/// Creem's documented <c>checkout.completed</c> sample (the copy the tests use), turned into a one-time purchase of the
/// demo catalog's starter pack for one of the bench's customers, with a fresh event and order id each time, signed
/// with the webhook secret the bench's server is given.
/// </summary>
internal sealed class CreemDeliveries
{
    public const string WebhookSecret = "whsec_bench_creem";
    public const string Pack = "starter_pack";
    public const long PackCredits = 100;
    private const string PackProduct = "prod_697ay0pXFXrBYEVC7HS0MR";

    private readonly string _template;
    private readonly string _runId = Guid.NewGuid().ToString("N")[..8];
    private readonly byte[] _secret = Encoding.UTF8.GetBytes(WebhookSecret);
    private long _sequence;

    public CreemDeliveries()
    {
        using var sample = typeof(CreemDeliveries).Assembly.GetManifestResourceStream("creem.checkout.completed.json")
            ?? throw new InvalidOperationException("The Creem sample payload is not embedded in the bench.");
        var e = JsonNode.Parse(sample)!.AsObject();
        e["id"] = "@event";
        var o = e["object"]!.AsObject();
        o["id"] = "@checkout";
        o["request_id"] = "@checkout";
        o.Remove("subscription");
        o["order"]!["id"] = "@order";
        o["order"]!["product"] = PackProduct;
        o["order"]!["type"] = "onetime";
        o["order"]!["amount"] = 500;
        o["order"]!["currency"] = "USD";
        o["product"]!["id"] = PackProduct;
        o["product"]!["billing_type"] = "onetime";
        o["metadata"] = new JsonObject { ["tollgate_customer_id"] = "@customer", ["tollgate_product"] = Pack };
        _template = e.ToJsonString();
    }

    public static string CustomerId(int customer) => "wh" + customer.ToString(CultureInfo.InvariantCulture);

    /// <summary>A new event: a purchase no earlier delivery made.</summary>
    public CreemDelivery Next(int customer)
    {
        var n = Interlocked.Increment(ref _sequence).ToString(CultureInfo.InvariantCulture);
        var eventId = $"evt_{_runId}_{n}";
        var body = Encoding.UTF8.GetBytes(_template
            .Replace("@event", eventId, StringComparison.Ordinal)
            .Replace("@checkout", $"ch_{_runId}_{n}", StringComparison.Ordinal)
            .Replace("@order", $"ord_{_runId}_{n}", StringComparison.Ordinal)
            .Replace("@customer", CustomerId(customer), StringComparison.Ordinal));
        return new CreemDelivery(eventId, customer, body, Convert.ToHexStringLower(HMACSHA256.HashData(_secret, body)));
    }
}
