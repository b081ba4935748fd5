using System.Data;
using Microsoft.Data.Sqlite;
using Tollgate.Core.Ledger;
using Tollgate.Storage.Sqlite;

namespace Tollgate.Storage.Tests.Ledger;

/// <summary>The SQLite ledger writes on one kept connection with its compiled statements (<see cref="SqliteWriter"/>):
/// reused only after a clean commit, closed after anything else, and never a reason for a write to see stale data.</summary>
public sealed class SqliteWriterTests : LedgerTestBase
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;

    private SqliteDatabase Sqlite => (SqliteDatabase)Db.Database;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Consecutive_writes_share_one_connection_and_compile_each_statement_once()
    {
        var customer = NewCustomer();
        await Grant(customer, "credits", 1_000);
        await Consume(customer, "credits", 1);
        var writer = await Sqlite.TakeWriterAsync(Ct);
        var compiled = writer.CachedStatements;
        await Sqlite.ReturnWriterAsync(writer);

        for (var i = 0; i < 20; i++)
        {
            Assert.Null((await Consume(customer, "credits", 1)).Refusal);
        }

        var after = await Sqlite.TakeWriterAsync(Ct);
        Assert.Same(writer, after);
        // The load's and the commit's statements of a consume, compiled by the first one and only rebound since.
        Assert.InRange(compiled, 8, SqliteWriter.MaxStatements);
        Assert.Equal(compiled, after.CachedStatements);
        await Sqlite.ReturnWriterAsync(after);
        Assert.Equal(1_000 - 21, (await Balance(customer, "credits")).Available);
        await AssertBooksBalance(customer);
    }

    [Fact]
    public async Task A_write_whose_commit_failed_leaves_its_connection_closed_and_the_retry_answers_from_the_store()
    {
        var customer = NewCustomer();
        await Grant(customer, "credits", 100);
        var first = await Ledger.ConsumeAsync(new ConsumeRequest(customer, "credits", 5, "replayed"));
        var before = await Sqlite.TakeWriterAsync(Ct);
        await Sqlite.ReturnWriterAsync(before);

        // A replayed key fails the optimistic commit on ledger_operations' key; the batch runs again with the key loaded.
        var again = await Ledger.ConsumeAsync(new ConsumeRequest(customer, "credits", 5, "replayed"));

        Assert.True(again.Replayed);
        Assert.Equal(first.EntryId, again.EntryId);
        var after = await Sqlite.TakeWriterAsync(Ct);
        Assert.NotSame(before, after);
        Assert.Equal(ConnectionState.Closed, before.Connection.State);
        await Sqlite.ReturnWriterAsync(after);
        Assert.Equal(95, (await Balance(customer, "credits")).Available);
        await AssertBooksBalance(customer);
    }

    [Fact]
    public async Task A_kept_statement_runs_against_the_schema_as_it_is_now()
    {
        var customer = NewCustomer();
        await Grant(customer, "credits", 100);
        await Consume(customer, "credits", 1);
        var writer = await Sqlite.TakeWriterAsync(Ct);
        await Sqlite.ReturnWriterAsync(writer);

        // Another connection changes the tables the kept statements were compiled against.
        await using (var other = new SqliteConnection(Db.Options.ConnectionString))
        {
            await other.OpenAsync(Ct);
            await using var alter = other.CreateCommand();
            alter.CommandText = "ALTER TABLE ledger_entries ADD COLUMN note TEXT; CREATE INDEX ledger_entries_amount ON ledger_entries (amount);";
            await alter.ExecuteNonQueryAsync(Ct);
        }

        Assert.Null((await Consume(customer, "credits", 2)).Refusal);

        var after = await Sqlite.TakeWriterAsync(Ct);
        Assert.Same(writer, after);
        await Sqlite.ReturnWriterAsync(after);
        Assert.Equal(97, (await Balance(customer, "credits")).Available);
        await AssertBooksBalance(customer);
    }

    [Fact]
    public async Task Two_databases_on_one_file_racing_on_one_customer_spend_exactly_the_balance()
    {
        var customer = NewCustomer();
        await Grant(customer, "credits", 50);
        var second = TollgateDatabase.Create(Db.Options, Clock);
        await using var secondLedger = new LedgerEngine(second.Ledger, Clock, Options);
        try
        {
            // Each process-like database keeps its own writer; between writes a kept connection holds no lock or
            // snapshot, so the other one's writes are seen and nothing is spent twice.
            var attempts = Enumerable.Range(0, 80).Select(i =>
                (i % 2 == 0 ? Ledger : secondLedger).ConsumeAsync(new ConsumeRequest(customer, "credits", 1, $"race-{i}")));
            var results = await Task.WhenAll(attempts);

            Assert.Equal(50, results.Count(r => r.Refusal is null));
            Assert.Equal(30, results.Count(r => r.Refusal == LedgerRefusal.InsufficientBalance));
            Assert.Equal(0, (await Balance(customer, "credits")).Available);
            await AssertBooksBalance(customer);
            var kept = await ((SqliteDatabase)second).TakeWriterAsync(Ct);
            Assert.True(kept.CachedStatements > 0);
            await ((SqliteDatabase)second).ReturnWriterAsync(kept);
        }
        finally
        {
            await secondLedger.DisposeAsync();
            await second.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_writer_is_handed_to_one_session_at_a_time_and_closed_with_the_database()
    {
        var database = (SqliteDatabase)TollgateDatabase.Create(Db.Options, Clock);
        var one = await database.TakeWriterAsync(Ct);
        var two = await database.TakeWriterAsync(Ct);
        Assert.NotSame(one, two);

        await database.ReturnWriterAsync(one);
        // A second writer given back while one is kept is closed, not kept beside it.
        await database.ReturnWriterAsync(two);
        Assert.Equal(ConnectionState.Closed, two.Connection.State);
        Assert.Same(one, await database.TakeWriterAsync(Ct));
        await database.ReturnWriterAsync(one);

        await database.DisposeAsync();
        Assert.Equal(ConnectionState.Closed, one.Connection.State);
        // Given back after the database was disposed: closed too.
        var late = new SqliteWriter(await database.OpenAsync(Ct));
        await database.ReturnWriterAsync(late);
        Assert.Equal(ConnectionState.Closed, late.Connection.State);
    }
}
