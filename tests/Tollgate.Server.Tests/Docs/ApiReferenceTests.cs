using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Tollgate.Server.Tests.Support;
using Tollgate.Storage;

namespace Tollgate.Server.Tests.Docs;

/// <summary>docs/api.md against the server's own OpenAPI document, so the reference cannot drift from the code: each
/// operation has a section naming its request fields, answer fields, query parameters and refusals, and every
/// operation section in the reference is an operation the server has.</summary>
public sealed partial class ApiReferenceTests : IAsyncLifetime
{
    /// <summary>Refusals every call may give; the reference lists them once, under Conventions.</summary>
    private static readonly HashSet<string> Common = ["401", "413", "415", "500"];

    private static readonly string[] Methods = ["get", "put", "post", "delete", "patch"];

    private TollgateApp _app = null!;

    public async ValueTask InitializeAsync() => _app = await TollgateApp.StartAsync(DatabaseProvider.Sqlite);

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task Every_operation_of_the_OpenAPI_document_is_documented_with_its_fields_and_refusals()
    {
        var document = await OpenApiAsync();
        var sections = Sections(RepositoryFiles.Read("docs/api.md"));
        var missing = new List<string>();
        var operations = 0;
        foreach (var (path, item) in document["paths"]!.AsObject())
        {
            foreach (var method in Methods)
            {
                if (item![method] is not JsonObject operation)
                {
                    continue;
                }

                operations++;
                var name = $"{method.ToUpperInvariant()} {path}";
                if (!sections.TryGetValue(name, out var text))
                {
                    missing.Add($"{name}: no section `### `{name}``");
                    continue;
                }

                foreach (var word in Expected(document, operation))
                {
                    if (!Mentions(text, word))
                    {
                        missing.Add($"{name}: does not mention {word}");
                    }
                }
            }
        }

        Assert.True(operations >= 20, $"the OpenAPI document has only {operations} operations");
        Assert.True(missing.Count == 0, "docs/api.md is behind the server:\n" + string.Join('\n', missing));
    }

    [Fact]
    public async Task Every_operation_section_of_the_reference_is_an_operation_of_the_server()
    {
        var document = await OpenApiAsync();
        var paths = document["paths"]!.AsObject();
        var extra = Sections(RepositoryFiles.Read("docs/api.md")).Keys
            .Where(k => k.Contains(" /v1/", StringComparison.Ordinal))
            .Where(k =>
            {
                var (method, path) = (k[..k.IndexOf(' ', StringComparison.Ordinal)], k[(k.IndexOf(' ', StringComparison.Ordinal) + 1)..]);
                return paths[path]?[method.ToLowerInvariant()] is null;
            })
            .ToList();
        Assert.True(extra.Count == 0, "docs/api.md documents operations the server does not have:\n" + string.Join('\n', extra));
    }

    [Fact]
    public void The_conventions_list_the_refusals_every_call_may_give()
    {
        var conventions = Sections(RepositoryFiles.Read("docs/api.md"))["Conventions"];
        foreach (var refusal in new[] { "401 unauthorized", "413 payload_too_large", "415 unsupported_media_type", "500 internal_error", "422 idempotency_key_reused", "503 unavailable" })
        {
            Assert.Contains($"`{refusal}`", conventions, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void The_checker_notices_a_missing_refusal_or_field()
    {
        const string section = "Body: `feature`. → `200 {lot_id}`. Refusals: `404 unknown_feature`.";
        Assert.True(Mentions(section, "`404 unknown_feature`"));
        Assert.False(Mentions(section, "`503 unavailable`"));
        Assert.True(Mentions(section, "lot_id"));
        Assert.False(Mentions(section, "lot"));
        Assert.False(Mentions(section, "expires_at"));
    }

    private async Task<JsonObject> OpenApiAsync() =>
        await Json.ReadAsync(await _app.Client.GetAsync(new Uri("/openapi/v1.json", UriKind.Relative)), 200);

    /// <summary>What a section must name: request body properties, query parameters, the success answer's
    /// properties and each refusal as <c>`status code`</c>.</summary>
    private static IEnumerable<string> Expected(JsonObject document, JsonObject operation)
    {
        if (operation["requestBody"]?["content"]?["application/json"]?["schema"] is JsonObject body)
        {
            foreach (var property in Properties(document, body))
            {
                yield return property;
            }
        }

        foreach (var parameter in operation["parameters"]?.AsArray() ?? [])
        {
            if ((string?)parameter!["in"] == "query")
            {
                yield return (string)parameter["name"]!;
            }
        }

        foreach (var (status, response) in operation["responses"]!.AsObject())
        {
            if (status.StartsWith('2'))
            {
                if (response!["content"]?["application/json"]?["schema"] is JsonObject answer)
                {
                    foreach (var property in Properties(document, answer))
                    {
                        yield return property;
                    }
                }
            }
            else if (!Common.Contains(status))
            {
                var codes = response!["content"]?["application/problem+json"]?["schema"]?["allOf"]?[1]?["properties"]?["code"]?["enum"]?.AsArray();
                foreach (var code in codes ?? [])
                {
                    yield return $"`{status} {(string)code!}`";
                }
            }
        }
    }

    private static IEnumerable<string> Properties(JsonObject document, JsonObject schema)
    {
        if ((string?)schema["$ref"] is { } reference)
        {
            schema = document["components"]!["schemas"]![reference.Split('/')[^1]]!.AsObject();
        }

        return schema["properties"]?.AsObject().Select(p => p.Key) ?? [];
    }

    private static bool Mentions(string text, string word) => word.StartsWith('`')
        ? text.Contains(word, StringComparison.Ordinal)
        : Regex.IsMatch(text, $"(?<![A-Za-z0-9_]){Regex.Escape(word)}(?![A-Za-z0-9_])");

    /// <summary>Sections by heading: an operation heading (<c>### `POST /v1/usage`</c>) gives "POST /v1/usage";
    /// others their text. A section runs to the next heading of its level or above.</summary>
    private static Dictionary<string, string> Sections(string markdown)
    {
        var sections = new Dictionary<string, string>(StringComparer.Ordinal);
        var lines = markdown.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var heading = HeadingPattern().Match(lines[i]);
            if (!heading.Success)
            {
                continue;
            }

            var level = heading.Groups["level"].Value.Length;
            var end = i + 1;
            while (end < lines.Length && !(HeadingPattern().Match(lines[end]) is { Success: true } next && next.Groups["level"].Value.Length <= level))
            {
                end++;
            }

            var title = heading.Groups["title"].Value.Trim();
            var operation = OperationPattern().Match(title);
            sections[operation.Success ? $"{operation.Groups["method"].Value} {operation.Groups["path"].Value}" : title] =
                string.Join('\n', lines[(i + 1)..end]);
        }

        return sections;
    }

    [GeneratedRegex("^(?<level>#{1,6}) (?<title>.+)$")]
    private static partial Regex HeadingPattern();

    [GeneratedRegex("^`(?<method>GET|PUT|POST|DELETE|PATCH) (?<path>/[^` ]*)`$")]
    private static partial Regex OperationPattern();
}
