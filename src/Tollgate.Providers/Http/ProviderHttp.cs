using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using Polly.Retry;
using Polly.Timeout;
using Tollgate.Core.Payments;

namespace Tollgate.Providers.Http;

/// <summary>A call to a provider's API. The body is text so that every attempt can send it afresh.</summary>
/// <param name="PathAndQuery">Relative to the provider's base URL, e.g. <c>v1/products?product_id=prod_1</c>.</param>
internal sealed record ProviderRequest(HttpMethod Method, string PathAndQuery)
{
    public string? Body { get; init; }

    public string MediaType { get; init; } = "application/json";

    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; init; } = [];
}

/// <summary>One HTTP answer, read to the end inside the attempt so that the timeout covers the body too.</summary>
internal sealed record ProviderResponse(int StatusCode, string Body);

/// <summary>
/// The transport both provider clients share: a per-attempt timeout, retries on transient failures, and the
/// translation of every failure into a <see cref="ProviderException"/> whose message never holds the API key.
/// </summary>
internal sealed class ProviderHttp
{
    private readonly string _provider;
    private readonly string _displayName;
    private readonly HttpClient _http;
    private readonly string _baseUrl;
    private readonly IReadOnlyList<KeyValuePair<string, string>> _defaultHeaders;
    private readonly string _secret;
    private readonly Func<ProviderResponse, string?> _readErrorMessage;
    private readonly TimeSpan _attemptTimeout;
    private readonly ResiliencePipeline<ProviderResponse> _pipeline;

    /// <param name="provider">Port id (<c>creem</c>), used as <see cref="ProviderException.Provider"/>.</param>
    /// <param name="displayName">Name used in messages (<c>Creem</c>).</param>
    /// <param name="defaultHeaders">Sent on every request: authentication, API version.</param>
    /// <param name="secret">The API key, scrubbed from every message in case a provider or proxy echoes it.</param>
    /// <param name="readErrorMessage">The provider's own explanation from an error body, or null.</param>
    public ProviderHttp(
        string provider,
        string displayName,
        HttpClient http,
        Uri baseUrl,
        IReadOnlyList<KeyValuePair<string, string>> defaultHeaders,
        string secret,
        Func<ProviderResponse, string?> readErrorMessage,
        ProviderResilienceOptions options,
        TimeProvider time,
        ILogger? logger)
    {
        _provider = provider;
        _displayName = displayName;
        _http = http;
        _baseUrl = baseUrl.AbsoluteUri.TrimEnd('/') + "/";
        _defaultHeaders = defaultHeaders;
        _secret = secret;
        _readErrorMessage = readErrorMessage;
        _attemptTimeout = options.AttemptTimeout;
        var log = logger ?? NullLogger.Instance;

        var builder = new ResiliencePipelineBuilder<ProviderResponse> { TimeProvider = time };
        if (options.MaxAttempts > 1)
        {
            builder.AddRetry(new RetryStrategyOptions<ProviderResponse>
            {
                MaxRetryAttempts = options.MaxAttempts - 1,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.RetryBaseDelay,
                ShouldHandle = args => ValueTask.FromResult(IsTransient(args.Outcome, args.Context.CancellationToken)),
                OnRetry = args =>
                {
                    Log.Retrying(
                        log,
                        _displayName,
                        args.Context.OperationKey ?? "?",
                        args.AttemptNumber + 1,
                        args.Outcome.Exception is { } ex ? ex.GetType().Name : $"HTTP {args.Outcome.Result?.StatusCode}",
                        args.RetryDelay.TotalMilliseconds);
                    return ValueTask.CompletedTask;
                },
            });
        }

        _pipeline = builder.AddTimeout(options.AttemptTimeout).Build();
    }

    /// <summary>Sends the request and returns its 2xx answer; anything else throws <see cref="ProviderException"/>.
    /// A cancellation by <paramref name="cancellationToken"/> is rethrown as it is.</summary>
    public Task<ProviderResponse> SendAsync(ProviderRequest request, CancellationToken cancellationToken) => SendAsync(request, null, cancellationToken);

    /// <summary>Like <see cref="SendAsync(ProviderRequest, CancellationToken)"/>, but a non-2xx answer whose status
    /// <paramref name="refusal"/> accepts is returned rather than thrown: a refusal the caller reads (a card declined).</summary>
    public async Task<ProviderResponse> SendAsync(ProviderRequest request, Func<int, bool>? refusal, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var outcome = "ok";
        try
        {
            return await SendCoreAsync(request, refusal, cancellationToken).ConfigureAwait(false);
        }
        catch (ProviderException ex)
        {
            outcome = ex.StatusCode is { } status ? $"http_{status}" : ex.Transient ? "unreachable" : "error";
            throw;
        }
        catch (OperationCanceledException)
        {
            outcome = "canceled";
            throw;
        }
        finally
        {
            ProviderTelemetry.Record(_provider, request, outcome, Stopwatch.GetElapsedTime(started));
        }
    }

