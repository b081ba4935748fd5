using Microsoft.Extensions.Options;

namespace Tollgate.Client;

/// <summary>
/// Where the Tollgate server is, the secret key, and how patiently to call it. A call is retried only when repeating it
/// cannot take effect twice: reads, and writes that carry an Idempotency-Key (usage and its reversal, holds, grants; a key is generated
/// per call when none is given). Other writes (checkouts, settling or releasing a hold, portal links) are retried only
/// when the connection could not even be opened.
/// </summary>
public sealed class TollgateClientOptions
{
    /// <summary>The Tollgate server, e.g. <c>http://localhost:5080</c> (an absolute http or https URL; a path is kept, so a
    /// server behind <c>https://example.com/tollgate/</c> works too). Required.</summary>
    public Uri? BaseAddress { get; set; }

    /// <summary>A secret key the server accepts (<c>Tollgate__ApiKeys__0</c>, or the development key it prints). Required.
    /// It grants everything on every customer: keep it on the app's server.</summary>
    public string? SecretKey { get; set; }

    /// <summary>How long one attempt (request and answer) may take before it counts as failed; default 10 s.</summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a call may take in all, retries and the waits between them included; default 30 s. No retry starts
    /// (and no <c>Retry-After</c> is waited for) past it.</summary>
    public TimeSpan Deadline { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Attempts in all, the first included (1: never retry); default 3.</summary>
    public int MaxAttempts { get; set; } = 3;

    /// <summary>About how long to wait before the first retry; each next wait doubles, with random jitter (half to all of
    /// it) so that many clients failing together do not retry together; default 200 ms.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The longest wait between two attempts unless the server's <c>Retry-After</c> asks for longer; default 5 s.</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The clock for timeouts and waits; <see cref="TimeProvider.System"/> unless a test replaces it.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;
}

/// <summary>One clear message per misconfiguration of <see cref="TollgateClientOptions"/>.</summary>
internal sealed class TollgateClientOptionsValidator : IValidateOptions<TollgateClientOptions>
{
    private static readonly TimeSpan MaxTimeout = TimeSpan.FromDays(1);

    public ValidateOptionsResult Validate(string? name, TollgateClientOptions options)
    {
        var problems = Problems(options);
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }

    public static List<string> Problems(TollgateClientOptions options)
    {
        var problems = new List<string>();
        if (options.BaseAddress is null)
        {
            problems.Add("Tollgate client: BaseAddress is required (the Tollgate server's URL, e.g. http://localhost:5080).");
        }
        else if (!options.BaseAddress.IsAbsoluteUri || options.BaseAddress.Scheme is not ("http" or "https"))
        {
            problems.Add($"Tollgate client: BaseAddress must be an absolute http or https URL; '{options.BaseAddress}' is not.");
        }

        if (string.IsNullOrWhiteSpace(options.SecretKey))
        {
            problems.Add("Tollgate client: SecretKey is required (a key of the server's Tollgate__ApiKeys, or the development key it prints).");
        }

        // A timer cannot be set further than about 49 days; a day is already far past any sensible call.
        if (options.AttemptTimeout <= TimeSpan.Zero || options.AttemptTimeout > MaxTimeout)
        {
            problems.Add($"Tollgate client: AttemptTimeout must be positive and at most a day; it is {options.AttemptTimeout}.");
        }

        if (options.Deadline <= TimeSpan.Zero || options.Deadline > MaxTimeout)
        {
            problems.Add($"Tollgate client: Deadline must be positive and at most a day; it is {options.Deadline}.");
        }

        if (options.MaxAttempts < 1)
        {
            problems.Add($"Tollgate client: MaxAttempts must be at least 1; it is {options.MaxAttempts}.");
        }

        if (options.RetryDelay < TimeSpan.Zero || options.MaxRetryDelay < TimeSpan.Zero)
        {
            problems.Add("Tollgate client: RetryDelay and MaxRetryDelay must not be negative.");
        }

        if (options.TimeProvider is null)
        {
            problems.Add("Tollgate client: TimeProvider must not be null.");
        }

        return problems;
    }
}
