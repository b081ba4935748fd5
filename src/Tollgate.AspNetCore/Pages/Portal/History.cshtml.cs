using Tollgate.Core.Catalog;
using Tollgate.Core.Ledger;
using Tollgate.Server.Web;

namespace Tollgate.Server.Pages.Portal;

public sealed class HistoryModel(LedgerEngine ledger, ProductCatalog catalog) : PortalPageModel
{
    public const int PageSize = 20;

    public IReadOnlyList<EntryRecord> Entries { get; private set; } = [];

    public long? Next { get; private set; }

    public bool IsFirstPage { get; private set; }

    public ProductCatalog Catalog => catalog;

    public async Task OnGetAsync(long? before)
    {
        var page = await ledger.GetEntriesAsync(CustomerId, null, PageSize, before is > 0 ? before : null, HttpContext.RequestAborted);
        Entries = page.Entries;
        Next = page.Next;
        IsFirstPage = before is null;
    }
}
