namespace Tollgate;

/// <summary>
/// The calls an app makes to Tollgate: may this customer do X, charge them for X, sell them more. Implemented remotely
/// by <c>Tollgate.Client</c> (a typed <c>HttpClient</c> for a Tollgate server) and, embedded, by the engine itself, so
/// the same app code runs against either.
/// </summary>
/// <remarks>
/// <para>Every call answers a <see cref="TollgateResult{T}"/>: the value, or a business refusal
/// (<see cref="TollgateResult{T}.Refusal"/>: <see cref="TollgateRefusal.QuotaExceeded"/>, …) with nothing changed.
/// Failures that are not refusals — Tollgate unreachable or failing, a rejected secret key — throw
/// <see cref="TollgateException"/>; cancelling <c>cancellationToken</c> throws <see cref="OperationCanceledException"/>.</para>
/// <para>Calls that move money (<see cref="UseAsync"/>, <see cref="ReverseUsageAsync"/>, <see cref="CreateHoldAsync"/>,
/// <see cref="GrantAsync"/>) take an
/// optional idempotency key on the request: the same key with the same request takes effect once and answers the
/// first result again. Without one, an implementation makes one per call, so its own retries cannot take effect twice.</para>
/// <para>Arguments that are null are bugs and throw <see cref="ArgumentNullException"/>; values Tollgate does not accept
/// (a malformed customer id, a negative amount) are refused with <see cref="TollgateRefusal.InvalidRequest"/>.</para>
/// </remarks>
public interface ITollgate
{
    /// <summary>May the customer use an amount of a feature now? Nothing is recorded. A "no" is a refused result whose
    /// <see cref="TollgateResult{T}.Refusal"/> is the check's reason and whose value still holds the answer (balance).</summary>
    /// <returns>The answer; refused with the check's reason, <c>unknown_feature</c> or <c>invalid_request</c>.</returns>
    Task<TollgateResult<FeatureCheck>> CheckAsync(CheckRequest request, CancellationToken cancellationToken = default);

    /// <summary>Records usage of a feature, all or nothing (see <see cref="UsageRequest"/>).</summary>
    /// <returns>What remains; refused with <c>insufficient_balance</c>, <c>quota_exceeded</c>, <c>limit_reached</c>,
    /// <c>not_entitled</c>, <c>unknown_feature</c>, <c>idempotency_key_reused</c>, <c>invalid_request</c> or
    /// <c>unavailable</c>, with nothing recorded.</returns>
    Task<TollgateResult<UsageRecord>> UseAsync(UsageRequest request, CancellationToken cancellationToken = default);

    /// <summary>Takes back a usage recorded by mistake or for work that failed: its units go back to the lots they came
    /// from, once (see <see cref="ReverseUsageRequest"/>).</summary>
    /// <returns>What was put back; refused with <c>entry_not_found</c>, <c>already_reversed</c>, <c>not_reversible</c>,
    /// <c>idempotency_key_reused</c>, <c>invalid_request</c> or <c>unavailable</c>, with nothing changed.</returns>
    Task<TollgateResult<UsageReversal>> ReverseUsageAsync(ReverseUsageRequest request, CancellationToken cancellationToken = default);

    /// <summary>Reserves an amount of a feature until settled, released or expired (see <see cref="CreateHoldRequest"/>).</summary>
    /// <returns>The active hold; refused with <c>insufficient_balance</c>, <c>quota_exceeded</c>, <c>concurrency_limit</c>,
    /// <c>unknown_feature</c>, <c>idempotency_key_reused</c>, <c>invalid_request</c> or <c>unavailable</c>.</returns>
    Task<TollgateResult<Hold>> CreateHoldAsync(CreateHoldRequest request, CancellationToken cancellationToken = default);

    /// <summary>Settles a hold: the amount used is charged, the rest returns.</summary>
    /// <returns>What was settled and released; refused with <c>hold_not_found</c>, <c>hold_not_active</c> or
    /// <c>invalid_request</c> (more than was held).</returns>
    Task<TollgateResult<HoldSettlement>> SettleHoldAsync(SettleHoldRequest request, CancellationToken cancellationToken = default);

    /// <summary>Releases a hold: everything it reserved returns.</summary>
    /// <returns>The released hold; refused with <c>hold_not_found</c> or <c>hold_not_active</c>.</returns>
    Task<TollgateResult<HoldRelease>> ReleaseHoldAsync(string holdId, CancellationToken cancellationToken = default);

