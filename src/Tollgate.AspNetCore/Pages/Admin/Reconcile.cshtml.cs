using Tollgate.Server.Hosting;
using Tollgate.Server.Reconciliation;
using Tollgate.Server.Pages.Shared;
using Tollgate.Storage;

namespace Tollgate.Server.Pages.Admin;

/// <summary>The reconcile verb's report for a chosen provider and period, in the console. Reads only, like the verb;
/// it runs on GET because it changes nothing, and only when a provider is chosen.</summary>
internal sealed class ReconcileModel(TollgateSettings settings, TollgateDatabase database, TimeProvider time) : AdminPageModel
{
    public IReadOnlyList<string> Providers { get; } =
        [.. settings.Providers.Live.Where(p => p.Plugin.Reconciles).Select(p => p.Plugin.Id)];

    public string? Provider { get; private set; }

    public string Since { get; private set; } = "30d";

    public ReconcileReport? Report { get; private set; }

    /// <summary>A text key for input that is not a period or provider, or null.</summary>
    public string? InputProblem { get; private set; }

    /// <summary>What the provider or the database answered when the comparison could not be made.</summary>
    public string? Failure { get; private set; }

    public async Task OnGetAsync(string? provider, string? since)
    {
        Since = string.IsNullOrWhiteSpace(since) ? "30d" : since.Trim();
        if (string.IsNullOrEmpty(provider))
        {
            return;
        }

        Provider = provider;
        var from = ReconcileCommand.ParseSince(Since, time.GetUtcNow());
        if (!Providers.Contains(provider, StringComparer.Ordinal) || from is null)
        {
            InputProblem = from is null ? "admin.reconcile.bad_since" : "admin.reconcile.bad_provider";
            Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }

        using var http = new HttpClient();
        try
        {
            Report = await new Reconciler(database.Subscriptions, database.Payments, database.Customers, database.Ledger, time)
                .RunAsync(provider, ReconcileCommand.Listing(provider, settings.Providers, http, time)!, from.Value, HttpContext.RequestAborted);
        }
        catch (Core.Payments.ProviderException ex)
        {
            Failure = ex.Message;
            Response.StatusCode = StatusCodes.Status502BadGateway;
        }
    }
}
