using System.Globalization;

namespace Tollgate.Bench;

internal sealed record BenchOptions(string Suite, string? Postgres, TimeSpan Duration, TimeSpan Warmup, int[] Callers, int Lanes, int InFlight)
{
    /// <summary>SQLite always; PostgreSQL when a connection string is given.</summary>
    public IEnumerable<string?> Databases => Postgres is null ? [null] : [null, Postgres];

    public static BenchOptions Parse(string[] args)
    {
        string Value(string name, string fallback)
        {
            var i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
        }

        var suite = args.Length > 0 && !args[0].StartsWith('-') ? args[0] : "ledger";
        var postgres = Value("--postgres", Environment.GetEnvironmentVariable("TOLLGATE_TEST_POSTGRES") ?? "");
        return new BenchOptions(
            suite,
            postgres.Length == 0 ? null : postgres,
            TimeSpan.FromSeconds(double.Parse(Value("--duration", "5"), CultureInfo.InvariantCulture)),
            TimeSpan.FromSeconds(double.Parse(Value("--warmup", "1"), CultureInfo.InvariantCulture)),
            Value("--callers", "1,8,32,64").Split(',').Select(c => int.Parse(c, CultureInfo.InvariantCulture)).ToArray(),
            int.Parse(Value("--lanes", "4"), CultureInfo.InvariantCulture),
            int.Parse(Value("--in-flight", "2"), CultureInfo.InvariantCulture));
    }
}
