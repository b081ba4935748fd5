using System.Data.Common;
using System.Globalization;
using Tollgate.Core.Ledger;
using Tollgate.Core.Payments;
using Tollgate.Storage.Tests.Ledger;

namespace Tollgate.Storage.Tests.Scaling;

/// <summary>
/// customer_keys (migration 0013, docs/scaling.md): every id callers name without its customer — a hold, a ledger
/// entry, a checkout by Tollgate's or the provider's id, a payment by the provider's id — has a row saying whose it is,
/// written with what it points to; lookups by such an id go through it; a provider's payment id is recorded once, so a
/// second payment with the same provider id is refused whoever's it claims to be. On both databases.
/// </summary>
public abstract class CustomerKeyTests : LedgerTestBase
{
    [Fact]
    public async Task HoldsAndEntries_GetTheirRows_InTheirCommit_AndAreFoundThroughThem()
    {
        var customer = NewCustomer();
        await Grant(customer, "credits", 100);
        var used = await Consume(customer, "credits", 7);
        var hold = await Hold(customer, "credits", 10);
        await Ledger.SettleAsync(new SettleRequest(hold.HoldId) { Amount = 4 });

        var entries = await AllEntries(customer);
        Assert.Equal(4, entries.Count); // the grant, the usage, the hold and its settlement
        Assert.Equal(
            entries.Select(e => (e.EntryId, "entry", customer)).Append((hold.HoldId, "hold", customer)).Order().ToList(),
            (await KeysAsync(customer)).Select(k => (k.Key, k.Kind, k.CustomerId)).Order().ToList());

        Assert.Equal(customer, await Db.Database.Ledger.FindHoldOwnerAsync(hold.HoldId, CancellationToken.None));
        Assert.Equal((HoldStatus.Settled, 4L), ((await Ledger.GetHoldAsync(hold.HoldId))!.Status, (await Ledger.GetHoldAsync(hold.HoldId))!.Settled));
        Assert.Equal((customer, -7L), ((await Ledger.FindEntryAsync(used.EntryId))!.CustomerId, (await Ledger.FindEntryAsync(used.EntryId))!.Amount));
        // A key of one kind does not find the other kind's row.
        Assert.Null(await Ledger.GetHoldAsync(used.EntryId));
        Assert.Null(await Ledger.FindEntryAsync(hold.HoldId));
        Assert.Null(await Ledger.GetHoldAsync("hold_unknown"));
    }

    [Fact]
    public async Task CheckoutsAndPayments_AreFoundByTheirIds_AndAProviderPaymentIdIsRecordedOnce_WhoeverClaimsIt()
    {
        var payments = Db.Database.Payments;
        var (alice, bob) = (NewCustomer(), NewCustomer());
        var now = Clock.GetUtcNow();
        var checkout = new Checkout("chk_1", alice, "pack", "stripe", "cs_1", "https://pay.example/cs_1", CheckoutStatus.Open, null, null,
            new Dictionary<string, string>(), null, now, now, null);
        await payments.InsertCheckoutAsync(checkout, CancellationToken.None);

        Assert.Equal(alice, (await payments.GetCheckoutAsync("chk_1", CancellationToken.None))!.CustomerId);
        Assert.Equal("chk_1", (await payments.FindCheckoutByProviderIdAsync("stripe", "cs_1", CancellationToken.None))!.Id);
        Assert.Null(await payments.FindCheckoutByProviderIdAsync("creem", "cs_1", CancellationToken.None));
        // The provider's session id is unique per provider: a second checkout naming it fails, and nothing of it stays.
        await Assert.ThrowsAnyAsync<DbException>(() => payments.InsertCheckoutAsync(
            checkout with { Id = "chk_2", CustomerId = bob }, CancellationToken.None));
        Assert.Null(await payments.GetCheckoutAsync("chk_2", CancellationToken.None));
        Assert.Empty(await KeysAsync(bob));

        var paid = new Payment("pay_1", alice, "stripe", PaymentKind.Pack, "pack", PaymentStatus.Completed, 500, "USD", "chk_1", "cs_1", "pi_1",
            null, null, "pay_1", 100, 0, 0, null, "{}", now, now);
        Assert.True(await payments.TryInsertPaymentAsync(paid, CancellationToken.None));
        // The same provider payment again — as a redelivery, or claimed for another customer — is refused and writes nothing.
        Assert.False(await payments.TryInsertPaymentAsync(paid with { Id = "pay_2" }, CancellationToken.None));
        Assert.False(await payments.TryInsertPaymentAsync(paid with { Id = "pay_3", CustomerId = bob }, CancellationToken.None));
        Assert.Equal(1, await CountAsync("SELECT count(*) FROM payments"));
        Assert.Empty(await KeysAsync(bob));

        Assert.Equal("pay_1", (await payments.FindPaymentAsync("stripe", ["pi_1"], CancellationToken.None))!.Id);
        // A refund naming only the checkout finds the payment too; another provider's id of the same text does not.
        Assert.Equal("pay_1", (await payments.FindPaymentAsync("stripe", ["re_unknown", "cs_1"], CancellationToken.None))!.Id);
        Assert.Null(await payments.FindPaymentAsync("creem", ["pi_1", "cs_1"], CancellationToken.None));

        Assert.Equal(
            [("chk_1", "checkout", ""), ("cs_1", "checkout_session", "stripe"), ("cs_1", "payment_checkout", "stripe"), ("pi_1", "payment", "stripe")],
            (await KeysAsync(alice)).Select(k => (k.Key, k.Kind, k.Provider)).Order().ToList());
    }

    [Fact]
    public async Task RacingInsertsOfOneProviderPayment_RecordItOnce()
    {
        var payments = Db.Database.Payments;
        var now = Clock.GetUtcNow();
        var customers = Enumerable.Range(0, 8).Select(_ => NewCustomer()).ToList();
        var results = await Task.WhenAll(customers.Select((c, i) => Task.Run(() => payments.TryInsertPaymentAsync(
            new Payment($"pay_{i}", c, "creem", PaymentKind.Pack, "pack", PaymentStatus.Completed, 500, "USD", null, null, "ord_race",
                null, null, $"pay_{i}", 100, 0, 0, null, "{}", now, now), CancellationToken.None))));

        Assert.Single(results, r => r);
        Assert.Equal(1, await CountAsync("SELECT count(*) FROM payments"));
        Assert.Equal(1, await CountAsync("SELECT count(*) FROM customer_keys WHERE kind = 'payment'"));
        var owner = (await payments.FindPaymentAsync("creem", ["ord_race"], CancellationToken.None))!.CustomerId;
        Assert.Equal(owner, customers[Array.IndexOf(results, true)]);
    }

    private async Task<List<(string Key, string Kind, string Provider, string CustomerId)>> KeysAsync(string customer)
    {
        await using var connection = await OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT key, kind, provider, customer_id FROM customer_keys WHERE customer_id = '{customer}'";
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<(string, string, string, string)>();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3)));
        }

        return rows;
    }

    private async Task<long> CountAsync(string sql)
    {
        await using var connection = await OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }

    private async Task<DbConnection> OpenAsync()
    {
        DbConnection connection = Provider == DatabaseProvider.Postgres
            ? new Npgsql.NpgsqlConnection(Db.Options.ConnectionString)
            : new Microsoft.Data.Sqlite.SqliteConnection(Db.Options.ConnectionString);
        await connection.OpenAsync();
        return connection;
    }
}

public sealed class SqliteCustomerKeyTests : CustomerKeyTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresCustomerKeyTests : CustomerKeyTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
