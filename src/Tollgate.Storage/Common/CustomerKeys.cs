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

    /// <summary>A subscription by Tollgate's id (migration 0017).</summary>
    public const string Subscription = "subscription";

    /// <summary>A subscription by the provider's id of it: taken by the first save that carries it (it may arrive after
    /// the row is created); one provider subscription belongs to one customer.</summary>
    public const string ProviderSubscription = "provider_subscription";

    /// <summary>Whose a provider's customer id is: taken first when the link is recorded, the link's exactly-once guard.</summary>
    public const string ProviderCustomer = "provider_customer";

    /// <summary>An outbound event by its id (<c>GET /v1/events/{id}</c>, redelivery), written with the event.</summary>
    public const string Event = "event";

    /// <summary>The owner of a key, by the dialect's parameter names (the caller adds the provider). The ledger stores,
    /// which run their own commands, use this; the stores on <see cref="Sql"/> call <see cref="OwnerAsync"/>.</summary>
    public static string OwnerSql(string key, string kind) =>
        $"SELECT customer_id FROM customer_keys WHERE key = {key} AND kind = {kind}";

    /// <summary>Whose a ledger entry is, and its seq there (NULL when an earlier version keyed it), by the dialect's name
    /// of the parameter holding the entry's id.</summary>
    public static string EntryOwnerSql(string key) =>
        $"SELECT customer_id, seq FROM customer_keys WHERE key = {key} AND kind = '{Entry}' AND provider = ''";

    /// <summary>Whose <paramref name="key"/> of this kind is (<c>null</c>: nobody's): the first of the two single-shard
    /// statements of a lookup by an id named without its customer. Tollgate's own ids have the provider <c>''</c>.</summary>
    public static Task<string?> OwnerAsync(Sql sql, string key, string kind, string provider, CancellationToken cancellationToken) =>
        sql.QuerySingleAsync(OwnerSql("@k", "@kind") + " AND provider = @p", r => r.GetString(0), cancellationToken,
            ("@k", key), ("@kind", kind), ("@p", provider));

    public const string InsertSql = "INSERT INTO customer_keys (key, kind, provider, customer_id) VALUES (@key, @kind, @provider, @customer)";

    /// <summary>
    /// Takes keys for <paramref name="customerId"/>, or finds them already its own, in one statement: returns the
    /// statement and its arguments. The statement changes one row per key that is new or already the customer's and none
    /// for a key another customer holds, so fewer rows than keys means a key is someone else's. A concurrent writer of the
    /// same key is waited for (its key is then found, whoever's it is). The no-op update of a key already held is what
    /// tells "mine" from "another's" without a second statement; it rewrites that small row on each save.
    /// </summary>
    public static (string Sql, (string, object?)[] Args) Claim(string customerId, IReadOnlyList<(string Key, string Kind, string Provider)> keys)
    {
        var values = string.Join(", ", keys.Select((_, i) => $"(@key{i}, @kind{i}, @provider{i}, @customer)"));
        var args = keys.SelectMany((k, i) => new (string, object?)[] { ($"@key{i}", k.Key), ($"@kind{i}", k.Kind), ($"@provider{i}", k.Provider) })
            .Append(("@customer", customerId)).ToArray();
        return ($"""
                 INSERT INTO customer_keys (key, kind, provider, customer_id) VALUES {values}
                 ON CONFLICT (key, kind, provider) DO UPDATE SET customer_id = excluded.customer_id WHERE customer_keys.customer_id = excluded.customer_id
                 """, args);
    }

    public static (string, object?)[] Args(string key, string kind, string provider, string customerId) =>
        [("@key", key), ("@kind", kind), ("@provider", provider), ("@customer", customerId)];

    /// <summary>The lookup rows of a ledger commit: one per new hold and per new entry.</summary>
    public static IReadOnlyList<CustomerKey> OfLedger(LedgerChanges changes) =>
        [
            .. changes.InsertedHolds.Select(h => new CustomerKey(h.HoldId, Hold, h.CustomerId, null)),
            .. changes.Entries.Select(e => new CustomerKey(e.EntryId, Entry, e.CustomerId, e.Seq)),
        ];
}

/// <summary>A ledger id's row of <c>customer_keys</c>. An entry's carries its seq (migration 0023), so that the entry is
/// then read by its primary key and ledger_entries needs no index on its id.</summary>
internal sealed record CustomerKey(string Key, string Kind, string CustomerId, long? Seq);

/// <summary>
/// A write named a key (<see cref="CustomerKeys"/>) that another customer holds: nothing was written. It takes the place
/// of the unique violation that a unique index across customers raised before migration 0017 (a <see cref="System.Data.Common.DbException"/>
/// like it, so callers that handled that one handle this one).
/// </summary>
internal sealed class CustomerKeyTakenException(string message, string kind) : System.Data.Common.DbException(message)
{
    /// <summary>The kind of key that was taken (<see cref="CustomerKeys.ProviderSubscription"/>, ...).</summary>
    public string Kind { get; } = kind;
}
