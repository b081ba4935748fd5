using Tollgate.Core.Catalog;
using Tollgate.Storage.Common;

namespace Tollgate.Storage.Stores;

/// <param name="notify">Tells other servers a customer's subscriptions changed (PostgreSQL); null on SQLite.</param>
internal sealed class PlanVersionStore(Sql sql, Func<string, CancellationToken, Task<int>>? notify) : IPlanVersionStore
{
    // Each round either finds the newest version's hash equal to ours or inserts the next one; an insert lost to
    // another server's (the same number) reads again. Servers with different catalogs starting together each store
    // their own terms once.
    private const int MaxRounds = 20;

    public async Task<int> RegisterAsync(string planId, string termsHash, string terms, DateTimeOffset now, CancellationToken cancellationToken)
    {
        for (var round = 0; round < MaxRounds; round++)
        {
            var newest = await sql.QueryAsync(
                "SELECT version, terms_hash FROM plan_versions WHERE plan_id = @p ORDER BY version DESC LIMIT 1",
                r => (Version: Convert.ToInt32(r.GetValue(0), System.Globalization.CultureInfo.InvariantCulture), Hash: r.GetString(1)),
                cancellationToken, ("@p", planId)).ConfigureAwait(false);
            if (newest.Count == 1 && newest[0].Hash == termsHash)
            {
                return newest[0].Version;
            }

            var next = newest.Count == 0 ? 1 : newest[0].Version + 1;
            // The primary key makes the race safe: of two servers inserting the same number, one row is stored and
            // the other changes nothing (and reads again).
            var inserted = await sql.ExecuteAsync(
                """
                INSERT INTO plan_versions (plan_id, version, terms_hash, terms, created_at) VALUES (@p, @v, @h, @t, @now)
                ON CONFLICT (plan_id, version) DO NOTHING
                """,
                cancellationToken, ("@p", planId), ("@v", next), ("@h", termsHash), ("@t", terms), ("@now", now)).ConfigureAwait(false);
            if (inserted == 1)
            {
                return next;
            }
        }

        throw new InvalidOperationException($"Plan {planId}: its version could not be stored in {MaxRounds} rounds (servers with other catalogs keep storing theirs).");
    }

    public async Task<IReadOnlyList<PlanVersion>> ListAsync(CancellationToken cancellationToken) =>
        await sql.QueryAsync("SELECT plan_id, version, terms_hash, terms, created_at FROM plan_versions ORDER BY plan_id, version",
            r => new PlanVersion(r.GetString(0), Convert.ToInt32(r.GetValue(1), System.Globalization.CultureInfo.InvariantCulture), r.GetString(2),
                r.GetString(3), sql.Dialect.ReadTime(r, 4)), cancellationToken).ConfigureAwait(false);

    public async Task<IReadOnlyList<MigratedSubscription>> MigrateAsync(string planId, int fromVersion, int toVersion, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // One statement: a subscription saved meanwhile is either moved by it or saved after it (and a save keeps the
        // stored version), so none is left behind on the old version nor moved twice.
        var moved = await sql.WriteQueryAsync(
            """
            UPDATE subscriptions SET plan_version = @to, updated_at = @now
            WHERE plan_id = @p AND plan_version = @from AND status NOT IN ('canceled', 'expired')
            RETURNING customer_id, subscription_id
            """,
            r => new MigratedSubscription(r.GetString(0), r.GetString(1)), cancellationToken, ("@p", planId), ("@from", fromVersion), ("@to", toVersion), ("@now", now)).ConfigureAwait(false);
        if (notify is not null)
        {
            foreach (var customer in moved.Select(m => m.CustomerId).Distinct(StringComparer.Ordinal))
            {
                await notify(customer, cancellationToken).ConfigureAwait(false);
            }
        }

        return moved;
    }
}
