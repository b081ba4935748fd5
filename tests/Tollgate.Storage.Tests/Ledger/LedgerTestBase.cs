using Tollgate.Core.Ledger;
using Tollgate.Testing;

namespace Tollgate.Storage.Tests.Ledger;

/// <summary>A fresh migrated database and a ledger engine on a manual clock, per test.</summary>
public abstract class LedgerTestBase : IAsyncLifetime
{
    private int _keys;

    protected abstract DatabaseProvider Provider { get; }

    protected ManualTimeProvider Clock { get; } = new();

    protected TestDatabase Db { get; private set; } = null!;

    protected LedgerEngine Ledger { get; private set; } = null!;

    protected virtual LedgerOptions Options => new() { Lanes = Provider == DatabaseProvider.Postgres ? 4 : 1 };

    /// <summary>PostgreSQL with one pooled connection (<see cref="TestDatabase.CreateAsync"/>).</summary>
    protected virtual bool OnePooledConnection => false;

    public async ValueTask InitializeAsync()
    {
        Db = await TestDatabase.CreateAsync(Provider, Clock, onePooledConnection: OnePooledConnection);
        Ledger = new LedgerEngine(Db.Database.Ledger, Clock, Options);
    }

    public async ValueTask DisposeAsync()
    {
        await Ledger.DisposeAsync();
        await Db.DisposeAsync();
        GC.SuppressFinalize(this);
    }

    protected static string NewCustomer() => "cus_" + Guid.NewGuid().ToString("N")[..12];

    protected string Key() => $"k{Interlocked.Increment(ref _keys)}";

    protected Task<GrantResult> Grant(string customer, string feature, long amount, LotSource source = LotSource.Payment,
        string? sourceRef = null, DateTimeOffset? expiresAt = null, int? priority = null) =>
        Ledger.GrantAsync(new GrantRequest(customer, feature, amount, source, Key())
        {
            SourceRef = sourceRef,
            ExpiresAt = expiresAt,
            Priority = priority,
        });

    protected Task<ConsumeResult> Consume(string customer, string feature, long amount, Spill? spill = null) =>
        Ledger.ConsumeAsync(new ConsumeRequest(customer, feature, amount, Key()) { Spill = spill });

    protected Task<HoldResult> Hold(string customer, string feature, long amount, TimeSpan? ttl = null, Spill? spill = null) =>
        Ledger.HoldAsync(new HoldRequest(customer, feature, amount, ttl ?? TimeSpan.FromHours(1), Key()) { Spill = spill });

    protected async Task<FeatureBalance> Balance(string customer, string feature) =>
        (await Ledger.GetBalancesAsync(customer)).For(feature);

    protected async Task<List<EntryRecord>> AllEntries(string customer, string? feature = null)
    {
        var all = new List<EntryRecord>();
        long? before = null;
        do
        {
            var page = await Ledger.GetEntriesAsync(customer, feature, 100, before);
            all.AddRange(page.Entries);
            before = page.Next;
        }
        while (before is not null);

        all.Reverse();
        return all;
    }

    /// <summary>Writes due expiries, then checks the ledger's books for every feature: entries add up to the balance,
    /// each entry's balance_after is the running sum, nothing is negative.</summary>
    protected async Task AssertBooksBalance(string customer)
    {
        await Ledger.SweepAsync();
        var balances = await Ledger.GetBalancesAsync(customer);
        var entries = await AllEntries(customer);
        foreach (var feature in entries.Select(e => e.Feature).Distinct())
        {
            long running = 0;
            foreach (var entry in entries.Where(e => e.Feature == feature))
            {
                running += entry.Amount;
                Assert.Equal(running, entry.BalanceAfter);
            }

            var balance = balances.For(feature);
            Assert.Equal(balance.Available - balance.Debt, running);
            Assert.True(balance.Available >= 0, $"{feature} available is negative");
            Assert.True(balance.Held >= 0, $"{feature} held is negative");
            Assert.True(balance.Debt >= 0, $"{feature} debt is negative");
        }

        foreach (var lot in await Db.Database.Ledger.GetAllLotsAsync(customer, CancellationToken.None))
        {
            Assert.InRange(lot.Remaining, 0, lot.Amount);
            Assert.InRange(lot.Remaining + lot.Held, 0, lot.Amount);
        }
    }
}
