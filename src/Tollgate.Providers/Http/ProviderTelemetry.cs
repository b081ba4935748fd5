using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Tollgate.Providers.Http;

/// <summary>Provider API calls: latency and errors by provider and operation (the HTTP client's own spans come from
/// the host's HttpClient instrumentation).</summary>
public static class ProviderTelemetry
{
    /// <summary>The name of the meter, for a host that collects it (<c>AddMeter</c>).</summary>
    public const string Name = "Tollgate.Providers";
    private static readonly Meter Meter = new(Name);

    private static readonly Histogram<double> Duration = Meter.CreateHistogram<double>("tollgate.provider.call.duration", "s",
        "Time of a call to a payment provider's API, retries included");

    private static readonly Counter<long> Errors = Meter.CreateCounter<long>("tollgate.provider.call.errors", "{call}",
        "Calls to a payment provider's API that failed after their retries");

    internal static void Record(string provider, ProviderRequest request, string outcome, TimeSpan elapsed)
    {
        var tags = new TagList
        {
            { "provider", provider },
            { "operation", $"{request.Method} {Route(request.PathAndQuery)}" },
            { "outcome", outcome },
        };
        Duration.Record(elapsed.TotalSeconds, tags);
        if (outcome != "ok")
        {
            Errors.Add(1, tags);
        }
    }

    /// <summary>The path without its query and ids (<c>v1/prices/price_1</c> → <c>v1/prices</c>), to keep the
    /// number of series small.</summary>
    private static string Route(string pathAndQuery)
    {
        var path = pathAndQuery.Split('?')[0];
        return string.Join('/', path.Split('/', StringSplitOptions.RemoveEmptyEntries).Take(2));
    }
}
