using System.Diagnostics;

namespace Tollgate.Bench;

/// <summary>What an open-loop run measured: latency of each request from the instant it was scheduled.</summary>
internal sealed record OpenLoopResult(int Rate, long Sent, long Ok, long Errors, double Seconds, double P50Ms, double P99Ms, double P999Ms, double MaxMs)
{
    public double AchievedPerSecond => Ok / Seconds;
}

/// <summary>
/// A fixed arrival rate, as wrk2 runs it: request <c>i</c> is due at <c>start + i / rate</c> and is sent then, whether
/// or not earlier requests were answered, and its latency is measured from that due instant — so time a request spent
/// waiting behind a slow one counts (no coordinated omission). Requests are released in small groups about every
/// millisecond (the timer's resolution), each still measured from its own due instant.
/// </summary>
internal static class OpenLoop
{
    public static async Task<OpenLoopResult> RunAsync(int rate, TimeSpan warmup, TimeSpan duration, Func<long, Task<bool>> call)
    {
        var warm = (long)(rate * warmup.TotalSeconds);
        var total = warm + (long)(rate * duration.TotalSeconds);
        var latencies = new long[total];
        var outcomes = new bool[total];
        var ticksPer = Stopwatch.Frequency / (double)rate;
        var tasks = new List<Task>((int)total);
        var start = Stopwatch.GetTimestamp();
        long next = 0;
        while (next < total)
        {
            var due = Math.Min(total, (long)((Stopwatch.GetTimestamp() - start) / ticksPer) + 1);
            for (; next < due; next++)
            {
                tasks.Add(SendAsync(next, start + (long)(next * ticksPer)));
            }

            if (next < total)
            {
                await Task.Delay(1);
            }
        }

        await Task.WhenAll(tasks);
        var measured = latencies.AsSpan((int)warm).ToArray();
        Array.Sort(measured);
        var ok = outcomes.AsSpan((int)warm).ToArray().LongCount(o => o);
        double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
        double Percentile(double p) => measured.Length == 0 ? 0 : Ms(measured[Math.Min(measured.Length - 1, (int)(p * measured.Length))]);
        return new OpenLoopResult(rate, measured.Length, ok, measured.Length - ok, duration.TotalSeconds, Percentile(0.50), Percentile(0.99),
            Percentile(0.999), measured.Length == 0 ? 0 : Ms(measured[^1]));

        async Task SendAsync(long i, long scheduled)
        {
            // Off the scheduling loop at once: a slow request must not delay the next one's sending.
            await Task.Yield();
            outcomes[i] = await call(i);
            latencies[i] = Stopwatch.GetTimestamp() - scheduled;
        }
    }
}
