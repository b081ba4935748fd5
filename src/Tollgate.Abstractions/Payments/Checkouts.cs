namespace Tollgate;

/// <summary>Starts a hosted checkout of a plan or pack; send the customer to the checkout's <see cref="CheckoutSession.Url"/>.
/// What it buys arrives only from the provider's signed webhook, never from the return to the app. Not repeated by the
/// client after a lost answer (it would start a second checkout).</summary>
/// <param name="CustomerId">The app's own customer id.</param>
/// <param name="Product">A plan or pack of the catalog.</param>
public sealed record CreateCheckoutRequest(string CustomerId, string Product)
{
    /// <summary>The payment provider; the server's default when null.</summary>
    public string? Provider { get; init; }

    /// <summary>Where the provider sends the customer after paying (absolute http(s) URL).</summary>
    public Uri? SuccessUrl { get; init; }

    /// <summary>Where the provider sends the customer after giving up (absolute http(s) URL).</summary>
    public Uri? CancelUrl { get; init; }

    /// <summary>The app's own keys and values, kept on the checkout.</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }
}

/// <summary>Where a checkout stands.</summary>
public enum CheckoutState
{
    /// <summary>A status this version does not know (a newer server).</summary>
    Unknown = 0,

    /// <summary>Waiting for the customer to pay.</summary>
    Open,

    /// <summary>Paid, and the provider's webhook was applied: what it bought was granted.</summary>
    Completed,

    /// <summary>Not paid in time.</summary>
    Expired,

    /// <summary>The payment failed.</summary>
    Failed,
}

/// <summary>A checkout.</summary>
/// <param name="Id">Tollgate's id of it.</param>
/// <param name="Provider">The payment provider.</param>
/// <param name="ProviderCheckoutId">The provider's id of it.</param>
/// <param name="Url">The hosted checkout page.</param>
/// <param name="Status">Where it stands.</param>
/// <param name="CustomerId">Who buys.</param>
/// <param name="Product">What.</param>
/// <param name="CreatedAt">When it was started.</param>
/// <param name="CompletedAt">When its webhook was applied.</param>
/// <param name="Failure">Why it failed, when it did.</param>
/// <param name="Granted">What it granted, once completed.</param>
public sealed record CheckoutSession(
    string Id,
    string Provider,
    string ProviderCheckoutId,
    Uri Url,
    CheckoutState Status,
    string CustomerId,
    string Product,
    DateTimeOffset CreatedAt,
    DateTimeOffset? CompletedAt = null,
    string? Failure = null,
    CheckoutGrant? Granted = null);

/// <summary>What a completed checkout granted.</summary>
/// <param name="Credits">Credits, for a pack.</param>
/// <param name="Plan">The plan, for a plan.</param>
public sealed record CheckoutGrant(long? Credits = null, string? Plan = null);

/// <summary>Answers whether the customer has <see cref="Capability"/> already, and starts a checkout of
/// <see cref="Product"/> when not.</summary>
/// <param name="CustomerId">The app's own customer id.</param>
/// <param name="Capability">E.g. <c>feature:hd_export</c> or <c>plan:pro</c>.</param>
/// <param name="Product">The plan or pack that would give it.</param>
public sealed record EnsureAccessRequest(string CustomerId, string Capability, string Product)
{
    /// <summary>Where the provider sends the customer after paying.</summary>
    public Uri? SuccessUrl { get; init; }
}

/// <summary>The customer has the capability already, or a checkout that would give it.</summary>
/// <param name="AlreadyHasAccess">True when nothing needs buying.</param>
/// <param name="CheckoutId">The checkout started otherwise.</param>
/// <param name="CheckoutUrl">Where to send the customer otherwise.</param>
public sealed record AccessResult(bool AlreadyHasAccess, string? CheckoutId = null, Uri? CheckoutUrl = null);
