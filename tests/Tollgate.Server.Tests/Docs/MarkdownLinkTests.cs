using System.Text;
using System.Text.RegularExpressions;

namespace Tollgate.Server.Tests.Docs;

/// <summary>Every relative link in the repository's Markdown leads to a file of the repository (and to a heading of
/// it, when it names one): an operator who clones the repository alone must find everything the docs point at.</summary>
public sealed partial class MarkdownLinkTests
{
    [Fact]
    public void Every_relative_link_in_every_markdown_file_resolves_inside_the_repository()
    {
        var files = RepositoryFiles.Markdown().ToList();
        Assert.Contains(files, f => f.EndsWith(Path.Combine("docs", "api.md"), StringComparison.Ordinal));
        var dead = new List<string>();
        var checkedLinks = 0;
        foreach (var file in files)
        {
            foreach (var (target, line) in Links(File.ReadAllText(file)))
            {
                checkedLinks++;
                if (Problem(file, target) is { } problem)
                {
                    dead.Add($"{Path.GetRelativePath(RepositoryFiles.Root, file)}:{line}: {target} — {problem}");
                }
            }
        }

        Assert.True(checkedLinks > 20, $"only {checkedLinks} links found: the scanner is broken");
        Assert.True(dead.Count == 0, "dead links:\n" + string.Join('\n', dead));
    }

    [Theory]
    [InlineData("See [the API](api.md#customers).", "api.md#customers")]
    [InlineData("<img src=\"docs/x.png\" alt=\"x\">", "docs/x.png")]
    [InlineData("[a](https://example.com) and [b](../shared/API.md)", "../shared/API.md")]
    public void The_scanner_finds_relative_links(string markdown, string expected) =>
        Assert.Contains(expected, Links(markdown).Select(l => l.Target));

    [Fact]
    public void A_link_out_of_the_repository_or_to_a_missing_heading_is_dead()
    {
        var api = Path.Combine(RepositoryFiles.Root, "docs", "api.md");
        Assert.NotNull(Problem(api, "../../shared/API.md"));
        Assert.NotNull(Problem(api, "operations.md#no-such-heading-anywhere"));
        Assert.NotNull(Problem(api, "missing-file.md"));
        Assert.Null(Problem(api, "api.md#conventions"));
        Assert.Null(Problem(api, "#customers"));
    }

    private static IEnumerable<(string Target, int Line)> Links(string markdown)
    {
        var inFence = false;
        var lines = markdown.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            if (lines[i].TrimStart().StartsWith("```", StringComparison.Ordinal))
            {
                inFence = !inFence;
                continue;
            }

            if (inFence)
            {
                continue;
            }

            foreach (Match m in LinkPattern().Matches(lines[i]))
            {
                var target = m.Groups["md"].Success ? m.Groups["md"].Value : m.Groups["src"].Value;
                if (!Uri.TryCreate(target, UriKind.Absolute, out var absolute) || absolute.IsFile)
                {
                    if (!target.StartsWith("mailto:", StringComparison.Ordinal))
                    {
                        yield return (target, i + 1);
                    }
                }
            }
        }
    }

    private static string? Problem(string from, string target)
    {
        var hash = target.IndexOf('#', StringComparison.Ordinal);
        var pathPart = hash < 0 ? target : target[..hash];
        var anchor = hash < 0 ? null : target[(hash + 1)..];
        var file = pathPart.Length == 0 ? from : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(from)!, Uri.UnescapeDataString(pathPart)));
        var root = RepositoryFiles.Root.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
        if (!file.StartsWith(root, StringComparison.Ordinal))
        {
            return "outside the repository";
        }

        if (!File.Exists(file) && !Directory.Exists(file))
        {
            return "no such file";
        }

        if (anchor is { Length: > 0 } && file.EndsWith(".md", StringComparison.OrdinalIgnoreCase)
            && !Anchors(File.ReadAllText(file)).Contains(anchor))
        {
            return "no such heading";
        }

        return null;
    }

    /// <summary>GitHub's heading anchors: lower case, punctuation other than '-' and '_' dropped, spaces to '-',
    /// repeats numbered.</summary>
    private static HashSet<string> Anchors(string markdown)
    {
        var anchors = new HashSet<string>(StringComparer.Ordinal);
        var inFence = false;
        foreach (var line in markdown.Split('\n'))
        {
            if (line.TrimStart().StartsWith("```", StringComparison.Ordinal))
            {
                inFence = !inFence;
            }

            if (inFence || !line.StartsWith('#'))
            {
                continue;
            }

            var text = line.TrimStart('#').Trim();
            var slug = new StringBuilder();
            foreach (var c in text.ToLowerInvariant())
            {
                if (char.IsLetterOrDigit(c) || c is '-' or '_')
                {
                    slug.Append(c);
                }
                else if (c == ' ')
                {
                    slug.Append('-');
                }
            }

            var candidate = slug.ToString();
            for (var n = 1; !anchors.Add(candidate); n++)
            {
                candidate = $"{slug}-{n}";
            }
        }

        return anchors;
    }

    [GeneratedRegex(""""\]\((?<md>[^)\s]+)(?:\s+"[^"]*")?\)|<img[^>]*\ssrc="(?<src>[^"]+)"""")]
    private static partial Regex LinkPattern();
}
