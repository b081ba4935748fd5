using Microsoft.AspNetCore.Mvc;
using Tollgate.Core.Catalog;
using Tollgate.Core.Customers;
using Tollgate.Core.Payments;
using Tollgate.Core.Subscriptions;
using Tollgate.Core.Usage;
using Tollgate.Providers.Sandbox;
using Tollgate.Server.Sessions;
using Tollgate.Server.Pages.Shared;
using Tollgate.Server.Hosting;
using Tollgate.Server.Payments;
using ActionResult = Tollgate.Server.Payments.ActionResult;

namespace Tollgate.Server.Pages.Portal;

internal sealed record PlanChoice(Plan Plan, ShownPrice? Price, bool Upgrade);

internal sealed class IndexModel(ProductCatalog catalog, Gate gate, ICustomerStore customers, IPaymentStore payments, ProviderRegistry providers,
    CheckoutService checkouts, PriceBook prices, SubscriptionActions actions, ISubscriptionStore subscriptions, PublicUrls urls, Texts t,
    TimeProvider time, Tollgate.Storage.TollgateDatabase database) : PortalPageModel
{
    /// <summary>The customer's auto top-up, if the app set one up (API.md §6.3); the customer turns it on and off here.</summary>
    public Api.AutoTopupView? AutoTopup { get; private set; }

    public Customer? Customer { get; private set; }

    public Plan? Plan { get; private set; }

    /// <summary>The subscription behind <see cref="Plan"/>; null on the free plan.</summary>
    public Subscription? PlanSubscription { get; private set; }

    /// <summary>When the page was made (a trial's days left are counted from it).</summary>
    public DateTimeOffset Now { get; private set; }

    /// <summary>Other subscriptions that have not ended.</summary>
    public IReadOnlyList<Subscription> Others { get; private set; } = [];

    public Subscription? Changeable { get; private set; }

    /// <summary>Where the customer manages <see cref="PlanSubscription"/> when its provider takes no requests from a
    /// server (the App Store's subscription settings); null when Tollgate's own buttons do it.</summary>
    public string? ManagedAtUrl { get; private set; }

    public IReadOnlyList<PlanChoice> Choices { get; private set; } = [];

    /// <summary>One-time plans the customer may buy beside a subscription (Lifetime).</summary>
    public IReadOnlyList<PlanChoice> Lifetime { get; private set; } = [];

    public IReadOnlyList<FeatureBalanceView> Balances { get; private set; } = [];

    public IReadOnlyList<PackOffer> Packs { get; private set; } = [];

    public IReadOnlyList<string> ProviderPortals { get; private set; } = [];

    public bool Demo => providers.Default == SandboxPlugin.ProviderId;

    public string? Notice { get; private set; }

    public string? Error { get; private set; }

    public ProductCatalog Catalog => catalog;

    public ProviderRegistry Providers => providers;

    public async Task OnGetAsync(string? done)
    {
        Notice = done is "cancel" or "resume" or "change" or "change_next" or "topup_on" or "topup_off" ? t["portal.done." + done] : null;
        await LoadAsync();
    }

    public Task<IActionResult> OnPostCancelAsync(string? subscription) =>
        ActAsync(subscription, s => actions.CancelAsync(s.Id, atPeriodEnd: true, HttpContext.RequestAborted), "cancel");

    public Task<IActionResult> OnPostResumeAsync(string? subscription) =>
        ActAsync(subscription, s => actions.ResumeAsync(s.Id, HttpContext.RequestAborted), "resume");

    public async Task<IActionResult> OnPostChangeAsync(string? subscription, string? plan)
    {
        if (plan is null || !catalog.PlansById.TryGetValue(plan, out var target) || target.Interval is not (BillingInterval.Month or BillingInterval.Year))
        {
            return NotFoundPage();
        }

        var upgrade = false;
        return await ActAsync(subscription, s =>
        {
            // The policy, as the page explains it: moving up takes effect now, moving down or sideways at the renewal.
            upgrade = target.Rank > (catalog.PlansById.GetValueOrDefault(s.PlanId)?.Rank ?? int.MaxValue);
            return actions.ChangeAsync(s.Id, target.Id, upgrade ? PlanChangePolicy.Immediate : PlanChangePolicy.NextCycle, HttpContext.RequestAborted);
        }, () => upgrade ? "change" : "change_next");
    }

    /// <summary>Opens the provider's own portal (payment methods, invoices) for this customer.</summary>
    public async Task<IActionResult> OnPostBillingAsync(string? provider)
    {
        if (provider is null || providers.Find(provider) is not { HasCustomerPortal: true } paymentProvider
            || await payments.FindProviderCustomerAsync(provider, CustomerId, HttpContext.RequestAborted) is not { } providerCustomer)
        {
            return NotFoundPage();
        }

        string? url;
        try
        {
            url = await paymentProvider.GetCustomerPortalUrlAsync(providerCustomer, new Uri(urls.Base, "portal").ToString(), HttpContext.RequestAborted);
        }
        catch (ProviderException)
        {
            url = null;
        }

        if (url is not null)
        {
            return Redirect(url);
        }

        Error = t["portal.error.billing"];
        Response.StatusCode = StatusCodes.Status502BadGateway;
        await LoadAsync();
        return Page();
    }

    /// <summary>The customer's own switch for auto top-up (the threshold, pack and limit are the app's to set).</summary>
    public async Task<IActionResult> OnPostAutoTopupAsync(string? enabled)
    {
        if (enabled is not ("true" or "false")
            || !await database.AutoTopups.SetEnabledAsync(CustomerId, enabled == "true", enabled == "true" ? null : "turned off by the customer",
                Tollgate.Core.Common.Instants.Now(time), HttpContext.RequestAborted))
        {
            return NotFoundPage();
        }

        return Redirect("/portal?done=" + (enabled == "true" ? "topup_on" : "topup_off") + "#topup");
    }

    public async Task<IActionResult> OnPostSignOutAsync()
    {
        await HttpContext.RequestServices.GetRequiredService<PortalSessions>().SignOutAsync(HttpContext);
        return Redirect("/");
    }

    /// <summary>The recurring subscription a plan change applies to: active, not set to end, and held at a provider that
    /// takes such requests from a server.</summary>
    public static Subscription? ChangeableSubscription(IReadOnlyList<Subscription> held, ProductCatalog catalog, DateTimeOffset now,
        ProviderRegistry providers) =>
        held.Where(s => !s.IsTerminal && !s.CancelAtPeriodEnd && s.GrantsAccess(now, pastDueKeepsAccess: true)
                && s.ProviderSubscriptionId is { } id && !id.StartsWith("payment:", StringComparison.Ordinal)
                && !ManagedElsewhere(providers, s)
                && catalog.PlansById.GetValueOrDefault(s.PlanId)?.Interval is BillingInterval.Month or BillingInterval.Year)
            .OrderByDescending(s => catalog.PlansById[s.PlanId].Rank)
            .FirstOrDefault();

    /// <summary>A subscription whose provider takes no cancel or change requests from a server (the App Store).</summary>
    public static bool ManagedElsewhere(ProviderRegistry providers, Subscription subscription) =>
        providers.Find(subscription.Provider) is { } provider && !provider.Capabilities.HasFlag(ProviderCapabilities.ManageSubscriptions);

    private Task<IActionResult> ActAsync(string? subscriptionId, Func<Subscription, Task<ActionOutcome>> act, string done) =>
        ActAsync(subscriptionId, act, () => done);

    private async Task<IActionResult> ActAsync(string? subscriptionId, Func<Subscription, Task<ActionOutcome>> act, Func<string> done)
    {
        // Only this customer's own subscriptions: another's id is as unknown here as a made-up one.
        if (subscriptionId is null || await subscriptions.GetAsync(subscriptionId, HttpContext.RequestAborted) is not { } subscription
            || subscription.CustomerId != CustomerId)
        {
            return NotFoundPage();
        }

        var outcome = await act(subscription);
        if (outcome.Result == ActionResult.Accepted)
        {
            return Redirect("/portal?done=" + done() + "#plan");
        }

        Error = outcome.Result == ActionResult.ProviderError ? t["portal.error.provider"] : t["portal.error.conflict"];
        Response.StatusCode = outcome.Result == ActionResult.ProviderError ? StatusCodes.Status502BadGateway : StatusCodes.Status409Conflict;
        await LoadAsync();
        return Page();
    }

    private async Task LoadAsync()
    {
        var ct = HttpContext.RequestAborted;
        var now = time.GetUtcNow();
        Now = now;
        Customer = await customers.GetAsync(CustomerId, ct);
        var plan = await gate.PlanAsync(CustomerId, ct);
        Plan = plan?.Primary;
        PlanSubscription = plan?.Subscription;
        var held = await gate.SubscriptionsAsync(CustomerId, ct);
        // A card-less trial that ran out is over, whether or not the sweep has marked it expired yet.
        Others = held.Where(s => !s.IsTerminal && s.Id != PlanSubscription?.Id && !(TrialService.IsOwnTrial(s) && !s.GrantsAccess(now, false))).OrderByDescending(s => s.CreatedAt).ToList();
        Changeable = ChangeableSubscription(held, catalog, now, providers);
        if (PlanSubscription is { } planSubscription && ManagedElsewhere(providers, planSubscription))
        {
            try
            {
                ManagedAtUrl = await providers.Find(planSubscription.Provider)!.GetCustomerPortalUrlAsync(planSubscription.ProviderCustomerId ?? "",
                    new Uri(urls.Base, "portal").ToString(), ct);
            }
            catch (ProviderException)
            {
                ManagedAtUrl = null;
            }
        }

        if (Changeable is not null && catalog.PlansById.GetValueOrDefault(Changeable.PlanId) is { } from)
        {
            var choices = new List<PlanChoice>();
            foreach (var other in catalog.Plans.Where(p => p.Id != from.Id && p.Interval is BillingInterval.Month or BillingInterval.Year))
            {
                choices.Add(new PlanChoice(other, await prices.PriceAsync(other.Id, Changeable.Provider, ct), other.Rank > from.Rank));
            }

            Choices = choices;

            // One-time plans (Lifetime) are bought, not changed to, but belong in the same list as on the pricing page.
            var lifetime = new List<PlanChoice>();
            foreach (var once in catalog.Plans.Where(p => p.Interval == BillingInterval.Once))
            {
                if (await checkouts.IneligibleAsync(CustomerId, once, null, ct) is null)
                {
                    lifetime.Add(new PlanChoice(once, await prices.PriceAsync(once.Id, null, ct), once.Rank > from.Rank));
                }
            }

            Lifetime = lifetime;
        }

        Balances = await gate.BalancesAsync(CustomerId, ct);
        AutoTopup = await Api.AutoTopupApi.ViewAsync(database, CustomerId, time, ct);
        var packs = new List<PackOffer>();
        foreach (var pack in catalog.Packs)
        {
            packs.Add(new PackOffer(pack, await prices.PriceAsync(pack.Id, null, ct), await checkouts.IneligibleAsync(CustomerId, null, pack, ct) is null));
        }

        Packs = packs;
        var portals = new List<string>();
        foreach (var provider in providers.Enabled.Where(p => providers.Find(p)!.HasCustomerPortal).Order(StringComparer.Ordinal))
        {
            if (await payments.FindProviderCustomerAsync(provider, CustomerId, ct) is not null)
            {
                portals.Add(provider);
            }
        }

        ProviderPortals = portals;
    }
}
