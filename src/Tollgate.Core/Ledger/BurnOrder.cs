namespace Tollgate.Core.Ledger;

/// <summary>Which lots pay first. Ties always fall to the oldest lot.</summary>
public enum BurnOrder
{
    /// <summary>Soonest expiry first (lots without expiry last), then lower priority (period allowances before packs).</summary>
    ExpiringFirst,

    /// <summary>Lower priority first, then soonest expiry.</summary>
    PriorityFirst,
}

internal static class BurnOrderComparers
{
    public static IComparer<LotRecord> For(BurnOrder order) => order switch
    {
        BurnOrder.ExpiringFirst => ExpiringFirst.Instance,
        BurnOrder.PriorityFirst => PriorityFirst.Instance,
        _ => throw new ArgumentOutOfRangeException(nameof(order), order, null),
    };

    private static int CompareExpiry(LotRecord a, LotRecord b) =>
        (a.ExpiresAt ?? DateTimeOffset.MaxValue).CompareTo(b.ExpiresAt ?? DateTimeOffset.MaxValue);

    private static int CompareAge(LotRecord a, LotRecord b)
    {
        var bySeq = a.Seq.CompareTo(b.Seq);
        return bySeq != 0 ? bySeq : string.CompareOrdinal(a.LotId, b.LotId);
    }

    private sealed class ExpiringFirst : IComparer<LotRecord>
    {
        public static readonly ExpiringFirst Instance = new();

        public int Compare(LotRecord? a, LotRecord? b)
        {
            ArgumentNullException.ThrowIfNull(a);
            ArgumentNullException.ThrowIfNull(b);
            var c = CompareExpiry(a, b);
            if (c == 0)
            {
                c = a.Priority.CompareTo(b.Priority);
            }

            return c != 0 ? c : CompareAge(a, b);
        }
    }

    private sealed class PriorityFirst : IComparer<LotRecord>
    {
        public static readonly PriorityFirst Instance = new();

        public int Compare(LotRecord? a, LotRecord? b)
        {
            ArgumentNullException.ThrowIfNull(a);
            ArgumentNullException.ThrowIfNull(b);
            var c = a.Priority.CompareTo(b.Priority);
            if (c == 0)
            {
                c = CompareExpiry(a, b);
            }

            return c != 0 ? c : CompareAge(a, b);
        }
    }
}
