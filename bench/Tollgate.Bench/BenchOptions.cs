using System.Globalization;

namespace Tollgate.Bench;

internal sealed record BenchOptions(string Suite, string? Postgres, TimeSpan Duration, TimeSpan Warmup, int[] Callers, int Lanes, int InFlight)
{
    /// <summary>SQLite always (unless <see cref="PostgresOnly"/>); PostgreSQL when a connection string is given.</summary>
    public IEnumerable<string?> Databases => Postgres is null ? [null] : PostgresOnly ? [Postgres] : [null, Postgres];

    /// <summary>Skips the SQLite runs (<c>--databases postgres</c>): a PostgreSQL change measured without spending the
    /// shared machine's time on a database it does not touch.</summary>
    public bool PostgresOnly { get; init; }

    /// <summary>Concurrent HTTP connections (= callers) of the http suite.</summary>
    public int[] Connections { get; init; } = [1, 16, 64];

    /// <summary>Concurrent callers of the client suite (<c>--connections</c> there too).</summary>
    public int[] ClientCallers { get; init; } = [1, 64];

    /// <summary>The server the http suite starts (<c>tollgate.dll</c>); null: the Release build next to the sources.</summary>
    public string? Server { get; init; }

    /// <summary>Builds of the server to compare, each <c>label=path/to/tollgate.dll</c> (<c>--servers</c>): the http suite
    /// starts all of them, each on a fresh database of its own, and runs every cell on each in turn, interleaved, so a
    /// change is measured against the build before it under the same load of a shared machine. Empty: <see cref="Server"/> alone.</summary>
    public IReadOnlyList<(string Label, string Dll)> Servers { get; init; } = [];

    /// <summary>Attempts of a disturbed http cell (the quietest is kept).</summary>
    public int Attempts { get; init; } = 3;

    /// <summary>Arrival rate of the http suite's open-loop usage run (requests per second; 0 skips it).</summary>
    public int OpenLoopRate { get; init; } = 5000;

    /// <summary>How long the open-loop run is measured.</summary>
    public TimeSpan OpenLoopDuration { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long the webhooks suite drives deliveries through a fresh server before measuring, and the http suite
    /// its calls (shared among them, 2 s each at least) (<c>--server-warmup</c>, seconds). A delivery runs through a great deal of code that .NET compiles in tiers
    /// (quick JIT, instrumented, optimized) on a background thread; on two cores that thread was still busy for
    /// 15–30 s under load, and a cell measured before it finished counted its compiling as the deliveries' CPU.</summary>
    public TimeSpan ServerWarmup { get; init; } = TimeSpan.FromSeconds(20);

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
        if (Value("--databases", "") == "postgres" && postgres.Length == 0)
        {
            // Without a database to run on, the suites skip PostgreSQL: asked for it alone, they would measure SQLite instead.
            throw new ArgumentException("--databases postgres needs --postgres or TOLLGATE_TEST_POSTGRES (a connection string).");
        }

        CpuSample.QuietWait = TimeSpan.FromSeconds(double.Parse(Value("--quiet-wait", "60"), CultureInfo.InvariantCulture));
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
            Servers = Value("--servers", "").Split(',', StringSplitOptions.RemoveEmptyEntries)
                .Select(s => s.Split('=', 2) is [var label, var dll] ? (label, dll) : throw new ArgumentException($"--servers: '{s}' is not label=path"))
                .ToList(),
            Attempts = int.Parse(Value("--attempts", "3"), CultureInfo.InvariantCulture),
            OpenLoopRate = int.Parse(Value("--open-loop-rate", "5000"), CultureInfo.InvariantCulture),
            OpenLoopDuration = TimeSpan.FromSeconds(double.Parse(Value("--open-loop-duration", "10"), CultureInfo.InvariantCulture)),
            ServerWarmup = TimeSpan.FromSeconds(double.Parse(Value("--server-warmup", "20"), CultureInfo.InvariantCulture)),
            LongRun = long.Parse(Value("--long-run", "1000000"), CultureInfo.InvariantCulture),
            PostgresOnly = Value("--databases", "sqlite,postgres") switch
            {
                "postgres" => true,
                "sqlite,postgres" or "postgres,sqlite" => false,
                var other => throw new ArgumentException($"--databases: '{other}' is not 'postgres' or 'sqlite,postgres'"),
            },
        };
    }
}
