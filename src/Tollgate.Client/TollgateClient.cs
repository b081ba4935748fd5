using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Tollgate.Client.Http;
using Tollgate.Client.Json;

namespace Tollgate.Client;

/// <summary>
/// <see cref="ITollgate"/> over a Tollgate server's <c>/v1</c> API: a typed <see cref="HttpClient"/>, registered with
/// <see cref="TollgateClientServiceCollectionExtensions.AddTollgateClient(IServiceCollection, string, string)"/>.
/// Thread-safe; holds no state between calls.
/// </summary>
/// <remarks>
/// <para>Problem answers are mapped to <see cref="TollgateRefusal"/> by their stable <c>code</c> (a code this version does
/// not know becomes a refusal of kind <see cref="TollgateRefusalKind.Other"/> with the raw code). A check that says no is
/// a refused result that still carries the check's answer.</para>
/// <para>Retries (see <see cref="TollgateClientOptions"/>) happen only for calls safe to repeat: reads, customer upserts
/// and the keyed writes (usage, reversals, holds, grants), which send one Idempotency-Key on every attempt, the caller's or one
/// generated for the call. So an answer lost on the way back is retried and replayed, never charged twice. A 503
/// <c>unavailable</c> that outlasts the retries is the refusal <see cref="TollgateRefusal.Unavailable"/>; other failures
/// throw <see cref="TollgateException"/>.</para>
/// </remarks>
public sealed class TollgateClient : ITollgate
{
    private readonly TollgateHttp _http;

