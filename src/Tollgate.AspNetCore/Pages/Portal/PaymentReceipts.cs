using System.Text.Json;
using Tollgate.Core.Catalog;
using Tollgate.Core.Payments;
using Tollgate.Server.Pages.Shared;

namespace Tollgate.Server.Pages.Portal;

/// <summary>One payment as its customer sees it in the portal: what, when, how much, what became of it (refunds,
/// disputes), the provider's order number and, where the provider made one, its own receipt or invoice page.</summary>
internal sealed record PaymentLine(
    string Id,
    DateTimeOffset At,
    string ProductName,
    string Status,
    string StatusText,
    string Amount,
    string? Refunded,
    string Provider,
    string OrderNumber,
    long Credits,
    Uri? ProviderReceipt);

internal static class PaymentReceipts
{
    // The fields in which providers put a page the customer may open: Stripe's invoice (hosted_invoice_url, and its
    // PDF) and charge (receipt_url); Creem's order and transaction carry no such page. Only https addresses are shown.
    private static readonly string[] ReceiptFields = ["hosted_invoice_url", "receipt_url", "invoice_pdf", "invoice_url"];

    public static PaymentLine Line(Payment payment, ProductCatalog catalog, Texts t)
    {
        var status = payment switch
        {
            { Status: PaymentStatus.Completed, RefundedAmount: > 0 } => "partially_refunded",
            _ => Core.Common.SnakeCase<PaymentStatus>.Name(payment.Status),
        };
        var amount = payment is { Amount: { } a, Currency: { } c } ? t.Money(a, c) : "—";
        var refunded = payment is { RefundedAmount: > 0, Currency: { } rc } ? t.Money(payment.RefundedAmount, rc) : null;
        return new PaymentLine(payment.Id, payment.CreatedAt, t.Name(Catalogs.ProductName(catalog, payment.Product)), status,
            t["portal.payment." + status], amount, refunded, t.ProviderName(payment.Provider), payment.ProviderPaymentId,
            payment.Credits, ProviderReceipt(payment.Payload));
    }

    /// <summary>The provider's own receipt or invoice page named in the payment's payload, if any.</summary>
    public static Uri? ProviderReceipt(string payload)
    {
        try
        {
            using var document = JsonDocument.Parse(payload);
            return Find(document.RootElement, 0);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static Uri? Find(JsonElement element, int depth)
    {
        if (depth > 6)
        {
            return null;
        }

        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var field in ReceiptFields)
                {
                    if (element.TryGetProperty(field, out var value) && value.ValueKind == JsonValueKind.String
                        && Uri.TryCreate(value.GetString(), UriKind.Absolute, out var uri) && uri.Scheme == Uri.UriSchemeHttps)
                    {
                        return uri;
                    }
                }

                foreach (var property in element.EnumerateObject())
                {
                    if (Find(property.Value, depth + 1) is { } found)
                    {
                        return found;
                    }
                }

                return null;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    if (Find(item, depth + 1) is { } found)
                    {
                        return found;
                    }
                }

                return null;
            default:
                return null;
        }
    }
}
