using Tollgate.Core.Catalog;

namespace Tollgate.Core.Subscriptions;

/// <summary>Calendar-correct period arithmetic, in UTC. Periods count from their anchor (the k-th month after
/// 31 January is the last day of a short month, and the one after is the 31st again), never month after month.</summary>
public static class Periods
{
    /// <summary><paramref name="anchor"/> plus <paramref name="count"/> intervals, in UTC.</summary>
    public static DateTimeOffset Add(DateTimeOffset anchor, ResetInterval unit, int count)
    {
        var utc = anchor.ToUniversalTime();
        return unit switch
        {
            ResetInterval.Day => utc.AddDays(count),
            ResetInterval.Week => utc.AddDays(7 * count),
            ResetInterval.Month => utc.AddMonths(count),
            ResetInterval.Year => utc.AddYears(count),
            _ => throw new ArgumentOutOfRangeException(nameof(unit), unit, "A period that never resets has no length."),
        };
    }

    /// <summary><paramref name="anchor"/> plus <paramref name="count"/> billing intervals, in UTC; a one-time plan
    /// (<see cref="BillingInterval.Once"/>) has no periods and throws <see cref="ArgumentOutOfRangeException"/>.</summary>
    public static DateTimeOffset Add(DateTimeOffset anchor, BillingInterval interval, int count) => interval switch
    {
        BillingInterval.Month => Add(anchor, ResetInterval.Month, count),
        BillingInterval.Year => Add(anchor, ResetInterval.Year, count),
        _ => throw new ArgumentOutOfRangeException(nameof(interval), interval, "A one-time plan has no periods."),
    };

    /// <summary>The period of length <paramref name="unit"/>, counted from <paramref name="anchor"/>, that contains
    /// <paramref name="at"/> (start inclusive, end exclusive).</summary>
    public static (DateTimeOffset Start, DateTimeOffset End) Containing(DateTimeOffset anchor, ResetInterval unit, DateTimeOffset at)
    {
        var k = Estimate(anchor.ToUniversalTime(), unit, at.ToUniversalTime());
        // Stryker disable once Equality : at a period's start ">=" steps back once and the next loop steps forward again
        while (Add(anchor, unit, k) > at)
        {
            k--;
        }

        // Stryker disable once Equality,Update,Statement,Block : with the estimate's seed this loop never runs (it is there for a seed that undershoots)
        while (Add(anchor, unit, k + 1) <= at)
        {
            k++;
        }

        return (Add(anchor, unit, k), Add(anchor, unit, k + 1));
    }

    /// <summary>The calendar period containing <paramref name="at"/>: the UTC day, the ISO week (from Monday), the
    /// month or the year.</summary>
    public static (DateTimeOffset Start, DateTimeOffset End) Calendar(ResetInterval unit, DateTimeOffset at)
    {
        var utc = at.ToUniversalTime();
        var day = new DateTimeOffset(utc.Year, utc.Month, utc.Day, 0, 0, 0, TimeSpan.Zero);
        return unit switch
        {
            ResetInterval.Day => (day, day.AddDays(1)),
            ResetInterval.Week => (day.AddDays(-(((int)day.DayOfWeek + 6) % 7)), day.AddDays(7 - (((int)day.DayOfWeek + 6) % 7))),
            ResetInterval.Month => (new DateTimeOffset(utc.Year, utc.Month, 1, 0, 0, 0, TimeSpan.Zero),
                new DateTimeOffset(utc.Year, utc.Month, 1, 0, 0, 0, TimeSpan.Zero).AddMonths(1)),
            ResetInterval.Year => (new DateTimeOffset(utc.Year, 1, 1, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(utc.Year + 1, 1, 1, 0, 0, 0, TimeSpan.Zero)),
            _ => throw new ArgumentOutOfRangeException(nameof(unit), unit, "A period that never resets has no calendar window."),
        };
    }

    // The seed of the two loops in Containing, which move it until the period contains the instant.
    // Stryker disable once Arithmetic : a wrong seed changes how many steps the loops take, not the period
    private static int Estimate(DateTimeOffset anchor, ResetInterval unit, DateTimeOffset at) => unit switch
    {
        ResetInterval.Day => (int)Math.Floor((at - anchor).TotalDays),
        ResetInterval.Week => (int)Math.Floor((at - anchor).TotalDays / 7),
        ResetInterval.Month => ((at.Year - anchor.Year) * 12) + at.Month - anchor.Month,
        ResetInterval.Year => at.Year - anchor.Year,
        _ => 0,
    };
}
