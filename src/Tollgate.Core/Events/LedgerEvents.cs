using System.Text.Json.Nodes;
using Tollgate.Core.Catalog;
using Tollgate.Core.Common;
using Tollgate.Core.Ledger;

namespace Tollgate.Core.Events;

/// <summary>What a ledger write adds to the outbox, and the alert marks it sets and clears.</summary>
public sealed record LedgerEventPlan(
    IReadOnlyList<OutboundEvent> Events,
    IReadOnlyList<(string CustomerId, string Feature, long Threshold)> MarksSet,
    IReadOnlyList<(string CustomerId, string Feature)> MarksCleared)
{
    /// <summary>No events and no marks to change.</summary>
    public static LedgerEventPlan None { get; } = new([], [], []);
}

/// <summary>
/// The events a ledger write transaction reports: <c>credits.granted</c> for each lot of a credits feature it inserts,
/// and the balance alerts of features that declare <c>alerts</c>. Alerts are computed from the write's entries in
/// order (each carries the balance after it), against the thresholds already fired for the customer (marks, read and
/// written in the same transaction, under the customer's lock): so however many callers race, a crossing fires once,
/// and a threshold fires again only after the balance recovered to the highest one.
/// </summary>
public sealed class LedgerEvents(ProductCatalog catalog, TimeProvider time)
{
    private readonly Dictionary<string, Feature> _alerting = catalog.Features.Where(f => f.Alerts.Count > 0).ToDictionary(f => f.Id, StringComparer.Ordinal);
    private readonly HashSet<string> _credits = catalog.Features.Where(f => f.Type == FeatureType.Credits).Select(f => f.Id).ToHashSet(StringComparer.Ordinal);

    /// <summary>The (customer, feature) pairs whose fired thresholds must be read before <see cref="Plan"/>: those of an
    /// alerting feature whose balance is below its highest threshold at some point of the write (a balance that stays at
    /// or above it can neither fire nor recover anything: recovery cleared the marks when it last rose there).</summary>
    public IReadOnlyList<(string CustomerId, string Feature)> MarksNeeded(LedgerChanges changes)
    {
        ArgumentNullException.ThrowIfNull(changes);
        if (_alerting.Count == 0)
        {
            return [];
        }

        var needed = new List<(string, string)>();
        foreach (var group in AlertEntries(changes))
        {
            var highest = _alerting[group.Key.Feature].Alerts[0];
            var first = group.First();
            if (first.BalanceAfter - first.Amount < highest || group.Any(e => e.BalanceAfter < highest))
            {
                needed.Add(group.Key);
            }
        }

        return needed;
    }

    /// <summary>The events and mark changes of a write; <paramref name="marks"/> holds the fired thresholds of the pairs
    /// <see cref="MarksNeeded"/> named (absent: none fired).</summary>
    public LedgerEventPlan Plan(LedgerChanges changes, IReadOnlyDictionary<(string CustomerId, string Feature), IReadOnlySet<long>> marks)
    {
        ArgumentNullException.ThrowIfNull(changes);
        ArgumentNullException.ThrowIfNull(marks);
        var events = new List<OutboundEvent>();
        foreach (var lot in changes.InsertedLots)
        {
            if (_credits.Contains(lot.Feature))
            {
                events.Add(OutboundEvent.Create(EventTypes.CreditsGranted, lot.CustomerId, new JsonObject
                {
                    ["feature"] = lot.Feature,
                    ["amount"] = lot.Amount,
                    ["lot_id"] = lot.LotId,
                    ["expires_at"] = lot.ExpiresAt is { } e ? JsonValue.Create(e) : null,
                    ["source"] = SnakeCase<LotSource>.Name(lot.Source),
                }, time));
            }
        }

        if (_alerting.Count == 0)
        {
            return events.Count == 0 ? LedgerEventPlan.None : new LedgerEventPlan(events, [], []);
        }

        var set = new List<(string, string, long)>();
        var cleared = new List<(string, string)>();
        foreach (var group in AlertEntries(changes))
        {
            if (!marks.TryGetValue(group.Key, out var stored))
            {
                // Not needed: the balance stayed at or above the highest threshold all along.
                continue;
            }

            var (customer, feature) = group.Key;
            var thresholds = _alerting[feature].Alerts;
            var fired = new HashSet<long>(stored);
            var firstEntry = group.First();
            var before = firstEntry.BalanceAfter - firstEntry.Amount;
            foreach (var entry in group)
            {
                var after = entry.BalanceAfter;
                var available = Math.Max(0, after);
                if (after < before)
                {
                    foreach (var threshold in thresholds)
                    {
                        if (available < threshold && fired.Add(threshold))
                        {
                            set.Add((customer, feature, threshold));
                            events.Add(Alert(EventTypes.CreditsLow, customer, feature, available, threshold));
                        }
                    }

                    if (available == 0 && fired.Add(0))
                    {
                        set.Add((customer, feature, 0));
                        events.Add(Alert(EventTypes.CreditsDepleted, customer, feature, available, null));
                    }
                }
                else if (after > before && available >= thresholds[0] && fired.Count > 0)
                {
                    fired.Clear();
                    set.RemoveAll(m => m.Item1 == customer && m.Item2 == feature);
                    cleared.Add((customer, feature));
                    events.Add(Alert(EventTypes.CreditsRecovered, customer, feature, available, thresholds[0]));
                }

                before = after;
            }
        }

        return new LedgerEventPlan(events, set, cleared);
    }

    private OutboundEvent Alert(string type, string customer, string feature, long available, long? threshold)
    {
        var data = new JsonObject { ["feature"] = feature, ["available"] = available };
        if (threshold is { } t)
        {
            data["threshold"] = t;
        }

        return OutboundEvent.Create(type, customer, data, time);
    }

    private IEnumerable<IGrouping<(string CustomerId, string Feature), EntryRecord>> AlertEntries(LedgerChanges changes) =>
        changes.Entries
            .Where(e => _alerting.ContainsKey(e.Feature) && e.Amount != 0)
            .OrderBy(e => e.Seq)
            .GroupBy(e => (e.CustomerId, e.Feature));
}
