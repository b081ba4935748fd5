using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Razor.TagHelpers;

namespace Tollgate.Server.Pages.Shared;

/// <summary>
/// <c>&lt;table tg-cards&gt;</c>: a table whose rows become cards on a phone. Each body cell gets its column's header
/// as <c>data-label</c>, which the stylesheet shows beside the value when the table is narrower than its columns
/// (below 40rem the header row is hidden and every cell is a label–value line of its row's card). Done here, once,
/// rather than by hand in every page, so that a label can never drift from its column's header. Public because Razor
/// discovers tag helpers (<c>@addTagHelper *, Tollgate.AspNetCore</c>) among an assembly's public types only: an internal
/// one is silently skipped and every table overflows a phone.
/// </summary>
[HtmlTargetElement("table", Attributes = "tg-cards")]
public sealed partial class CardsTableTagHelper : TagHelper
{
    /// <summary>Marks the table as cards and labels each body cell with its column's header.</summary>
    public override async Task ProcessAsync(TagHelperContext context, TagHelperOutput output)
    {
        output.Attributes.RemoveAll("tg-cards");
        var existing = output.Attributes["class"]?.Value?.ToString();
        output.Attributes.SetAttribute("class", string.IsNullOrEmpty(existing) ? "cards" : existing + " cards");

        var html = (await output.GetChildContentAsync()).GetContent();
        var head = HeadRow().Match(html);
        if (!head.Success)
        {
            return;
        }

        // The header cells' text, tags stripped (a header may be an sr-only span); still HTML-encoded, which is what an
        // attribute value needs too (the encoder escapes quotes).
        var labels = HeaderCell().Matches(head.Groups["row"].Value)
            .Select(m => Tag().Replace(m.Groups["text"].Value, "").Trim())
            .ToList();
        var bodyStart = head.Index + head.Length;
        var body = BodyRow().Replace(html[bodyStart..], row =>
        {
            var column = 0;
            return BodyCell().Replace(row.Value, cell =>
            {
                var label = column < labels.Count ? labels[column] : "";
                column++;
                return label.Length == 0 ? cell.Value : $"<td data-label=\"{label}\"{cell.Groups["rest"].Value}";
            });
        });
        output.Content.SetHtmlContent(html[..bodyStart] + body);
    }

    [GeneratedRegex(@"<thead[^>]*>\s*<tr[^>]*>(?<row>.*?)</tr>", RegexOptions.Singleline)]
    private static partial Regex HeadRow();

    [GeneratedRegex(@"<th\b[^>]*>(?<text>.*?)</th>", RegexOptions.Singleline)]
    private static partial Regex HeaderCell();

    [GeneratedRegex(@"<tr\b.*?</tr>", RegexOptions.Singleline)]
    private static partial Regex BodyRow();

    [GeneratedRegex(@"<td(?<rest>[\s>])")]
    private static partial Regex BodyCell();

    [GeneratedRegex("<[^>]+>")]
    private static partial Regex Tag();
}
