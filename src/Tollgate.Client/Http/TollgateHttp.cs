using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Tollgate.Client.Json;

namespace Tollgate.Client.Http;

/// <summary>One call of the /v1 API. The body is bytes so that every attempt sends exactly the same request.</summary>
/// <param name="Method">The HTTP method.</param>
/// <param name="Path">Relative to the base address, e.g. <c>v1/usage</c>, ids escaped.</param>
/// <param name="Body">JSON, or none.</param>
/// <param name="IdempotencyKey">Sent as <c>Idempotency-Key</c> on every attempt, so that a retry replays the first answer.</param>
/// <param name="Repeatable">Whether sending it twice is harmless (reads, PUT, keyed writes): only those are retried after a
/// request may have reached the server.</param>
internal sealed record Call(HttpMethod Method, string Path, byte[]? Body, string? IdempotencyKey, bool Repeatable)
{
    public override string ToString() => $"{Method} /{Path}";
}

/// <summary>The answer the call ended with: a 2xx, or a problem that is a business refusal.</summary>
internal sealed record Reply(int Status, byte[] Body, ProblemBody? Problem, int Attempts);

/// <summary>
/// Sends a <see cref="Call"/> to the server: a timeout per attempt, an overall deadline, retries with exponential
/// backoff and jitter (or the server's <c>Retry-After</c>) for network failures, timeouts, 5xx, 408 and 429 answers
/// when the call is safe to repeat. Refusals (4xx with a business code, 429 <c>concurrency_limit</c> included) are
/// never retried: the same request would get the same answer. What is not a refusal ends in a <see cref="TollgateException"/>.
/// </summary>
internal sealed class TollgateHttp
{
    private static readonly MediaTypeWithQualityHeaderValue AcceptJson = new("application/json");
    private static readonly MediaTypeHeaderValue ContentJson = new("application/json");

    /// <summary>Codes of answers that are not business refusals: the key, the address or the server is wrong.</summary>
    private static readonly HashSet<string> FailureCodes =
        new(["unauthorized", "not_found", "method_not_allowed", "payload_too_large", "unsupported_media_type", "internal_error", "error"], StringComparer.Ordinal);

    private readonly HttpClient _http;
    private readonly Uri _base;
    private readonly AuthenticationHeaderValue _authorization;
    private readonly TimeSpan _attemptTimeout;
    private readonly TimeSpan _deadline;
    private readonly int _maxAttempts;
    private readonly TimeSpan _retryDelay;
    private readonly TimeSpan _maxRetryDelay;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public TollgateHttp(HttpClient http, TollgateClientOptions options, ILogger logger)
    {
        _http = http;
        // A trailing slash, so that relative paths land under a base path (https://example.com/tollgate/v1/...).
        var address = options.BaseAddress!.ToString();
        _base = new Uri(address.EndsWith('/') ? address : address + "/", UriKind.Absolute);
        _authorization = new AuthenticationHeaderValue("Bearer", options.SecretKey);
        _attemptTimeout = options.AttemptTimeout;
        _deadline = options.Deadline;
        _maxAttempts = options.MaxAttempts;
        _retryDelay = options.RetryDelay;
        _maxRetryDelay = options.MaxRetryDelay;
        _time = options.TimeProvider;
        _logger = logger;
    }

    /// <summary>Whether an answer with this code is a failure of the call rather than a refusal (401, a wrong address, 5xx).</summary>
    internal static bool IsFailureCode(string code) => FailureCodes.Contains(code);

