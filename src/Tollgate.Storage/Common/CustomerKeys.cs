using Tollgate.Core.Ledger;

namespace Tollgate.Storage.Common;

/// <summary>
/// <c>customer_keys</c>: whose is an id that callers name without its customer (a hold, a ledger entry). A lookup by
/// such an id reads this table by key first and then the row with its <c>customer_id</c>, so that on a database
/// distributed by customer (Citus) both statements go to one shard (docs/scaling.md).
/// </summary>
internal static class CustomerKeys
{
    public const string Hold = "hold";
    public const string Entry = "entry";

    /// <summary>A checkout by Tollgate's id.</summary>
    public const string Checkout = "checkout";

    /// <summary>A checkout by the provider's id of its session (webhooks name it).</summary>
    public const string CheckoutSession = "checkout_session";

    /// <summary>A payment by the provider's id of it: unique per provider, the payment's exactly-once guard.</summary>
    public const string Payment = "payment";

    /// <summary>Payments by the provider's checkout id they were paid through (a refund may name only that).</summary>
    public const string PaymentCheckout = "payment_checkout";

    /// <summary>The owner of a key, by the dialect's parameter names (the caller adds the provider).</summary>
    public static string OwnerSql(string key, string kind) =>
        $"SELECT customer_id FROM customer_keys WHERE key = {key} AND kind = {kind}";

    public const string InsertSql = "INSERT INTO customer_keys (key, kind, provider, customer_id) VALUES (@key, @kind, @provider, @customer)";

    public static (string, object?)[] Args(string key, string kind, string provider, string customerId) =>
        [("@key", key), ("@kind", kind), ("@provider", provider), ("@customer", customerId)];

    /// <summary>The lookup rows of a ledger commit: one per new hold and per new entry.</summary>
    public static IReadOnlyList<CustomerKey> OfLedger(LedgerChanges changes) =>
        [
            .. changes.InsertedHolds.Select(h => new CustomerKey(h.HoldId, Hold, h.CustomerId)),
            .. changes.Entries.Select(e => new CustomerKey(e.EntryId, Entry, e.CustomerId)),
        ];
}

internal sealed record CustomerKey(string Key, string Kind, string CustomerId);
