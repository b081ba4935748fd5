using Microsoft.AspNetCore.Mvc;
using Tollgate.Core.Catalog;
using Tollgate.Core.Payments;
using Tollgate.Core.Subscriptions;
using Tollgate.Core.Usage;
using Tollgate.Providers.Sandbox;
using Tollgate.Server.Sessions;
using Tollgate.Server.Pages.Shared;

namespace Tollgate.Server.Pages;

/// <summary>What the pricing page offers for one plan, for the visitor looking at it.</summary>
internal enum PlanAction
{
    /// <summary>Nothing to do: the plan held now, or the free plan for a visitor.</summary>
    None,

    /// <summary>A visitor without a portal session: buying needs one.</summary>
    SignIn,

    /// <summary>Start a checkout with the provider.</summary>
    Checkout,

    /// <summary>Change the recurring subscription held to this plan.</summary>
    Change,

    /// <summary>The free plan, while a paid one is held: reached by cancelling in the portal.</summary>
    Cancel,

    /// <summary>Not for sale to this customer now.</summary>
    Unavailable,
}

internal sealed record PlanOffer(Plan Plan, ShownPrice? Price, bool Current, bool Upgrade, PlanAction Action, bool Immediate, IReadOnlyList<string> Allowances)
{
    /// <summary>The plan's free trial, offered to this customer now (once per plan, never while held); null: none.</summary>
    public int? TrialDays { get; init; }
}

internal sealed record PackOffer(Pack Pack, ShownPrice? Price, bool Eligible);