    private async Task<ProviderResponse> SendCoreAsync(ProviderRequest request, Func<int, bool>? refusal, CancellationToken cancellationToken)
    {
        var path = request.PathAndQuery;
        var queryAt = path.IndexOf('?', StringComparison.Ordinal);
        var context = ResilienceContextPool.Shared.Get($"{request.Method} /{(queryAt < 0 ? path : path[..queryAt])}", cancellationToken);
        ProviderResponse response;
        try
        {
            response = await _pipeline.ExecuteAsync(
                static (ctx, state) => state.Owner.SendOnceAsync(state.Request, ctx.CancellationToken),
                context,
                (Owner: this, Request: request));
        }
        catch (TimeoutRejectedException ex)
        {
            throw Fail($"{_displayName} did not answer within {_attemptTimeout.TotalSeconds:0.###} s.", null, transient: true, ex);
        }
        catch (HttpRequestException ex)
        {
            throw Fail($"Could not reach {_displayName}: {ex.Message}", null, transient: true, ex);
        }
        catch (IOException ex)
        {
            throw Fail($"Could not reach {_displayName}: {ex.Message}", null, transient: true, ex);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            // HttpClient.Timeout fired (a client configured tighter than the attempt timeout): a timeout, not a cancellation.
            throw Fail($"{_displayName} did not answer in time.", null, transient: true, ex);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }

        if (response.StatusCode is >= 200 and < 300 || refusal?.Invoke(response.StatusCode) == true)
        {
            return response;
        }

        throw Fail(ErrorMessage(response), response.StatusCode, IsTransientStatus(response.StatusCode));
    }

    /// <summary>Like <see cref="SendAsync(ProviderRequest, CancellationToken)"/>, for calls whose answer is read: the body as a JSON object.</summary>
    public async Task<JsonElement> SendForJsonAsync(ProviderRequest request, CancellationToken cancellationToken)
    {
        var response = await SendAsync(request, cancellationToken);
        try
        {
            using var document = JsonDocument.Parse(response.Body);
            if (document.RootElement.ValueKind == JsonValueKind.Object)
            {
                return document.RootElement.Clone();
            }
        }
        catch (JsonException)
        {
            // Reported below, like any other body that is not a JSON object.
        }

        throw Fail($"{_displayName} answered HTTP {response.StatusCode} with a body that is not a JSON object.", response.StatusCode, transient: false);
    }

    /// <summary>A failure for an answer that is well-formed but lacks what the call needs.</summary>
    public ProviderException Unexpected(string what) =>
        Fail($"{_displayName} answered without {what}.", null, transient: false);

    private static bool IsTransientStatus(int status) => status == (int)HttpStatusCode.TooManyRequests || status >= 500;

    private static bool IsTransient(Outcome<ProviderResponse> outcome, CancellationToken cancellationToken) => outcome switch
    {
        { Exception: TimeoutRejectedException or HttpRequestException or IOException } => true,
        { Exception: OperationCanceledException } => !cancellationToken.IsCancellationRequested,
        { Exception: null, Result: { } result } => IsTransientStatus(result.StatusCode),
        _ => false,
    };

    private string ErrorMessage(ProviderResponse response)
    {
        var message = _readErrorMessage(response);
        if (!string.IsNullOrWhiteSpace(message))
        {
            return message;
        }

        return response.StatusCode is 401 or 403
            ? $"{_displayName} refused the API key (HTTP {response.StatusCode})."
            : $"{_displayName} answered HTTP {response.StatusCode}.";
    }

    private ProviderException Fail(string message, int? status, bool transient, Exception? inner = null)
    {
        if (_secret.Length > 0)
        {
            message = message.Replace(_secret, "[redacted]", StringComparison.Ordinal);
        }

        return new ProviderException(_provider, message, status, transient, inner);
    }

    private async ValueTask<ProviderResponse> SendOnceAsync(ProviderRequest request, CancellationToken cancellationToken)
    {
        using var message = new HttpRequestMessage(request.Method, _baseUrl + request.PathAndQuery);
        foreach (var (name, value) in _defaultHeaders)
        {
            message.Headers.TryAddWithoutValidation(name, value);
        }

        foreach (var (name, value) in request.Headers)
        {
            message.Headers.TryAddWithoutValidation(name, value);
        }

        if (request.Body is not null)
        {
            message.Content = new StringContent(request.Body, Encoding.UTF8, request.MediaType);
        }

        using var response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        return new ProviderResponse((int)response.StatusCode, body);
    }
}
