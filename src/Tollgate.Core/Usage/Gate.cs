using System.Collections.Concurrent;
using System.Data.Common;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Tollgate.Core.Catalog;
using Tollgate.Core.Common;
using Tollgate.Core.Entitlements;
using Tollgate.Core.Idempotency;
using Tollgate.Core.Ledger;
using Tollgate.Core.Subscriptions;

namespace Tollgate.Core.Usage;

/// <summary>
/// The part of Tollgate an app calls on every request: <i>may this customer do X</i> (capabilities, check) and
/// <i>charge them for X</i> (usage, holds). Reads come from a cached view of each customer and never write: what the
/// customer's plan owes and is not written yet (the free plan's allowance of this month) is shown as it will be.
/// Every write goes through the ledger, carrying those writes into its own transaction, and leaves the view as it
/// committed it. Thread-safe; one per process.
/// </summary>
public sealed partial class Gate : ILedgerObserver, IAllowanceWriter
{
    private readonly ProductCatalog _catalog;
    private readonly LedgerEngine _ledger;
    private readonly ISubscriptionStore _subscriptions;
    private readonly IExternalAccessSource? _external;
    private readonly TimeProvider _time;
    private readonly GateOptions _options;
    private readonly ILogger _logger;
    // Two views, because most writes are ledger writes: they replace the ledger view and leave the plan alone.
    private readonly ViewCache<IReadOnlyList<Subscription>> _subscriptionViews;
    private readonly ViewCache<LedgerSnapshot> _ledgerViews;
    // Which customer a member is billed on: dropped with the member's other views (its PUT, the change feed).
    private readonly ViewCache<BillingLink> _billingViews;
    private readonly Customers.ICustomerStore? _customers;

    // Writes a plan owes that are known to be stored ("customer|key"): they are stored for good, so this only grows
    // (bounded), and a write need not carry them nor a read look them up again.
    private readonly ConcurrentDictionary<string, byte> _written = new(StringComparer.Ordinal);

    /// <summary>The gate over a catalog and a ledger. <paramref name="external"/>, when given, adds capabilities from outside (the app's own records).
    /// <paramref name="customers"/>, when given, lets members be answered and charged on their billing customer.</summary>
    public Gate(ProductCatalog catalog, LedgerEngine ledger, ISubscriptionStore subscriptions, TimeProvider time,
        GateOptions? options = null, IExternalAccessSource? external = null, ILogger<Gate>? logger = null,
        Customers.ICustomerStore? customers = null)
    {
        _customers = customers;
        _billingViews = new ViewCache<BillingLink>(time, (options ?? new GateOptions()).CacheLifetime);
        _catalog = catalog;
        _ledger = ledger;
        _subscriptions = subscriptions;
        _time = time;
        _options = options ?? new GateOptions();
        _external = external;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _subscriptionViews = new ViewCache<IReadOnlyList<Subscription>>(time, _options.CacheLifetime);
        _ledgerViews = new ViewCache<LedgerSnapshot>(time, _options.CacheLifetime);
        ledger.Observe(this);
    }

    /// <summary>The catalog the gate decides against.</summary>
    public ProductCatalog Catalog => _catalog;

    /// <summary>Whether cached views may be used. The host turns it off while the change feed is down.</summary>
    public bool CacheEnabled
    {
        get => _ledgerViews.Enabled;
        set
        {
            _subscriptionViews.Enabled = value;
            _ledgerViews.Enabled = value;
            _billingViews.Enabled = value;
        }
    }

    /// <summary>Drops the cached views of a customer (called for changes made elsewhere).</summary>
    public void Invalidate(string customerId)
    {
        _subscriptionViews.Invalidate(customerId);
        _ledgerViews.Invalidate(customerId);
        _billingViews.Invalidate(customerId);
    }

    /// <summary>Drops the cached ledger view of a customer, keeping its subscriptions (another server's ledger write).</summary>
    public void InvalidateLedger(string customerId) => _ledgerViews.Invalidate(customerId);

    /// <summary>Drops every cached customer view (a catalog reload, a lost change feed).</summary>
    public void InvalidateAll()
    {
        _subscriptionViews.Clear();
        _ledgerViews.Clear();
        _billingViews.Clear();
    }

