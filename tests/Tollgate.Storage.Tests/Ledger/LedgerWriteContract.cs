using System.Data.Common;
using System.Globalization;
using Tollgate.Core.Idempotency;
using Tollgate.Core.Ledger;

namespace Tollgate.Storage.Tests.Ledger;

/// <summary>
/// What travels with a ledger write into its transaction: an API call's response, stored under its key with the
/// effect (and a key found stored answering instead of the effect), and the writes a plan owes (kept only when the
/// write is not refused). A customer's row is written with its first write that changes something, never by a read
/// or a refusal. Run on SQLite and on PostgreSQL.
/// </summary>
public abstract class LedgerWriteContract : LedgerTestBase
{
    [Fact]
    public async Task ApiCall_StoresItsResponseWithTheEffect_TheSameRequestReplaysIt_AnotherIsRefused_NothingTwice()
    {
        var c = NewCustomer();
        await Grant(c, "credits", 10);

        var first = await Ledger.ConsumeAsync(new ConsumeRequest(c, "credits", 3, "usage:k"), Call("k", "hash-a"));
        var replay = await Ledger.ConsumeAsync(new ConsumeRequest(c, "credits", 3, "usage:k"), Call("k", "hash-a"));
        var other = await Ledger.ConsumeAsync(new ConsumeRequest(c, "credits", 4, "usage:k"), Call("k", "hash-b"));

        Assert.Equal((200, "consumed 3, 7 left"), (first.Response!.Status, first.Response.Body));
        Assert.Equal("hash-a", first.Response.RequestHash);
        Assert.True(replay.Replayed);
        Assert.Equal(first.Response, replay.Response);
        Assert.Equal((LedgerRefusal.KeyReused, null), (other.Refusal, other.Response));
        Assert.Equal(7, (await Balance(c, "credits")).Available);
        Assert.Equal(1, await CountAsync("api_idempotency"));
        await AssertBooksBalance(c);
    }

    [Fact]
    public async Task ApiCall_RefusedEffect_StoresTheRefusal_WhichReplaysAfterATopUp()
    {
        var c = NewCustomer();

        var refused = await Ledger.ConsumeAsync(new ConsumeRequest(c, "credits", 3, "usage:k"), Call("k", "hash-a"));
        await Grant(c, "credits", 10);
        var replay = await Ledger.ConsumeAsync(new ConsumeRequest(c, "credits", 3, "usage:k"), Call("k", "hash-a"));

        Assert.Equal((402, "refused InsufficientBalance"), (refused.Response!.Status, refused.Response.Body));
        Assert.Equal(refused.Response, replay.Response);
        Assert.Equal(10, (await Balance(c, "credits")).Available);
    }

    [Fact]
    public async Task ApiCall_ManyCallsOnOneKey_InOneBatchAndAcrossEngines_OneEffect()
    {
        var c = NewCustomer();
        var d = NewCustomer();
        await Grant(c, "credits", 1000);
        await Grant(d, "credits", 1000);
        await using var otherServer = Db.OpenAnother(Clock);
        await using var second = new LedgerEngine(otherServer.Ledger, Clock, Options);

        // 32 calls with one API key: two request shapes, two customers (so two lanes, two transactions), two engines.
        var calls = Enumerable.Range(0, 32).Select(i =>
        {
            var engine = i % 2 == 0 ? Ledger : second;
            var customer = i % 4 < 2 ? c : d;
            return engine.ConsumeAsync(new ConsumeRequest(customer, "credits", i % 3 == 0 ? 2 : 1, "usage:shared"),
                Call("shared", i % 3 == 0 ? "hash-two" : "hash-one"));
        }).ToList();
        var results = await Task.WhenAll(calls);

        var stored = results.Where(r => r.Response is not null).Select(r => r.Response!).Distinct().ToList();
        var answer = Assert.Single(stored);
        var effects = (1000 - (await Balance(c, "credits")).Available) + (1000 - (await Balance(d, "credits")).Available);
        Assert.Equal(answer.RequestHash == "hash-two" ? 2 : 1, effects);
        Assert.All(results.Where(r => r.Response is null), r => Assert.Equal(LedgerRefusal.KeyReused, r.Refusal));
        Assert.Equal(1, await CountAsync("api_idempotency"));
        await AssertBooksBalance(c);
        await AssertBooksBalance(d);
    }

    [Fact]
    public async Task DueWrites_TravelWithASucceedingWrite_AndAreLeftOutWithARefusedOne()
    {
        var c = NewCustomer();
        var due = new DueWrites([new GrantRequest(c, "ai_messages", 50, LotSource.PlanAllowance, "allowance:default:ai_messages:1")
        {
            SourceRef = "allowance:default",
            ExpiresAt = Clock.GetUtcNow().AddDays(30),
            LotId = "lot_allowance_1",
        }], null);

        var refused = await Ledger.ConsumeAsync(new ConsumeRequest(c, "credits", 1, "usage:1"), new LedgerWrite { Due = due });
        Assert.Equal(LedgerRefusal.InsufficientBalance, refused.Refusal);
        Assert.Equal(0, await CountAsync("ledger_lots"));
        Assert.Equal(0, await CountAsync("customers"));

        var used = await Ledger.ConsumeAsync(new ConsumeRequest(c, "ai_messages", 5, "usage:2"), new LedgerWrite { Due = due });
        var again = await Ledger.ConsumeAsync(new ConsumeRequest(c, "ai_messages", 5, "usage:3"), new LedgerWrite { Due = due });

        Assert.Equal((45L, 40L), (used.Remaining, again.Remaining));
        var lot = Assert.Single(await Db.Database.Ledger.GetAllLotsAsync(c, CancellationToken.None));
        Assert.Equal(("lot_allowance_1", 50L, 40L), (lot.LotId, lot.Amount, lot.Remaining));
        Assert.Equal(1, await CountAsync("customers"));
        await AssertBooksBalance(c);
    }

