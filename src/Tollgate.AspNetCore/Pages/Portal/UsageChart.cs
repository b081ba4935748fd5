using System.Globalization;
using System.Net;
using System.Text;
using Tollgate.Core.Usage;
using Tollgate.Server.Pages.Shared;

namespace Tollgate.Server.Pages.Portal;

/// <summary>
/// A usage chart as server-rendered SVG: one bar per day of the period, its height the total used so far (the day's
/// own use darker, on top), and the level to compare against as a dashed line. No script, styled by the stylesheet.
/// </summary>
internal static class UsageChart
{
    private const double Width = 640, Height = 220, Left = 48, Right = 16, Top = 18, Bottom = 28;

    public static string Svg(UsageStats stats, long? line, string lineLabel, DateTimeOffset now, Texts t)
    {
        var buckets = stats.Buckets;
        var total = buckets.Where(b => b.Start <= now).Sum(b => b.Used);
        var max = NiceCeiling(Math.Max(Math.Max(line ?? 0, total), 1) * 1.1);
        var plotW = Width - Left - Right;
        var plotH = Height - Top - Bottom;
        var slot = plotW / Math.Max(buckets.Count, 1);
        var barW = Math.Max(slot * 0.7, 1);
        double Y(double value) => Top + plotH - (value / max * plotH);

        var title = line is { } l ? t.F("usage.summary", t.Number(total), t.Number(l), lineLabel) : t.F("usage.summary_nolimit", t.Number(total));
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture,
            $"""<svg class="usage-chart" viewBox="0 0 {N(Width)} {N(Height)}" role="img" aria-label="{E(title)}" preserveAspectRatio="xMidYMid meet">""");
        svg.Append(CultureInfo.InvariantCulture, $"<title>{E(title)}</title>");

        // Grid: zero and the top of the scale.
        foreach (var value in new[] { 0, max / 2, max })
        {
            svg.Append(CultureInfo.InvariantCulture,
                $"""<line class="grid" x1="{N(Left)}" x2="{N(Width - Right)}" y1="{N(Y(value))}" y2="{N(Y(value))}"/>""");
            svg.Append(CultureInfo.InvariantCulture,
                $"""<text class="axis" x="{N(Left - 6)}" y="{N(Y(value) + 4)}" text-anchor="end">{E(t.Number((long)value))}</text>""");
        }

        long running = 0;
        var labelEvery = Math.Max(1, (int)Math.Ceiling(buckets.Count / 8.0));
        for (var i = 0; i < buckets.Count; i++)
        {
            var bucket = buckets[i];
            var x = Left + (i * slot) + ((slot - barW) / 2);
            if (bucket.Start <= now)
            {
                var before = running;
                running += bucket.Used;
                if (before > 0)
                {
                    svg.Append(CultureInfo.InvariantCulture,
                        $"""<rect class="bar-total" x="{N(x)}" y="{N(Y(before))}" width="{N(barW)}" height="{N(Y(0) - Y(before))}"/>""");
                }

                if (bucket.Used > 0)
                {
                    svg.Append(CultureInfo.InvariantCulture,
                        $"""<rect class="bar-day" x="{N(x)}" y="{N(Y(running))}" width="{N(barW)}" height="{N(Y(before) - Y(running))}"><title>{E(t.Date(bucket.Start))}: {E(t.Number(bucket.Used))}</title></rect>""");
                }
            }

            if (i % labelEvery == 0)
            {
                svg.Append(CultureInfo.InvariantCulture,
                    $"""<text class="axis" x="{N(x + (barW / 2))}" y="{N(Height - 8)}" text-anchor="middle">{E(t.ShortDate(bucket.Start))}</text>""");
            }
        }

        if (line is { } level)
        {
            svg.Append(CultureInfo.InvariantCulture,
                $"""<line class="limit" x1="{N(Left)}" x2="{N(Width - Right)}" y1="{N(Y(level))}" y2="{N(Y(level))}"/>""");
            svg.Append(CultureInfo.InvariantCulture,
                $"""<text class="limit-label" x="{N(Width - Right)}" y="{N(Y(level) - 5)}" text-anchor="end">{E(lineLabel)} {E(t.Number(level))}</text>""");
        }

        svg.Append("</svg>");
        return svg.ToString();
    }

    /// <summary>A round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten) at least <paramref name="value"/>,
    /// for the top of the axis.</summary>
    private static double NiceCeiling(double value)
    {
        var magnitude = Math.Pow(10, Math.Floor(Math.Log10(value)));
        foreach (var step in new[] { 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10 })
        {
            if (step * magnitude >= value)
            {
                return step * magnitude;
            }
        }

        return 10 * magnitude;
    }

    private static string N(double value) => Math.Round(value, 1).ToString("0.#", CultureInfo.InvariantCulture);

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
