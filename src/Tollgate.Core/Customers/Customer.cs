namespace Tollgate.Core.Customers;

/// <summary>A customer, under the app's own id. Created by <c>PUT /v1/customers/{id}</c> or on first use.</summary>
public sealed record Customer(
    string Id,
    string? Email,
    string? Name,
    IReadOnlyDictionary<string, string> Metadata,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

/// <summary>Storage port for customers.</summary>
public interface ICustomerStore
{
    /// <summary>Creates the customer or updates the given fields (null leaves a field as it is).</summary>
    Task<Customer> UpsertAsync(string id, string? email, string? name, IReadOnlyDictionary<string, string>? metadata, DateTimeOffset now,
        CancellationToken cancellationToken);

    /// <summary>The customer with this id, or null when there is none.</summary>
    Task<Customer?> GetAsync(string id, CancellationToken cancellationToken);

    /// <summary>Customers whose id, email or name contains <paramref name="query"/> (case-insensitive), newest first.</summary>
    Task<IReadOnlyList<Customer>> SearchAsync(string? query, int limit, CancellationToken cancellationToken);
}
