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

        // A prefix of the id, e-mail or name, as a range of the lower-cased text in byte order: each is read from its own
        // index (a '%q%' pattern read every customer). Strings starting with the prefix sort from it to it followed by
        // the highest code point.
        var low = query.Trim().ToLowerInvariant();
        var high = low + char.ConvertFromUtf32(0x10FFFF);
        var c = sql.Dialect == Dialect.Postgres ? " COLLATE \"C\"" : "";
        return await sql.QueryAsync(
            // Matches first, then sorted: left to itself the planner walks the newest-first index and filters, which for a
            // rare prefix is every customer. A prefix that matches most customers costs what it matches.
            $"""
            WITH found AS MATERIALIZED (
                SELECT {Columns} FROM customers
                WHERE (lower(customer_id){c} >= @low AND lower(customer_id){c} < @high)
                   OR (email IS NOT NULL AND lower(email){c} >= @low AND lower(email){c} < @high)
                   OR (name IS NOT NULL AND lower(name){c} >= @low AND lower(name){c} < @high))
            SELECT {Columns} FROM found ORDER BY created_at DESC, customer_id LIMIT @limit
            """,
            Read, cancellationToken, ("@low", low), ("@high", high), ("@limit", limit)).ConfigureAwait(false);
    }

    private Customer Read(DbDataReader r) => new(
        r.GetString(0),
        r.IsDBNull(1) ? null : r.GetString(1),
        r.IsDBNull(2) ? null : r.GetString(2),
        r.IsDBNull(3) ? new Dictionary<string, string>() : JsonSerializer.Deserialize<Dictionary<string, string>>(r.GetString(3)) ?? [],
        sql.Dialect.ReadTime(r, 4),
        sql.Dialect.ReadTime(r, 5));
}