    public async Task<Reply> SendAsync(Call call, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        using var deadline = new CancellationTokenSource(_deadline, _time);
        using var callToken = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        var attempt = 0;
        Attempt last;
        while (true)
        {
            attempt++;
            var remaining = _deadline - _time.GetElapsedTime(started);
            last = await AttemptAsync(call, remaining < _attemptTimeout ? remaining : _attemptTimeout, callToken.Token, cancellationToken);
            if (attempt >= _maxAttempts || !last.Retryable(call))
            {
                break;
            }

            var delay = last.RetryAfter ?? Backoff(attempt);
            if (_time.GetElapsedTime(started) + delay >= _deadline)
            {
                // Waiting would end past the deadline: the caller hears now rather than after a wait that cannot help.
                break;
            }

            Log.Retrying(_logger, call.ToString(), attempt, last.Describe(), delay.TotalMilliseconds);
            try
            {
                await Task.Delay(delay, _time, callToken.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                break;
            }
        }

        return Finish(call, last, attempt);
    }

    private async Task<Attempt> AttemptAsync(Call call, TimeSpan limit, CancellationToken callToken, CancellationToken callerToken)
    {
        using var timeout = new CancellationTokenSource(limit > TimeSpan.Zero ? limit : TimeSpan.FromTicks(1), _time);
        using var attemptToken = CancellationTokenSource.CreateLinkedTokenSource(callToken, timeout.Token);
        using var request = new HttpRequestMessage(call.Method, Address(call));
        request.Headers.Authorization = _authorization;
        request.Headers.Accept.Add(AcceptJson);
        if (call.IdempotencyKey is { } key)
        {
            request.Headers.TryAddWithoutValidation("Idempotency-Key", key);
        }

        if (call.Body is { } body)
        {
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.ContentType = ContentJson;
        }

        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, attemptToken.Token);
            var bytes = await response.Content.ReadAsByteArrayAsync(attemptToken.Token);
            var status = (int)response.StatusCode;
            return new Attempt(status, bytes, status >= 400 ? ReadProblem(bytes) : null, RetryAfter(response), null, TimedOut: false, NotSent: false);
        }
        catch (OperationCanceledException ex) when (!callerToken.IsCancellationRequested)
        {
            // The attempt's timeout, the call's deadline or HttpClient.Timeout; the caller's own cancellation propagates.
            return new Attempt(null, null, null, null, ex, TimedOut: true, NotSent: false);
        }
        catch (HttpRequestException ex)
        {
            // Only a failure to open the connection proves the request never left: then even an unkeyed write may be retried.
            return new Attempt(null, null, null, null, ex, TimedOut: false, NotSent: ex.HttpRequestError == HttpRequestError.ConnectionError);
        }
        catch (IOException ex)
        {
            // The answer broke off while its body was read: the request did reach the server.
            return new Attempt(null, null, null, null, ex, TimedOut: false, NotSent: false);
        }
    }

    /// <summary>The call's absolute address, its path sent as written: ids are escaped segments already, and a URL left to
    /// canonicalize would read an escaped <c>..</c> (a valid customer id) as "parent folder" and call another endpoint.</summary>
    private Uri Address(Call call) =>
        new(_base.AbsoluteUri + call.Path, new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });

    private TollgateException? Failure(Call call, Attempt last, int attempts)
    {
        if (last.Status is not { } status)
        {
            return last.TimedOut
                ? new TollgateException(
                    $"Tollgate did not answer {call} in time (attempt timeout {_attemptTimeout.TotalSeconds:0.###} s, deadline {_deadline.TotalSeconds:0.###} s; {attempts} attempt(s)).",
                    null, "timeout", attempts, last.Error, call.IdempotencyKey)
                : new TollgateException($"Tollgate could not be reached for {call} ({attempts} attempt(s)): {last.Error?.Message}", null, "network_error",
                    attempts, last.Error, call.IdempotencyKey);
        }

        if (status is >= 200 and < 300)
        {
            return null;
        }

        if (last.Problem is not { Code: { Length: > 0 } code } problem)
        {
            return new TollgateException($"Tollgate answered {call} with {status} and no problem+json body: {Snippet(last.Body)}", status,
                "unexpected_response", attempts, idempotencyKey: call.IdempotencyKey);
        }

        var known = TollgateRefusal.FromCode(code).IsKnown;
        if (status == 401 || FailureCodes.Contains(code) || (status >= 500 && !known))
        {
            var detail = problem.Detail is null ? "" : $" {problem.Detail}";
            var hint = status == 401 ? " Check the client's SecretKey against the server's Tollgate__ApiKeys." : "";
            return new TollgateException($"Tollgate answered {call} with {status} {code}: {problem.Title}{detail}{hint}", status, code, attempts,
                idempotencyKey: call.IdempotencyKey);
        }

        return null;
    }

    private Reply Finish(Call call, Attempt last, int attempts)
    {
        if (Failure(call, last, attempts) is { } failure)
        {
            Log.GaveUp(_logger, call.ToString(), attempts, failure.Message);
            throw failure;
        }

        return new Reply(last.Status!.Value, last.Body!, last.Status >= 300 ? last.Problem : null, attempts);
    }

    /// <summary>Exponential, capped, with "equal jitter": half the step fixed, half random.</summary>
    private TimeSpan Backoff(int attempt)
    {
        var step = _retryDelay.TotalMilliseconds * Math.Pow(2, attempt - 1);
        var ceiling = Math.Min(step, _maxRetryDelay.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(ceiling / 2 + Random.Shared.NextDouble() * ceiling / 2);
    }

    private TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        if (response.Headers.RetryAfter is not { } header)
        {
            return null;
        }

        var wait = header.Delta ?? (header.Date is { } date ? date - _time.GetUtcNow() : null);
        return wait is { } w && w < TimeSpan.Zero ? TimeSpan.Zero : wait;
    }

    private static ProblemBody? ReadProblem(byte[] body)
    {
        try
        {
            return body.Length == 0 ? null : JsonSerializer.Deserialize(body, ClientJson.Default.ProblemBody);
        }
        catch (JsonException)
        {
            // Not a problem body (a proxy's HTML page, say): reported as unexpected by the caller of this.
            return null;
        }
    }

    internal static string Snippet(byte[]? body)
    {
        var text = body is null ? "" : Encoding.UTF8.GetString(body, 0, Math.Min(body.Length, 200));
        return text.Length == 0 ? "(empty)" : text;
    }

    /// <summary>What one attempt ended with: an answer (status, body, problem) or an exception.</summary>
    private readonly record struct Attempt(int? Status, byte[]? Body, ProblemBody? Problem, TimeSpan? RetryAfter, Exception? Error, bool TimedOut, bool NotSent)
    {
        public bool Retryable(Call call) => Status switch
        {
            null => call.Repeatable || NotSent,
            >= 500 => call.Repeatable,
            408 => call.Repeatable,
            // 429 concurrency_limit is the customer's plan saying no, not the server asking to slow down.
            429 => call.Repeatable && (Problem?.Code is not { Length: > 0 } code || !TollgateRefusal.FromCode(code).IsKnown),
            _ => false,
        };

        public string Describe() => Status is { } status
            ? $"{status}{(Problem?.Code is { } code ? " " + code : "")}"
            : TimedOut ? "timeout" : $"network error: {Error?.Message}";
    }
}
