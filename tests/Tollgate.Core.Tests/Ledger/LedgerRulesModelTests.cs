using Tollgate.Core.Common;
using Tollgate.Core.Ledger;
using Tollgate.Testing;
using Tollgate.Testing.LedgerModel;

namespace Tollgate.Core.Tests.Ledger;

/// <summary>
/// The ledger model test (<see cref="LedgerModelRun"/>) on <see cref="LedgerRules"/> alone: the rules applied to one
/// customer's state in memory, as the engine applies them inside its transaction (catch up to now, then the
/// operation), without a database. The same sequences, the same reference ledger; it runs in a second where the
/// database run takes many, which is what lets the CI run every mutant of the rules (docs/testing.md). The engine on
/// SQLite and PostgreSQL is held to the same model by Tollgate.Storage.Tests' LedgerModelProperties.
/// </summary>
public sealed class LedgerRulesModelTests : ILedgerUnderTest
{
    private readonly ManualTimeProvider _clock = new();
    private readonly LedgerRules _rules;
    private readonly Dictionary<string, CustomerLedger> _customers = new(StringComparer.Ordinal);

    public LedgerRulesModelTests() => _rules = new LedgerRules(new LedgerOptions { BurnOrders = LedgerModelRun.BurnOrders }, _clock);

    [Fact]
    public void RandomSequences_AnswerAndBalanceExactlyAsTheReferenceLedger() =>
        new LedgerModelRun(this, _clock, () => "cus_" + Guid.NewGuid().ToString("N")[..12]).Check(sequences: 300);

    private DateTimeOffset Now => Instants.Now(_clock);

    /// <summary>The customer's state brought up to now, as every write transaction and read view does first.</summary>
    private CustomerLedger Ledger(string customerId)
    {
        if (!_customers.TryGetValue(customerId, out var ledger))
        {
            ledger = _customers[customerId] = new CustomerLedger(CustomerLedgerData.Empty(customerId));
        }

        _rules.CatchUp(ledger, Now);
        return ledger;
    }

    private CustomerLedger? Owner(string holdId) => _customers.Values.FirstOrDefault(l => l.Hold(holdId) is not null);

    Task<GrantResult> ILedgerUnderTest.GrantAsync(GrantRequest request) => Task.FromResult(_rules.Grant(Ledger(request.CustomerId), request, Now));

    Task<ConsumeResult> ILedgerUnderTest.ConsumeAsync(ConsumeRequest request) => Task.FromResult(_rules.Consume(Ledger(request.CustomerId), request, Now));

    Task<HoldResult> ILedgerUnderTest.HoldAsync(HoldRequest request) => Task.FromResult(_rules.Hold(Ledger(request.CustomerId), request, Now));

    Task<SettleResult> ILedgerUnderTest.SettleAsync(SettleRequest request) => Task.FromResult(Owner(request.HoldId) is { } owner
        ? _rules.Settle(Ledger(owner.CustomerId), request, Now)
        : new SettleResult { Refusal = LedgerRefusal.HoldNotFound, HoldId = request.HoldId });

    Task<SettleResult> ILedgerUnderTest.ReleaseAsync(ReleaseRequest request) => Task.FromResult(Owner(request.HoldId) is { } owner
        ? _rules.Release(Ledger(owner.CustomerId), request, Now)
        : new SettleResult { Refusal = LedgerRefusal.HoldNotFound, HoldId = request.HoldId });

    Task<ClawbackResult> ILedgerUnderTest.ClawbackAsync(ClawbackRequest request) => Task.FromResult(_rules.Clawback(Ledger(request.CustomerId), request, Now));

    Task<ReverseResult> ILedgerUnderTest.ReverseAsync(ReverseRequest request) => Task.FromResult(_rules.Reverse(Ledger(request.CustomerId), request, Now));

    Task<RetireResult> ILedgerUnderTest.RetireAsync(RetireRequest request) => Task.FromResult(_rules.Retire(Ledger(request.CustomerId), request, Now));

    Task<CountResult> ILedgerUnderTest.CountAsync(CountRequest request) => Task.FromResult(_rules.Count(Ledger(request.CustomerId), request, Now));

    Task ILedgerUnderTest.SweepAsync()
    {
        foreach (var id in _customers.Keys)
        {
            Ledger(id);
        }

        return Task.CompletedTask;
    }

    Task<CustomerBalances> ILedgerUnderTest.GetBalancesAsync(string customerId) => Task.FromResult(CustomerBalances.From(Ledger(customerId), Now));

    Task<HoldRecord?> ILedgerUnderTest.GetHoldAsync(string holdId) =>
        Task.FromResult(Owner(holdId) is { } owner ? Ledger(owner.CustomerId).Hold(holdId) : null);

    Task<IReadOnlyList<EntryRecord>> ILedgerUnderTest.AllEntriesAsync(string customerId) => Task.FromResult(Ledger(customerId).NewEntries);

    Task<IReadOnlyList<LotRecord>> ILedgerUnderTest.AllLotsAsync(string customerId) =>
        Task.FromResult<IReadOnlyList<LotRecord>>([.. Ledger(customerId).Lots]);
}
