using System.Diagnostics;
using System.Globalization;

namespace Tollgate.Bench;

/// <summary>CPU used so far by the server, this process, each <c>postgres</c> process and the whole machine (Linux
/// /proc; 0 elsewhere). Ticks of /proc are USER_HZ, 1/100 s.</summary>
internal sealed record CpuSample(TimeSpan Server, IReadOnlyDictionary<int, long> ServerJit, TimeSpan Bench, IReadOnlyDictionary<int, long> Postgres, TimeSpan Machine, TimeSpan Wall)
{
    private static readonly Process Self = Process.GetCurrentProcess();

    /// <summary>How long <see cref="WaitForQuietAsync"/> waits at most (<c>--quiet-wait</c> seconds; 0: not at all).</summary>
    public static TimeSpan QuietWait { get; set; } = TimeSpan.FromMinutes(1);

    public static CpuSample Take(ServerProcess server)
    {
        Self.Refresh();
        return new CpuSample(server.CpuTime, server.JitTicks, Self.TotalProcessorTime, PostgresTicks(), MachineBusy(), Stopwatch.GetElapsedTime(0));
    }

    /// <summary>The machine is shared: before a cell, wait (up to a minute) until less than a third of a core is busy
    /// with something other than the idle server, so a build running elsewhere does not land in the middle of a cell.</summary>
    public static async Task WaitForQuietAsync(ServerProcess server)
    {
        if (QuietWait <= TimeSpan.Zero)
        {
            return;
        }

        var clock = Stopwatch.StartNew();
        var waited = false;
        while (true)
        {
            var before = Take(server);
            await Task.Delay(TimeSpan.FromSeconds(0.5));
            var busy = Take(server) - before;
            var cores = (busy.Machine - busy.Bench - busy.Server) / busy.Wall;
            if (cores < 0.33 || clock.Elapsed > QuietWait)
            {
                if (waited)
                {
                    Console.Error.WriteLine(FormattableString.Invariant($"  (waited {clock.Elapsed.TotalSeconds:F0} s for a quiet machine; now {cores:F2} cores busy elsewhere)"));
                }

                return;
            }

            waited = true;
        }
    }

    /// <summary>What was used between two samples; a postgres process (or a tiered-compilation thread of the server) that
    /// ended in between is left out, one that started is counted whole.</summary>
    public static CpuUse operator -(CpuSample a, CpuSample b) =>
        new(a.Server - b.Server, Ticks(a.ServerJit.Sum(t => t.Value - b.ServerJit.GetValueOrDefault(t.Key))), a.Bench - b.Bench, Ticks(a.Postgres.Sum(p => p.Value - b.Postgres.GetValueOrDefault(p.Key))),
            a.Machine - b.Machine, a.Wall - b.Wall);

    /// <summary>Busy time of all cores: user, nice, system, irq and softirq of the first line of /proc/stat.</summary>
    private static TimeSpan MachineBusy()
    {
        if (!File.Exists("/proc/stat"))
        {
            return TimeSpan.Zero;
        }

        var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(f => long.Parse(f, CultureInfo.InvariantCulture)).ToArray();
        return Ticks(fields[0] + fields[1] + fields[2] + fields[5] + fields[6]);
    }

    /// <summary>User and system ticks of every process named <c>postgres</c> (the server's backends and the database's own), by pid.</summary>
    private static Dictionary<int, long> PostgresTicks()
    {
        var ticks = new Dictionary<int, long>();
        if (!Directory.Exists("/proc"))
        {
            return ticks;
        }

        foreach (var folder in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(folder), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                var stat = File.ReadAllText(Path.Combine(folder, "stat"));
                var open = stat.IndexOf('(', StringComparison.Ordinal);
                var close = stat.LastIndexOf(')');
                if (open < 0 || close < 0 || stat[(open + 1)..close] != "postgres")
                {
                    continue;
                }

                // After the command: state is field 3, utime and stime fields 14 and 15.
                var fields = stat[(close + 2)..].Split(' ');
                ticks[pid] = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            }
            catch (IOException)
            {
                // Not a process, or it ended while we read.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        return ticks;
    }

    private static TimeSpan Ticks(long ticks) => TimeSpan.FromMilliseconds(ticks * 10);
}

/// <summary>CPU used between two samples; <see cref="ServerJit"/> is the part of <see cref="Server"/> its tiered-compilation
/// thread used (<see cref="ServerProcess.JitTicks"/>).</summary>
internal readonly record struct CpuUse(TimeSpan Server, TimeSpan ServerJit, TimeSpan Bench, TimeSpan Postgres, TimeSpan Machine, TimeSpan Wall);
