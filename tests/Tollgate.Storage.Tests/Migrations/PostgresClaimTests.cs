using Npgsql;
using Tollgate.Testing;

namespace Tollgate.Storage.Tests.Migrations;

/// <summary>
/// Migration 0025: <c>tollgate_claim_ledgers</c>, which checks (and replaces) the versions of a PostgreSQL ledger batch's
/// customers before its writes, does it in one statement instead of one per customer. What the loop it replaced did
/// must still hold: exactly the given versions are replaced, a stale customer fails the call with TG001 naming the first
/// one, and the rows are locked in the order given (the order every writer takes customer locks in), checked here by
/// holding a customer in the middle of a batch and looking at which rows the blocked batch has locked. On a table small
/// enough for the planner to prefer reading it whole, in each of the procedure's three ways.
/// </summary>
public sealed class PostgresClaimTests
{
    private static readonly string[] Nine = ["c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9"];

    public enum Mode
    {
        /// <summary>Every version replaced: a usage batch.</summary>
        AllChange,

        /// <summary>Versions checked and rows locked only: a transaction opened before it knows what it changes.</summary>
        NoneChange,

        /// <summary>Some replaced, the others only locked.</summary>
        SomeChange,
    }

    [Theory]
    [InlineData(Mode.AllChange)]
    [InlineData(Mode.NoneChange)]
    [InlineData(Mode.SomeChange)]
    public async Task Claim_ReplacesExactlyTheChangedVersions_AndHoldsEveryRow_UntilTheTransactionEnds(Mode mode)
    {
        await using var test = await TestDatabase.CreateAsync(DatabaseProvider.Postgres, new ManualTimeProvider());
        await using var connection = await OpenAsync(test);
        await SeedAsync(connection);

        var next = Next(mode);
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            await ClaimAsync(connection, transaction, Nine, Versions(Nine), next);

            // Every row of the batch is locked by it, whether its version changed or not.
            await using var other = await OpenAsync(test);
            foreach (var customer in Nine)
            {
                Assert.False(await TryLockAsync(other, customer), $"{customer} was not locked by the claim");
            }

            await transaction.CommitAsync();
        }

