using Tollgate.Core.Catalog;
using Tollgate.Core.Subscriptions;

namespace Tollgate.Core.Tests.Subscriptions;

public sealed class PeriodsTests
{
    private static DateTimeOffset Utc(int y, int m, int d, int h = 0) => new(y, m, d, h, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(2025, 2, 28)] // not a leap year
    [InlineData(2024, 2, 29)] // leap year
    public void OneMonthAfterThe31stOfJanuary_IsTheLastDayOfFebruary(int year, int month, int day)
    {
        Assert.Equal(Utc(year, month, day), Periods.Add(Utc(year, 1, 31), ResetInterval.Month, 1));
    }

    [Fact]
    public void MonthsCountFromTheAnchor_SoTheSecondMonthAfterJanuary31IsMarch31()
    {
        Assert.Equal(Utc(2025, 3, 31), Periods.Add(Utc(2025, 1, 31), ResetInterval.Month, 2));
        Assert.Equal(Utc(2025, 4, 30), Periods.Add(Utc(2025, 1, 31), ResetInterval.Month, 3));
    }

    [Fact]
    public void AYearAfterFebruary29_IsFebruary28()
    {
        Assert.Equal(Utc(2025, 2, 28), Periods.Add(Utc(2024, 2, 29), BillingInterval.Year, 1));
        Assert.Equal(Utc(2028, 2, 29), Periods.Add(Utc(2024, 2, 29), BillingInterval.Year, 4));
    }

    [Theory]
    [InlineData(2025, 2, 27, 2025, 1, 31, 2025, 2, 28)]
    [InlineData(2025, 2, 28, 2025, 2, 28, 2025, 3, 31)]
    [InlineData(2025, 3, 30, 2025, 2, 28, 2025, 3, 31)]
    [InlineData(2025, 3, 31, 2025, 3, 31, 2025, 4, 30)]
    [InlineData(2025, 1, 30, 2024, 12, 31, 2025, 1, 31)]
    public void Containing_FindsTheMonthlyPeriodOfAnAnchor(int y, int m, int d, int sy, int sm, int sd, int ey, int em, int ed)
    {
        var (start, end) = Periods.Containing(Utc(2024, 1, 31), ResetInterval.Month, Utc(y, m, d, 12));

        Assert.Equal((Utc(sy, sm, sd), Utc(ey, em, ed)), (start, end));
    }

    [Fact]
    public void Containing_IsStartInclusiveEndExclusive()
    {
        var anchor = Utc(2025, 1, 15);

        Assert.Equal(Utc(2025, 2, 15), Periods.Containing(anchor, ResetInterval.Month, Utc(2025, 2, 15)).Start);
        Assert.Equal(Utc(2025, 1, 15), Periods.Containing(anchor, ResetInterval.Month, Utc(2025, 2, 15).AddTicks(-1)).Start);
    }

    [Fact]
    public void Calendar_Windows_AreUtcDaysIsoWeeksMonthsAndYears()
    {
        var at = new DateTimeOffset(2026, 11, 22, 23, 30, 0, TimeSpan.FromHours(-5)); // 04:30 on the 23rd, UTC

        Assert.Equal((Utc(2026, 11, 23), Utc(2026, 11, 24)), Periods.Calendar(ResetInterval.Day, at));
        Assert.Equal((Utc(2026, 11, 23), Utc(2026, 11, 30)), Periods.Calendar(ResetInterval.Week, at)); // a Monday
        Assert.Equal((Utc(2026, 11, 1), Utc(2026, 12, 1)), Periods.Calendar(ResetInterval.Month, at));
        Assert.Equal((Utc(2026, 1, 1), Utc(2027, 1, 1)), Periods.Calendar(ResetInterval.Year, at));
        Assert.Equal((Utc(2024, 2, 1), Utc(2024, 3, 1)), Periods.Calendar(ResetInterval.Month, Utc(2024, 2, 29, 23)));
    }
}
