using Tollgate.Core.Catalog;
using Tollgate.Core.Subscriptions;

namespace Tollgate.Core.Tests.Subscriptions;

/// <summary>
/// The rules of <see cref="Periods"/> the allowance windows stand on, beyond <see cref="PeriodsTests"/>: every unit's
/// length, UTC arithmetic whatever the anchor's offset, the ISO week on a Sunday, and units that have no length. A window
/// one unit off grants an allowance twice or not at all. Found by mutation testing (<c>stryker/run subscriptions-rules</c>,
/// docs/testing.md).
/// </summary>
public sealed class PeriodRulesTests
{
    private static DateTimeOffset Utc(int y, int m, int d, int h = 0) => new(y, m, d, h, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Rule_EachUnitAddsItsOwnLength_ADayADayAWeekSevenDays()
    {
        var anchor = Utc(2025, 1, 31, 12);

        Assert.Equal(Utc(2025, 2, 3, 12), Periods.Add(anchor, ResetInterval.Day, 3));
        Assert.Equal(Utc(2025, 2, 14, 12), Periods.Add(anchor, ResetInterval.Week, 2));
        Assert.Equal(Utc(2026, 1, 31, 12), Periods.Add(anchor, ResetInterval.Year, 1));
        Assert.Equal(Utc(2025, 3, 31, 12), Periods.Add(anchor, BillingInterval.Month, 2));
    }

    [Fact]
    public void Rule_PeriodsAreCountedInUtc_WhateverTheAnchorsOffset()
    {
        // 31 January 01:00 at +02:00 is 30 January 23:00 UTC: a month on is 28 February 23:00 UTC. Counted at +02:00 it
        // would be 28 February 01:00 +02:00, that is 27 February 23:00 UTC: a day early.
        var anchor = new DateTimeOffset(2025, 1, 31, 1, 0, 0, TimeSpan.FromHours(2));

        var next = Periods.Add(anchor, ResetInterval.Month, 1);

        Assert.Equal(new DateTimeOffset(2025, 2, 28, 23, 0, 0, TimeSpan.Zero), next);
        Assert.Equal(TimeSpan.Zero, next.Offset);
    }

    [Theory]
    [InlineData(ResetInterval.Day, 2025, 3, 7, 12, 2025, 3, 8, 12)]
    [InlineData(ResetInterval.Week, 2025, 3, 5, 12, 2025, 3, 12, 12)]
    [InlineData(ResetInterval.Year, 2025, 1, 31, 12, 2026, 1, 31, 12)]
    public void Rule_Containing_FindsThePeriodOfEveryUnit_CountedFromTheAnchor(ResetInterval unit, int sy, int sm, int sd, int sh, int ey, int em, int ed, int eh)
    {
        // Anchor 31 January 2024 12:00; at 8 March 2025 03:00 UTC.
        var (start, end) = Periods.Containing(Utc(2024, 1, 31, 12), unit, Utc(2025, 3, 8, 3));

        Assert.Equal((Utc(sy, sm, sd, sh), Utc(ey, em, ed, eh)), (start, end));
    }

    [Theory]
    [InlineData(ResetInterval.Day)]
    [InlineData(ResetInterval.Week)]
    [InlineData(ResetInterval.Month)]
    [InlineData(ResetInterval.Year)]
    public void Rule_Containing_IsStartInclusive_EndExclusive_ForEveryUnit(ResetInterval unit)
    {
        var anchor = Utc(2024, 1, 31, 12);
        var boundary = Periods.Add(anchor, unit, 3);

        Assert.Equal((boundary, Periods.Add(anchor, unit, 4)), Periods.Containing(anchor, unit, boundary));
        Assert.Equal((Periods.Add(anchor, unit, 2), boundary), Periods.Containing(anchor, unit, boundary.AddTicks(-1)));
    }

    [Fact]
    public void Rule_TheCalendarWeekOfASunday_StartsOnTheMondayBefore()
    {
        Assert.Equal((Utc(2026, 11, 23), Utc(2026, 11, 30)), Periods.Calendar(ResetInterval.Week, Utc(2026, 11, 29, 23)));
        Assert.Equal((Utc(2026, 11, 23), Utc(2026, 11, 30)), Periods.Calendar(ResetInterval.Week, Utc(2026, 11, 25, 8)));
    }

    [Fact]
    public void Rule_AUnitThatNeverResets_AndAOneTimePlan_HaveNoPeriods()
    {
        // The error says why, so an operator reading a log line knows which setting has no period.
        Assert.Contains("never resets has no length", Assert.Throws<ArgumentOutOfRangeException>(() => Periods.Add(Utc(2025, 1, 1), ResetInterval.Never, 1)).Message, StringComparison.Ordinal);
        Assert.Contains("one-time plan has no periods", Assert.Throws<ArgumentOutOfRangeException>(() => Periods.Add(Utc(2025, 1, 1), BillingInterval.Once, 1)).Message, StringComparison.Ordinal);
        Assert.Contains("never resets has no calendar window", Assert.Throws<ArgumentOutOfRangeException>(() => Periods.Calendar(ResetInterval.Never, Utc(2025, 1, 1))).Message, StringComparison.Ordinal);
    }
}
