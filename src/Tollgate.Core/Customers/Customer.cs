namespace Tollgate.Core.Customers;

/// <summary>A customer, under the app's own id. Created by <c>PUT /v1/customers/{id}</c> or on first use.</summary>
/// <param name="BillingCustomerId">The organization this customer is a member of: its checks, usage and holds are
/// answered and charged there. Null: billed on itself.</param>
public sealed record Customer(
    string Id,
    string? Email,
    string? Name,
    IReadOnlyDictionary<string, string> Metadata,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    string? BillingCustomerId = null);

/// <summary>Storage port for customers.</summary>
public interface ICustomerStore
{
    /// <summary>Creates the customer or updates the given fields (null leaves a field as it is).</summary>
    Task<Customer> UpsertAsync(string id, string? email, string? name, IReadOnlyDictionary<string, string>? metadata, DateTimeOffset now,
        CancellationToken cancellationToken);

    /// <summary>The customer with this id, or null when there is none.</summary>
    Task<Customer?> GetAsync(string id, CancellationToken cancellationToken);

    /// <summary>The customer's billing customer (null when billed on itself or unknown). What the gate caches per member.</summary>
    Task<string?> BillingCustomerIdAsync(string id, CancellationToken cancellationToken);

    /// <summary>Inside a flow's transaction: the customer, its row locked until the transaction ends (PostgreSQL
    /// <c>FOR NO KEY UPDATE</c>, the ledger's own lock; SQLite's flow already holds the write lock). Null when none.</summary>
    Task<Customer?> LockAsync(string id, CancellationToken cancellationToken);

    /// <summary>Sets (or clears) the customer's billing customer and tells other servers to drop their views of it.</summary>
    Task SetBillingCustomerAsync(string id, string? billingCustomerId, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Whether any customer is billed on <paramref name="billingCustomerId"/>.</summary>
    Task<bool> HasMembersAsync(string billingCustomerId, CancellationToken cancellationToken);

    /// <summary>How many customers are billed on <paramref name="billingCustomerId"/>.</summary>
    Task<long> CountMembersAsync(string billingCustomerId, CancellationToken cancellationToken);

    /// <summary>The members of <paramref name="billingCustomerId"/> by id, after <paramref name="after"/> (exclusive), at most <paramref name="limit"/>.</summary>
    Task<IReadOnlyList<Customer>> ListMembersAsync(string billingCustomerId, string? after, int limit, CancellationToken cancellationToken);

    /// <summary>Customers whose id, email or name contains <paramref name="query"/> (case-insensitive), newest first.</summary>
    Task<IReadOnlyList<Customer>> SearchAsync(string? query, int limit, CancellationToken cancellationToken);
}
