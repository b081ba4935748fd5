namespace Tollgate.Core.Usage;

/// <summary>Settings of the <see cref="Gate"/>.</summary>
public sealed record GateOptions
{
    /// <summary>Whether a past-due subscription keeps access until its period ends (API.md issue 4: configurable).</summary>
    public bool PastDueKeepsAccess { get; init; } = true;

    /// <summary>How long an external access source may take before its answer is ignored.</summary>
    public TimeSpan ExternalAccessTimeout { get; init; } = TimeSpan.FromMilliseconds(300);

    /// <summary>Upper bound on the age of a cached customer view, whatever the change feed says.</summary>
    public TimeSpan CacheLifetime { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a hold lasts when the request names no TTL.</summary>
    public TimeSpan DefaultHoldTtl { get; init; } = TimeSpan.FromHours(1);
}
