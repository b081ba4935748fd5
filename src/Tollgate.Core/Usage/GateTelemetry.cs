using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Tollgate.Core.Usage;

/// <summary>Spans and metrics of the gate: checks and usage by outcome, the customer-view cache's hits.</summary>
public static class GateTelemetry
{
    /// <summary>The name of the gate's <see cref="System.Diagnostics.ActivitySource"/> and meter, to subscribe to.</summary>
    public const string Name = "Tollgate.Gate";
    internal static readonly ActivitySource Source = new(Name);
    private static readonly Meter Meter = new(Name);

    // The instruments' names, units and descriptions are asserted by GateViewRules and ViewCacheTests; a mutation of a
    // static initializer cannot be switched per test (it ran once, at the process's first use).
    // Stryker disable once String : static initializer (above)
    private static readonly Counter<long> Checks = Meter.CreateCounter<long>("tollgate.gate.checks", "{check}",
        "Answers of POST /v1/check by feature and outcome (allowed, or the refusal)");

    // Stryker disable once String : static initializer (above)
    private static readonly Counter<long> Usage = Meter.CreateCounter<long>("tollgate.gate.usage", "{call}",
        "Usage calls by feature and outcome (charged, or the refusal)");

    // Stryker disable once String : static initializer (above)
    private static readonly Counter<long> Cache = Meter.CreateCounter<long>("tollgate.gate.cache", "{lookup}",
        "Lookups of a customer's cached view, by result (hit or miss)");

    internal static string Outcome(TollgateRefusal? refusal, string success) => refusal?.Code ?? success;

    internal static void Checked(Activity? activity, string feature, string outcome)
    {
        activity?.SetTag("tollgate.outcome", outcome);
        Checks.Add(1, new KeyValuePair<string, object?>("feature", feature), new KeyValuePair<string, object?>("outcome", outcome));
    }

    internal static void Used(Activity? activity, string feature, string outcome)
    {
        activity?.SetTag("tollgate.outcome", outcome);
        Usage.Add(1, new KeyValuePair<string, object?>("feature", feature), new KeyValuePair<string, object?>("outcome", outcome));
    }

    internal static void CacheLookup(bool hit) => Cache.Add(1, new KeyValuePair<string, object?>("result", hit ? "hit" : "miss"));

    internal static Activity? Start(string name, string customerId, string featureId)
    {
        var activity = Source.StartActivity(name);
        activity?.SetTag("tollgate.customer_id", customerId);
        activity?.SetTag("tollgate.feature", featureId);
        return activity;
    }
}
