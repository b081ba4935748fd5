using System.Text.RegularExpressions;
using Tollgate.Server.Pages.Shared;

namespace Tollgate.Server.Tests.Pages;

/// <summary>A period's end (renewal, cancellation, scheduled change, access ending) reads one way on every page.</summary>
public sealed partial class PeriodEndTests
{
    [Fact]
    public void PeriodEnd_IsTheDayOfTheEnd_InBothLanguages()
    {
        var end = new DateTimeOffset(2027, 1, 1, 0, 0, 0, TimeSpan.Zero);
        Assert.Equal("1 Jan 2027", Texts.For(Lang.En).PeriodEnd(end));
        Assert.Equal("2027年1月1日", Texts.For(Lang.ZhCn).PeriodEnd(end));

        // In UTC whatever the offset it was read with, and a dash without an end.
        var late = new DateTimeOffset(2026, 12, 31, 20, 30, 0, TimeSpan.FromHours(-5));
        Assert.Equal("1 Jan 2027", Texts.For(Lang.En).PeriodEnd(late));
        Assert.Equal("—", Texts.For(Lang.ZhCn).PeriodEnd(null));
    }

    /// <summary>No page writes a period end with <c>Date</c> itself: each calls <see cref="Texts.PeriodEnd"/>.</summary>
    [Fact]
    public void EveryPage_WritesPeriodEndsThroughOneHelper()
    {
        var pages = Path.Combine(RepositoryRoot(), "src", "Tollgate.AspNetCore", "Pages");
        var files = Directory.EnumerateFiles(pages, "*.cshtml*", SearchOption.AllDirectories).ToList();
        var offenders = files.SelectMany(f => DateOfPeriodEnd().Matches(File.ReadAllText(f)).Select(m => Path.GetFileName(f) + ": " + m.Value)).ToList();
        Assert.True(offenders.Count == 0, "period ends written with Date: " + string.Join("; ", offenders));

        var uses = files.Sum(f => Regex.Matches(File.ReadAllText(f), @"\b[Tt]\.PeriodEnd\(").Count);
        Assert.True(uses >= 10, $"only {uses} period ends go through Texts.PeriodEnd");
    }

    [GeneratedRegex(@"\b[Tt]\.Date\((?:[^()]*PeriodEnd|periodEnd|until|end)\)")]
    private static partial Regex DateOfPeriodEnd();

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Tollgate.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("repository root not found");
    }
}
