using System.Text.Json;
using Tollgate.Core.Payments;

namespace Tollgate.Providers.Http;

/// <summary>The metadata keys Tollgate puts on every checkout it creates, and reads back from webhooks.</summary>
internal static class TollgateMetadata
{
    public const string CustomerId = "tollgate_customer_id";
    public const string Product = "tollgate_product";

    /// <summary>Auto top-up's charge id, on an off-session payment.</summary>
    public const string TopupCharge = "tollgate_topup_id";

    /// <summary>Tollgate's keys first, then the app's; an app key may not override Tollgate's own, since linking
    /// a payment to the right customer depends on them.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> For(CheckoutRequest request)
    {
        var entries = new List<KeyValuePair<string, string>>(request.Metadata.Count + 2)
        {
            new(CustomerId, request.CustomerId),
            new(Product, request.Product),
        };
        foreach (var entry in request.Metadata)
        {
            if (entry.Key is not (CustomerId or Product))
            {
                entries.Add(entry);
            }
        }

        return entries;
    }

    /// <summary>The Tollgate keys from the first metadata object that has them.</summary>
    public static (string? CustomerId, string? Product) Read(params ReadOnlySpan<JsonElement?> metadataObjects)
    {
        foreach (var metadata in metadataObjects)
        {
            var customer = metadata.Str(CustomerId);
            var product = metadata.Str(Product);
            if (customer is not null || product is not null)
            {
                return (customer, product);
            }
        }

        return (null, null);
    }
}
