using Tollgate.Core.Catalog;
using Tollgate.Core.Ledger;
using Tollgate.Core.Payments;
using Tollgate.Core.Usage;
using Tollgate.Server.Pages.Shared;

namespace Tollgate.Server.Pages.Portal;

internal sealed class HistoryModel(LedgerEngine ledger, ProductCatalog catalog, Gate gate, IPaymentStore payments, Texts t) : PortalPageModel
{
    public const int PageSize = 20;

    public IReadOnlyList<EntryRecord> Entries { get; private set; } = [];

    public long? Next { get; private set; }

    public bool IsFirstPage { get; private set; }

    public ProductCatalog Catalog => catalog;

    /// <summary>Each entry as a sentence, and what each lot came from (the "From your Pro allowance" of a debit).</summary>
    public LedgerStory Story { get; private set; } = null!;

    public async Task OnGetAsync(long? before)
    {
        var page = await ledger.GetEntriesAsync(CustomerId, null, PageSize, before is > 0 ? before : null, HttpContext.RequestAborted);
        Entries = page.Entries;
        Next = page.Next;
        IsFirstPage = before is null;
        var ct = HttpContext.RequestAborted;
        Story = Entries.Count == 0
            ? new LedgerStory([], catalog, [], [], t, Entries)
            : new LedgerStory(await ledger.GetAllLotsAsync(CustomerId, ct), catalog, await gate.SubscriptionsAsync(CustomerId, ct),
                await payments.ListPaymentsAsync(CustomerId, ct), t, Entries);
    }
}
