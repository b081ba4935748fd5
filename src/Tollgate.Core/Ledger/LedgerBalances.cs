namespace Tollgate.Core.Ledger;

/// <summary>A lot as a balance view shows it.</summary>
public sealed record LotBalance(
    string LotId,
    LotSource Source,
    string? SourceRef,
    long Amount,
    long Remaining,
    long Held,
    DateTimeOffset? ExpiresAt,
    DateTimeOffset CreatedAt);

/// <summary>One feature of a customer at an instant. <see cref="Available"/> is spendable now; <see cref="Held"/> is
/// reserved by active holds; <see cref="Debt"/> is owed from clawbacks.</summary>
public sealed record FeatureBalance(string Feature, long Available, long Held, long Debt, IReadOnlyList<LotBalance> Lots)
{
    /// <summary>Available minus debt: negative while the customer owes more than they have.</summary>
    public long Balance => checked(Available - Debt);
}

/// <param name="Counters">Levels of count features.</param>
/// <param name="HoldUnits">Units held by active holds, per feature (for a concurrency feature: slots in use).</param>
public sealed record CustomerBalances(
    string CustomerId,
    DateTimeOffset At,
    IReadOnlyList<FeatureBalance> Features,
    IReadOnlyDictionary<string, long> Counters,
    IReadOnlyDictionary<string, long> HoldUnits)
{
    /// <summary>The balance of one feature; zeros when the customer has none of it.</summary>
    public FeatureBalance For(string feature) =>
        Features.FirstOrDefault(f => f.Feature == feature) ?? new FeatureBalance(feature, 0, 0, 0, []);

    /// <summary>The level of a count feature (0 when never counted).</summary>
    public long Counter(string feature) => Counters.GetValueOrDefault(feature);

    /// <summary>Units in active holds of a concurrency feature.</summary>
    public long HeldUnits(string feature) => HoldUnits.GetValueOrDefault(feature);

    internal static CustomerBalances From(CustomerLedger ledger, DateTimeOffset at)
    {
        var features = ledger.Lots.Select(l => l.Feature)
            .Concat(ledger.FeaturesWithDebt)
            .Concat(ledger.ActiveHolds.SelectMany(h => h.Allocations.Select(a => a.Feature)))
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal);
        var list = new List<FeatureBalance>();
        foreach (var feature in features)
        {
            var lots = ledger.Lots
                .Where(l => l.Feature == feature && (l.Remaining > 0 || l.Held > 0))
                .OrderBy(l => l.ExpiresAt ?? DateTimeOffset.MaxValue).ThenBy(l => l.Seq)
                .Select(l => new LotBalance(l.LotId, l.Source, l.SourceRef, l.Amount, l.Remaining, l.Held, l.ExpiresAt, l.CreatedAt))
                .ToList();
            list.Add(new FeatureBalance(feature, ledger.Available(feature), ledger.Held(feature), ledger.Debt(feature), lots));
        }

        var holdUnits = ledger.ActiveHolds.GroupBy(h => h.Feature, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Sum(h => h.Amount), StringComparer.Ordinal);
        return new CustomerBalances(ledger.CustomerId, at, list, new Dictionary<string, long>(ledger.Counters, StringComparer.Ordinal), holdUnits);
    }
}
