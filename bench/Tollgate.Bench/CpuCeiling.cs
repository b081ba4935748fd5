namespace Tollgate.Bench;

/// <summary>
/// Whether a throughput target fits this machine's CPU at what a cell measured. The server, the load generator and
/// PostgreSQL share the machine's cores, so requests can go no faster than the cores allow at the CPU that everything on
/// the machine spent per request. When that ceiling is below the target, waiting less (more lanes, more connections)
/// cannot meet it: only a cheaper request can. When it is above, the cell left cores idle: it waited more than it ran.
/// </summary>
internal static class CpuCeiling
{
    /// <param name="busyCores">How many cores of the machine were busy on average during the cell (everything on it).</param>
    /// <param name="achieved">Requests per second the cell measured.</param>
    /// <param name="target">Requests per second the target asks for.</param>
    /// <param name="noun">What one request is ("usage", "delivery").</param>
    public static string Describe(double busyCores, double achieved, double target, string noun)
    {
        var cores = Environment.ProcessorCount;
        var perRequestUs = busyCores * 1e6 / Math.Max(1, achieved);
        var ceiling = achieved * cores / Math.Max(0.01, busyCores);
        var budgetUs = cores * 1e6 / target;
        var measured = FormattableString.Invariant(
            $"CPU ceiling: the machine spent {perRequestUs:F0} µs of CPU per {noun} ({busyCores:F2} of {cores} cores busy at {achieved:F0}/s), so {cores} cores allow at most {ceiling:F0}/s; ");
        return measured + (ceiling < target
            ? FormattableString.Invariant(
                $"the target asks {target:F0}/s, which leaves {budgetUs:F0} µs per {noun} for everything on the machine: only a cheaper {noun} meets it here, not less waiting")
            : FormattableString.Invariant(
                $"at or above the {target:F0}/s the target asks: the cell waited rather than ran out of CPU"));
    }
}
