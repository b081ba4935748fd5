using System.Globalization;

namespace Tollgate.Bench;

internal sealed record BenchOptions(string Suite, string? Postgres, TimeSpan Duration, TimeSpan Warmup, int[] Callers, int Lanes, int InFlight)
{
    /// <summary>SQLite always; PostgreSQL when a connection string is given.</summary>
    public IEnumerable<string?> Databases => Postgres is null ? [null] : [null, Postgres];

    /// <summary>Concurrent HTTP connections (= callers) of the http suite.</summary>
    public int[] Connections { get; init; } = [1, 16, 64];

    /// <summary>Concurrent callers of the client suite (<c>--connections</c> there too).</summary>
    public int[] ClientCallers { get; init; } = [1, 64];

    /// <summary>The server the http suite starts (<c>tollgate.dll</c>); null: the Release build next to the sources.</summary>
    public string? Server { get; init; }

    /// <summary>Arrival rate of the http suite's open-loop usage run (requests per second; 0 skips it).</summary>
    public int OpenLoopRate { get; init; } = 5000;

    /// <summary>How long the open-loop run is measured.</summary>
    public TimeSpan OpenLoopDuration { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Usage requests of the http suite's long run, after which the server's memory is read (0 skips it).</summary>
    public long LongRun { get; init; } = 1_000_000;

    public static BenchOptions Parse(string[] args)
    {
        string Value(string name, string fallback)
        {
            var i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
        }

        int[] Numbers(string name, string fallback) =>
            Value(name, fallback).Split(',').Select(c => int.Parse(c, CultureInfo.InvariantCulture)).ToArray();

        var suite = args.Length > 0 && !args[0].StartsWith('-') ? args[0] : "ledger";
        var postgres = Value("--postgres", Environment.GetEnvironmentVariable("TOLLGATE_TEST_POSTGRES") ?? "");
        var server = Value("--server", "");
        return new BenchOptions(
            suite,
            postgres.Length == 0 ? null : postgres,
            TimeSpan.FromSeconds(double.Parse(Value("--duration", "5"), CultureInfo.InvariantCulture)),
            TimeSpan.FromSeconds(double.Parse(Value("--warmup", "1"), CultureInfo.InvariantCulture)),
            Numbers("--callers", "1,8,32,64"),
            int.Parse(Value("--lanes", "4"), CultureInfo.InvariantCulture),
            int.Parse(Value("--in-flight", "1"), CultureInfo.InvariantCulture))
        {
            Connections = Numbers("--connections", "1,16,64"),
            ClientCallers = Numbers("--connections", "1,64"),
            Server = server.Length == 0 ? null : server,
            OpenLoopRate = int.Parse(Value("--open-loop-rate", "5000"), CultureInfo.InvariantCulture),
            OpenLoopDuration = TimeSpan.FromSeconds(double.Parse(Value("--open-loop-duration", "10"), CultureInfo.InvariantCulture)),
            LongRun = long.Parse(Value("--long-run", "1000000"), CultureInfo.InvariantCulture),
        };
    }
}
