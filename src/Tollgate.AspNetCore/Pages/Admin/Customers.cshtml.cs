using Tollgate.Core.Customers;
using Tollgate.Server.Pages.Shared;

namespace Tollgate.Server.Pages.Admin;

internal sealed class CustomersModel(ICustomerStore customers) : AdminPageModel
{
    public const int Limit = 50;

    public string? Query { get; private set; }

    public IReadOnlyList<Customer> Results { get; private set; } = [];

    public async Task OnGetAsync(string? q)
    {
        Query = string.IsNullOrWhiteSpace(q) ? null : q.Trim()[..Math.Min(q.Trim().Length, 200)];
        Results = await customers.SearchAsync(Query, Limit, HttpContext.RequestAborted);
    }
}
