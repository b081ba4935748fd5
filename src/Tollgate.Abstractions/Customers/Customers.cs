namespace Tollgate;

/// <summary>Creates or updates a customer under the app's own id; fields left null keep their value.</summary>
/// <param name="CustomerId">The app's own customer id (1–128 characters of <c>A-Za-z0-9_.:@-</c>).</param>
public sealed record UpsertCustomerRequest(string CustomerId)
{
    /// <summary>An email address (receipts, the portal).</summary>
    public string? Email { get; init; }

    /// <summary>A display name.</summary>
    public string? Name { get; init; }

    /// <summary>Up to 50 keys of 1–40 characters, values up to 500 characters.</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }

    /// <summary>Makes the customer a member of an organization: every check, usage and hold for it is then answered
    /// and charged on this billing customer (<c>billing_customer_id</c>). Null leaves it as it is; see
    /// <see cref="LeaveBillingCustomer"/> to bill the customer on itself again.</summary>
    public string? BillingCustomerId { get; init; }

    /// <summary>Bills the customer on itself again, leaving its organization (<c>billing_customer_id: null</c>).
    /// Not together with <see cref="BillingCustomerId"/>.</summary>
    public bool LeaveBillingCustomer { get; init; }
}

/// <summary>A customer.</summary>
/// <param name="Id">The app's own id.</param>
/// <param name="Metadata">The app's own keys and values.</param>
/// <param name="Subscriptions">The customer's subscriptions, current and past.</param>
/// <param name="CreatedAt">When Tollgate first saw the customer.</param>
/// <param name="Email">An email address, when known.</param>
/// <param name="Name">A display name, when known.</param>
/// <param name="Plan">The plan the customer is on now (the default plan's id when none was bought).</param>
/// <param name="BillingCustomerId">The organization the customer is billed on, when it is a member of one.</param>
public sealed record CustomerAccount(
    string Id,
    IReadOnlyDictionary<string, string> Metadata,
    IReadOnlyList<PlanSubscription> Subscriptions,
    DateTimeOffset CreatedAt,
    string? Email = null,
    string? Name = null,
    string? Plan = null,
    string? BillingCustomerId = null);

/// <summary>One page of an organization's members: the customers billed on <see cref="CustomerId"/>, by id.</summary>
/// <param name="CustomerId">The organization (the billing customer).</param>
/// <param name="Items">The members of this page (<c>members</c> in the API's JSON).</param>
/// <param name="Next">The id to pass as <see cref="MembersRequest.After"/> for the next page; null on the last.</param>
public sealed record Members(string CustomerId, IReadOnlyList<Member> Items, string? Next = null);

/// <summary>A member of an organization.</summary>
/// <param name="Id">The member's own customer id.</param>
/// <param name="Metadata">The app's own keys and values.</param>
/// <param name="CreatedAt">When Tollgate first saw the member.</param>
/// <param name="Email">An email address, when known.</param>
/// <param name="Name">A display name, when known.</param>
public sealed record Member(string Id, IReadOnlyDictionary<string, string> Metadata, DateTimeOffset CreatedAt, string? Email = null, string? Name = null);

/// <summary>Starts a card-less trial of a plan whose catalog entry has <c>trial_days</c>: once per customer and plan.</summary>
/// <param name="CustomerId">The app's own customer id.</param>
/// <param name="Plan">The plan's id in the catalog.</param>
public sealed record StartTrialRequest(string CustomerId, string Plan);

/// <summary>Lists the members of an organization, a page at a time.</summary>
/// <param name="CustomerId">The organization (the billing customer).</param>
public sealed record MembersRequest(string CustomerId)
{
    /// <summary>Members per page, 1–200; 50 when null.</summary>
    public int? Limit { get; init; }

    /// <summary>The previous page's <see cref="Members.Next"/>: members after this id.</summary>
    public string? After { get; init; }
}

