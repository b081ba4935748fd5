using System.Collections.Concurrent;
using System.Net;
using System.Text;

namespace Tollgate.Fault.Tests.Support;

/// <summary>
/// A burst of <c>POST /v1/usage</c> calls, one Idempotency-Key each, from many lanes at once, sent the way a careful
/// client sends them: a key is sent again (the same key, the same body) after a connection error, a timeout or a 503,
/// until the server gives an answer that settles it (200 charged, 402 refused) or the deadline passes. Whatever
/// happens to the server meanwhile, every key ends with one answer to hold the books against.
/// </summary>
public sealed class UsageBurst(IReadOnlyList<HttpClient> clients, string customer, string feature, int keys, int lanes, string prefix)
{
    private readonly ConcurrentDictionary<string, int> _final = new(StringComparer.Ordinal);
    private int _next = -1;
    private int _acknowledged;
    private int _unavailable;
    private int _connectionErrors;
    private int _serverErrors;
    private int _resends;

    public IEnumerable<string> Keys => Enumerable.Range(0, keys).Select(Key);

    /// <summary>Keys answered 200 (charged, as far as the client knows).</summary>
    public IReadOnlyCollection<string> Acknowledged => _final.Where(f => f.Value == 200).Select(f => f.Key).ToList();

    public int AcknowledgedCount => Volatile.Read(ref _acknowledged);

    public int Refused => _final.Count(f => f.Value == 402);

    public int Unsettled => keys - _final.Count;

    /// <summary>503 <c>unavailable</c> answers (the database away), each followed by a resend.</summary>
    public int Unavailable => _unavailable;

    /// <summary>Requests that got no HTTP answer (the server killed, or not up yet).</summary>
    public int ConnectionErrors => _connectionErrors;

    /// <summary>Any 5xx other than 503, or an unexpected status: always a defect.</summary>
    public int ServerErrors => _serverErrors;

    public int Resends => _resends;

    public string Key(int i) => $"{prefix}-{i:D5}";

    public Task RunAsync(TimeSpan deadline) =>
        Task.WhenAll(Enumerable.Range(0, lanes).Select(lane => Task.Run(() => LaneAsync(lane, WallClock.Ticks() + deadline.Ticks))));

    private async Task LaneAsync(int lane, long deadlineTicks)
    {
        var client = clients[lane % clients.Count];
        for (var i = Interlocked.Increment(ref _next); i < keys; i = Interlocked.Increment(ref _next))
        {
            var key = Key(i);
            var body = $$"""{"customer_id":"{{customer}}","feature":"{{feature}}","amount":1}""";
            for (var attempt = 0; WallClock.Ticks() < deadlineTicks; attempt++)
            {
                if (attempt > 0)
                {
                    Interlocked.Increment(ref _resends);
                    await Task.Delay(Math.Min(50 * attempt, 500));
                }

                int status;
                try
                {
                    using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/usage") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
                    request.Headers.Add("Idempotency-Key", key);
                    using var response = await client.SendAsync(request);
                    status = (int)response.StatusCode;
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
                {
                    Interlocked.Increment(ref _connectionErrors);
                    continue;
                }

                if (status is 200 or 402)
                {
                    _final[key] = status;
                    if (status == 200)
                    {
                        Interlocked.Increment(ref _acknowledged);
                    }

                    break;
                }

                if (status == (int)HttpStatusCode.ServiceUnavailable)
                {
                    Interlocked.Increment(ref _unavailable);
                }
                else
                {
                    Interlocked.Increment(ref _serverErrors);
                }
            }
        }
    }
}

/// <summary>The wall clock of the test driver (deadlines, not business time; the analyzer bans DateTime.UtcNow).</summary>
internal static class WallClock
{
    public static long Ticks() => TimeProvider.System.GetUtcNow().UtcTicks;
}
