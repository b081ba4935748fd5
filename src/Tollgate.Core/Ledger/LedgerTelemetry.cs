using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Tollgate.Core.Ledger;

internal static class LedgerTelemetry
{
    public const string Name = "Tollgate.Ledger";
    public static readonly ActivitySource Source = new(Name);
    private static readonly Meter Meter = new(Name);
    public static readonly Histogram<int> BatchSize = Meter.CreateHistogram<int>("tollgate.ledger.batch_size", "{request}",
        "Requests written in one ledger transaction");
}
