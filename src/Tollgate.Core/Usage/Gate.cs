using System.Collections.Concurrent;
using System.Data.Common;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Tollgate.Core.Catalog;
using Tollgate.Core.Common;
using Tollgate.Core.Entitlements;
using Tollgate.Core.Ledger;
using Tollgate.Core.Subscriptions;

namespace Tollgate.Core.Usage;

/// <summary>
/// The part of Tollgate an app calls on every request: <i>may this customer do X</i> (capabilities, check) and
/// <i>charge them for X</i> (usage, holds). Reads come from a cached view of each customer; every write goes through
/// the ledger and drops the view. Thread-safe; one per process.
/// </summary>
public sealed partial class Gate
{
    private readonly ProductCatalog _catalog;
    private readonly LedgerEngine _ledger;
    private readonly ISubscriptionStore _subscriptions;
    private readonly IExternalAccessSource? _external;
    private readonly TimeProvider _time;
    private readonly GateOptions _options;
    private readonly ILogger _logger;
    // Two views, because most writes are ledger writes: usage drops the ledger view, not the plan.
    private readonly ViewCache<IReadOnlyList<Subscription>> _subscriptionViews;
    private readonly ViewCache<CustomerLedgerData> _ledgerViews;

    // Allowance grants this process knows are written; the grant key makes a repeat harmless, this makes it rare.
    private readonly ConcurrentDictionary<string, byte> _grantedAllowances = new(StringComparer.Ordinal);

    public Gate(ProductCatalog catalog, LedgerEngine ledger, ISubscriptionStore subscriptions, TimeProvider time,
        GateOptions? options = null, IExternalAccessSource? external = null, ILogger<Gate>? logger = null)
    {
        _catalog = catalog;
        _ledger = ledger;
        _subscriptions = subscriptions;
        _time = time;
        _options = options ?? new GateOptions();
        _external = external;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _subscriptionViews = new ViewCache<IReadOnlyList<Subscription>>(time, _options.CacheLifetime);
        _ledgerViews = new ViewCache<CustomerLedgerData>(time, _options.CacheLifetime);
    }

    public ProductCatalog Catalog => _catalog;

    /// <summary>Whether cached views may be used. The host turns it off while the change feed is down.</summary>
    public bool CacheEnabled
    {
        get => _ledgerViews.Enabled;
        set
        {
            _subscriptionViews.Enabled = value;
            _ledgerViews.Enabled = value;
        }
    }

    /// <summary>Drops the cached views of a customer (called for changes made elsewhere).</summary>
    public void Invalidate(string customerId)
    {
        _subscriptionViews.Invalidate(customerId);
        _ledgerViews.Invalidate(customerId);
    }

    public void InvalidateAll()
    {
        _subscriptionViews.Clear();
        _ledgerViews.Clear();
    }

    /// <summary>The plans a customer holds now (the default plan when none), or null when the catalog has no default.</summary>
    public async Task<EffectivePlan?> PlanAsync(string customerId, CancellationToken cancellationToken = default)
    {
        var subscriptions = await SubscriptionViewAsync(customerId, cancellationToken).ConfigureAwait(false);
        return EffectivePlan.Resolve(_catalog, subscriptions, _time.GetUtcNow(), _options.PastDueKeepsAccess);
    }

    /// <summary><c>plan:*</c> and <c>feature:*</c> capabilities now, with what an external source adds.</summary>
    public async Task<IReadOnlyList<string>> CapabilitiesAsync(string customerId, CancellationToken cancellationToken = default)
    {
        var plan = await PlanAsync(customerId, cancellationToken).ConfigureAwait(false);
        var capabilities = new SortedSet<string>(plan?.Capabilities(_catalog) ?? new SortedSet<string>(), StringComparer.Ordinal);
        foreach (var capability in await ExternalFeaturesAsync(customerId, cancellationToken).ConfigureAwait(false))
        {
            capabilities.Add(capability);
        }

        return [.. capabilities];
    }

    private Task<IReadOnlyList<Subscription>> SubscriptionViewAsync(string customerId, CancellationToken cancellationToken) =>
        _subscriptionViews.GetAsync(customerId, ct => _subscriptions.ListByCustomerAsync(customerId, ct), cancellationToken);

    private Task<CustomerLedgerData> LedgerViewAsync(string customerId, CancellationToken cancellationToken) =>
        _ledgerViews.GetAsync(customerId, ct => _ledger.ReadAsync(customerId, ct), cancellationToken);