    /// <summary>The plans a customer holds now (the default plan when none), or null when the catalog has no default.</summary>
    public async Task<EffectivePlan?> PlanAsync(string customerId, CancellationToken cancellationToken = default)
    {
        var subscriptions = await SubscriptionViewAsync(customerId, cancellationToken).ConfigureAwait(false);
        return EffectivePlan.Resolve(_catalog, subscriptions, _time.GetUtcNow(), _options.PastDueKeepsAccess);
    }

    /// <summary><c>plan:*</c> and <c>feature:*</c> capabilities now, with what an external source adds. A member's
    /// are the union of its own and its billing customer's.</summary>
    public async Task<IReadOnlyList<string>> CapabilitiesAsync(string customerId, CancellationToken cancellationToken = default)
    {
        var (payer, member) = await PayerAsync(customerId, cancellationToken).ConfigureAwait(false);
        var capabilities = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var id in member is null ? [customerId] : new[] { customerId, payer })
        {
            var plan = await PlanAsync(id, cancellationToken).ConfigureAwait(false);
            capabilities.UnionWith(plan?.Capabilities(_catalog) ?? new SortedSet<string>());
            capabilities.UnionWith(await ExternalFeaturesAsync(id, cancellationToken).ConfigureAwait(false));
        }

        return [.. capabilities];
    }

    /// <summary>Who pays for <paramref name="customerId"/>'s checks, usage and holds: its billing customer when it is a
    /// member (then <c>Member</c> is <paramref name="customerId"/>), otherwise itself (<c>Member</c> null).</summary>
    public async Task<(string Payer, string? Member)> PayerAsync(string customerId, CancellationToken cancellationToken = default)
    {
        if (_customers is null)
        {
            return (customerId, null);
        }

        var link = _ledger.InTransaction
            ? new BillingLink(await _customers.BillingCustomerIdAsync(customerId, cancellationToken).ConfigureAwait(false))
            : await _billingViews.GetAsync(customerId,
                async ct => new BillingLink(await _customers.BillingCustomerIdAsync(customerId, ct).ConfigureAwait(false)), cancellationToken)
                .ConfigureAwait(false);
        return link.BillingCustomerId is { } billing ? (billing, customerId) : (customerId, null);
    }

    /// <summary>A count feature's limit under <paramref name="plan"/>: a seats feature's is the subscription's quantity
    /// when the plan includes it (the default plan's own limit without a subscription); others', the plan's.</summary>
    private static long LimitOf(Feature feature, EffectivePlan? plan, PlanFeature? setting) =>
        feature.Seats && setting is not null && plan?.Subscription is { } subscription ? subscription.Quantity : setting?.Limit ?? 0;

    /// <summary>The operation key of a member's write is its own: two members of one organization may use the same
    /// idempotency key without one replaying the other's answer. (U+001F cannot occur in an HTTP header.)</summary>
    private static string KeyOf(string prefix, string idempotencyKey, string? member) =>
        member is null ? prefix + idempotencyKey : prefix + idempotencyKey + "\u001fmember:" + member;

    private sealed record BillingLink(string? BillingCustomerId);

    long ILedgerObserver.BeforeWrite() => _ledgerViews.Stamp();

    void ILedgerObserver.Committed(long stamp, IReadOnlyList<LedgerSnapshot> customers)
    {
        foreach (var snapshot in customers)
        {
            // Stryker disable once Statement : the memo only spares work (see IsWritten)
            RememberWritten(snapshot.Data);
            _ledgerViews.Replace(snapshot.Data.CustomerId, snapshot, stamp);
        }
    }

    // Inside a flow's database transaction (a webhook being applied) what is read is not committed yet: it is used, but
    // neither cached nor remembered, since the flow may still roll back.
    private Task<IReadOnlyList<Subscription>> SubscriptionViewAsync(string customerId, CancellationToken cancellationToken) =>
        _ledger.InTransaction
            ? _subscriptions.ListByCustomerAsync(customerId, cancellationToken)
            : _subscriptionViews.GetAsync(customerId, ct => _subscriptions.ListByCustomerAsync(customerId, ct), cancellationToken);

    /// <summary>The customer's live ledger state, from the cache when it tells whether each of <paramref name="due"/>
    /// is written, otherwise read with those keys.</summary>
    private async Task<CustomerLedgerData> LedgerViewAsync(string customerId, DueWrites due, CancellationToken cancellationToken)
    {
        if (_ledger.InTransaction)
        {
            return await _ledger.ReadAsync(customerId, [.. due.Keys], cancellationToken).ConfigureAwait(false);
        }

        var view = await _ledgerViews.GetAsync(customerId, async ct =>
        {
            var keys = due.Keys.ToList();
            var data = await _ledger.ReadAsync(customerId, keys, ct).ConfigureAwait(false);
            return new LedgerSnapshot(data, keys.ToHashSet(StringComparer.Ordinal));
        }, cancellationToken, cached => due.Keys.All(cached.CheckedKeys.Contains)).ConfigureAwait(false);
        // Stryker disable once Statement : the memo only spares work (see IsWritten)
        RememberWritten(view.Data);
        return view.Data;
    }

    /// <summary>What the customer's plan owes now and is not known to be written: the allowances of the current
    /// windows and, under a subscription, the end of the default plan's allowances (so the month's free messages are
    /// not used before, and counted beside, the paid plan's).</summary>
    private DueWrites DueOf(string customerId, EffectivePlan? plan, DateTimeOffset now)
    {
        if (plan is null)
        {
            return DueWrites.None;
        }

        List<GrantRequest>? grants = null;
        List<CarryRequest>? carries = null;
        foreach (var due in Allowances.Due(_catalog, plan, now))
        {
            if (!IsWritten(customerId, due.Key))
            {
                (grants ??= []).Add(new GrantRequest(customerId, due.Feature, due.Amount, due.Source, due.Key)
                {
                    SourceRef = due.SourceRef,
                    ExpiresAt = due.WindowEnd,
                    Reference = "plan " + plan.Primary.Id,
                    LotId = AllowanceLotId(customerId, due.Key),
                });
            }

            if (due.Carry is { } carry && !IsWritten(customerId, carry.Key))
            {
                // Only the credits feature rolls over, so a plan owes one carry at most.
                // Stryker disable once Assignment : equivalent (above)
                (carries ??= []).Add(new CarryRequest(customerId, due.Feature, carry.Max, carry.WindowStart, due.WindowEnd, carry.SourcePrefix, carry.Key)
                {
                    Reference = "rollover, plan " + plan.Primary.Id,
                    LotId = AllowanceLotId(customerId, carry.Key),
                });
            }
        }

        RetireRequest? retire = null;
        if (plan.Subscription is { } subscription && _catalog.DefaultPlan is not null)
        {
            var key = RetireDefaultPrefix + subscription.Id;
            if (!IsWritten(customerId, key))
            {
                retire = new RetireRequest(customerId, "allowance:default", key);
            }
        }

        // An empty DueWrites writes nothing, as None does; a carry is owed with its window's grant, written in the same
        // transaction, so a carry without a grant or a retirement is not owed.
        // Stryker disable once Conditional,Equality : equivalent (above)
        return grants is null && retire is null && carries is null ? DueWrites.None : new DueWrites(grants ?? [], retire) { Carries = carries ?? [] };
    }

    private const string AllowancePrefix = "allowance:";
    private const string RetireDefaultPrefix = "retire-default:";
    private const string RolloverPrefix = "rollover:";

    // The memo only spares work: a key it forgot is carried with the next write again and found written by its key (the
    // ledger's writes are idempotent by key); it never holds a key that was not read or committed as written. Its
    // mutants (forgetting, the separator, the bound) change no answer, so they are set aside here and below.
    // Stryker disable once String : the memo only spares work (above)
    private bool IsWritten(string customerId, string key) => _written.ContainsKey(customerId + "|" + key);

    // Stryker disable all : the memo only spares work (see IsWritten)
    private void RememberWritten(CustomerLedgerData data)
    {
        foreach (var operation in data.Operations)
        {
            if (operation.OperationKey.StartsWith(AllowancePrefix, StringComparison.Ordinal)
                || operation.OperationKey.StartsWith(RetireDefaultPrefix, StringComparison.Ordinal)
                || operation.OperationKey.StartsWith(RolloverPrefix, StringComparison.Ordinal))
            {
                if (_written.Count > 500_000)
                {
                    _written.Clear();
                }

                _written.TryAdd(data.CustomerId + "|" + operation.OperationKey, 0);
            }
        }

        // Stryker restore all
    }

    /// <summary>An allowance lot's id, fixed by its key: a read that shows the allowance before it is written names
    /// the lot it will be.</summary>
    // The separator only has to be the same each time: any fixed one names the same lot before and after it is written.
    // Stryker disable once String : equivalent (above); "lot_" is asserted
    private static string AllowanceLotId(string customerId, string key) =>
        "lot_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(customerId + "|" + key)), 0, 16);

    Task IAllowanceWriter.WriteDueAsync(string customerId, CancellationToken cancellationToken) => EnsureAllowancesAsync(customerId, cancellationToken);

    void IAllowanceWriter.Forget(string customerId) => Invalidate(customerId);

    /// <summary>Writes what the customer's current plan owes now (after a subscription changed).</summary>
    internal async Task EnsureAllowancesAsync(string customerId, CancellationToken cancellationToken)
    {
        var (plan, now) = await PlanNowAsync(customerId, cancellationToken).ConfigureAwait(false);
        await _ledger.ApplyDueAsync(customerId, DueOf(customerId, plan, now), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The customer's plan now (from the cached subscriptions).</summary>
    private async Task<(EffectivePlan? Plan, DateTimeOffset Now)> PlanNowAsync(string customerId, CancellationToken cancellationToken)
    {
        var subscriptions = await SubscriptionViewAsync(customerId, cancellationToken).ConfigureAwait(false);
        var now = Instants.Now(_time);
        return (EffectivePlan.Resolve(_catalog, subscriptions, now, _options.PastDueKeepsAccess), now);
    }

    /// <summary>The customer's plan and balances now, with what the plan owes shown as written. Writes nothing.</summary>
    private async Task<(CustomerBalances Balances, EffectivePlan? Plan, DateTimeOffset Now)> CurrentAsync(string customerId,
        CancellationToken cancellationToken)
    {
        var (plan, now) = await PlanNowAsync(customerId, cancellationToken).ConfigureAwait(false);
        var due = DueOf(customerId, plan, now);
        var ledger = await LedgerViewAsync(customerId, due, cancellationToken).ConfigureAwait(false);
        return (_ledger.BalancesOf(ledger, now, due), plan, now);
    }

    /// <summary>What travels with a write of this customer: the writes the plan owes, and the API call if any.</summary>
    private LedgerWrite WriteFor(string customerId, EffectivePlan? plan, DateTimeOffset now, IdempotentCall<LedgerResult>? call) =>
        new() { Due = DueOf(customerId, plan, now), Call = call };

    private async Task<IReadOnlyCollection<string>> ExternalFeaturesAsync(string customerId, CancellationToken cancellationToken)
    {
        if (_external is null)
        {
            return [];
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            // A wall-clock timeout: it bounds how long a caller waits, which has nothing to do with business time.
            var answer = await _external.GetAsync(customerId, timeout.Token).WaitAsync(_options.ExternalAccessTimeout, cancellationToken)
                .ConfigureAwait(false);
            if (!answer.Known)
            {
                Log.ExternalAccessUnsure(_logger, customerId);
                return [];
            }

            var ignored = answer.Capabilities.Where(c => !c.StartsWith("feature:", StringComparison.Ordinal)).ToList();
            if (ignored.Count > 0)
            {
                Log.ExternalAccessOverreach(_logger, customerId, string.Join(", ", ignored));
            }

            return answer.Capabilities.Where(c => c.StartsWith("feature:", StringComparison.Ordinal)).ToList();
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            // Fail closed: whatever went wrong (an error, a timeout), the source grants nothing.
            Log.ExternalAccessFailed(_logger, customerId, ex);
            return [];
        }
        finally
        {
            // Whatever ended the wait, the source is told to stop. (A timer on the token would race the wait's own:
            // when the wait won, disposing the source disarmed the timer and a hanging call was never cancelled.)
            await timeout.CancelAsync().ConfigureAwait(false);
        }
    }

    private static bool IsUnavailable(Exception exception) =>
        exception is DbException or TimeoutException or System.Net.Sockets.SocketException or IOException
        || exception.InnerException is { } inner && IsUnavailable(inner);

    private Spill? SpillOf(Feature feature) =>
        feature is { Type: FeatureType.Metered, CreditCost: { } cost } && _catalog.CreditsFeature is { } credits
            ? new Spill(credits.Id, cost)
            : null;
}
