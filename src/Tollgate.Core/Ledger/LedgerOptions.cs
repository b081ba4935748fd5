namespace Tollgate.Core.Ledger;

/// <summary>Settings of a <see cref="LedgerEngine"/>.</summary>
public sealed record LedgerOptions
{
    /// <summary>Parallel write transactions. Each customer always maps to the same lane, so its requests batch together.
    /// SQLite has one writer, so one lane is right there; PostgreSQL gains from a few.</summary>
    public int Lanes { get; init; } = 1;

    /// <summary>Transactions a lane keeps in flight. With two, the next batch is already waiting on the customer's
    /// lock (inside the database) while the previous one commits, which hides a round trip. Keep one on SQLite, whose
    /// writers wait for each other by polling.</summary>
    public int TransactionsPerLane { get; init; } = 1;

    /// <summary>Most requests written in one transaction.</summary>
    public int MaxBatchSize { get; init; } = 256;

    /// <summary>Burn order per feature; <see cref="BurnOrder.ExpiringFirst"/> when absent.</summary>
    public IReadOnlyDictionary<string, BurnOrder> BurnOrders { get; init; } = new Dictionary<string, BurnOrder>();

    /// <summary>Attempts of a batch that failed on a transient database error (lock timeout, serialization failure).</summary>
    public int TransientRetries { get; init; } = 5;

    /// <summary>The burn priority of a lot from <paramref name="source"/> when the request names none: lower goes first.</summary>
    public static int DefaultPriority(LotSource source) => source switch
    {
        LotSource.SubscriptionPeriod or LotSource.PlanAllowance or LotSource.Rollover => 0,
        LotSource.Promo => 10,
        _ => 20,
    };
}
