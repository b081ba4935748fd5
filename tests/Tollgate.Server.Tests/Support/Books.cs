using Microsoft.Extensions.DependencyInjection;
using Tollgate.Core.Ledger;

namespace Tollgate.Server.Tests.Support;

/// <summary>The ledger's books, checked through a running server: for every feature the entries add up to the balance
/// (available − debt), each entry's balance_after is the running sum, nothing negative, every lot within its amount.</summary>
public static class Books
{
    public static async Task AssertBalancedAsync(TollgateApp app, string customer)
    {
        var ledger = app.Services.GetRequiredService<LedgerEngine>();
        await ledger.SweepAsync();
        var entries = new List<EntryRecord>();
        long? before = null;
        do
        {
            var page = await ledger.GetEntriesAsync(customer, null, 100, before);
            entries.AddRange(page.Entries);
            before = page.Next;
        }
        while (before is not null);

        entries.Reverse();
        var balances = await ledger.GetBalancesAsync(customer);
        foreach (var feature in entries.Where(e => e.Type != EntryType.Count).Select(e => e.Feature).Distinct())
        {
            long running = 0;
            foreach (var entry in entries.Where(e => e.Feature == feature))
            {
                running += entry.Amount;
                Assert.Equal(running, entry.BalanceAfter);
            }

            var balance = balances.For(feature);
            Assert.Equal(balance.Available - balance.Debt, running);
            Assert.True(balance.Available >= 0 && balance.Held >= 0 && balance.Debt >= 0, $"{feature}: {balance}");
            Assert.All(balance.Lots, lot => Assert.InRange(lot.Remaining + lot.Held, 0, lot.Amount));
        }
    }
}
