using System.Text.Json;
using Tollgate.Server.Api.Http;

namespace Tollgate.Server.Health;

/// <summary>
/// Tells the operator when refusals spike: once per one-minute window in which at least <see cref="Threshold"/>
/// problem answers with 402, 403 or 429 left the /v1 API or an endpoint gate, a Warning naming the counts by problem
/// code and the customers refused most. One refusal is a customer's business (no credits, not entitled); many in a
/// minute are a misconfigured plan, a client retrying in a loop or an attack — worth a look. Refusals are counted
/// where responses leave (status and problem code as sent), not where they are made, so whatever produces a refusal
/// is counted the same way.
/// </summary>
internal sealed class RefusalSpikes : IDisposable
{
    /// <summary>Refusals in one minute that make a spike.</summary>
    public const int Threshold = 10;

    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    private readonly TimeProvider _time;
    private readonly ILogger<RefusalSpikes> _logger;
    private readonly Lock _lock = new();
    private readonly ITimer _timer;
    private DateTimeOffset _windowStart;
    private Dictionary<string, int> _byCode = new(StringComparer.Ordinal);
    private Dictionary<string, int> _byCustomer = new(StringComparer.Ordinal);
    private int _count;

    /// <summary>Starts the first window now; a timer closes each window even when no refusal follows.</summary>
    public RefusalSpikes(TimeProvider time, ILogger<RefusalSpikes> logger)
    {
        _time = time;
        _logger = logger;
        _windowStart = WindowOf(time.GetUtcNow());
        // A quiet minute after a spike still reports it: the window is closed by the next refusal or by this timer.
        _timer = time.CreateTimer(_ => Close(time.GetUtcNow()), null, Window, Window);
    }

    /// <summary>Counts one refusal (its status, problem code and customer, when known).</summary>
    public void Record(int status, string? code, string? customerId)
    {
        var now = _time.GetUtcNow();
        Close(now);
        lock (_lock)
        {
            _count++;
            var key = $"{status} {code ?? "unknown"}";
            _byCode[key] = _byCode.GetValueOrDefault(key) + 1;
            if (customerId is { Length: > 0 })
            {
                _byCustomer[customerId] = _byCustomer.GetValueOrDefault(customerId) + 1;
            }
        }
    }

    /// <summary>Ends the current window if <paramref name="now"/> is past it, logging it if it was a spike.</summary>
    private void Close(DateTimeOffset now)
    {
        int count;
        Dictionary<string, int> byCode, byCustomer;
        DateTimeOffset start;
        lock (_lock)
        {
            if (now < _windowStart + Window)
            {
                return;
            }

            (count, byCode, byCustomer, start) = (_count, _byCode, _byCustomer, _windowStart);
            _count = 0;
            _byCode = new(StringComparer.Ordinal);
            _byCustomer = new(StringComparer.Ordinal);
            _windowStart = WindowOf(now);
        }

        if (count >= Threshold)
        {
            var codes = string.Join(", ", byCode.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key} ×{p.Value}"));
            var customers = byCustomer.Count == 0
                ? "none named"
                : string.Join(", ", byCustomer.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal).Take(5).Select(p => $"{p.Key} ×{p.Value}"));
            Log.RefusalSpike(_logger, count, start.ToString("HH:mm", System.Globalization.CultureInfo.InvariantCulture), codes, customers);
        }
    }

    private static DateTimeOffset WindowOf(DateTimeOffset at) => new(at.UtcTicks - at.UtcTicks % Window.Ticks, TimeSpan.Zero);

    /// <summary>Stops the window timer.</summary>
    public void Dispose() => _timer.Dispose();
}

/// <summary>Counts refusals where they are written: the API's problem answers (<c>ApiResult</c>) and the endpoint gates'
/// problems call <see cref="Count(HttpContext, int, byte[])"/> or <see cref="Count(HttpContext, int, string)"/>, so
/// nothing wraps the response of requests that are not refused.</summary>
internal static class RefusalCounting
{
    /// <summary>Counts an API answer if it is a refusal: a 402, 403 or 429 problem+json, read for its code.</summary>
    public static void Count(HttpContext context, int status, byte[] problem)
    {
        if (IsRefusal(status) && context.RequestServices.GetService<RefusalSpikes>() is { } spikes)
        {
            spikes.Record(status, CodeOf(problem), CustomerOf(context));
        }
    }

    /// <summary>Counts a gate's refusal, whose code is known.</summary>
    public static void Count(HttpContext context, int status, string code)
    {
        if (IsRefusal(status) && context.RequestServices.GetService<RefusalSpikes>() is { } spikes)
        {
            spikes.Record(status, code, CustomerOf(context));
        }
    }

    private static bool IsRefusal(int status) => status is StatusCodes.Status402PaymentRequired or StatusCodes.Status403Forbidden
        or StatusCodes.Status429TooManyRequests;

    private static string? CodeOf(byte[] problem)
    {
        try
        {
            using var json = JsonDocument.Parse(problem);
            return json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("code", out var code)
                && code.ValueKind == JsonValueKind.String ? code.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    // The customer from the route (/v1/customers/{id}/…), from the request body the API read (customer_id), or as a gate
    // resolved it.
    private static string? CustomerOf(HttpContext context)
    {
        if (context.Request.Path.StartsWithSegments("/v1/customers") && context.GetRouteValue("id") is string id)
        {
            return id;
        }

        if (context.Items.TryGetValue(typeof(RequestBody), out var body) && body is byte[] { Length: > 0 } bytes)
        {
            try
            {
                using var json = JsonDocument.Parse(bytes);
                if (json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("customer_id", out var c)
                    && c.ValueKind == JsonValueKind.String)
                {
                    return c.GetString();
                }
            }
            catch (JsonException)
            {
            }
        }

        return context.Items.TryGetValue(GateCustomerKey, out var gate) ? gate as string : null;
    }

    /// <summary>Where an endpoint gate leaves the customer it resolved, for the count.</summary>
    public static readonly object GateCustomerKey = new();
}
