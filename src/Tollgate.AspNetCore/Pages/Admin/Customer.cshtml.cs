using Microsoft.AspNetCore.Mvc;
using Tollgate.Core.Catalog;
using Tollgate.Core.Customers;
using Tollgate.Core.Entitlements;
using Tollgate.Core.Ledger;
using Tollgate.Core.Payments;
using Tollgate.Core.Subscriptions;
using Tollgate.Core.Usage;
using Tollgate.Providers.Sandbox;
using Tollgate.Server.Pages.Shared;

namespace Tollgate.Server.Pages.Admin;

internal sealed class CustomerModel(ICustomerStore customers, Gate gate, LedgerEngine ledger, IPaymentStore payments, IWebhookInbox inbox,
    ProductCatalog catalog, SandboxBilling sandbox, Texts t, TimeProvider time) : AdminPageModel
{
    public const int LedgerPage = 25;
    public const int MaxReason = 500;

    public Customer Customer { get; private set; } = null!;

    public EffectivePlan? Plan { get; private set; }

    public IReadOnlyList<Subscription> Subscriptions { get; private set; } = [];

    public IReadOnlyList<FeatureBalanceView> Balances { get; private set; } = [];

    public EntryPage Ledger { get; private set; } = new([], null);

    public bool FirstLedgerPage { get; private set; } = true;

    /// <summary>The ledger page's entries as the customer reads them in the portal.</summary>
    public LedgerStory Story { get; private set; } = null!;

    public IReadOnlyList<Payment> Payments { get; private set; } = [];

    public IReadOnlyList<WebhookEvent> Webhooks { get; private set; } = [];

    public IReadOnlyList<Feature> Grantable => catalog.Features.Where(f => f.Type is FeatureType.Credits or FeatureType.Metered).ToList();

    public ProductCatalog Catalog => catalog;

    public string? Notice { get; private set; }

    public string? Error { get; private set; }

    // The grant form, kept when it has to be shown again.
    public string GrantKey { get; private set; } = NewKey();

    public string? GrantFeature { get; private set; }

    public long? GrantAmount { get; private set; }

    public string? GrantReason { get; private set; }

    public int? GrantExpiresInDays { get; private set; }

    public async Task<IActionResult> OnGetAsync(string id, long? before, string? done)
    {
        Notice = done is "granted" or "adjusted" or "refunded" or "renewed" ? t["admin.done." + done] : null;
        return await LoadAsync(id, before) ? Page() : NotFoundPage();
    }

    /// <summary>An operator's grant (amount &gt; 0) or correction (amount &lt; 0), with the reason kept on the ledger entry.</summary>
    /// <summary>The customer's records as a download: JSON (everything) or one part as CSV, as the API's export.</summary>
    public async Task<IActionResult> OnGetExportAsync(string id, string? format, string? part)
    {
        if (format is not ("json" or "csv") || (format == "csv" && !Export.CustomerExport.Parts.Contains(part)))
        {
            return BadRequest();
        }

        var export = await Export.CustomerExport.BuildAsync(id, customers, payments, gate, ledger, time, HttpContext.RequestAborted);
        if (export is null)
        {
            return NotFoundPage();
        }

        return format == "csv"
            ? File(System.Text.Encoding.UTF8.GetBytes(Export.CustomerExport.Csv(export, part!)), "text/csv; charset=utf-8", $"{id}-{part}.csv")
            : File(System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(export, Api.Http.ApiJson.Options), "application/json", $"{id}.json");
    }

    public async Task<IActionResult> OnPostGrantAsync(string id, string? feature, long? amount, string? reason, int? expiresInDays, string? key)
    {
        var ct = HttpContext.RequestAborted;
        (GrantFeature, GrantAmount, GrantReason, GrantExpiresInDays) = (feature, amount, reason, expiresInDays);
        GrantKey = key is { Length: 32 } && key.All(char.IsAsciiHexDigitLower) ? key : NewKey();
        if (await customers.GetAsync(id, ct) is null)
        {
            return NotFoundPage();
        }

        reason = reason?.Trim();
        Error = feature is null || !Grantable.Any(f => f.Id == feature) ? t["admin.grant.error.feature"]
            : amount is null or 0 || Math.Abs(amount.Value) > 1_000_000_000_000 ? t["admin.grant.error.amount"]
            : string.IsNullOrEmpty(reason) || reason.Length > MaxReason ? t["admin.grant.error.reason"]
            : expiresInDays is < 1 or > 3650 ? t["admin.grant.error.expiry"]
            : null;
        if (Error is null && amount > 0)
        {
            var expiresAt = expiresInDays is { } days ? time.GetUtcNow().AddDays(days) : (DateTimeOffset?)null;
            var outcome = await gate.GrantAsync(id, feature!, amount.Value, expiresAt, reason!, GrantKey, LotSource.Admin, ct);
            Error = outcome.Refusal is null ? null
                : outcome.Refusal == TollgateRefusal.IdempotencyKeyReused ? t["admin.grant.error.key"]
                : t["admin.grant.error.failed"];
        }
        else if (Error is null)
        {
            var result = await ledger.ConsumeAsync(new ConsumeRequest(id, feature!, -amount!.Value, "adjust:" + GrantKey)
            {
                EntryType = EntryType.Adjust,
                Reference = reason,
            }, ct);
            gate.Invalidate(id);
            Error = result.Refusal switch
            {
                null => null,
                LedgerRefusal.InsufficientBalance => t["admin.grant.error.insufficient"],
                LedgerRefusal.KeyReused => t["admin.grant.error.key"],
                _ => t["admin.grant.error.failed"],
            };
        }

        if (Error is null)
        {
            return Redirect($"/admin/customers/{Uri.EscapeDataString(id)}?done={(amount > 0 ? "granted" : "adjusted")}#ledger");
        }

        Response.StatusCode = StatusCodes.Status400BadRequest;
        await LoadAsync(id, null);
        return Page();
    }

    /// <summary>Refunds a Sandbox payment in full, as a provider's dashboard would: the refund arrives as its webhook.</summary>
    public async Task<IActionResult> OnPostRefundAsync(string id, string? payment)
    {
        var ct = HttpContext.RequestAborted;
        var found = (await payments.ListPaymentsAsync(id, ct)).FirstOrDefault(p => p.Id == payment);
        if (found is not { Provider: SandboxPlugin.ProviderId, Status: PaymentStatus.Completed, Amount: { } paid, Currency: { } currency } || paid <= found.RefundedAmount)
        {
            return NotFoundPage();
        }

        await sandbox.RefundAsync(id, found.ProviderPaymentId, paid - found.RefundedAmount, currency, full: true, ct);
        return Redirect($"/admin/customers/{Uri.EscapeDataString(id)}?done=refunded#payments");
    }

    /// <summary>Ends a Sandbox subscription's period now and starts the next, paid (to see a renewal without waiting).</summary>
    public async Task<IActionResult> OnPostRenewAsync(string id, string? subscription)
    {
        var ct = HttpContext.RequestAborted;
        var found = (await gate.SubscriptionsAsync(id, ct)).FirstOrDefault(s => s.Id == subscription);
        if (found is not { Provider: SandboxPlugin.ProviderId, ProviderSubscriptionId: { } providerId } || !await sandbox.RenewNowAsync(providerId, ct))
        {
            return NotFoundPage();
        }

        return Redirect($"/admin/customers/{Uri.EscapeDataString(id)}?done=renewed#subscriptions");
    }

    private async Task<bool> LoadAsync(string id, long? before)
    {
        var ct = HttpContext.RequestAborted;
        if (await customers.GetAsync(id, ct) is not { } customer)
        {
            return false;
        }

        Customer = customer;
        Plan = await gate.PlanAsync(id, ct);
        Subscriptions = (await gate.SubscriptionsAsync(id, ct)).OrderByDescending(s => s.CreatedAt).ToList();
        Balances = await gate.BalancesAsync(id, ct);
        Ledger = await ledger.GetEntriesAsync(id, null, LedgerPage, before is > 0 ? before : null, ct);
        FirstLedgerPage = before is null;
        Payments = (await payments.ListPaymentsAsync(id, ct)).OrderByDescending(p => p.CreatedAt).ToList();
        Webhooks = await inbox.ListByCustomerAsync(id, 20, ct);
        Story = new LedgerStory(Ledger.Entries.Count == 0 ? [] : await ledger.GetAllLotsAsync(id, ct), catalog, Subscriptions, Payments, t, Ledger.Entries);
        return true;
    }

    private static string NewKey() => Guid.NewGuid().ToString("N");
}
