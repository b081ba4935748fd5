using System.Data.Common;
using Tollgate.Core.Subscriptions;
using Tollgate.Storage.Common;

namespace Tollgate.Storage.Stores;

internal sealed class TrialStore(Sql sql) : ITrialStore
{
    private const string Columns = "customer_id, plan_id, subscription_id, source, started_at";

    // The primary key (customer_id, plan_id) decides: of two racing inserts one writes a row, the other none. On
    // PostgreSQL the second waits for the first's transaction and then does nothing if it committed.
    public async Task<bool> TryRecordAsync(TrialRecord trial, CancellationToken cancellationToken) =>
        await sql.ExecuteAsync(
            $"INSERT INTO trials ({Columns}) VALUES (@c, @plan, @sub, @source, @at) ON CONFLICT (customer_id, plan_id) DO NOTHING",
            cancellationToken, ("@c", trial.CustomerId), ("@plan", trial.PlanId), ("@sub", trial.SubscriptionId), ("@source", trial.Source),
            ("@at", trial.StartedAt)).ConfigureAwait(false) == 1;

    public Task<TrialRecord?> FindAsync(string customerId, string planId, CancellationToken cancellationToken) =>
        sql.QuerySingleAsync($"SELECT {Columns} FROM trials WHERE customer_id = @c AND plan_id = @plan", Read, cancellationToken,
            ("@c", customerId), ("@plan", planId));

    public async Task<IReadOnlyList<TrialRecord>> ListByCustomerAsync(string customerId, CancellationToken cancellationToken) =>
        await sql.QueryAsync($"SELECT {Columns} FROM trials WHERE customer_id = @c ORDER BY started_at, plan_id", Read, cancellationToken,
            ("@c", customerId)).ConfigureAwait(false);

    private TrialRecord Read(DbDataReader r) =>
        new(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), sql.Dialect.ReadTime(r, 4));
}
