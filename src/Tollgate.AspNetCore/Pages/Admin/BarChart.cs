using System.Globalization;
using System.Net;
using System.Text;

namespace Tollgate.Server.Pages.Admin;

/// <summary>A plain bar chart as server-rendered SVG (revenue per day in the admin console).</summary>
internal static class BarChart
{
    private const double Width = 640, Height = 200, Left = 64, Right = 12, Top = 12, Bottom = 26;

    public sealed record Bar(string Label, long Value, string Title);

    public static string Svg(IReadOnlyList<Bar> bars, Func<long, string> format, string title)
    {
        var max = Math.Max(bars.Count == 0 ? 1 : bars.Max(b => b.Value), 1);
        var plotW = Width - Left - Right;
        var plotH = Height - Top - Bottom;
        var slot = plotW / Math.Max(bars.Count, 1);
        var barW = Math.Max(slot * 0.7, 1);
        double Y(double value) => Top + plotH - (Math.Max(value, 0) / max * plotH);

        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture,
            $"""<svg class="bar-chart" viewBox="0 0 {N(Width)} {N(Height)}" role="img" aria-label="{E(title)}"><title>{E(title)}</title>""");
        foreach (var value in new[] { 0, max })
        {
            svg.Append(CultureInfo.InvariantCulture,
                $"""<line class="grid" x1="{N(Left)}" x2="{N(Width - Right)}" y1="{N(Y(value))}" y2="{N(Y(value))}"/><text class="axis" x="{N(Left - 6)}" y="{N(Y(value) + 4)}" text-anchor="end">{E(format(value))}</text>""");
        }

        var labelEvery = Math.Max(1, (int)Math.Ceiling(bars.Count / 8.0));
        for (var i = 0; i < bars.Count; i++)
        {
            var bar = bars[i];
            var x = Left + (i * slot) + ((slot - barW) / 2);
            if (bar.Value > 0)
            {
                svg.Append(CultureInfo.InvariantCulture,
                    $"""<rect class="bar-day" x="{N(x)}" y="{N(Y(bar.Value))}" width="{N(barW)}" height="{N(Y(0) - Y(bar.Value))}"><title>{E(bar.Title)}</title></rect>""");
            }

            if (i % labelEvery == 0 || i == bars.Count - 1)
            {
                svg.Append(CultureInfo.InvariantCulture,
                    $"""<text class="axis" x="{N(x + (barW / 2))}" y="{N(Height - 8)}" text-anchor="middle">{E(bar.Label)}</text>""");
            }
        }

        svg.Append("</svg>");
        return svg.ToString();
    }

    private static string N(double value) => Math.Round(value, 1).ToString("0.#", CultureInfo.InvariantCulture);

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
