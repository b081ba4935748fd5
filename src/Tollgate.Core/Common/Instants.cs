namespace Tollgate.Core.Common;

/// <summary>Instants as Tollgate stores them: UTC, truncated to whole microseconds.</summary>
/// <remarks>
/// PostgreSQL keeps microseconds, so every instant is normalised before it is compared or stored;
/// otherwise a lot that expires "exactly now" could compare differently before and after a round trip.
/// </remarks>
public static class Instants
{
    private const long TicksPerMicrosecond = TimeSpan.TicksPerMillisecond / 1000;

    /// <summary>The same instant in UTC, truncated to whole microseconds: what both databases store, so a value read back equals the one written.</summary>
    public static DateTimeOffset Normalize(DateTimeOffset value)
    {
        var utcTicks = value.UtcTicks;
        return new DateTimeOffset(utcTicks - (utcTicks % TicksPerMicrosecond), TimeSpan.Zero);
    }

    /// <summary>The provider's current time, normalized (see <see cref="Normalize"/>).</summary>
    public static DateTimeOffset Now(TimeProvider time) => Normalize(time.GetUtcNow());

    /// <summary>Microseconds since the Unix epoch, after normalizing.</summary>
    public static long ToUnixMicroseconds(DateTimeOffset value) =>
        (Normalize(value).UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / TicksPerMicrosecond;

    /// <summary>The UTC instant <paramref name="micros"/> microseconds after the Unix epoch.</summary>
    public static DateTimeOffset FromUnixMicroseconds(long micros) =>
        new(DateTimeOffset.UnixEpoch.UtcTicks + (micros * TicksPerMicrosecond), TimeSpan.Zero);
}
