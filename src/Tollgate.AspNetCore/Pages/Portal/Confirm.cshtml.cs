using Tollgate.Core.Catalog;
using Tollgate.Core.Payments;
using Tollgate.Core.Subscriptions;
using Tollgate.Core.Usage;
using Tollgate.Server.Pages.Shared;

namespace Tollgate.Server.Pages.Portal;

/// <summary>
/// The step between a plan button and the change: what will happen, when, and what it costs, then "Confirm". Nothing
/// changes on this page (a GET); the confirm button posts to the portal's own handler, which checks everything again.
/// The cost is what the provider will do: an immediate change at a provider that prorates (Stripe, Creem) is charged
/// the prorated difference at once — estimated here from the two prices and the time left in the period, as the
/// provider computes it, and labelled an estimate; elsewhere the new price starts at the renewal.
/// </summary>
internal sealed class ConfirmModel(ProductCatalog catalog, Gate gate, PriceBook prices, ProviderRegistry providers, Texts t, TimeProvider time)
    : PortalPageModel
{
    public string Action { get; private set; } = "";

    public Subscription Subscription { get; private set; } = null!;

    public Plan From { get; private set; } = null!;

    public Plan? To { get; private set; }

    public string Title { get; private set; } = "";

    /// <summary>What happens, in order, as sentences.</summary>
    public IReadOnlyList<string> Lines { get; private set; } = [];

    /// <summary>What the change costs, as a sentence.</summary>
    public string Cost { get; private set; } = "";

    public bool Upgrade { get; private set; }

    public async Task<Microsoft.AspNetCore.Mvc.IActionResult> OnGetAsync(string? action, string? subscription, string? plan)
    {
        var ct = HttpContext.RequestAborted;
        var now = time.GetUtcNow();
        var held = await gate.SubscriptionsAsync(CustomerId, ct);
        if (held.FirstOrDefault(s => s.Id == subscription) is not { CurrentPeriodEnd: { } periodEnd } found
            || !catalog.PlansById.TryGetValue(found.PlanId, out var from))
        {
            return NotFoundPage();
        }

        Subscription = found;
        From = from;
        Action = action ?? "";
        var fromPrice = await prices.PriceAsync(from.Id, found.Provider, ct);
        switch (action)
        {
            case "cancel" when !found.CancelAtPeriodEnd && IndexModel.ChangeableSubscription(held, catalog, now, providers)?.Id == found.Id:
                Title = t.F("confirm.cancel.title", t.Name(from.Name));
                Lines = [t.F("confirm.cancel.ends", t.PeriodEnd(periodEnd)), t["confirm.cancel.keep"]];
                Cost = t["confirm.cancel.cost"];
                return Page();
            case "resume" when found.CancelAtPeriodEnd && !found.IsTerminal:
                Title = t.F("confirm.resume.title", t.Name(from.Name));
                Lines = [t.F("confirm.resume.renews", t.PeriodEnd(periodEnd))];
                Cost = fromPrice is { } renewal
                    ? t.F("confirm.resume.cost", Price(renewal, from), t.PeriodEnd(periodEnd))
                    : t["confirm.cost.unknown"];
                return Page();
            case "change" when IndexModel.ChangeableSubscription(held, catalog, now, providers)?.Id == found.Id
                               && plan is not null && plan != from.Id && catalog.PlansById.TryGetValue(plan, out var to)
                               && to.Interval is BillingInterval.Month or BillingInterval.Year:
                To = to;
                Upgrade = to.Rank > from.Rank;
                var toPrice = await prices.PriceAsync(to.Id, found.Provider, ct);
                Title = t.F("confirm.change.title", t.Name(from.Name), t.Name(to.Name));
                Lines = Upgrade
                    ? [t["policy.immediate"], t.F("confirm.change.then", toPrice is { } p1 ? Price(p1, to) : "—", t.PeriodEnd(periodEnd))]
                    : [t.F("policy.next_cycle", t.PeriodEnd(periodEnd)), t.F("confirm.change.then", toPrice is { } p2 ? Price(p2, to) : "—", t.PeriodEnd(periodEnd))];
                Cost = ChangeCost(found, fromPrice, toPrice, now, periodEnd);
                return Page();
            default:
                return NotFoundPage();
        }
    }

    private string ChangeCost(Subscription subscription, ShownPrice? fromPrice, ShownPrice? toPrice, DateTimeOffset now, DateTimeOffset periodEnd)
    {
        if (!Upgrade)
        {
            return t["confirm.change.cost_next"];
        }

        var prorates = providers.Find(subscription.Provider)?.Capabilities.HasFlag(ProviderCapabilities.ProratesImmediateChanges) == true;
        if (!prorates)
        {
            return t["confirm.change.cost_none"];
        }

        if (fromPrice is null || toPrice is null || fromPrice.Currency != toPrice.Currency
            || subscription.CurrentPeriodStart is not { } start || periodEnd <= start)
        {
            return t.F("confirm.change.cost_unknown", t.ProviderName(subscription.Provider));
        }

        var difference = ProratedDifference(fromPrice.Amount, toPrice.Amount, start, periodEnd, now);
        var days = Math.Max(1, (int)Math.Ceiling((periodEnd - now).TotalDays));
        return difference >= 0
            ? t.F("confirm.change.cost_now", t.Money(difference, toPrice.Currency), t.ProviderName(subscription.Provider), days)
            : t.F("confirm.change.credit_now", t.Money(-difference, toPrice.Currency), t.ProviderName(subscription.Provider), days);
    }

    /// <summary>The provider's own proration, estimated: the price difference times the share of the period still to
    /// come (by the second, as Stripe and Creem count it), rounded to the currency's minor unit. The provider's
    /// invoice is the exact amount; this is what the confirmation page announces.</summary>
    public static long ProratedDifference(long fromAmount, long toAmount, DateTimeOffset periodStart, DateTimeOffset periodEnd, DateTimeOffset now)
    {
        var left = Math.Clamp((periodEnd - now).TotalSeconds / (periodEnd - periodStart).TotalSeconds, 0, 1);
        return (long)Math.Round((toAmount - fromAmount) * left, MidpointRounding.AwayFromZero);
    }

    private string Price(ShownPrice price, Plan plan) => $"{t.Money(price.Amount, price.Currency)} {t.Interval(plan.Interval)}";

    public IReadOnlyList<string> Allowances => To is { } to ? Catalogs.Allowances(to, catalog, t) : [];
}