    /// <summary>The client as dependency injection builds it (<c>AddTollgateClient</c>): options validated on first use.</summary>
    /// <exception cref="OptionsValidationException">The options are misconfigured (each problem named).</exception>
    [ActivatorUtilitiesConstructor]
    public TollgateClient(HttpClient httpClient, IOptions<TollgateClientOptions> options, ILogger<TollgateClient> logger)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        ArgumentNullException.ThrowIfNull(options);
        _http = new TollgateHttp(httpClient, options.Value, logger ?? (ILogger)NullLogger.Instance);
    }

    /// <summary>A client over an <see cref="HttpClient"/> of the caller's (which it does not dispose).</summary>
    /// <exception cref="ArgumentException">The options are misconfigured (each problem named).</exception>
    public TollgateClient(HttpClient httpClient, TollgateClientOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        ArgumentNullException.ThrowIfNull(options);
        var problems = TollgateClientOptionsValidator.Problems(options);
        if (problems.Count > 0)
        {
            throw new ArgumentException(string.Join(" ", problems), nameof(options));
        }

        _http = new TollgateHttp(httpClient, options, logger ?? NullLogger.Instance);
    }

    /// <inheritdoc/>
    public Task<TollgateResult<FeatureCheck>> CheckAsync(CheckRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(request.CustomerId);
        ArgumentNullException.ThrowIfNull(request.Feature);
        var body = Write(new CheckBody(request.CustomerId, request.Feature, request.Amount), ClientJson.Default.CheckBody);
        // A check records nothing: repeating it is harmless.
        return SendAsync(new Call(HttpMethod.Post, "v1/check", body, null, Repeatable: true), ClientJson.Default.FeatureCheck, (call, attempts, check) =>
            check.Allowed ? TollgateResult<FeatureCheck>.Success(check)
            : check.Reason is { } reason ? TollgateResult<FeatureCheck>.Refused(reason, null, check)
            : throw new TollgateException($"Tollgate answered {call} with allowed: false and no reason.", 200, "unexpected_response", attempts),
            cancellationToken);
    }

    /// <inheritdoc/>
    public Task<TollgateResult<UsageRecord>> UseAsync(UsageRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(request.CustomerId);
        ArgumentNullException.ThrowIfNull(request.Feature);
        var body = Write(new UsageBody(request.CustomerId, request.Feature, request.Amount), ClientJson.Default.UsageBody);
        return SendAsync(Keyed("v1/usage", body, request.IdempotencyKey), ClientJson.Default.UsageRecord, Success, cancellationToken);
    }

    /// <inheritdoc/>
    public Task<TollgateResult<UsageReversal>> ReverseUsageAsync(ReverseUsageRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(request.EntryId);
        if (request.EntryId.Length == 0)
        {
            // An empty segment would name another route; the server refuses the same in process.
            return Task.FromResult(TollgateResult<UsageReversal>.Refused(TollgateRefusal.InvalidRequest, "entry_id is required."));
        }

        // Keyed like the other money-moving writes: a retry after a lost answer is answered with the first reversal,
        // not refused as already_reversed.
        var call = new Call(HttpMethod.Post, $"v1/usage/{Segment(request.EntryId)}/reverse", null, request.IdempotencyKey ?? NewIdempotencyKey(),
            Repeatable: true);
        return SendAsync(call, ClientJson.Default.UsageReversal, Success, cancellationToken);
    }

    /// <inheritdoc/>
    public Task<TollgateResult<Hold>> CreateHoldAsync(CreateHoldRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(request.CustomerId);
        ArgumentNullException.ThrowIfNull(request.Feature);
        // Whole seconds on the wire; a fraction rounds up so a hold never lasts less than asked.
        long? ttl = request.TimeToLive is { } t ? checked((long)Math.Ceiling(t.TotalSeconds)) : null;
        var body = Write(new HoldBody(request.CustomerId, request.Feature, request.Amount, ttl), ClientJson.Default.HoldBody);
        return SendAsync(Keyed("v1/holds", body, request.IdempotencyKey), ClientJson.Default.Hold, Success, cancellationToken);
    }

    /// <inheritdoc/>
    public Task<TollgateResult<HoldSettlement>> SettleHoldAsync(SettleHoldRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(request.HoldId);
        var body = Write(new SettleBody(request.Amount), ClientJson.Default.SettleBody);
        // Not repeated after it may have arrived: a second settle of an applied one is refused as hold_not_active.
        return SendAsync(new Call(HttpMethod.Post, $"v1/holds/{Segment(request.HoldId)}/settle", body, null, Repeatable: false),
            ClientJson.Default.HoldSettlement, Success, cancellationToken);
    }

    /// <inheritdoc/>
    public Task<TollgateResult<HoldRelease>> ReleaseHoldAsync(string holdId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(holdId);
        return SendAsync(new Call(HttpMethod.Post, $"v1/holds/{Segment(holdId)}/release", null, null, Repeatable: false),
            ClientJson.Default.HoldRelease, Success, cancellationToken);
    }

    /// <inheritdoc/>
    public Task<TollgateResult<Grant>> GrantAsync(CreateGrantRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(request.CustomerId);
        ArgumentNullException.ThrowIfNull(request.Feature);
        ArgumentNullException.ThrowIfNull(request.Reason);
        var body = Write(new GrantBody(request.Feature, request.Amount, request.Reason, request.ExpiresAt), ClientJson.Default.GrantBody);
        return SendAsync(Keyed($"v1/customers/{Segment(request.CustomerId)}/grants", body, request.IdempotencyKey), ClientJson.Default.Grant, Success,
            cancellationToken);
    }

    /// <inheritdoc/>
    public Task<TollgateResult<Capabilities>> GetCapabilitiesAsync(string customerId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(customerId);
        return SendAsync(Read($"v1/customers/{Segment(customerId)}/capabilities"), ClientJson.Default.CapabilitiesBody,
            (_, _, c) => TollgateResult<Capabilities>.Success(new Capabilities(c.CustomerId, c.Capabilities)), cancellationToken);
    }

    /// <inheritdoc/>
    public Task<TollgateResult<Balances>> GetBalancesAsync(string customerId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(customerId);
        return SendAsync(Read($"v1/customers/{Segment(customerId)}/balances"), ClientJson.Default.BalancesBody,
            (_, _, b) => TollgateResult<Balances>.Success(new Balances(b.CustomerId, b.Balances)), cancellationToken);
    }

    /// <inheritdoc/>
    public Task<TollgateResult<CheckoutSession>> CreateCheckoutAsync(CreateCheckoutRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(request.CustomerId);
        ArgumentNullException.ThrowIfNull(request.Product);
        var body = Write(new CheckoutBody(request.CustomerId, request.Product, request.Provider, request.SuccessUrl, request.CancelUrl, request.Metadata),
            ClientJson.Default.CheckoutBody);
        // Not repeated after it may have arrived: a second request would start a second checkout at the provider.
        return SendAsync(new Call(HttpMethod.Post, "v1/checkouts", body, null, Repeatable: false), ClientJson.Default.CheckoutSession, Success, cancellationToken);
    }

    /// <inheritdoc/>
    public Task<TollgateResult<CheckoutSession>> GetCheckoutAsync(string checkoutId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(checkoutId);
        return SendAsync(Read($"v1/checkouts/{Segment(checkoutId)}"), ClientJson.Default.CheckoutSession, Success, cancellationToken);
    }

    /// <inheritdoc/>
    public Task<TollgateResult<AccessResult>> EnsureAccessAsync(EnsureAccessRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(request.CustomerId);
        ArgumentNullException.ThrowIfNull(request.Capability);
        ArgumentNullException.ThrowIfNull(request.Product);
        var body = Write(new EnsureBody(request.CustomerId, request.Capability, request.Product, request.SuccessUrl), ClientJson.Default.EnsureBody);
        // May start a checkout: not repeated, as checkouts are not.
        return SendAsync(new Call(HttpMethod.Post, "v1/access/ensure", body, null, Repeatable: false), ClientJson.Default.AccessResult, Success,
            cancellationToken);
    }

    /// <inheritdoc/>
    public Task<TollgateResult<PortalLink>> CreatePortalLinkAsync(string customerId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(customerId);
        return SendAsync(new Call(HttpMethod.Post, $"v1/customers/{Segment(customerId)}/portal", null, null, Repeatable: false),
            ClientJson.Default.PortalLink, Success, cancellationToken);
    }

    /// <inheritdoc/>
    public Task<TollgateResult<CustomerAccount>> UpsertCustomerAsync(UpsertCustomerRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(request.CustomerId);
        if (request.LeaveBillingCustomer && request.BillingCustomerId is not null)
        {
            // The server could not tell which was meant either; refused here as the engine refuses it in process.
            return Task.FromResult(TollgateResult<CustomerAccount>.Refused(TollgateRefusal.InvalidRequest,
                "billing_customer_id and leaving the billing customer are one or the other."));
        }

        var body = request.LeaveBillingCustomer
            ? Write(new LeaveBillingCustomerBody(request.Email, request.Name, request.Metadata), ClientJson.Default.LeaveBillingCustomerBody)
            : Write(new CustomerBody(request.Email, request.Name, request.Metadata, request.BillingCustomerId), ClientJson.Default.CustomerBody);
        // PUT of the same fields twice leaves the same customer: safe to repeat.
        return SendAsync(new Call(HttpMethod.Put, $"v1/customers/{Segment(request.CustomerId)}", body, null, Repeatable: true),
            ClientJson.Default.CustomerAccount, Success, cancellationToken);
    }

    /// <inheritdoc/>
    public Task<TollgateResult<PlanSubscription>> StartTrialAsync(StartTrialRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(request.CustomerId);
        ArgumentNullException.ThrowIfNull(request.Plan);
        // Keyed: a retry after a lost answer replays the trial started, instead of being refused as not_eligible.
        var body = Write(new TrialBody(request.Plan), ClientJson.Default.TrialBody);
        return SendAsync(Keyed($"v1/customers/{Segment(request.CustomerId)}/trials", body, null), ClientJson.Default.PlanSubscription, Success,
            cancellationToken);
    }

    /// <inheritdoc/>
    public Task<TollgateResult<Members>> GetMembersAsync(MembersRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(request.CustomerId);
        var path = WithQuery($"v1/customers/{Segment(request.CustomerId)}/members",
            ("limit", request.Limit?.ToString(CultureInfo.InvariantCulture)), ("after", request.After));
        return SendAsync(Read(path), ClientJson.Default.MembersBody,
            (_, _, m) => TollgateResult<Members>.Success(new Members(m.CustomerId, m.Members, m.Next)), cancellationToken);
    }

    /// <inheritdoc/>
    public Task<TollgateResult<Products>> GetProductsAsync(string? customerId = null, string? provider = null, CancellationToken cancellationToken = default)
    {
        return SendAsync(Read(WithQuery("v1/products", ("customer_id", customerId), ("provider", provider))), ClientJson.Default.Products, Success,
            cancellationToken);
    }

    /// <summary><paramref name="path"/> with the parameters that have a value, escaped.</summary>
    private static string WithQuery(string path, params (string Name, string? Value)[] parameters)
    {
        var query = new StringBuilder(path);
        var separator = '?';
        foreach (var (name, value) in parameters)
        {
            if (value is not null)
            {
                query.Append(separator).Append(name).Append('=').Append(Uri.EscapeDataString(value));
                separator = '&';
            }
        }

        return query.ToString();
    }

    private async Task<TollgateResult<T>> SendAsync<TWire, T>(Call call, JsonTypeInfo<TWire> answer, Func<Call, int, TWire, TollgateResult<T>> map,
        CancellationToken cancellationToken)
        where T : class
    {
        var reply = await _http.SendAsync(call, cancellationToken);
        if (reply.Problem is { } problem)
        {
            return TollgateResult<T>.Refused(TollgateRefusal.FromCode(problem.Code!), problem.Detail);
        }

        TWire? value;
        try
        {
            value = JsonSerializer.Deserialize(reply.Body, answer);
        }
        catch (JsonException ex)
        {
            throw new TollgateException($"Tollgate answered {call} with {reply.Status} and a body this client cannot read ({ex.Message}): "
                + TollgateHttp.Snippet(reply.Body), reply.Status, "unexpected_response", reply.Attempts, ex, call.IdempotencyKey);
        }

        return value is null
            ? throw new TollgateException($"Tollgate answered {call} with {reply.Status} and an empty body.", reply.Status, "unexpected_response",
                reply.Attempts, idempotencyKey: call.IdempotencyKey)
            : map(call, reply.Attempts, value);
    }

    private static TollgateResult<T> Success<T>(Call call, int attempts, T value)
        where T : class => TollgateResult<T>.Success(value);

    private static Call Read(string path) => new(HttpMethod.Get, path, null, null, Repeatable: true);

    /// <summary>A money-moving write: the caller's key, or one made for this call, on every attempt.</summary>
    private static Call Keyed(string path, byte[] body, string? idempotencyKey) =>
        new(HttpMethod.Post, path, body, idempotencyKey ?? NewIdempotencyKey(), Repeatable: true);

    /// <summary>A fresh key for one logical call.</summary>
    internal static string NewIdempotencyKey() => "tgc_" + Guid.NewGuid().ToString("N", CultureInfo.InvariantCulture);

    private static byte[] Write<T>(T body, JsonTypeInfo<T> info) => JsonSerializer.SerializeToUtf8Bytes(body, info);

    /// <summary>An id as one path segment. <c>.</c> and <c>..</c> are valid customer ids, and a URL would read them as
    /// "this" and "parent" folder; escaped, they stay the id.</summary>
    internal static string Segment(string id) => id switch
    {
        "." => "%2E",
        ".." => "%2E%2E",
        _ => Uri.EscapeDataString(id),
    };
}