        Assert.Equal(Nine.Zip(next).ToDictionary(p => p.First, p => p.Second), await ReadVersionsAsync(connection, Nine));
    }

    [Theory]
    [InlineData(Mode.AllChange)]
    [InlineData(Mode.NoneChange)]
    [InlineData(Mode.SomeChange)]
    public async Task Claim_OfStaleCustomers_FailsWithTG001NamingTheFirst_AndChangesNothing(Mode mode)
    {
        await using var test = await TestDatabase.CreateAsync(DatabaseProvider.Postgres, new ManualTimeProvider());
        await using var connection = await OpenAsync(test);
        await SeedAsync(connection);
        var before = await ReadVersionsAsync(connection, Nine);

        // c4 and c7 were written by another server since this one knew them.
        var known = Versions(Nine);
        known[3] = 999;
        known[6] = 999;
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            var failure = await Assert.ThrowsAsync<PostgresException>(() => ClaimAsync(connection, transaction, Nine, known, Next(mode, known)));
            Assert.Equal("TG001", failure.SqlState);
            Assert.Equal("the ledger of customer c4 changed since version 999", failure.MessageText);
            await transaction.RollbackAsync();
        }

        Assert.Equal(before, await ReadVersionsAsync(connection, Nine));

        // A customer without a row (deleted, or never written) is stale too.
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            string[] withMissing = ["c1", "c10", "c2"];
            var failure = await Assert.ThrowsAsync<PostgresException>(() => ClaimAsync(connection, transaction, withMissing, [1, 10, 2], [1, 10, 2]));
            Assert.Equal("TG001", failure.SqlState);
            Assert.Contains("customer c10 ", failure.MessageText, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(Mode.AllChange)]
    [InlineData(Mode.NoneChange)]
    [InlineData(Mode.SomeChange)]
    public async Task Claim_LocksInTheOrderGiven_SoABatchBlockedOnACustomerHoldsOnlyTheOnesBeforeIt(Mode mode)
    {
        await using var test = await TestDatabase.CreateAsync(DatabaseProvider.Postgres, new ManualTimeProvider());
        await using var connection = await OpenAsync(test);
        await SeedAsync(connection);

        // Another writer holds c5.
        await using var holder = await OpenAsync(test);
        await using var held = await holder.BeginTransactionAsync();
        Assert.True(await TryLockAsync(holder, "c5", held));

        // The batch of all nine waits on c5.
        await using var claimer = await OpenAsync(test);
        await using var claiming = await claimer.BeginTransactionAsync();
        var claim = ClaimAsync(claimer, claiming, Nine, Versions(Nine), Next(mode));
        await WaitUntilBlockedAsync(connection, claimer.ProcessID, claim);

        // It has locked c1–c4, which come before c5, and none of c6–c9.
        await using var probe = await OpenAsync(test);
        foreach (var customer in Nine[..4])
        {
            Assert.False(await TryLockAsync(probe, customer), $"{customer}, before the held customer, is not locked by the waiting batch");
        }

        foreach (var customer in Nine[5..])
        {
            Assert.True(await TryLockAsync(probe, customer), $"{customer}, after the held customer, is already locked by the waiting batch");
        }

        // Once c5 is let go, the batch goes through.
        await held.RollbackAsync();
        await claim.WaitAsync(TimeSpan.FromSeconds(30));
        await claiming.CommitAsync();
        Assert.Equal(Nine.Zip(Next(mode)).ToDictionary(p => p.First, p => p.Second), await ReadVersionsAsync(connection, Nine));
    }

    /// <summary>Eight writers claim overlapping sets of twelve out of thirty customers, each with the versions it read just
    /// before, and commit. Every claim either commits or fails as stale; none deadlocks (a deadlock, found after
    /// PostgreSQL's deadlock_timeout, would fail the test with 40P01). The committed changes of each customer must form
    /// one chain from its first version to the one it ends with: a claim that wrote over a change it had not seen would
    /// start a second change from the same version.</summary>
    [Fact]
    public async Task ConcurrentClaims_OfOverlappingCustomers_NeverDeadlock_AndEachCustomersChangesFormOneChain()
    {
        await using var test = await TestDatabase.CreateAsync(DatabaseProvider.Postgres, new ManualTimeProvider());
        var customers = Enumerable.Range(1, 30).Select(i => $"r{i:D2}").ToArray();
        await using (var connection = await OpenAsync(test))
        {
            await ExecuteAsync(connection,
                "INSERT INTO customers (customer_id, created_at, updated_at, ledger_version) SELECT id, now(), now(), 1 FROM unnest(@ids) AS id",
                ("ids", customers));
        }

        var committed = new System.Collections.Concurrent.ConcurrentBag<(string Customer, long From, long To)>();
        var stale = 0;
        var nextVersion = 1L;
        var workers = Enumerable.Range(0, 8).Select(worker => Task.Run(async () =>
        {
            var random = new Random(worker);
            await using var connection = await OpenAsync(test);
            for (var round = 0; round < 40; round++)
            {
                var picked = customers.OrderBy(_ => random.Next()).Take(12).Order(StringComparer.Ordinal).ToArray();
                var versions = await ReadVersionsAsync(connection, picked);
                // Every other round, a third of the customers are only locked, not changed (the procedure's other way).
                var next = picked.Select(c => round % 2 == 1 && random.Next(3) == 0 ? versions[c] : Interlocked.Increment(ref nextVersion) + 1_000_000)
                    .ToArray();
                await using var transaction = await connection.BeginTransactionAsync();
                try
                {
                    await ClaimAsync(connection, transaction, picked, picked.Select(c => versions[c]).ToArray(), next);
                    await transaction.CommitAsync();
                    foreach (var (customer, to) in picked.Zip(next).Where(p => p.Second != versions[p.First]))
                    {
                        committed.Add((customer, versions[customer], to));
                    }
                }
                catch (PostgresException ex) when (ex.SqlState == "TG001")
                {
                    Interlocked.Increment(ref stale);
                    await transaction.RollbackAsync();
                }
            }
        })).ToList();
        await Task.WhenAll(workers);

        await using var check = await OpenAsync(test);
        var final = await ReadVersionsAsync(check);
        foreach (var customer in customers)
        {
            // The committed changes of a customer form one chain from its first version to its last: each replaced
            // the version the one before left. Two changes from the same version would be a write over a change unseen.
            var changes = committed.Where(c => c.Customer == customer).ToList();
            var twice = changes.GroupBy(c => c.From).FirstOrDefault(g => g.Count() > 1);
            Assert.True(twice is null, $"{customer}: two committed changes from version {twice?.Key}");
            var next = changes.ToDictionary(c => c.From, c => c.To);
            var version = 1L;
            for (var step = 0; step < changes.Count; step++)
            {
                Assert.True(next.TryGetValue(version, out version), $"{customer}: no committed change from the version the one before it left");
            }

            Assert.Equal(version, final[customer]);
        }

        // The claims did race: some found their customers changed by another writer.
        Assert.True(stale > 0, "no claim was ever stale: the writers never overlapped");
        Assert.True(committed.Count > 100, $"only {committed.Count} versions were given");
    }

    private static long[] Versions(IEnumerable<string> customers) => customers.Select(c => long.Parse(c[1..], System.Globalization.CultureInfo.InvariantCulture)).ToArray();

    /// <summary>The versions a claim of c1–c9 gives them: new ones, the <paramref name="known"/> ones (unchanged), or
    /// every other one new.</summary>
    private static long[] Next(Mode mode, long[]? known = null) => (known ?? Versions(Nine)).Select((version, i) => mode switch
    {
        Mode.AllChange => 100L + i,
        Mode.NoneChange => version,
        _ => i % 2 == 0 ? 100L + i : version,
    }).ToArray();

    /// <summary>c1–c9 with versions 1–9 after 60 other customers, analysed: a table small enough for the planner to read
    /// whole rather than look each customer up (a hash join over a sequential scan, without the procedure's settings).
    /// c1–c9 are inserted from c9 down, so that a plan reading the table in its physical order locks them in reverse.</summary>
    private static async Task SeedAsync(NpgsqlConnection connection)
    {
        await ExecuteAsync(connection,
            "INSERT INTO customers (customer_id, created_at, updated_at, ledger_version) SELECT 'z' || n, now(), now(), n FROM generate_series(1, 60) AS n");
        await ExecuteAsync(connection,
            "INSERT INTO customers (customer_id, created_at, updated_at, ledger_version) SELECT 'c' || n, now(), now(), n FROM generate_series(9, 1, -1) AS n");
        await ExecuteAsync(connection, "ANALYZE customers");
    }

    private static async Task<NpgsqlConnection> OpenAsync(TestDatabase test)
    {
        var connection = new NpgsqlConnection(test.Options.ConnectionString);
        await connection.OpenAsync();
        return connection;
    }

    private static async Task ClaimAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string[] customers, long[] versions, long[] next)
    {
        await using var call = new NpgsqlCommand("CALL tollgate_claim_ledgers($1::text[], $2::bigint[], $3::bigint[])", connection, transaction);
        call.Parameters.Add(new NpgsqlParameter { Value = customers });
        call.Parameters.Add(new NpgsqlParameter { Value = versions });
        call.Parameters.Add(new NpgsqlParameter { Value = next });
        await call.ExecuteNonQueryAsync();
    }

    /// <summary>Whether <paramref name="customer"/>'s row can be locked now without waiting. In a transaction of its own
    /// (rolled back at once) unless one is given, which then keeps the lock.</summary>
    private static async Task<bool> TryLockAsync(NpgsqlConnection connection, string customer, NpgsqlTransaction? transaction = null)
    {
        var own = transaction is null ? await connection.BeginTransactionAsync() : null;
        try
        {
            await using var command = new NpgsqlCommand("SELECT 1 FROM customers WHERE customer_id = $1 FOR NO KEY UPDATE NOWAIT", connection, transaction ?? own);
            command.Parameters.Add(new NpgsqlParameter { Value = customer });
            Assert.Equal(1, await command.ExecuteScalarAsync());
            return true;
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.LockNotAvailable)
        {
            return false;
        }
        finally
        {
            if (own is not null)
            {
                await own.RollbackAsync();
                await own.DisposeAsync();
            }
        }
    }

    /// <summary>Waits until the backend <paramref name="pid"/> waits for a row lock (its statement having run up to it).</summary>
    private static async Task WaitUntilBlockedAsync(NpgsqlConnection connection, int pid, Task claim)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (waited.Elapsed < TimeSpan.FromSeconds(30))
        {
            Assert.False(claim.IsCompleted, "the batch did not wait for the held customer");
            await using var command = new NpgsqlCommand("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", connection);
            command.Parameters.Add(new NpgsqlParameter { Value = pid });
            if (await command.ExecuteScalarAsync() is true)
            {
                return;
            }

            await Task.Delay(20);
        }

        Assert.Fail("the batch never waited for the held customer's lock");
    }

    private static async Task<Dictionary<string, long>> ReadVersionsAsync(NpgsqlConnection connection, string[]? customers = null)
    {
        await using var command = new NpgsqlCommand(
            "SELECT customer_id, ledger_version FROM customers WHERE $1::text[] IS NULL OR customer_id = ANY($1::text[])", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)customers ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text });
        await using var reader = await command.ExecuteReaderAsync();
        var versions = new Dictionary<string, long>();
        while (await reader.ReadAsync())
        {
            versions[reader.GetString(0)] = reader.GetInt64(1);
        }

        return versions;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, params (string Name, object Value)[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        await command.ExecuteNonQueryAsync();
    }
}
