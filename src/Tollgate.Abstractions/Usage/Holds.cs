namespace Tollgate;

/// <summary>Reserves <see cref="Amount"/> of a feature for work whose cost is known only at the end: credits and metered
/// features reserve balance; a concurrency feature reserves one of the plan's simultaneous slots. Settle it with what was
/// used, or release it; a hold past its time to live releases itself.</summary>
/// <param name="CustomerId">The app's own customer id.</param>
/// <param name="Feature">A credits, metered or concurrency feature of the catalog.</param>
/// <param name="Amount">How much to reserve (positive).</param>
public sealed record CreateHoldRequest(string CustomerId, string Feature, long Amount)
{
    /// <summary>How long the hold lasts unless settled or released (whole seconds, 1 s to 7 days); an hour when null.</summary>
    public TimeSpan? TimeToLive { get; init; }

    /// <summary>Makes the hold happen once however often it is sent; generated per call when null (see
    /// <see cref="UsageRequest.IdempotencyKey"/>).</summary>
    public string? IdempotencyKey { get; init; }
}

/// <summary>Where a hold stands.</summary>
public enum HoldState
{
    /// <summary>A status this version does not know (a newer server).</summary>
    Unknown = 0,

    /// <summary>Reserving its amount.</summary>
    Active,

    /// <summary>Settled: the settled amount was used, the rest returned.</summary>
    Settled,

    /// <summary>Released: everything returned.</summary>
    Released,

    /// <summary>Past its time to live: released by Tollgate.</summary>
    Expired,
}

/// <summary>A hold.</summary>
/// <param name="Id">Its id, for settling or releasing it.</param>
/// <param name="Status">Where it stands; <see cref="HoldState.Active"/> when just created.</param>
/// <param name="Amount">What it reserves.</param>
/// <param name="Feature">Which feature.</param>
/// <param name="ExpiresAt">When it releases itself unless settled or released first.</param>
public sealed record Hold(string Id, HoldState Status, long Amount, string Feature, DateTimeOffset? ExpiresAt = null);

/// <summary>Settles a hold: <see cref="Amount"/> is used, the rest returns to where it came from. A settle is not
/// repeated by the client after a lost answer: a second one is refused with <c>hold_not_active</c>.</summary>
/// <param name="HoldId">The hold's id.</param>
public sealed record SettleHoldRequest(string HoldId)
{
    /// <summary>What was used, at most what the hold reserved; everything it reserved when null.</summary>
    public long? Amount { get; init; }
}

/// <summary>A settled hold.</summary>
/// <param name="Id">The hold's id.</param>
/// <param name="Status"><see cref="HoldState.Settled"/>.</param>
/// <param name="Settled">What was used.</param>
/// <param name="Released">What went back.</param>
public sealed record HoldSettlement(string Id, HoldState Status, long Settled, long Released);

/// <summary>A released hold.</summary>
/// <param name="Id">The hold's id.</param>
/// <param name="Status"><see cref="HoldState.Released"/>.</param>
public sealed record HoldRelease(string Id, HoldState Status);
