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
public sealed class RefusalSpikes : IDisposable
{
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

    public void Dispose() => _timer.Dispose();
}

/// <summary>Observes the answers leaving: a 402, 403 or 429 problem+json (of /v1 or a gate) is read for its code and counted.</summary>
public static class RefusalSpikeMiddleware
{
    private static readonly object Counted = new();

    public static IApplicationBuilder UseRefusalSpikes(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        if (context.Items.ContainsKey(Counted))
        {
            await next(context);
            return;
        }

        context.Items[Counted] = true;
        var original = context.Response.Body;
        using var tee = new ProblemTee(original, context.Response);
        context.Response.Body = tee;
        try
        {
            await next(context);
        }
        finally
        {
            context.Response.Body = original;
        }

        if (tee.Problem is { } problem)
        {
            context.RequestServices.GetService<RefusalSpikes>()?.Record(context.Response.StatusCode, CodeOf(problem), CustomerOf(context));
        }
    });

    private static string? CodeOf(byte[] problem)
    {
        try
        {
            using var json = JsonDocument.Parse(problem);
            return json.RootElement.TryGetProperty("code", out var code) && code.ValueKind == JsonValueKind.String ? code.GetString() : null;
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

    /// <summary>Passes everything through; keeps the first bytes of a refusal's problem body (402/403/429 problem+json).</summary>
    private sealed class ProblemTee(Stream inner, HttpResponse response) : Stream
    {
        private const int Keep = 4096;
        private MemoryStream? _kept;
        private bool? _watching;

        public byte[]? Problem => _kept?.ToArray();

        private bool Watching => _watching ??= response.StatusCode is 402 or 403 or 429
            && response.ContentType?.StartsWith("application/problem+json", StringComparison.OrdinalIgnoreCase) == true;

        private void KeepBytes(ReadOnlySpan<byte> data)
        {
            if (!Watching)
            {
                return;
            }

            _kept ??= new MemoryStream();
            var room = Keep - (int)_kept.Length;
            if (room > 0)
            {
                _kept.Write(data[..Math.Min(room, data.Length)]);
            }
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            KeepBytes(buffer.Span);
            await inner.WriteAsync(buffer, cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Write(byte[] buffer, int offset, int count)
        {
            KeepBytes(buffer.AsSpan(offset, count));
            inner.Write(buffer, offset, count);
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override void Flush() => inner.Flush();

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
