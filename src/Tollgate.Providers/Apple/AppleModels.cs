using System.Text.Json;
using Tollgate.Providers.Http;

namespace Tollgate.Providers.Apple;

/// <summary>The product types of <c>JWSTransactionDecodedPayload.type</c>.</summary>
internal static class AppleProductType
{
    public const string AutoRenewable = "Auto-Renewable Subscription";
    public const string NonConsumable = "Non-Consumable";
    public const string Consumable = "Consumable";
    public const string NonRenewing = "Non-Renewing Subscription";
}

/// <summary>A decoded StoreKit 2 transaction (<c>JWSTransactionDecodedPayload</c>), the fields Tollgate acts on.
/// Dates are milliseconds since the Unix epoch on the wire.</summary>
/// <param name="Price">Milliunits of <paramref name="Currency"/> (4990 = 4.99 USD).</param>
internal sealed record AppleTransaction(
    string TransactionId,
    string OriginalTransactionId,
    string BundleId,
    string ProductId,
    string Type,
    DateTimeOffset PurchaseDate,
    DateTimeOffset? ExpiresDate,
    int Quantity,
    string? InAppOwnershipType,
    DateTimeOffset SignedDate,
    string Environment,
    string? AppAccountToken,
    DateTimeOffset? RevocationDate,
    int? RevocationReason,
    long? Price,
    string? Currency)
{
    public bool IsSubscription => Type == AppleProductType.AutoRenewable;

    /// <summary>Reads a verified payload. Throws <see cref="FormatException"/> when a field Tollgate needs is missing.</summary>
    public static AppleTransaction Read(JsonElement p)
    {
        var quantity = p.Long("quantity") ?? 1;
        return new AppleTransaction(
            Required(p, "transactionId"),
            p.Str("originalTransactionId") ?? Required(p, "transactionId"),
            Required(p, "bundleId"),
            Required(p, "productId"),
            Required(p, "type"),
            Millis(p, "purchaseDate") ?? throw new FormatException("The transaction has no purchaseDate."),
            Millis(p, "expiresDate"),
            quantity is >= 1 and <= 10_000 ? (int)quantity : throw new FormatException($"The transaction's quantity {quantity} is out of range."),
            p.Str("inAppOwnershipType"),
            Millis(p, "signedDate") ?? throw new FormatException("The transaction has no signedDate."),
            Required(p, "environment"),
            p.Str("appAccountToken"),
            Millis(p, "revocationDate"),
            (int?)p.Long("revocationReason"),
            p.Long("price"),
            p.Str("currency")?.ToUpperInvariant());
    }

    internal static string Required(JsonElement p, string name) =>
        p.Str(name) is { Length: > 0 } value ? value : throw new FormatException($"The signed data has no {name}.");

    internal static DateTimeOffset? Millis(JsonElement p, string name) =>
        p.Long(name) is { } ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;
}

/// <summary>A decoded renewal info (<c>JWSRenewalInfoDecodedPayload</c>): what happens at the next renewal.</summary>
/// <param name="AutoRenewEnabled"><c>autoRenewStatus</c> 1; false means the subscription ends at its period end.</param>
/// <param name="AutoRenewProductId">The product the subscription renews into (a downgrade waits here).</param>
internal sealed record AppleRenewalInfo(
    string OriginalTransactionId,
    string? ProductId,
    string? AutoRenewProductId,
    bool? AutoRenewEnabled,
    DateTimeOffset? GracePeriodExpiresDate,
    string Environment,
    DateTimeOffset SignedDate,
    string? AppAccountToken)
{
    public static AppleRenewalInfo Read(JsonElement p) => new(
        AppleTransaction.Required(p, "originalTransactionId"),
        p.Str("productId"),
        p.Str("autoRenewProductId"),
        p.Long("autoRenewStatus") switch { 1 => true, 0 => false, _ => null },
        AppleTransaction.Millis(p, "gracePeriodExpiresDate"),
        AppleTransaction.Required(p, "environment"),
        AppleTransaction.Millis(p, "signedDate") ?? throw new FormatException("The renewal info has no signedDate."),
        p.Str("appAccountToken"));
}

/// <summary>A decoded App Store Server Notification V2 (<c>responseBodyV2DecodedPayload</c>).</summary>
/// <param name="Status">The subscription's status as Apple states it: 1 active, 2 expired, 3 billing retry, 4 billing
/// grace period, 5 revoked.</param>
internal sealed record AppleNotification(
    string NotificationType,
    string? Subtype,
    string NotificationUuid,
    DateTimeOffset SignedDate,
    string? BundleId,
    string? Environment,
    int? Status,
    string? SignedTransactionInfo,
    string? SignedRenewalInfo,
    string? ConsumptionRequestReason)
{
    /// <summary><c>SUBSCRIBED.INITIAL_BUY</c>, or the type alone when there is no subtype.</summary>
    public string EventType => Subtype is null ? NotificationType : NotificationType + "." + Subtype;

    public static AppleNotification Read(JsonElement p)
    {
        // TEST and most types carry "data"; RENEWAL_EXTENSION.SUMMARY carries "summary" instead.
        var data = p.Obj("data") ?? p.Obj("summary");
        return new AppleNotification(
            AppleTransaction.Required(p, "notificationType"),
            p.Str("subtype"),
            AppleTransaction.Required(p, "notificationUUID"),
            AppleTransaction.Millis(p, "signedDate") ?? throw new FormatException("The notification has no signedDate."),
            data.Str("bundleId"),
            data.Str("environment"),
            (int?)data.Long("status"),
            data.Str("signedTransactionInfo"),
            data.Str("signedRenewalInfo"),
            data.Str("consumptionRequestReason"));
    }
}