    /// <summary>Writes the allowance lots the customer's plan owes for the current windows, if this process has not
    /// seen them written. Returns true when something was written (cached views of the customer are then stale).</summary>
    private async Task<bool> EnsureAllowancesAsync(string customerId, EffectivePlan plan, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var wrote = false;
        foreach (var due in Allowances.Due(_catalog, plan, now))
        {
            var memo = customerId + "|" + due.Key;
            if (_grantedAllowances.ContainsKey(memo))
            {
                continue;
            }

            var result = await _ledger.GrantAsync(new GrantRequest(customerId, due.Feature, due.Amount, due.Source, due.Key)
            {
                SourceRef = due.SourceRef,
                ExpiresAt = due.WindowEnd,
                Reference = "plan " + plan.Primary.Id,
            }, cancellationToken).ConfigureAwait(false);
            // A key used before with another amount is this window's grant under a plan the customer has since left;
            // the window keeps it (a plan change grants only the difference, see SubscriptionService).
            if (result.Succeeded || result.Refusal == LedgerRefusal.KeyReused)
            {
                wrote |= result is { Succeeded: true, Replayed: false };
                if (_grantedAllowances.Count > 500_000)
                {
                    _grantedAllowances.Clear();
                }

                _grantedAllowances.TryAdd(memo, 0);
            }
        }

        // A subscription's plan replaces the default plan: the default plan's allowances end now, so the month's
        // free messages are not used before (and counted beside) the paid plan's.
        if (plan.Subscription is { } subscription && _catalog.DefaultPlan is not null)
        {
            var memo = $"{customerId}|retire-default|{subscription.Id}";
            if (!_grantedAllowances.ContainsKey(memo))
            {
                var retired = await _ledger.RetireAsync(new RetireRequest(customerId, "allowance:default", "retire-default:" + subscription.Id),
                    cancellationToken).ConfigureAwait(false);
                wrote |= retired is { Succeeded: true, Replayed: false, Retired: > 0 };
                _grantedAllowances.TryAdd(memo, 0);
            }
        }

        if (wrote)
        {
            _ledgerViews.Invalidate(customerId);
        }

        return wrote;
    }

    /// <summary>Grants what the customer's current plan owes now (after a subscription changed).</summary>
    internal async Task EnsureAllowancesAsync(string customerId, CancellationToken cancellationToken) =>
        await PlanNowAsync(customerId, cancellationToken).ConfigureAwait(false);

    /// <summary>The customer's plan now, with its allowances for now in place.</summary>
    private async Task<(EffectivePlan? Plan, DateTimeOffset Now)> PlanNowAsync(string customerId, CancellationToken cancellationToken)
    {
        var subscriptions = await SubscriptionViewAsync(customerId, cancellationToken).ConfigureAwait(false);
        var now = Instants.Now(_time);
        var plan = EffectivePlan.Resolve(_catalog, subscriptions, now, _options.PastDueKeepsAccess);
        if (plan is not null)
        {
            await EnsureAllowancesAsync(customerId, plan, now, cancellationToken).ConfigureAwait(false);
        }

        return (plan, now);
    }

    /// <summary>The customer's plan and live ledger state now, with the plan's allowances for now in place.</summary>
    private async Task<(CustomerState State, EffectivePlan? Plan, DateTimeOffset Now)> CurrentAsync(string customerId, CancellationToken cancellationToken)
    {
        var (plan, now) = await PlanNowAsync(customerId, cancellationToken).ConfigureAwait(false);
        var subscriptions = await SubscriptionViewAsync(customerId, cancellationToken).ConfigureAwait(false);
        var ledger = await LedgerViewAsync(customerId, cancellationToken).ConfigureAwait(false);
        return (new CustomerState(subscriptions, ledger), plan, now);
    }

    private async Task<IReadOnlyCollection<string>> ExternalFeaturesAsync(string customerId, CancellationToken cancellationToken)
    {
        if (_external is null)
        {
            return [];
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.ExternalAccessTimeout);
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
    }

    private static bool IsUnavailable(Exception exception) =>
        exception is DbException or TimeoutException or System.Net.Sockets.SocketException or IOException
        || exception.InnerException is { } inner && IsUnavailable(inner);

    private Spill? SpillOf(Feature feature) =>
        feature is { Type: FeatureType.Metered, CreditCost: { } cost } && _catalog.CreditsFeature is { } credits
            ? new Spill(credits.Id, cost)
            : null;
}
