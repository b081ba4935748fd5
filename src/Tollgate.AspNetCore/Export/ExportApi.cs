using System.Text;
using Tollgate.Core.Customers;
using Tollgate.Core.Ledger;
using Tollgate.Core.Payments;
using Tollgate.Core.Usage;
using Tollgate.Server.Api.Http;

namespace Tollgate.Server.Export;

/// <summary><c>GET /v1/customers/{id}/export</c>: the customer's ledger, payments and subscriptions as JSON, or one of
/// them as CSV.</summary>
internal static class ExportApi
{
    public static RouteGroupBuilder MapExportApi(this RouteGroupBuilder v1)
    {
        v1.MapGet("/customers/{id}/export", async (string id, string? format, string? part, HttpContext http, ICustomerStore customers, IPaymentStore payments,
            Gate gate, LedgerEngine ledger, TimeProvider time, CancellationToken ct) =>
        {
            if (Validate.CustomerId(id, "id") is { } problem)
            {
                return problem;
            }

            if (format is not (null or "json" or "csv"))
            {
                return Problems.InvalidRequest("format must be json or csv.");
            }

            if (format == "csv" && !CustomerExport.Parts.Contains(part))
            {
                return Problems.InvalidRequest("a CSV export needs part=ledger, part=payments or part=subscriptions.");
            }

            if (format != "csv" && part is not null)
            {
                return Problems.InvalidRequest("part is for format=csv; the JSON export holds every part.");
            }

            var export = await CustomerExport.BuildAsync(id, customers, payments, gate, ledger, time, ct);
            if (export is null)
            {
                return Problems.NotFound("customer_not_found", $"No customer '{id}', and no records under that id.");
            }

            if (format != "csv")
            {
                return ApiResult.Ok(export);
            }

            http.Response.Headers.ContentDisposition = $"attachment; filename=\"{id}-{part}.csv\"";
            return new ApiResult(StatusCodes.Status200OK, Encoding.UTF8.GetBytes(CustomerExport.Csv(export, part!)), "text/csv; charset=utf-8");
        }).Produces<CustomerExportView>().Produces<string>(StatusCodes.Status200OK, "text/csv").WithName("exportCustomer")
            .Refuses(400, "invalid_request").Refuses(404, "customer_not_found");
        return v1;
    }
}