    [Fact]
    public async Task Reads_ShowDueWritesWithoutWritingThem()
    {
        var c = NewCustomer();
        var due = new DueWrites([new GrantRequest(c, "ai_messages", 50, LotSource.PlanAllowance, "allowance:k")], null);

        var data = await Ledger.ReadAsync(c, [.. due.Keys]);
        var shown = Ledger.BalancesOf(data, Clock.GetUtcNow(), due);
        await Ledger.ConsumeAsync(new ConsumeRequest(c, "ai_messages", 5, "usage:1"), new LedgerWrite { Due = due });
        var written = await Ledger.ReadAsync(c, [.. due.Keys]);

        Assert.Equal(50, shown.For("ai_messages").Available);
        Assert.Single(written.Operations, o => o.OperationKey == "allowance:k");
        // Once written, the due grant replays and adds nothing to what is shown.
        Assert.Equal(45, Ledger.BalancesOf(written, Clock.GetUtcNow(), due).For("ai_messages").Available);
    }

    [Fact]
    public async Task UnknownCustomer_GetsARowWithItsFirstChange_AndConcurrentFirstWritesAllCount()
    {
        var c = NewCustomer();
        await Ledger.ConsumeAsync(new ConsumeRequest(c, "credits", 1, "usage:x"));
        Assert.Equal(0, await CountAsync("customers"));

        // Many engines (separate connections, as separate servers) write a new customer's first lots at once.
        var servers = Enumerable.Range(0, 8).Select(_ => Db.OpenAnother(Clock)).ToList();
        var engines = servers.Select(s => new LedgerEngine(s.Ledger, Clock, Options)).ToList();
        var d = NewCustomer();
        var grants = await Task.WhenAll(engines.Select((e, i) => e.GrantAsync(new GrantRequest(d, "credits", 10, LotSource.Admin, $"g{i}"))));
        foreach (var (engine, server) in engines.Zip(servers))
        {
            await engine.DisposeAsync();
            await server.DisposeAsync();
        }

        Assert.All(grants, g => Assert.True(g.Succeeded));
        Assert.Equal(80, (await Balance(d, "credits")).Available);
        Assert.Equal(1, await CountAsync("customers"));
        await AssertBooksBalance(d);
    }

    [Fact]
    public async Task Settle_OfAHoldMadeByAnotherServer_FindsItsOwner_AndOfItsOwnHold_SettlesOnce()
    {
        var c = NewCustomer();
        await Grant(c, "credits", 10);
        await using var otherServer = Db.OpenAnother(Clock);
        await using var other = new LedgerEngine(otherServer.Ledger, Clock, Options);
        var mine = await Hold(c, "credits", 3);
        var theirs = await other.HoldAsync(new HoldRequest(c, "credits", 4, TimeSpan.FromHours(1), "hold:theirs"));

        var settledHere = await Ledger.SettleAsync(new SettleRequest(theirs.HoldId) { Amount = 1 });
        var settledThere = await other.SettleAsync(new SettleRequest(mine.HoldId));
        var again = await Ledger.ReleaseAsync(new ReleaseRequest(theirs.HoldId));
        var unknown = await Ledger.SettleAsync(new SettleRequest("hold_unknown"));

        Assert.Equal((HoldStatus.Settled, 1L, 3L), (settledHere.Status, settledHere.Settled, settledHere.Released));
        Assert.Equal((HoldStatus.Settled, 3L), (settledThere.Status, settledThere.Settled));
        Assert.Equal(LedgerRefusal.HoldNotActive, again.Refusal);
        Assert.Equal(LedgerRefusal.HoldNotFound, unknown.Refusal);
        Assert.Equal((6L, 0L), ((await Balance(c, "credits")).Available, (await Balance(c, "credits")).Held));
        await AssertBooksBalance(c);
    }

    private static LedgerWrite Call(string key, string hash) => new()
    {
        Call = new IdempotentCall<LedgerResult>("scope", key, hash, r => r switch
        {
            ConsumeResult { Refusal: null } consumed => new StoredResponse("", 200, $"consumed {consumed.Amount}, {consumed.Remaining} left"),
            _ => new StoredResponse("", 402, $"refused {r.Refusal}"),
        }),
    };

    private async Task<long> CountAsync(string table)
    {
        await using var connection = Provider == DatabaseProvider.Postgres
            ? (DbConnection)new Npgsql.NpgsqlConnection(Db.Options.ConnectionString)
            : new Microsoft.Data.Sqlite.SqliteConnection(Db.Options.ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT count(*) FROM {table}";
        return Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }
}

public sealed class SqliteLedgerWriteContract : LedgerWriteContract
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresLedgerWriteContract : LedgerWriteContract
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
