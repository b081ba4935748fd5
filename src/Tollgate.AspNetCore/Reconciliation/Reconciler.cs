using Tollgate.Core.Common;
using Tollgate.Core.Customers;
using Tollgate.Core.Ledger;
using Tollgate.Core.Payments;
using Tollgate.Core.Subscriptions;
using Tollgate.Providers;

namespace Tollgate.Server.Reconciliation;

/// <summary>The kinds of difference a reconciliation reports (their JSON and text names are the snake_case forms).</summary>
internal enum DifferenceKind
{
    /// <summary>The provider has it; Tollgate has no record of it (a webhook never arrived or never applied).</summary>
    MissingHere,

    /// <summary>Tollgate has it; the provider does not list it.</summary>
    MissingThere,
    StatusDiffers,
    AmountDiffers,

    /// <summary>A completed purchase of credits whose credits are not in the customer's ledger.</summary>
    PaymentGrantedNothing,

    /// <summary>Credits granted for a payment of this provider that Tollgate has no record of.</summary>
    GrantWithoutPayment,
}

/// <param name="Object"><c>subscription</c>, <c>payment</c> or <c>grant</c>.</param>
/// <param name="Id">The provider's id of the object (a ledger lot's source for a grant).</param>
/// <param name="Tollgate">What Tollgate holds (a status, an amount), or null when it holds nothing.</param>
/// <param name="Provider">What the provider shows, or null when it shows nothing.</param>
internal sealed record Difference(DifferenceKind Kind, string Object, string Id, string? CustomerId, string? Tollgate, string? Provider);

/// <summary>What was compared: the counts make an empty list of differences mean something.</summary>
internal sealed record ReconcileReport(
    string Provider,
    DateTimeOffset Since,
    DateTimeOffset Until,
    int ProviderSubscriptions,
    int ProviderPayments,
    int TollgateSubscriptions,
    int TollgatePayments,
    IReadOnlyList<Difference> Differences,
    IReadOnlyList<string> Notes)
{
    public bool Agrees => Differences.Count == 0;
}

/// <summary>Compares a provider's subscriptions and payments of a period with Tollgate's records. It only reads.</summary>
internal sealed class Reconciler(ISubscriptionStore subscriptions, IPaymentStore payments, ICustomerStore customers, ILedgerStore ledger, TimeProvider time)
{
    /// <summary>Webhooks arrive after the provider created the object: Tollgate's own times lag the provider's. Records this
    /// close to the start of the period are read on both sides, so one that straddles the boundary is not reported missing.</summary>
    public static readonly TimeSpan Overlap = TimeSpan.FromDays(1);

    /// <summary>Bounds on what is read from Tollgate's tables in one run.</summary>
    private const int MaxRows = 1_000_000;

