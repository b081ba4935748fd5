namespace Tollgate.Core.Common;

/// <summary>Instants as Tollgate stores them: UTC, truncated to whole microseconds.</summary>
/// <remarks>
/// PostgreSQL keeps microseconds, so every instant is normalised before it is compared or stored;
/// otherwise a lot that expires "exactly now" could compare differently before and after a round trip.
/// </remarks>
public static class Instants
{
    private const long TicksPerMicrosecond = TimeSpan.TicksPerMillisecond / 1000;

    public static DateTimeOffset Normalize(DateTimeOffset value)
    {
        var utcTicks = value.UtcTicks;
        return new DateTimeOffset(utcTicks - (utcTicks % TicksPerMicrosecond), TimeSpan.Zero);
    }

    public static DateTimeOffset Now(TimeProvider time) => Normalize(time.GetUtcNow());

    public static long ToUnixMicroseconds(DateTimeOffset value) =>
        (Normalize(value).UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / TicksPerMicrosecond;

    public static DateTimeOffset FromUnixMicroseconds(long micros) =>
        new(DateTimeOffset.UnixEpoch.UtcTicks + (micros * TicksPerMicrosecond), TimeSpan.Zero);
}
