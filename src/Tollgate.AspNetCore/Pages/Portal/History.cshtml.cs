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

    /// <summary>What each lot of the customer came from (the "from your Pro allowance" of a debit).</summary>
    public IReadOnlyDictionary<string, string> Origins { get; private set; } = new Dictionary<string, string>();

    public async Task OnGetAsync(long? before)
    {
        var page = await ledger.GetEntriesAsync(CustomerId, null, PageSize, before is > 0 ? before : null, HttpContext.RequestAborted);
        Entries = page.Entries;
        Next = page.Next;
        IsFirstPage = before is null;
        if (Entries.Any(e => e.Lots.Count > 0))
        {
            var ct = HttpContext.RequestAborted;
            Origins = LotOrigins.Of(await ledger.GetAllLotsAsync(CustomerId, ct), catalog, await gate.SubscriptionsAsync(CustomerId, ct),
                await payments.ListPaymentsAsync(CustomerId, ct), t);
        }
    }
}