/// <summary>A subscription to a plan.</summary>
/// <param name="Id">Tollgate's id of it.</param>
/// <param name="Plan">The plan's id.</param>
/// <param name="Provider">The payment provider that bills it (<c>sandbox</c>, <c>creem</c>, <c>stripe</c>, …).</param>
/// <param name="Status">As the API spells it: <c>active</c>, <c>trialing</c>, <c>past_due</c>, <c>canceled</c>, …</param>
/// <param name="CancelAtPeriodEnd">Whether it ends when the current period does.</param>
/// <param name="CurrentPeriodStart">Start of the period paid for.</param>
/// <param name="CurrentPeriodEnd">End of the period paid for.</param>
/// <param name="PendingPlan">A plan change waiting for the next period.</param>
public sealed record PlanSubscription(
    string Id,
    string Plan,
    string Provider,
    string Status,
    bool CancelAtPeriodEnd,
    DateTimeOffset? CurrentPeriodStart = null,
    DateTimeOffset? CurrentPeriodEnd = null,
    string? PendingPlan = null);

/// <summary>What a customer may do now: <c>plan:&lt;id&gt;</c> for each plan they are on and <c>feature:&lt;id&gt;</c>
/// for each feature it includes. An unknown customer has the default plan's.</summary>
/// <param name="CustomerId">Whose.</param>
/// <param name="Items">The capabilities (<c>capabilities</c> in the API's JSON).</param>
public sealed record Capabilities(string CustomerId, IReadOnlyList<string> Items)
{
    /// <summary>Whether the customer has <paramref name="capability"/>, e.g. <c>feature:hd_export</c>.</summary>
    public bool Has(string capability) => Items.Contains(capability, StringComparer.Ordinal);
}

/// <summary>A customer's balance of every feature of the catalog.</summary>
/// <param name="CustomerId">Whose.</param>
/// <param name="Items">One per feature (<c>balances</c> in the API's JSON).</param>
public sealed record Balances(string CustomerId, IReadOnlyList<Balance> Items)
{
    /// <summary>The balance of <paramref name="feature"/>, or null when the catalog has no such feature.</summary>
    public Balance? For(string feature) => Items.FirstOrDefault(b => string.Equals(b.Feature, feature, StringComparison.Ordinal));
}

/// <summary>A feature's type in the catalog.</summary>
public enum FeatureKind
{
    /// <summary>A type this version does not know (a newer server).</summary>
    Unknown = 0,

    /// <summary>On or off by plan.</summary>
    Boolean,

    /// <summary>An allowance per period, optionally charged to credits beyond it.</summary>
    Metered,

    /// <summary>A balance of points from packs and plan grants.</summary>
    Credits,

    /// <summary>A level in use (projects, seats), bounded by the plan's limit.</summary>
    Count,

    /// <summary>Simultaneous holds (jobs in flight), bounded by the plan's limit.</summary>
    Concurrency,
}

/// <summary>One feature's balance.</summary>
/// <param name="Feature">Which feature.</param>
/// <param name="Type">Its type.</param>
/// <param name="Available">What may be used now.</param>
/// <param name="Held">What active holds reserve.</param>
/// <param name="Debt">Credits owed after a refund clawed back what was already spent; repaid first from the next grant.</param>
/// <param name="Lots">The grants it is made of (credits and metered features).</param>
/// <param name="Limit">The plan's limit.</param>
/// <param name="Used">Used of the limit in the current window.</param>
/// <param name="ResetsAt">When the allowance starts again.</param>
public sealed record Balance(
    string Feature,
    FeatureKind Type,
    long Available,
    long Held,
    long Debt,
    IReadOnlyList<Lot> Lots,
    long? Limit = null,
    long? Used = null,
    DateTimeOffset? ResetsAt = null);

/// <summary>One grant of credits or allowance.</summary>
/// <param name="Id">The lot's id.</param>
/// <param name="Source">Where it came from: <c>payment</c>, <c>subscription</c>, <c>plan_allowance</c>, <c>admin</c>, <c>promo</c>, …</param>
/// <param name="Amount">What it was granted with.</param>
/// <param name="Remaining">What is left of it.</param>
/// <param name="Held">What active holds reserve of it.</param>
/// <param name="ExpiresAt">When it expires; never when null.</param>
public sealed record Lot(string Id, string Source, long Amount, long Remaining, long Held = 0, DateTimeOffset? ExpiresAt = null);

/// <summary>A signed, short-lived link to the customer's hosted portal.</summary>
/// <param name="Url">Where to send the customer.</param>
/// <param name="ExpiresAt">When the link stops working.</param>
public sealed record PortalLink(Uri Url, DateTimeOffset ExpiresAt);
