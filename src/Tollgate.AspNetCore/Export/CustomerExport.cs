using System.Globalization;
using System.Text;
using Tollgate.Core.Common;
using Tollgate.Core.Customers;
using Tollgate.Core.Ledger;
using Tollgate.Core.Payments;
using Tollgate.Core.Usage;
using Tollgate.Server.Api;

namespace Tollgate.Server.Export;

/// <summary>One customer's records, to answer "why was I charged": every payment (what it cost, what it granted, what a
/// refund took back), every subscription, and the whole ledger (every grant, charge, hold, expiry and clawback with the
/// balance after it and what caused it).</summary>
internal sealed record CustomerExportView(
    string CustomerId,
    DateTimeOffset GeneratedAt,
    string? Email,
    string? Name,
    DateTimeOffset? CreatedAt,
    IReadOnlyList<ExportedPayment> Payments,
    IReadOnlyList<ExportedSubscription> Subscriptions,
    IReadOnlyList<EntryView> Ledger);

internal sealed record ExportedPayment(
    string Id,
    string Provider,
    string Kind,
    string Product,
    string Status,
    long? Amount,
    string? Currency,
    long Credits,
    long RefundedAmount,
    long CreditsClawed,
    string? CheckoutId,
    string ProviderPaymentId,
    string? SubscriptionId,
    string? LedgerReference,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

internal sealed record ExportedSubscription(
    string Id,
    string Plan,
    string Provider,
    string Status,
    string? ProviderSubscriptionId,
    DateTimeOffset? CurrentPeriodStart,
    DateTimeOffset? CurrentPeriodEnd,
    bool CancelAtPeriodEnd,
    DateTimeOffset? CanceledAt,
    DateTimeOffset CreatedAt);

/// <summary>Builds a customer's export (JSON) and its CSV tables; used by the API and the admin console.</summary>
internal static class CustomerExport
{
    public static readonly string[] Parts = ["ledger", "payments", "subscriptions"];

    private const int LedgerPage = 500;

    /// <summary>The export, or null when Tollgate has nothing at all about this customer id.</summary>
    public static async Task<CustomerExportView?> BuildAsync(string customerId, ICustomerStore customers, IPaymentStore payments, Gate gate,
        LedgerEngine ledger, TimeProvider time, CancellationToken cancellationToken)
    {
        var customer = await customers.GetAsync(customerId, cancellationToken);
        var paid = await payments.ListPaymentsAsync(customerId, cancellationToken);
        var subscriptions = await gate.SubscriptionsAsync(customerId, cancellationToken);
        var entries = new List<EntryView>();
        long? before = null;
        do
        {
            var page = await ledger.GetEntriesAsync(customerId, null, LedgerPage, before, cancellationToken);
            entries.AddRange(page.Entries.Select(EntryView.From));
            before = page.Next;
        }
        while (before is not null);

        if (customer is null && paid.Count == 0 && subscriptions.Count == 0 && entries.Count == 0)
        {
            return null;
        }

        return new CustomerExportView(customerId, time.GetUtcNow(), customer?.Email, customer?.Name, customer?.CreatedAt,
            paid.OrderBy(p => p.CreatedAt).Select(p => new ExportedPayment(p.Id, p.Provider, SnakeCase<PaymentKind>.Name(p.Kind), p.Product,
                SnakeCase<PaymentStatus>.Name(p.Status), p.Amount, p.Currency, p.Credits, p.RefundedAmount, p.CreditsClawed, p.CheckoutId,
                p.ProviderPaymentId, p.SubscriptionId, p.LedgerRef, p.CreatedAt, p.UpdatedAt)).ToList(),
            subscriptions.OrderBy(s => s.CreatedAt).Select(s => new ExportedSubscription(s.Id, s.PlanId, s.Provider,
                SnakeCase<Core.Subscriptions.SubscriptionStatus>.Name(s.Status), s.ProviderSubscriptionId, s.CurrentPeriodStart, s.CurrentPeriodEnd,
                s.CancelAtPeriodEnd, s.CanceledAt, s.CreatedAt)).ToList(),
            // Oldest first (the order a person reads a statement in): the pages come newest first, in the ledger's own order.
            Enumerable.Reverse(entries).ToList());
    }

    /// <summary>One part of the export as CSV (RFC 4180, a header row, times in ISO 8601 UTC).</summary>
    public static string Csv(CustomerExportView export, string part)
    {
        ArgumentNullException.ThrowIfNull(export);
        var csv = new StringBuilder();
        switch (part)
        {
            case "ledger":
                Row(csv, "id", "at", "feature", "type", "amount", "balance_after", "reference", "hold_id", "units");
                foreach (var e in export.Ledger)
                {
                    Row(csv, e.Id, Time(e.At), e.Feature, e.Type, Number(e.Amount), Number(e.BalanceAfter), e.Reference, e.HoldId, Number(e.Units));
                }

                break;
            case "payments":
                Row(csv, "id", "created_at", "provider", "kind", "product", "status", "amount", "currency", "credits", "refunded_amount",
                    "credits_clawed", "checkout_id", "provider_payment_id", "subscription_id", "ledger_reference", "updated_at");
                foreach (var p in export.Payments)
                {
                    Row(csv, p.Id, Time(p.CreatedAt), p.Provider, p.Kind, p.Product, p.Status, Number(p.Amount), p.Currency, Number(p.Credits),
                        Number(p.RefundedAmount), Number(p.CreditsClawed), p.CheckoutId, p.ProviderPaymentId, p.SubscriptionId, p.LedgerReference,
                        Time(p.UpdatedAt));
                }

                break;
            case "subscriptions":
                Row(csv, "id", "created_at", "plan", "provider", "status", "provider_subscription_id", "current_period_start", "current_period_end",
                    "cancel_at_period_end", "canceled_at");
                foreach (var s in export.Subscriptions)
                {
                    Row(csv, s.Id, Time(s.CreatedAt), s.Plan, s.Provider, s.Status, s.ProviderSubscriptionId, Time(s.CurrentPeriodStart),
                        Time(s.CurrentPeriodEnd), s.CancelAtPeriodEnd ? "true" : "false", Time(s.CanceledAt));
                }

                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(part), part, "ledger, payments or subscriptions");
        }

        return csv.ToString();
    }

    private static Cell Number(long? value) => new(value?.ToString(CultureInfo.InvariantCulture), Numeric: true);

    private static Cell Time(DateTimeOffset? value) => new(value?.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture), Numeric: true);

    private static void Row(StringBuilder csv, params Cell[] cells)
    {
        for (var i = 0; i < cells.Length; i++)
        {
            if (i > 0)
            {
                csv.Append(',');
            }

            csv.Append(cells[i].Escaped());
        }

        csv.Append("\r\n");
    }

    /// <summary>A CSV cell. Text that a spreadsheet would run as a formula (=, +, -, @, tab, CR) is prefixed with an
    /// apostrophe: ids and references come from apps and providers, and the file is opened by people.</summary>
    private readonly record struct Cell(string? Value, bool Numeric = false)
    {
        public static implicit operator Cell(string? value) => new(value);

        public string Escaped()
        {
            var value = Value ?? "";
            if (!Numeric && value.Length > 0 && value[0] is '=' or '+' or '-' or '@' or '\t' or '\r')
            {
                value = "'" + value;
            }

            return value.IndexOfAny([',', '"', '\r', '\n']) >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;
        }
    }
}
