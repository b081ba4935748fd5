using System.Data.Common;
using System.Text.Json;
using Tollgate.Core.Customers;
using Tollgate.Storage.Common;

namespace Tollgate.Storage.Stores;

/// <param name="notify">Tells other servers a customer changed (PostgreSQL); null on SQLite.</param>
internal sealed class CustomerStore(Sql sql, Func<string, CancellationToken, Task<int>>? notify = null) : ICustomerStore
{
    private const string Columns = "customer_id, email, name, metadata, created_at, updated_at, billing_customer_id";

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

    public async Task<string?> BillingCustomerIdAsync(string id, CancellationToken cancellationToken) =>
        (await sql.QueryAsync("SELECT billing_customer_id FROM customers WHERE customer_id = @id", r => r.IsDBNull(0) ? null : r.GetString(0),
            cancellationToken, ("@id", id)).ConfigureAwait(false)).FirstOrDefault();

    public Task<Customer?> LockAsync(string id, CancellationToken cancellationToken) =>
        sql.QuerySingleAsync($"SELECT {Columns} FROM customers WHERE customer_id = @id{(sql.Dialect == Dialect.Postgres ? " FOR NO KEY UPDATE" : "")}",
            Read, cancellationToken, ("@id", id));

    public async Task SetBillingCustomerAsync(string id, string? billingCustomerId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await sql.ExecuteAsync("UPDATE customers SET billing_customer_id = @b, updated_at = @now WHERE customer_id = @id", cancellationToken,
            ("@id", id), ("@b", billingCustomerId), ("@now", now)).ConfigureAwait(false);
        if (notify is not null)
        {
            // Every server caches which customer a member is billed on: the member's whole view goes.
            await notify(id, cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task<bool> HasMembersAsync(string billingCustomerId, CancellationToken cancellationToken) =>
        (await sql.QueryAsync("SELECT 1 FROM customers WHERE billing_customer_id = @b LIMIT 1", r => 1, cancellationToken,
            ("@b", billingCustomerId)).ConfigureAwait(false)).Count > 0;

    public async Task<long> CountMembersAsync(string billingCustomerId, CancellationToken cancellationToken) =>
        (await sql.QueryAsync("SELECT count(*) FROM customers WHERE billing_customer_id = @b",
            r => Convert.ToInt64(r.GetValue(0), System.Globalization.CultureInfo.InvariantCulture), cancellationToken,
            ("@b", billingCustomerId)).ConfigureAwait(false))[0];

    public async Task<IReadOnlyList<Customer>> ListMembersAsync(string billingCustomerId, string? after, int limit, CancellationToken cancellationToken) =>
        await sql.QueryAsync(
            $"SELECT {Columns} FROM customers WHERE billing_customer_id = @b AND customer_id > @after ORDER BY customer_id LIMIT @limit",
            Read, cancellationToken, ("@b", billingCustomerId), ("@after", after ?? ""), ("@limit", limit)).ConfigureAwait(false);

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
        sql.Dialect.ReadTime(r, 5),
        r.IsDBNull(6) ? null : r.GetString(6));
}
