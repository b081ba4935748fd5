using Microsoft.Extensions.Logging;

namespace Tollgate.Testing;

/// <summary>What a component logged: each line's event id and message, in order.</summary>
public sealed class ListLogger<T> : ILogger<T>
{
    public List<(int Id, string Message)> Lines { get; } = [];

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        ArgumentNullException.ThrowIfNull(formatter);
        lock (Lines)
        {
            Lines.Add((eventId.Id, formatter(state, exception)));
        }
    }
}
