namespace Tollgate.Providers;

/// <summary>How hard a provider client tries before it reports a failure. Both providers use the same policy:
/// a timeout per attempt, then retries with exponential backoff and jitter on transient failures only (network
/// errors, timeouts, HTTP 429 and 5xx). Other 4xx answers are final at once.</summary>
public sealed record ProviderResilienceOptions
{
    /// <summary>Longest wait for one attempt, response body included. Default 10 s.</summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Attempts in all, the first included (1 = no retry). Default 3.</summary>
    public int MaxAttempts { get; init; } = 3;

    /// <summary>Delay before the first retry; later ones grow exponentially, with jitter. Default 500 ms.</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromMilliseconds(500);

    internal void Validate(string provider)
    {
        if (AttemptTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException($"{provider} Resilience.AttemptTimeout must be positive.");
        }

        if (MaxAttempts < 1)
        {
            throw new ArgumentException($"{provider} Resilience.MaxAttempts must be at least 1.");
        }

        if (RetryBaseDelay < TimeSpan.Zero)
        {
            throw new ArgumentException($"{provider} Resilience.RetryBaseDelay must not be negative.");
        }
    }
}
