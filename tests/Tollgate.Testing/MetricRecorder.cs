using System.Diagnostics.Metrics;

namespace Tollgate.Testing;

/// <summary>One measurement a <see cref="MetricRecorder"/> kept: its instrument, value and tags.</summary>
public sealed record RecordedMeasurement(string Instrument, double Value, IReadOnlyDictionary<string, object?> Tags)
{
    /// <summary>The tag's value as text, or null when the measurement has no such tag.</summary>
    public string? Tag(string key) => Tags.TryGetValue(key, out var value) ? value?.ToString() : null;
}

/// <summary>
/// Listens to one meter of the process while it lives: the instruments it publishes (name, unit, description) and the
/// measurements of those instruments that <c>keep</c> accepts. Meters are process-wide and tests run in parallel, so a
/// test keeps only what is its own (a feature or provider of its own name, say). Thread-safe.
/// </summary>
public sealed class MetricRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly Func<RecordedMeasurement, bool> _keep;
    private readonly List<(string Name, string? Unit, string? Description)> _instruments = [];
    private readonly List<RecordedMeasurement> _measurements = [];
    private readonly Lock _gate = new();

    /// <param name="meterName">The meter to listen to.</param>
    /// <param name="keep">Which measurements to keep; all when null.</param>
    /// <param name="instrument">Which of the meter's instruments to listen to; all when null.</param>
    public MetricRecorder(string meterName, Func<RecordedMeasurement, bool>? keep = null, string? instrument = null)
    {
        _keep = keep ?? (_ => true);
        _listener.InstrumentPublished = (published, listener) =>
        {
            if (published.Meter.Name != meterName || (instrument is not null && published.Name != instrument))
            {
                return;
            }

            lock (_gate)
            {
                _instruments.Add((published.Name, published.Unit, published.Description));
            }

            listener.EnableMeasurementEvents(published);
        };
        _listener.SetMeasurementEventCallback<int>((i, value, tags, _) => Record(i, value, tags));
        _listener.SetMeasurementEventCallback<long>((i, value, tags, _) => Record(i, value, tags));
        _listener.SetMeasurementEventCallback<double>((i, value, tags, _) => Record(i, value, tags));
        _listener.Start();
    }

    /// <summary>The instruments the meter published while this recorder listened.</summary>
    public IReadOnlyList<(string Name, string? Unit, string? Description)> Instruments
    {
        get
        {
            lock (_gate)
            {
                return [.. _instruments];
            }
        }
    }

    /// <summary>The measurements kept so far, in the order they were recorded.</summary>
    public IReadOnlyList<RecordedMeasurement> Measurements
    {
        get
        {
            lock (_gate)
            {
                return [.. _measurements];
            }
        }
    }

    public void Dispose() => _listener.Dispose();

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var measurement = new RecordedMeasurement(instrument.Name, value, tags.ToArray().ToDictionary(t => t.Key, t => t.Value, StringComparer.Ordinal));
        if (!_keep(measurement))
        {
            return;
        }

        lock (_gate)
        {
            _measurements.Add(measurement);
        }
    }
}