internal sealed class PricingModel(ProductCatalog catalog, PriceBook prices, CheckoutService checkouts, Gate gate, PortalSessions sessions,
    ProviderRegistry providers, TrialService trials, Texts t, TimeProvider time) : TollgatePageModel
{
    /// <summary>The card-less trial the customer is in now (the plan it gives is <see cref="Current"/>), or null.</summary>
    public Subscription? OwnTrial { get; private set; }

    public string? CustomerId { get; private set; }

    public Plan? Current { get; private set; }

    /// <summary>The recurring subscription a plan change would apply to.</summary>
    public Subscription? Changeable { get; private set; }

    public IReadOnlyList<PlanOffer> Plans { get; private set; } = [];

    public IReadOnlyList<PackOffer> Packs { get; private set; } = [];

    public bool Demo => providers.Default == SandboxPlugin.ProviderId;

    public string? Error { get; private set; }

    /// <summary>Monthly plans that have a yearly version (a yearly plan that <c>includes</c> it), by monthly plan id:
    /// the pricing page shows one or the other with a Monthly / Yearly switch.</summary>
    public IReadOnlyDictionary<string, Plan> YearlyOf => catalog.Plans
        .Where(p => p.Interval == BillingInterval.Year && p.Includes is { } m && catalog.PlansById.GetValueOrDefault(m)?.Interval == BillingInterval.Month)
        .GroupBy(p => p.Includes!)
        .ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);

    /// <summary>What a yearly plan saves against twelve months of its monthly plan, in whole percent (null when the
    /// prices are not both known in one currency, or it saves nothing).</summary>
    public int? YearlySaving(Plan yearly)
    {
        var monthly = Plans.FirstOrDefault(o => o.Plan.Id == yearly.Includes)?.Price;
        var year = Plans.FirstOrDefault(o => o.Plan.Id == yearly.Id)?.Price;
        if (monthly is null || year is null || monthly.Currency != year.Currency || monthly.Amount <= 0)
        {
            return null;
        }

        var saving = (int)Math.Floor(100m * (12 * monthly.Amount - year.Amount) / (12 * monthly.Amount));
        return saving > 0 ? saving : null;
    }

    /// <summary>The currency the catalog sells in, to show the free plan's price in.</summary>
    public string Currency => catalog.Plans.Select(p => p.Price?.Currency).Concat(catalog.Packs.Select(p => p.Price?.Currency)).FirstOrDefault(c => c is not null) ?? "USD";

    public async Task OnGetAsync()
    {
        CustomerId = (await sessions.ResolveAsync(HttpContext)).CustomerId;
        await LoadAsync();
    }

    public async Task<IActionResult> OnPostBuyAsync(string? product)
    {
        var session = await sessions.ResolveAsync(HttpContext);
        if (session.CustomerId is null)
        {
            return Problem(PortalPageModel.Denied(session.Problem));
        }

        CustomerId = session.CustomerId;
        if (string.IsNullOrEmpty(product) || (!catalog.PlansById.ContainsKey(product) && !catalog.PacksById.ContainsKey(product)))
        {
            return NotFoundPage();
        }

        var outcome = await checkouts.CreateAsync(new CheckoutCommand(CustomerId, product), HttpContext.RequestAborted);
        if (outcome.Checkout is { } checkout)
        {
            // The provider's hosted page; the webhook, not the way back, decides what is granted.
            return Redirect(checkout.Url);
        }

        Error = outcome.Refusal?.Kind switch
        {
            TollgateRefusalKind.NotEligible => t["pricing.error.not_eligible"],
            TollgateRefusalKind.ProviderError => t["pricing.error.provider"],
            TollgateRefusalKind.NotSupported => t["pricing.error.in_app"],
            _ => t["pricing.error.other"],
        };
        Response.StatusCode = outcome.Refusal == TollgateRefusal.ProviderError ? StatusCodes.Status502BadGateway : StatusCodes.Status409Conflict;
        await LoadAsync();
        return Page();
    }

    /// <summary>Starts the customer's card-less trial of a plan. A form sent twice starts it once: the second finds the
    /// trial had and is answered as not eligible.</summary>
    public async Task<IActionResult> OnPostTrialAsync(string? plan)
    {
        var session = await sessions.ResolveAsync(HttpContext);
        if (session.CustomerId is null)
        {
            return Problem(PortalPageModel.Denied(session.Problem));
        }

        CustomerId = session.CustomerId;
        if (string.IsNullOrEmpty(plan) || !catalog.PlansById.ContainsKey(plan))
        {
            return NotFoundPage();
        }

        var outcome = await trials.StartAsync(CustomerId, plan, cancellationToken: HttpContext.RequestAborted);
        if (outcome.Subscription is not null)
        {
            // Post, redirect, get: the portal shows the plan and the days left.
            return Redirect("/portal#plan");
        }

        Error = t["pricing.error.trial"];
        Response.StatusCode = StatusCodes.Status409Conflict;
        await LoadAsync();
        return Page();
    }

    private async Task LoadAsync()
    {
        var ct = HttpContext.RequestAborted;
        var now = time.GetUtcNow();
        if (CustomerId is not null)
        {
            var plan = await gate.PlanAsync(CustomerId, ct);
            Current = plan?.Primary;
            Changeable = Portal.IndexModel.ChangeableSubscription(await gate.SubscriptionsAsync(CustomerId, ct), catalog, now, providers);
            OwnTrial = plan?.Subscription is { } held && TrialService.IsOwnTrial(held) ? held : null;
        }

        var plans = new List<PlanOffer>();
        foreach (var plan in catalog.Plans)
        {
            var price = plan.IsDefault ? null : await prices.PriceAsync(plan.Id, null, ct);
            var current = Current?.Id == plan.Id;
            var upgrade = Current is not null && plan.Rank > Current.Rank;
            var action = PlanAction.None;
            // The plan being tried is bought like any other: that is how the trial converts.
            if (!current || OwnTrial is not null)
            {
                action = plan.IsDefault ? (CustomerId is null ? PlanAction.None : PlanAction.Cancel)
                    : CustomerId is null ? PlanAction.SignIn
                    : Changeable is not null && plan.Interval is BillingInterval.Month or BillingInterval.Year ? PlanAction.Change
                    : await checkouts.IneligibleAsync(CustomerId, plan, null, ct) is null ? PlanAction.Checkout
                    : PlanAction.Unavailable;
            }

            var trial = CustomerId is not null && plan.TrialDays is { } days && !current && await trials.IneligibleAsync(CustomerId, plan, ct) is null
                ? days
                : (int?)null;
            plans.Add(new PlanOffer(plan, price, current, upgrade, action, upgrade, Catalogs.Allowances(plan, catalog, t)) { TrialDays = trial });
        }

        var packs = new List<PackOffer>();
        foreach (var pack in catalog.Packs)
        {
            var eligible = CustomerId is null || await checkouts.IneligibleAsync(CustomerId, null, pack, ct) is null;
            packs.Add(new PackOffer(pack, await prices.PriceAsync(pack.Id, null, ct), eligible));
        }

        Plans = plans;
        Packs = packs;
    }
}
