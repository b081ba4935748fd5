using System.Diagnostics;

namespace Tollgate.Bench;

/// <summary>One measured cell: throughput and latency percentiles of a closed loop of callers.</summary>
internal sealed record Measurement(string System, string Database, string Shape, int Callers, long Requests, long Succeeded, double Seconds, double P50Ms, double P99Ms)
{
    public double PerSecond => Requests / Seconds;
}

internal static class Measure
{
    /// <summary>Runs <paramref name="callers"/> loops of <paramref name="call"/> for <paramref name="duration"/> after a
    /// warm-up; each call returns whether it succeeded.</summary>
    /// <returns>Measured requests and latencies, and every success counted over the whole run (for the books check).</returns>
    public static async Task<(long Requests, long Succeeded, long SucceededInAll, double Seconds, double P50, double P99)> ClosedLoopAsync(
        int callers, TimeSpan warmup, TimeSpan duration, Func<int, long, Task<bool>> call)
    {
        var latencies = new List<long>[callers];
        var succeeded = new long[callers];
        var succeededInAll = new long[callers];
        var measuring = false;
        var stop = false;
        var sequence = 0L;
        var tasks = Enumerable.Range(0, callers).Select(async caller =>
        {
            await Task.Yield();
            var mine = latencies[caller] = new List<long>(100_000);
            while (!Volatile.Read(ref stop))
            {
                var started = Stopwatch.GetTimestamp();
                var ok = await call(caller, Interlocked.Increment(ref sequence));
                if (ok)
                {
                    succeededInAll[caller]++;
                }

                if (Volatile.Read(ref measuring))
                {
                    mine.Add(Stopwatch.GetTimestamp() - started);
                    if (ok)
                    {
                        succeeded[caller]++;
                    }
                }
            }
        }).ToList();

        await Task.Delay(warmup);
        Volatile.Write(ref measuring, true);
        var clock = Stopwatch.StartNew();
        await Task.Delay(duration);
        Volatile.Write(ref measuring, false);
        var seconds = clock.Elapsed.TotalSeconds;
        Volatile.Write(ref stop, true);
        await Task.WhenAll(tasks);

        var all = latencies.SelectMany(l => l).Order().ToArray();
        double Percentile(double p) => all.Length == 0 ? 0 : all[Math.Min(all.Length - 1, (int)(p * all.Length))] * 1000.0 / Stopwatch.Frequency;
        return (all.Length, succeeded.Sum(), succeededInAll.Sum(), seconds, Percentile(0.50), Percentile(0.99));
    }
}