    public async Task<ReconcileReport> RunAsync(string provider, IProviderListing listing, DateTimeOffset since, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(listing);
        var until = time.GetUtcNow();
        var theirs = await listing.ListAsync(since - Overlap, cancellationToken);
        var differences = new List<Difference>();

        // Subscriptions.
        var ours = new List<Subscription>();
        foreach (var status in Enum.GetValues<SubscriptionStatus>())
        {
            ours.AddRange((await subscriptions.ListByStatusAsync(status, MaxRows, cancellationToken))
                .Where(s => s.Provider == provider && s.ProviderSubscriptionId is not null));
        }

        var oursById = ours.GroupBy(s => s.ProviderSubscriptionId!, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        var theirSubscriptions = theirs.Subscriptions.GroupBy(s => s.Id, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        foreach (var s in theirs.Subscriptions.Where(s => s.CreatedAt >= since))
        {
            if (!oursById.TryGetValue(s.Id, out var mine))
            {
                differences.Add(new(DifferenceKind.MissingHere, "subscription", s.Id, null, null, Name(s.Status)));
            }
            else if (Name(s.Status) != SnakeCase<SubscriptionStatus>.Name(mine.Status))
            {
                differences.Add(new(DifferenceKind.StatusDiffers, "subscription", s.Id, mine.CustomerId, SnakeCase<SubscriptionStatus>.Name(mine.Status), Name(s.Status)));
            }
        }

        var oursInPeriod = ours.Where(s => s.CreatedAt >= since).ToList();
        foreach (var mine in oursInPeriod.Where(s => !theirSubscriptions.ContainsKey(s.ProviderSubscriptionId!)))
        {
            differences.Add(new(DifferenceKind.MissingThere, "subscription", mine.ProviderSubscriptionId!, mine.CustomerId,
                SnakeCase<SubscriptionStatus>.Name(mine.Status), null));
        }

        // Payments: Tollgate keys each by the id its webhook carried, which is one of the ids the provider lists it under.
        var ourPayments = (await payments.ListPaymentsByProviderAsync(provider, MaxRows, cancellationToken))
            .Where(p => p.CreatedAt >= since - Overlap).ToList();
        var byId = new Dictionary<string, Payment>(StringComparer.Ordinal);
        foreach (var p in ourPayments)
        {
            byId.TryAdd(p.ProviderPaymentId, p);
            if (p.ProviderCheckoutId is { } checkout)
            {
                byId.TryAdd(checkout, p);
            }
        }

        var matched = new HashSet<string>(StringComparer.Ordinal);
        foreach (var theirPayment in theirs.Payments)
        {
            var mine = theirPayment.Ids.Select(id => byId.GetValueOrDefault(id)).FirstOrDefault(p => p is not null);
            if (mine is not null)
            {
                matched.Add(mine.Id);
            }

            if (theirPayment.CreatedAt < since)
            {
                continue;
            }

            if (mine is null)
            {
                // A payment not (yet) taken is nothing Tollgate must have heard of.
                if (theirPayment.State is not (ProviderPaymentState.Pending or ProviderPaymentState.Failed))
                {
                    differences.Add(new(DifferenceKind.MissingHere, "payment", theirPayment.Id, null, null, Describe(theirPayment)));
                }

                continue;
            }

            if (State(mine.Status) != theirPayment.State)
            {
                differences.Add(new(DifferenceKind.StatusDiffers, "payment", theirPayment.Id, mine.CustomerId, SnakeCase<PaymentStatus>.Name(mine.Status),
                    SnakeCase<ProviderPaymentState>.Name(theirPayment.State)));
            }

            if (theirPayment.Amount is { } amount && (mine.Amount != amount || !string.Equals(mine.Currency, theirPayment.Currency, StringComparison.OrdinalIgnoreCase)))
            {
                differences.Add(new(DifferenceKind.AmountDiffers, "payment", theirPayment.Id, mine.CustomerId, Money(mine.Amount, mine.Currency),
                    Money(amount, theirPayment.Currency)));
            }
        }

        var paymentsInPeriod = ourPayments.Where(p => p.CreatedAt >= since).ToList();
        foreach (var mine in paymentsInPeriod.Where(p => !matched.Contains(p.Id) && p.Status != PaymentStatus.Pending))
        {
            differences.Add(new(DifferenceKind.MissingThere, "payment", mine.ProviderPaymentId, mine.CustomerId, SnakeCase<PaymentStatus>.Name(mine.Status), null));
        }

        // Grants: a purchase of credits leaves a lot whose source is the payment's ledger reference.
        var lotsByCustomer = new Dictionary<string, IReadOnlyList<LotRecord>>(StringComparer.Ordinal);
        async Task<IReadOnlyList<LotRecord>> LotsAsync(string customerId)
        {
            if (!lotsByCustomer.TryGetValue(customerId, out var lots))
            {
                lots = await ledger.GetAllLotsAsync(customerId, cancellationToken);
                lotsByCustomer[customerId] = lots;
            }

            return lots;
        }

        foreach (var mine in paymentsInPeriod.Where(p => p is { Kind: PaymentKind.Pack, Status: PaymentStatus.Completed, Credits: > 0 }))
        {
            var lots = await LotsAsync(mine.CustomerId);
            if (mine.LedgerRef is null || !lots.Any(l => l.Source == LotSource.Payment && l.SourceRef == mine.LedgerRef))
            {
                differences.Add(new(DifferenceKind.PaymentGrantedNothing, "payment", mine.ProviderPaymentId, mine.CustomerId,
                    $"{mine.Credits} credits expected", null));
            }
        }

        var prefix = $"payment:{provider}:";
        foreach (var customer in await customers.SearchAsync(null, MaxRows, cancellationToken))
        {
            foreach (var lot in (await LotsAsync(customer.Id)).Where(l => l.Source == LotSource.Payment && l.CreatedAt >= since
                && l.SourceRef is { } source && source.StartsWith(prefix, StringComparison.Ordinal)))
            {
                var paymentId = lot.SourceRef![prefix.Length..];
                if (await payments.FindPaymentAsync(provider, [paymentId], cancellationToken) is null)
                {
                    differences.Add(new(DifferenceKind.GrantWithoutPayment, "grant", paymentId, customer.Id, $"{lot.Amount} {lot.Feature}", null));
                }
            }
        }

        return new ReconcileReport(provider, since, until, theirs.Subscriptions.Count(s => s.CreatedAt >= since), theirs.Payments.Count(p => p.CreatedAt >= since),
            oursInPeriod.Count, paymentsInPeriod.Count, differences, theirs.Notes);
    }

    private static string Name(ProviderSubscriptionStatus status) => SnakeCase<ProviderSubscriptionStatus>.Name(status);

    private static ProviderPaymentState State(PaymentStatus status) => status switch
    {
        PaymentStatus.Pending => ProviderPaymentState.Pending,
        PaymentStatus.Completed => ProviderPaymentState.Paid,
        PaymentStatus.Failed => ProviderPaymentState.Failed,
        PaymentStatus.Refunded => ProviderPaymentState.Refunded,
        PaymentStatus.Disputed => ProviderPaymentState.Disputed,
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, null),
    };

    private static string Describe(ProviderPaymentRecord p) => $"{SnakeCase<ProviderPaymentState>.Name(p.State)} {Money(p.Amount, p.Currency)}".Trim();

    private static string Money(long? amount, string? currency) =>
        amount is { } a ? $"{a.ToString(System.Globalization.CultureInfo.InvariantCulture)} {currency?.ToUpperInvariant()}".Trim() : "no amount";
}
