using Tollgate.Core.Ledger;
using Tollgate.Testing.LedgerModel;

namespace Tollgate.Storage.Tests.Ledger;

/// <summary>
/// The ledger model test (<see cref="LedgerModelRun"/>) on the engine and a real database: batching lanes, the store's
/// load and save, optimistic keys and all. Every answer, balance and stored lot must be the reference ledger's.
/// </summary>
public abstract class LedgerModelProperties : LedgerTestBase, ILedgerUnderTest
{
    protected override LedgerOptions Options => base.Options with { BurnOrders = LedgerModelRun.BurnOrders };

    [Fact]
    public void RandomSequences_AnswerAndBalanceExactlyAsTheReferenceLedger() =>
        new LedgerModelRun(this, Clock, NewCustomer).Check(sequences: 150);

    Task<GrantResult> ILedgerUnderTest.GrantAsync(GrantRequest request) => Ledger.GrantAsync(request);

    Task<ConsumeResult> ILedgerUnderTest.ConsumeAsync(ConsumeRequest request) => Ledger.ConsumeAsync(request);

    Task<HoldResult> ILedgerUnderTest.HoldAsync(HoldRequest request) => Ledger.HoldAsync(request);

    Task<SettleResult> ILedgerUnderTest.SettleAsync(SettleRequest request) => Ledger.SettleAsync(request);

    Task<SettleResult> ILedgerUnderTest.ReleaseAsync(ReleaseRequest request) => Ledger.ReleaseAsync(request);

    Task<ClawbackResult> ILedgerUnderTest.ClawbackAsync(ClawbackRequest request) => Ledger.ClawbackAsync(request);

    Task<ReverseResult> ILedgerUnderTest.ReverseAsync(ReverseRequest request) => Ledger.ReverseAsync(request);

    Task<RetireResult> ILedgerUnderTest.RetireAsync(RetireRequest request) => Ledger.RetireAsync(request);

    Task<CountResult> ILedgerUnderTest.CountAsync(CountRequest request) => Ledger.CountAsync(request);

    Task ILedgerUnderTest.SweepAsync() => Ledger.SweepAsync();

    Task<CustomerBalances> ILedgerUnderTest.GetBalancesAsync(string customerId) => Ledger.GetBalancesAsync(customerId);

    Task<HoldRecord?> ILedgerUnderTest.GetHoldAsync(string holdId) => Ledger.GetHoldAsync(holdId);

    async Task<IReadOnlyList<EntryRecord>> ILedgerUnderTest.AllEntriesAsync(string customerId) => await AllEntries(customerId);

    Task<IReadOnlyList<LotRecord>> ILedgerUnderTest.AllLotsAsync(string customerId) =>
        Db.Database.Ledger.GetAllLotsAsync(customerId, CancellationToken.None);
}

public sealed class SqliteLedgerModelProperties : LedgerModelProperties
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresLedgerModelProperties : LedgerModelProperties
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
