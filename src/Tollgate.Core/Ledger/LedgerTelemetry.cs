using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Tollgate.Core.Ledger;

/// <summary>Spans and metrics of the ledger's batches: one transaction for many callers.</summary>
public static class LedgerTelemetry
{
    /// <summary>The name of the ledger's <see cref="System.Diagnostics.ActivitySource"/> and meter, to subscribe to.</summary>
    public const string Name = "Tollgate.Ledger";
    internal static readonly ActivitySource Source = new(Name);
    private static readonly Meter Meter = new(Name);

    // Stryker disable once String : a static field's initializer runs once per process, so a mutant there is never switched
    // on; LedgerFailureRules.Rule_EachBatchRecordsItsSizeAndHowLongItsTransactionTook pins the name, unit and description
    internal static readonly Histogram<int> BatchSize = Meter.CreateHistogram<int>("tollgate.ledger.batch_size", "{request}",
        "Requests written in one ledger transaction");

    // Stryker disable once String : a static field's initializer runs once per process, so a mutant there is never switched
    // on; LedgerFailureRules.Rule_EachBatchRecordsItsSizeAndHowLongItsTransactionTook pins the name, unit and description
    internal static readonly Histogram<double> CommitDuration = Meter.CreateHistogram<double>("tollgate.ledger.commit.duration", "s",
        "Time of one ledger transaction, from opening it (locks taken) to its commit");

    // Stryker disable once String : a static field's initializer runs once per process, so a mutant there is never switched
    // on; KnownStateRules pin the name and its "state" tag
    internal static readonly Counter<long> KnownState = Meter.CreateCounter<long>("tollgate.ledger.known_state", "{batch}",
        "Batches written from the state this process last committed instead of loading it: state=used (it was current), state=stale (another writer got in between; the batch ran again with its customers loaded)");

    /// <summary>A batch serves many requests, each with a trace of its own: the span is a child of the first caller's
    /// and links to every caller's, so each request's trace reaches the transaction that committed it.</summary>
    internal static Activity? StartBatch(IReadOnlyList<PendingOperation> batch)
    {
        // Stryker disable once Block : without listeners StartActivity returns null anyway; the check only saves the links
        if (!Source.HasListeners())
        {
            return null;
        }

        var links = batch.Select(o => o.Caller).Where(c => c != default).Distinct().Select(c => new ActivityLink(c)).ToList();
        var activity = Source.StartActivity("ledger.batch", ActivityKind.Internal, batch[0].Caller, links: links);
        activity?.SetTag("tollgate.batch_size", batch.Count);
        return activity;
    }
}
