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
    private readonly CustomerStateCache _cache;

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
        _cache = new CustomerStateCache(time, _options.CacheLifetime);
    }

    public ProductCatalog Catalog => _catalog;

    /// <summary>Whether cached views may be used. The host turns it off while the change feed is down.</summary>
    public bool CacheEnabled
    {
        get => _cache.Enabled;
        set => _cache.Enabled = value;
    }

    /// <summary>Drops the cached view of a customer (called for changes made elsewhere).</summary>
    public void Invalidate(string customerId) => _cache.Invalidate(customerId);

    public void InvalidateAll() => _cache.Clear();

    /// <summary>The plans a customer holds now (the default plan when none), or null when the catalog has no default.</summary>
    public async Task<EffectivePlan?> PlanAsync(string customerId, CancellationToken cancellationToken = default)
    {
        var state = await StateAsync(customerId, cancellationToken).ConfigureAwait(false);
        return EffectivePlan.Resolve(_catalog, state.Subscriptions, _time.GetUtcNow(), _options.PastDueKeepsAccess);
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

    private Task<CustomerState> StateAsync(string customerId, CancellationToken cancellationToken) =>
        _cache.GetAsync(customerId, async ct =>
        {
            var subscriptions = await _subscriptions.ListByCustomerAsync(customerId, ct).ConfigureAwait(false);
            var ledger = await _ledger.ReadAsync(customerId, ct).ConfigureAwait(false);
            return new CustomerState(subscriptions, ledger);
        }, cancellationToken);

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

        if (wrote)
        {
            _cache.Invalidate(customerId);
        }

        return wrote;
    }

    /// <summary>Grants what the customer's current plan owes now (after a subscription changed).</summary>
    internal async Task EnsureAllowancesAsync(string customerId, CancellationToken cancellationToken) =>
        await CurrentAsync(customerId, cancellationToken).ConfigureAwait(false);

    /// <summary>The customer's view with its plan's allowances for now in place.</summary>
    private async Task<(CustomerState State, EffectivePlan? Plan, DateTimeOffset Now)> CurrentAsync(string customerId, CancellationToken cancellationToken)
    {
        var state = await StateAsync(customerId, cancellationToken).ConfigureAwait(false);
        var now = Instants.Now(_time);
        var plan = EffectivePlan.Resolve(_catalog, state.Subscriptions, now, _options.PastDueKeepsAccess);
        if (plan is not null && await EnsureAllowancesAsync(customerId, plan, now, cancellationToken).ConfigureAwait(false))
        {
            state = await StateAsync(customerId, cancellationToken).ConfigureAwait(false);
        }

        return (state, plan, now);
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
