using System.Data.Common;
using System.Text.Json;
using Tollgate.Core.Customers;
using Tollgate.Storage.Common;

namespace Tollgate.Storage.Stores;

internal sealed class CustomerStore(Sql sql) : ICustomerStore
{
    private const string Columns = "customer_id, email, name, metadata, created_at, updated_at";

    public async Task<Customer> UpsertAsync(string id, string? email, string? name, IReadOnlyDictionary<string, string>? metadata,
        DateTimeOffset now, CancellationToken cancellationToken)
    {
        await sql.ExecuteAsync(
            """
            INSERT INTO customers (customer_id, email, name, metadata, created_at, updated_at)
            VALUES (@id, @email, @name, @metadata, @now, @now)
            ON CONFLICT (customer_id) DO UPDATE SET
                email = coalesce(excluded.email, customers.email),
                name = coalesce(excluded.name, customers.name),
                metadata = coalesce(excluded.metadata, customers.metadata),
                updated_at = excluded.updated_at
            """,
            cancellationToken,
            ("@id", id), ("@email", email), ("@name", name),
            ("@metadata", metadata is null ? null : JsonSerializer.Serialize(metadata)), ("@now", now)).ConfigureAwait(false);
        return (await GetAsync(id, cancellationToken).ConfigureAwait(false))!;
    }

    public Task<Customer?> GetAsync(string id, CancellationToken cancellationToken) =>
        sql.QuerySingleAsync($"SELECT {Columns} FROM customers WHERE customer_id = @id", Read, cancellationToken, ("@id", id));

    public async Task<IReadOnlyList<Customer>> SearchAsync(string? query, int limit, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(query))
        {
            return await sql.QueryAsync($"SELECT {Columns} FROM customers ORDER BY created_at DESC, customer_id LIMIT @limit", Read,
                cancellationToken, ("@limit", limit)).ConfigureAwait(false);
        }

        var pattern = "%" + query.Trim().ToLowerInvariant().Replace("\\", "\\\\", StringComparison.Ordinal)
            .Replace("%", "\\%", StringComparison.Ordinal).Replace("_", "\\_", StringComparison.Ordinal) + "%";
        return await sql.QueryAsync(
            $"""
            SELECT {Columns} FROM customers
            WHERE lower(customer_id) LIKE @p ESCAPE '\' OR lower(coalesce(email, '')) LIKE @p ESCAPE '\' OR lower(coalesce(name, '')) LIKE @p ESCAPE '\'
            ORDER BY created_at DESC, customer_id LIMIT @limit
            """,
            Read, cancellationToken, ("@p", pattern), ("@limit", limit)).ConfigureAwait(false);
    }

    private Customer Read(DbDataReader r) => new(
        r.GetString(0),
        r.IsDBNull(1) ? null : r.GetString(1),
        r.IsDBNull(2) ? null : r.GetString(2),
        r.IsDBNull(3) ? new Dictionary<string, string>() : JsonSerializer.Deserialize<Dictionary<string, string>>(r.GetString(3)) ?? [],
        sql.Dialect.ReadTime(r, 4),
        sql.Dialect.ReadTime(r, 5));
}
