using System.Text;
using System.Text.Json;
using Tollgate.Core.Catalog;
using Tollgate.Core.Common;
using Tollgate.Core.Customers;
using Tollgate.Core.Idempotency;
using Tollgate.Core.Payments;
using Tollgate.Core.Subscriptions;
using Tollgate.Core.Usage;
using Tollgate.Server.Api;
using Tollgate.Server.Api.Http;
using Tollgate.Server.Sessions;
using Tollgate.Server.Hosting;
using Tollgate.Storage;
using CorePrice = Tollgate.Core.Payments.ShownPrice;

namespace Tollgate.Server.InProcess;

/// <summary>
/// <see cref="ITollgate"/> answered by the engine in this process: the same checks, validation and refusals as the
/// /v1 endpoints (the engine answers <see cref="TollgateRefusal"/> itself), without HTTP. Registered by <c>AddTollgate()</c>, so app code written
/// against <see cref="ITollgate"/> runs the same embedded or against a server through Tollgate.Client.
/// </summary>
internal sealed class InProcessTollgate(
    Gate gate,
    ProductCatalog catalog,
    ICustomerStore customers,
    Organizations organizations,
    TrialService trials,
    CheckoutService checkouts,
    PriceBook prices,
    ProviderRegistry providers,
    PortalTokens portalTokens,
    PublicUrls urls,
    TollgateDatabase database,
    TimeProvider time) : ITollgate
{
    private const long MaxTtlSeconds = 7 * 24 * 3600;

    public Task<TollgateResult<FeatureCheck>> CheckAsync(CheckRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Guarded(async () =>
        {
            if (Invalid<FeatureCheck>(Validate.CustomerId(request.CustomerId), Validate.Required(request.Feature, "feature"),
                Validate.Positive(request.Amount, "amount")) is { } invalid)
            {
                return invalid;
            }

            var result = await gate.CheckAsync(request.CustomerId, request.Feature, request.Amount, cancellationToken).ConfigureAwait(false);
            var check = new FeatureCheck(result.CustomerId, result.Feature, result.Allowed, result.Reason is { } r ? r : null,
                result.Balance is { } b ? new BalanceSnapshot(b.Available, b.Held, b.Limit, b.Used, b.ResetsAt) : null);
            return check.Allowed ? TollgateResult<FeatureCheck>.Success(check) : TollgateResult<FeatureCheck>.Refused(check.Reason!, null, check);
        });
    }

    public Task<TollgateResult<UsageRecord>> UseAsync(UsageRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Guarded(async () =>
        {
            if (Invalid<UsageRecord>(Validate.CustomerId(request.CustomerId), Validate.Required(request.Feature, "feature"),
                KeyProblem(request.IdempotencyKey)) is { } invalid)
            {
                return invalid;
            }

            var result = await gate.UseAsync(request.CustomerId, request.Feature, request.Amount, Key(request.IdempotencyKey), cancellationToken)
                .ConfigureAwait(false);
            return result.Refusal is { } refusal
                ? TollgateResult<UsageRecord>.Refused(refusal, result.Message)
                : TollgateResult<UsageRecord>.Success(new UsageRecord(result.Feature, result.Remaining, result.EntryId));
        });
    }

    public Task<TollgateResult<UsageReversal>> ReverseUsageAsync(ReverseUsageRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(request.EntryId);
        return Guarded(async () =>
        {
            if (Invalid<UsageReversal>(request.EntryId.Length == 0 ? Problems.InvalidRequest("entry_id is required.") : null,
                KeyProblem(request.IdempotencyKey)) is { } invalid)
            {
                return invalid;
            }

            // The ledger reverses a usage once whatever the key; the key makes a repeat answer with the first reversal
            // instead of already_reversed, as over HTTP: the answer is stored with the reversal, in its transaction.
            var call = new IdempotentCall<ReverseOutcome>(ReversalScope, Key(request.IdempotencyKey), "reverse " + request.EntryId, outcome =>
            {
                var answer = GateApi.ReverseAnswer(outcome);
                return new StoredResponse("", answer.Status, Encoding.UTF8.GetString(answer.Body));
            });
            var outcome = await gate.ReverseAsync(request.EntryId, call, cancellationToken).ConfigureAwait(false);
            if (outcome.Response is null && outcome.Refusal != TollgateRefusal.IdempotencyKeyReused)
            {
                // Answered before the ledger (no such entry, not a usage): stored after the fact, as the API's
                // idempotency filter does, so that the key is spent the same way in process and over HTTP.
                var first = call.Render(outcome) with { RequestHash = call.RequestHash };
                if (!await database.Idempotency.TryStoreAsync(call.Scope, call.Key, first, time.GetUtcNow(), cancellationToken).ConfigureAwait(false)
                    && await database.Idempotency.GetAsync(call.Scope, call.Key, cancellationToken).ConfigureAwait(false) is { } winner)
                {
                    return winner.RequestHash == call.RequestHash ? Reversal(winner) : Refused<UsageReversal>(Problems.KeyReused());
                }
            }

            if (outcome.Response is { } stored)
            {
                return Reversal(stored);
            }

            return outcome.Refusal is { } refusal
                ? TollgateResult<UsageReversal>.Refused(refusal, outcome.Message)
                : TollgateResult<UsageReversal>.Success(new UsageReversal(outcome.EntryId, outcome.Restored, outcome.Expired, outcome.Clawed,
                    [.. outcome.Draws.Select(d => new ReversalDraw(d.LotId, d.Feature, d.Amount))]));
        });
    }

    /// <summary>Where in-process reversals keep their answers: a scope of their own, so an app's keys never meet an API
    /// key's.</summary>
    private const string ReversalScope = "in-process";

    /// <summary>A reversal's answer as it was stored under its key (this call's, or the first call's it repeats).</summary>
    private static TollgateResult<UsageReversal> Reversal(StoredResponse stored)
    {
        if (stored.Status >= 400)
        {
            return Refused<UsageReversal>(new ApiResult(stored.Status, Encoding.UTF8.GetBytes(stored.Body), "application/problem+json"));
        }

        var view = JsonSerializer.Deserialize<ReverseView>(stored.Body, ApiJson.Options)!;
        return TollgateResult<UsageReversal>.Success(new UsageReversal(view.EntryId, view.Restored, view.Expired, view.Clawed,
            [.. view.Draws.Select(d => new ReversalDraw(d.LotId, d.Feature, d.Amount))]));
    }

    public Task<TollgateResult<Hold>> CreateHoldAsync(CreateHoldRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Guarded(async () =>
        {
            long? ttlSeconds = request.TimeToLive is { } t ? checked((long)Math.Ceiling(t.TotalSeconds)) : null;
            if (Invalid<Hold>(Validate.CustomerId(request.CustomerId), Validate.Required(request.Feature, "feature"),
                Validate.Positive(request.Amount, "amount"), KeyProblem(request.IdempotencyKey),
                ttlSeconds is null or (>= 1 and <= MaxTtlSeconds) ? null : Problems.InvalidRequest($"ttl_seconds must be from 1 to {MaxTtlSeconds}.")) is { } invalid)
            {
                return invalid;
            }

            var outcome = await gate.HoldAsync(request.CustomerId, request.Feature, request.Amount, TimeSpan.FromSeconds(ttlSeconds ?? 3600),
                Key(request.IdempotencyKey), cancellationToken).ConfigureAwait(false);
            return outcome.Refusal is { } refusal
                ? TollgateResult<Hold>.Refused(refusal, outcome.Message)
                : TollgateResult<Hold>.Success(new Hold(outcome.HoldId!, HoldState.Active, outcome.Amount, outcome.Feature, outcome.ExpiresAt));
        });
    }

    public Task<TollgateResult<HoldSettlement>> SettleHoldAsync(SettleHoldRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(request.HoldId);
        return Guarded(async () =>
        {
            if (request.Amount is < 0)
            {
                return TollgateResult<HoldSettlement>.Refused(TollgateRefusal.InvalidRequest, "amount must not be negative.");
            }

            var outcome = await gate.SettleAsync(request.HoldId, request.Amount, cancellationToken).ConfigureAwait(false);
            return outcome.Refusal is { } refusal
                ? TollgateResult<HoldSettlement>.Refused(refusal, outcome.Message)
                : TollgateResult<HoldSettlement>.Success(new HoldSettlement(outcome.HoldId, State<HoldState>(outcome.Status), outcome.Settled, outcome.Released));
        });
    }

    public Task<TollgateResult<HoldRelease>> ReleaseHoldAsync(string holdId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(holdId);
        return Guarded(async () =>
        {
            var outcome = await gate.ReleaseAsync(holdId, cancellationToken).ConfigureAwait(false);
            return outcome.Refusal is { } refusal
                ? TollgateResult<HoldRelease>.Refused(refusal, outcome.Message)
                : TollgateResult<HoldRelease>.Success(new HoldRelease(outcome.HoldId, State<HoldState>(outcome.Status)));
        });
    }

    public Task<TollgateResult<Grant>> GrantAsync(CreateGrantRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(request.Reason);
        return Guarded(async () =>
        {
            if (Invalid<Grant>(Validate.CustomerId(request.CustomerId, "id"), Validate.Required(request.Feature, "feature"),
                Validate.Positive(request.Amount, "amount"), Validate.Text(request.Reason, "reason", 500, required: true),
                KeyProblem(request.IdempotencyKey)) is { } invalid)
            {
                return invalid;
            }

            if (request.ExpiresAt is { } expires && expires <= time.GetUtcNow())
            {
                return TollgateResult<Grant>.Refused(TollgateRefusal.InvalidRequest, "expires_at must be in the future.");
            }

            var outcome = await gate.GrantAsync(request.CustomerId, request.Feature, request.Amount, request.ExpiresAt, request.Reason.Trim(),
                Key(request.IdempotencyKey), cancellationToken: cancellationToken).ConfigureAwait(false);
            return outcome.Refusal is { } refusal
                ? TollgateResult<Grant>.Refused(refusal, outcome.Message)
                : TollgateResult<Grant>.Success(new Grant(outcome.LotId!, outcome.Feature, outcome.Amount, outcome.ExpiresAt));
        });
    }

    public Task<TollgateResult<Capabilities>> GetCapabilitiesAsync(string customerId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(customerId);
        return Guarded(async () => Invalid<Capabilities>(Validate.CustomerId(customerId, "id"))
            ?? TollgateResult<Capabilities>.Success(new Capabilities(customerId, await gate.CapabilitiesAsync(customerId, cancellationToken).ConfigureAwait(false))));
    }

    public Task<TollgateResult<Balances>> GetBalancesAsync(string customerId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(customerId);
        return Guarded(async () =>
        {
            if (Invalid<Balances>(Validate.CustomerId(customerId, "id")) is { } invalid)
            {
                return invalid;
            }

            var balances = await gate.BalancesAsync(customerId, cancellationToken).ConfigureAwait(false);
            return TollgateResult<Balances>.Success(new Balances(customerId, balances.Select(b => new Balance(b.Feature, State<FeatureKind>(b.Type),
                b.Available, b.Held, b.Debt, b.Lots.Select(l => new Lot(l.LotId, SnakeCase<Core.Ledger.LotSource>.Name(l.Source), l.Amount, l.Remaining, l.Held, l.ExpiresAt)).ToList(),
                b.Limit, b.Used, b.ResetsAt)).ToList()));
        });
    }

    public Task<TollgateResult<CheckoutSession>> CreateCheckoutAsync(CreateCheckoutRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Guarded(async () =>
        {
            if (Invalid<CheckoutSession>(Validate.CustomerId(request.CustomerId), Validate.Required(request.Product, "product"),
                Validate.Metadata(request.Metadata?.ToDictionary(StringComparer.Ordinal)), Url(request.SuccessUrl, "success_url"),
                Url(request.CancelUrl, "cancel_url")) is { } invalid)
            {
                return invalid;
            }

            var outcome = await checkouts.CreateAsync(new CheckoutCommand(request.CustomerId, request.Product)
            {
                Provider = request.Provider,
                SuccessUrl = request.SuccessUrl?.ToString(),
                CancelUrl = request.CancelUrl?.ToString(),
                Metadata = request.Metadata?.ToDictionary(StringComparer.Ordinal),
            }, cancellationToken).ConfigureAwait(false);
            return outcome.Checkout is { } checkout
                ? TollgateResult<CheckoutSession>.Success(Session(checkout))
                : TollgateResult<CheckoutSession>.Refused(outcome.Refusal ?? TollgateRefusal.InvalidRequest, outcome.Message);
        });
    }

    public Task<TollgateResult<CheckoutSession>> GetCheckoutAsync(string checkoutId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(checkoutId);
        return Guarded(async () => await checkouts.GetAsync(checkoutId, cancellationToken).ConfigureAwait(false) is { } checkout
            ? TollgateResult<CheckoutSession>.Success(Session(checkout))
            : TollgateResult<CheckoutSession>.Refused(TollgateRefusal.CheckoutNotFound, $"No checkout {checkoutId}."));
    }

    public Task<TollgateResult<AccessResult>> EnsureAccessAsync(EnsureAccessRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Guarded(async () =>
        {
            if (Invalid<AccessResult>(Validate.CustomerId(request.CustomerId), Validate.Required(request.Capability, "capability"),
                Validate.Required(request.Product, "product"), Url(request.SuccessUrl, "success_url")) is { } invalid)
            {
                return invalid;
            }

            if ((await gate.CapabilitiesAsync(request.CustomerId, cancellationToken).ConfigureAwait(false)).Contains(request.Capability))
            {
                return TollgateResult<AccessResult>.Success(new AccessResult(true));
            }

            var outcome = await checkouts.CreateAsync(new CheckoutCommand(request.CustomerId, request.Product) { SuccessUrl = request.SuccessUrl?.ToString() },
                cancellationToken).ConfigureAwait(false);
            return outcome.Checkout is { } checkout
                ? TollgateResult<AccessResult>.Success(new AccessResult(false, checkout.Id, new Uri(checkout.Url)))
                : TollgateResult<AccessResult>.Refused(outcome.Refusal ?? TollgateRefusal.InvalidRequest, outcome.Message);
        });
    }

    public Task<TollgateResult<PortalLink>> CreatePortalLinkAsync(string customerId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(customerId);
        return Guarded(async () =>
        {
            if (Invalid<PortalLink>(Validate.CustomerId(customerId, "id")) is { } invalid)
            {
                return invalid;
            }

            if (await customers.GetAsync(customerId, cancellationToken).ConfigureAwait(false) is null)
            {
                return TollgateResult<PortalLink>.Refused(TollgateRefusal.CustomerNotFound, $"No customer '{customerId}'.");
            }

            var (token, expires) = await portalTokens.IssueAsync(customerId, cancellationToken).ConfigureAwait(false);
            return TollgateResult<PortalLink>.Success(new PortalLink(new Uri(urls.Base, "portal?token=" + Uri.EscapeDataString(token)), expires));
        });
    }

    public Task<TollgateResult<CustomerAccount>> UpsertCustomerAsync(UpsertCustomerRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Guarded(async () =>
        {
            var metadata = request.Metadata?.ToDictionary(StringComparer.Ordinal);
            if (Invalid<CustomerAccount>(Validate.CustomerId(request.CustomerId, "id"), Validate.Text(request.Email, "email", 254),
                Validate.Text(request.Name, "name", 200), Validate.Metadata(metadata),
                request.BillingCustomerId is null ? null : Validate.CustomerId(request.BillingCustomerId, "billing_customer_id")) is { } invalid)
            {
                return invalid;
            }

            if (request.Email is { } email && !email.Contains('@', StringComparison.Ordinal))
            {
                return TollgateResult<CustomerAccount>.Refused(TollgateRefusal.InvalidRequest, "email must be an email address.");
            }

            if (request.LeaveBillingCustomer && request.BillingCustomerId is not null)
            {
                return TollgateResult<CustomerAccount>.Refused(TollgateRefusal.InvalidRequest,
                    "billing_customer_id and leaving the billing customer are one or the other.");
            }

            // As PUT /v1/customers/{id}: the billing customer is set only when the request names one or leaves it.
            var setBilling = request.BillingCustomerId is not null || request.LeaveBillingCustomer;
            var outcome = await organizations.PutAsync(request.CustomerId, request.Email?.Trim(), request.Name?.Trim(), metadata, setBilling,
                request.BillingCustomerId, cancellationToken).ConfigureAwait(false);
            if (outcome.Refusal is { } refusal)
            {
                return TollgateResult<CustomerAccount>.Refused(refusal, outcome.Message);
            }

            var customer = outcome.Customer!;
            var plan = await gate.PlanAsync(customer.Id, cancellationToken).ConfigureAwait(false);
            var subscriptions = await gate.SubscriptionsAsync(customer.Id, cancellationToken).ConfigureAwait(false);
            return TollgateResult<CustomerAccount>.Success(new CustomerAccount(customer.Id, customer.Metadata,
                subscriptions.Select(PlanSubscriptionOf).ToList(),
                customer.CreatedAt, customer.Email, customer.Name, plan?.Primary.Id, customer.BillingCustomerId));
        });
    }

    public Task<TollgateResult<PlanSubscription>> StartTrialAsync(StartTrialRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Guarded(async () =>
        {
            if (Invalid<PlanSubscription>(Validate.CustomerId(request.CustomerId, "id"), Validate.Text(request.Plan, "plan", 200, required: true)) is { } invalid)
            {
                return invalid;
            }

            var outcome = await trials.StartAsync(request.CustomerId, request.Plan, cancellationToken: cancellationToken).ConfigureAwait(false);
            return outcome.Subscription is { } trial
                ? TollgateResult<PlanSubscription>.Success(PlanSubscriptionOf(trial))
                : TollgateResult<PlanSubscription>.Refused(outcome.Refusal!, outcome.Message);
        });
    }

    /// <summary>A subscription as the API shows it (<c>SubscriptionView</c>), in ITollgate's terms.</summary>
    private static PlanSubscription PlanSubscriptionOf(Core.Subscriptions.Subscription subscription)
    {
        var v = SubscriptionView.From(subscription);
        return new PlanSubscription(v.Id, v.Plan, v.Provider, v.Status, v.CancelAtPeriodEnd, v.CurrentPeriodStart, v.CurrentPeriodEnd, v.PendingPlan);
    }

    public Task<TollgateResult<Members>> GetMembersAsync(MembersRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Guarded(async () =>
        {
            if (Invalid<Members>(Validate.CustomerId(request.CustomerId, "id"),
                request.After is null ? null : Validate.CustomerId(request.After, "after")) is { } invalid)
            {
                return invalid;
            }

            if (request.Limit is < 1 or > 200)
            {
                return TollgateResult<Members>.Refused(TollgateRefusal.InvalidRequest, "limit must be from 1 to 200.");
            }

            return await organizations.MembersAsync(request.CustomerId, request.After, request.Limit ?? 50, cancellationToken).ConfigureAwait(false) is { } page
                ? TollgateResult<Members>.Success(new Members(request.CustomerId,
                    [.. page.Members.Select(m => new Member(m.Id, m.Metadata, m.CreatedAt, m.Email, m.Name))], page.Next))
                : TollgateResult<Members>.Refused(TollgateRefusal.CustomerNotFound, $"No customer '{request.CustomerId}'.");
        });
    }

    public Task<TollgateResult<Products>> GetProductsAsync(string? customerId = null, string? provider = null, CancellationToken cancellationToken = default) =>
        Guarded(async () =>
        {
            if (customerId is not null && Invalid<Products>(Validate.CustomerId(customerId)) is { } invalid)
            {
                return invalid;
            }

            if (provider is not null && providers.Find(provider) is null)
            {
                return TollgateResult<Products>.Refused(TollgateRefusal.InvalidRequest, $"provider '{provider}' is not enabled.");
            }

            var plans = new List<PlanListing>();
            foreach (var plan in catalog.Plans)
            {
                var price = plan.IsDefault ? null : await prices.PriceAsync(plan.Id, provider, cancellationToken).ConfigureAwait(false);
                bool? eligible = customerId is null || plan.IsDefault ? null
                    : await checkouts.IneligibleAsync(customerId, plan, null, cancellationToken).ConfigureAwait(false) is null;
                plans.Add(new PlanListing(plan.Id, plan.Name, plan.IsDefault, plan.Features.Values.ToDictionary(f => f.FeatureId, f =>
                {
                    var view = FeatureSettingView.From(f);
                    return new FeatureTerms(view.Enabled, view.Limit, view.Grant, view.Reset, view.Rollover is { } r ? new RolloverTerms(r.Max) : null);
                }, StringComparer.Ordinal), plan.Interval is { } i ? SnakeCase<BillingInterval>.Name(i) : null, PriceOf(price), eligible));
            }

            var packs = new List<PackListing>();
            foreach (var pack in catalog.Packs)
            {
                bool? eligible = customerId is null ? null
                    : await checkouts.IneligibleAsync(customerId, null, pack, cancellationToken).ConfigureAwait(false) is null;
                packs.Add(new PackListing(pack.Id, pack.Name, pack.Credits, pack.OncePerCustomer, pack.ExpiresAfterDays, eligible,
                    PriceOf(await prices.PriceAsync(pack.Id, provider, cancellationToken).ConfigureAwait(false))));
            }

            return TollgateResult<Products>.Success(new Products(provider ?? providers.Default, plans, packs));
        });

    private static Price? PriceOf(CorePrice? price) => price is null ? null : new Price(price.Amount, price.Currency, price.Stale ? true : null);

    private CheckoutSession Session(Checkout c)
    {
        var view = PaymentsApi.View(c, catalog);
        return new CheckoutSession(view.Id, view.Provider, view.ProviderCheckoutId, new Uri(view.Url), State<CheckoutState>(view.Status), view.CustomerId,
            view.Product, view.CreatedAt, view.CompletedAt, view.Failure, view.Granted is { } g ? new CheckoutGrant(g.Credits, g.Plan) : null);
    }

    /// <summary>An unknown feature is an exception in the engine and a 404 at the API; here it is the same refusal. So is
    /// a database that cannot be reached: <c>503 unavailable</c> at the API, <see cref="TollgateRefusal.Unavailable"/>
    /// here, as Tollgate.Client answers it (the same app code must see the same outcome either way).</summary>
    private async Task<TollgateResult<T>> Guarded<T>(Func<Task<TollgateResult<T>>> call) where T : class
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (UnknownFeatureException ex)
        {
            return TollgateResult<T>.Refused(TollgateRefusal.UnknownFeature, $"'{ex.FeatureId}' is not a feature of the catalog.");
        }
        catch (Exception ex) when (ex is not OperationCanceledException && RequestGuard.IsUnavailable(ex, database))
        {
            return TollgateResult<T>.Refused(TollgateRefusal.Unavailable, "The database could not be reached; try again.");
        }
    }

    private static TollgateResult<T>? Invalid<T>(params ApiResult?[] checks) where T : class =>
        Validate.First(checks) is { } problem ? Refused<T>(problem) : null;

    private static TollgateResult<T> Refused<T>(ApiResult problem) where T : class
    {
        var (refusal, detail) = Refusals.Read(problem);
        return TollgateResult<T>.Refused(refusal, detail);
    }

    /// <summary>Keys follow the API's rule for the Idempotency-Key header.</summary>
    private static ApiResult? KeyProblem(string? key) =>
        key is null or { Length: > 0 and <= IdempotencyFilter.MaxKeyLength } ? null
        : Problems.InvalidRequest($"This call needs an {IdempotencyFilter.Header} header of 1–{IdempotencyFilter.MaxKeyLength} characters.");

    /// <summary>Without a key, one per call: the engine still records it once.</summary>
    private static string Key(string? key) => key ?? Guid.NewGuid().ToString("N");

    private static ApiResult? Url(Uri? value, string field) =>
        value is null || (value.IsAbsoluteUri && value.Scheme is "http" or "https") ? null : Problems.InvalidRequest($"{field} must be an absolute http(s) URL.");

    private static TEnum State<TEnum>(string snakeCase) where TEnum : struct, Enum =>
        Enum.TryParse<TEnum>(snakeCase.Replace("_", "", StringComparison.Ordinal), ignoreCase: true, out var value) ? value : default;
}