    /// <summary>Grants credits (or extra allowance of a metered feature) by hand (see <see cref="CreateGrantRequest"/>).</summary>
    /// <returns>The new lot; refused with <c>unknown_feature</c>, <c>idempotency_key_reused</c> or <c>invalid_request</c>.</returns>
    Task<TollgateResult<Grant>> GrantAsync(CreateGrantRequest request, CancellationToken cancellationToken = default);

    /// <summary>What the customer may do now (<c>plan:pro</c>, <c>feature:hd_export</c>, …); an unknown customer has the
    /// default plan's.</summary>
    /// <returns>The capabilities; refused with <c>invalid_request</c> for a malformed id.</returns>
    Task<TollgateResult<Capabilities>> GetCapabilitiesAsync(string customerId, CancellationToken cancellationToken = default);

    /// <summary>The customer's balance of every feature, with the lots credits are made of.</summary>
    /// <returns>The balances; refused with <c>invalid_request</c> for a malformed id.</returns>
    Task<TollgateResult<Balances>> GetBalancesAsync(string customerId, CancellationToken cancellationToken = default);

    /// <summary>Starts a hosted checkout (see <see cref="CreateCheckoutRequest"/>).</summary>
    /// <returns>The open checkout; refused with <c>unknown_product</c>, <c>not_eligible</c>, <c>provider_error</c> or
    /// <c>invalid_request</c>.</returns>
    Task<TollgateResult<CheckoutSession>> CreateCheckoutAsync(CreateCheckoutRequest request, CancellationToken cancellationToken = default);

    /// <summary>A checkout, to see whether it completed (its webhook was applied).</summary>
    /// <returns>The checkout; refused with <c>checkout_not_found</c>.</returns>
    Task<TollgateResult<CheckoutSession>> GetCheckoutAsync(string checkoutId, CancellationToken cancellationToken = default);

    /// <summary>Whether the customer has a capability already; if not, a checkout of the product that gives it.</summary>
    /// <returns>Access, or the checkout to send the customer to; refused as <see cref="CreateCheckoutAsync"/> is.</returns>
    Task<TollgateResult<AccessResult>> EnsureAccessAsync(EnsureAccessRequest request, CancellationToken cancellationToken = default);

    /// <summary>A signed, short-lived link to the customer's hosted portal.</summary>
    /// <returns>The link; refused with <c>customer_not_found</c> (upsert the customer first) or <c>invalid_request</c>.</returns>
    Task<TollgateResult<PortalLink>> CreatePortalLinkAsync(string customerId, CancellationToken cancellationToken = default);

    /// <summary>Creates or updates a customer under the app's own id (see <see cref="UpsertCustomerRequest"/>).</summary>
    /// <returns>The customer; refused with <c>invalid_request</c>, and when joining an organization
    /// (<see cref="UpsertCustomerRequest.BillingCustomerId"/>) with <c>customer_not_found</c> (no such billing customer),
    /// <c>conflict</c> (it is a member itself, or this customer has members) or <c>limit_reached</c> (its seats are taken).</returns>
    Task<TollgateResult<CustomerAccount>> UpsertCustomerAsync(UpsertCustomerRequest request, CancellationToken cancellationToken = default);

    /// <summary>Starts a card-less trial of a plan (status <c>trialing</c>, ending after the plan's <c>trial_days</c>).</summary>
    /// <returns>The trial's subscription; refused with <c>not_eligible</c> (a second trial of the plan, or a plan without
    /// one), <c>unknown_product</c> or <c>invalid_request</c>.</returns>
    Task<TollgateResult<PlanSubscription>> StartTrialAsync(StartTrialRequest request, CancellationToken cancellationToken = default);

    /// <summary>The members of an organization: the customers whose billing customer is <see cref="MembersRequest.CustomerId"/>.</summary>
    /// <returns>A page of members; refused with <c>customer_not_found</c> or <c>invalid_request</c>.</returns>
    Task<TollgateResult<Members>> GetMembersAsync(MembersRequest request, CancellationToken cancellationToken = default);

    /// <summary>The plans and packs for sale, with their prices; with <paramref name="customerId"/>, whether that customer
    /// may buy each (<see cref="PlanListing.Eligible"/>, <see cref="PackListing.Eligible"/>).</summary>
    /// <param name="customerId">The customer to answer eligibility for; none when null.</param>
    /// <param name="provider">The provider whose prices to show; the server's default when null.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The products; refused with <c>invalid_request</c> (a malformed id, a provider not enabled).</returns>
    Task<TollgateResult<Products>> GetProductsAsync(string? customerId = null, string? provider = null, CancellationToken cancellationToken = default);
}
