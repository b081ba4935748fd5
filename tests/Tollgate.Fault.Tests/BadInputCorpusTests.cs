using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Tollgate.Fault.Tests.Support;
using Tollgate.Storage;

namespace Tollgate.Fault.Tests;

/// <summary>
/// "Bad input gets a clear error and changes nothing": a corpus of broken bodies, numbers, strings, ids, queries and
/// headers fired at every endpoint of the OpenAPI document and at the webhook endpoints (signed, so they pass the
/// signature and reach the parser). No answer may be a 5xx, and not one row of money may change.
/// </summary>
public abstract class BadInputCorpusTests
{
    private const string CreemSecret = "whsec_fault_corpus_0001";
    private const string Customer = "cus_corpus";

    protected abstract DatabaseProvider Provider { get; }

    /// <summary>Bodies, each a (name, bytes, content type): broken JSON, ambiguous JSON, impossible values.</summary>
    private static IEnumerable<(string Name, byte[] Body, string? ContentType)> Bodies()
    {
        static (string, byte[], string?) Json(string name, string json) => (name, Encoding.UTF8.GetBytes(json), "application/json");
        var fields = $$"""
            "customer_id":"{{Customer}}","feature":"credits","amount":1,"reason":"corpus","plan":"pro","product":"starter_pack","policy":"immediate",
            "capability":"plan:pro","name":"n","email":"e@example.com","url":"https://example.com/hook"
            """;
        yield return Json("empty", "");
        yield return Json("whitespace", " \r\n ");
        yield return Json("truncated", "{\"customer_id\": \"" + Customer);
        yield return Json("array", "[1,2,3]");
        yield return Json("string", "\"hello\"");
        yield return Json("null", "null");
        yield return Json("trailing garbage", "{" + fields + "} {}");
        yield return Json("comment", "{/* c */" + fields + "}");
        yield return Json("duplicate key", "{" + fields + ",\"amount\":1000000}");
        yield return Json("nul in a value", "{" + fields.Replace("\"corpus\"", "\"cor\\u0000pus\"", StringComparison.Ordinal).Replace("\"n\"", "\"a\\u0000b\"", StringComparison.Ordinal) + "}");
        yield return Json("nul in a key", "{" + fields + ",\"meta\\u0000\":1}");
        yield return Json("lone surrogate", "{" + fields.Replace("\"corpus\"", "\"\\ud800\"", StringComparison.Ordinal) + "}");
        yield return Json("amount 1e400", "{" + fields.Replace("\"amount\":1", "\"amount\":1e400", StringComparison.Ordinal) + "}");
        yield return Json("amount 2^63", "{" + fields.Replace("\"amount\":1", "\"amount\":9223372036854775808", StringComparison.Ordinal) + "}");
        yield return Json("amount -2^63-1", "{" + fields.Replace("\"amount\":1", "\"amount\":-9223372036854775809", StringComparison.Ordinal) + "}");
        yield return Json("amount -1", "{" + fields.Replace("\"amount\":1", "\"amount\":-1", StringComparison.Ordinal) + "}");
        yield return Json("amount 0.5", "{" + fields.Replace("\"amount\":1", "\"amount\":0.5", StringComparison.Ordinal) + "}");
        yield return Json("amount as text", "{" + fields.Replace("\"amount\":1", "\"amount\":\"1\"", StringComparison.Ordinal) + "}");
        yield return Json("wrong types", """{"customer_id":123,"feature":true,"amount":{},"reason":[],"plan":null,"metadata":"x"}""");
        yield return Json("deep nesting", "{\"metadata\":" + new string('[', 5000) + new string(']', 5000) + "}");
        yield return Json("long ids", "{" + fields.Replace(Customer, new string('c', 5000), StringComparison.Ordinal)
            .Replace("\"credits\"", "\"" + new string('f', 5000) + "\"", StringComparison.Ordinal) + "}");
        yield return Json("over 64 KiB", "{" + fields + ",\"pad\":\"" + new string('x', 70 * 1024) + "\"}");
        var invalidUtf8 = Encoding.UTF8.GetBytes("{" + fields.Replace("\"corpus\"", "\"cXrpus\"", StringComparison.Ordinal) + "}");
        invalidUtf8[Array.IndexOf(invalidUtf8, (byte)'X')] = 0xFF;
        yield return ("invalid utf-8", invalidUtf8, "application/json");
        yield return ("as text/plain", Encoding.UTF8.GetBytes("{" + fields + "}"), "text/plain");
        yield return ("no content type", Encoding.UTF8.GetBytes("{" + fields + "}"), null);
        yield return ("latin-1 charset", Encoding.Latin1.GetBytes("{" + fields.Replace("\"n\"", "\"né\"", StringComparison.Ordinal) + "}"),
            "application/json; charset=iso-8859-1");
    }

    /// <summary>Values for path parameters: ids a client should never send.</summary>
    private static readonly string[] BadIds =
    [
        new('x', 300), "a b", "ü", "..", "cus_corpus\u00e9", "%25", "'; DROP TABLE customers; --", "\u202e", "𝕏",
    ];

    private static readonly string[] BadQueries =
    [
        "?limit=-1", "?limit=99999999999999999999", "?limit=abc", "?after=abc", "?after=-1", "?feature=%00", "?feature=%FF",
        "?customer_id=%00", "?limit=1&limit=2", "?provider=%00",
    ];

    [Fact]
    public async Task TheBadInputCorpus_AtEveryEndpoint_IsNeverA5xx_AndChangesNoMoney()
    {
        await using var database = await FaultDatabase.CreateAsync(Provider);
        // Creem's fake refuses this key at once (403): a checkout body that is valid (numbers it does not read are only
        // unknown fields there) ends as a 502 provider_error without retries, and is counted apart.
        await using var creem = await Tollgate.Testing.Fakes.FakeCreem.StartAsync();
        await using var server = await ServerProcess.StartAsync(database, new Dictionary<string, string>
        {
            ["Tollgate__Providers__Creem__ApiKey"] = "creem_test_not_the_fakes_key",
            ["Tollgate__Providers__Creem__WebhookSecret"] = CreemSecret,
            ["Tollgate__Providers__Creem__BaseUrl"] = creem.BaseUrl.ToString(),
            ["Tollgate__Providers__Sandbox__Enabled"] = "true",
        });
        using var client = server.CreateClient(connections: 8);
        await Api.GrantAsync(client, Customer, 100);
        // A valid write first, so the free plan's allowance for this month is in place before the books are taken.
        using (var usage = await client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/usage")
        {
            Content = new StringContent($$"""{"customer_id":"{{Customer}}","feature":"ai_messages","amount":1}""", Encoding.UTF8, "application/json"),
            Headers = { { "Idempotency-Key", "corpus-first-use" } },
        }))
        {
            Assert.Equal(200, (int)usage.StatusCode);
        }

        var openApi = await client.GetFromJsonAsync<JsonObject>("/openapi/v1.json");
        var endpoints = openApi!["paths"]!.AsObject()
            .SelectMany(p => p.Value!.AsObject().Select(m => (Method: m.Key.ToUpperInvariant(), Path: p.Key)))
            .ToList();
        var booksBefore = await database.MoneyRowsAsync();
        var balanceBefore = await Api.AvailableAsync(client, Customer);

        var answers = new List<(string Request, int Status)>();
        var undeclared = new List<string>();
        async Task SendAsync(string method, string path, byte[]? body, string? contentType, string what, string? idempotencyKey = "", string? template = null)
        {
            // A key of its own per request, so each reaches the endpoint rather than a replay or a 422 of the key.
            idempotencyKey = idempotencyKey == "" ? "corpus-" + Guid.NewGuid().ToString("N") : idempotencyKey;
            using var request = new HttpRequestMessage(new HttpMethod(method), path);
            if (body is not null)
            {
                request.Content = new ByteArrayContent(body);
                if (contentType is not null)
                {
                    request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
                }
            }

            if (idempotencyKey is not null)
            {
                request.Headers.TryAddWithoutValidation("Idempotency-Key", idempotencyKey);
            }

            using var response = await client.SendAsync(request);
            answers.Add(($"{method} {path} [{what}]", (int)response.StatusCode));
            if (template is not null && (int)response.StatusCode is >= 400 and < 500
                && Declared(openApi!, method, template, (int)response.StatusCode) is { } declared
                && ProblemCode(await response.Content.ReadAsStringAsync()) is { } code && !declared.Contains(code))
            {
                undeclared.Add($"{method} {template} [{what}]: {(int)response.StatusCode} {code} (declared: {string.Join(", ", declared)})");
            }
        }

        foreach (var (method, template) in endpoints)
        {
            var path = Fill(template, Customer);
            if (method is "POST" or "PUT" or "PATCH")
            {
                foreach (var (name, body, contentType) in Bodies())
                {
                    await SendAsync(method, path, body, contentType, name, $"corpus-{name}-{Guid.NewGuid():N}", template);
                }

                await SendAsync(method, path, Encoding.UTF8.GetBytes("{}"), "application/json", "idempotency key of 300 characters", new string('k', 300),
                    template);
            }

            foreach (var id in BadIds.Where(_ => template.Contains('{', StringComparison.Ordinal)))
            {
                await SendAsync(method, Fill(template, Uri.EscapeDataString(id)), method == "GET" ? null : "{}"u8.ToArray(), "application/json", "bad id");
            }

            if (method == "GET")
            {
                foreach (var query in BadQueries)
                {
                    await SendAsync(method, path + query, null, null, "bad query", template: template);
                }
            }
        }

        // Values only one endpoint reads: out of range there (elsewhere they would be unknown fields of a valid body).
        await SendAsync("POST", "/v1/holds", Encoding.UTF8.GetBytes($$"""{"customer_id":"{{Customer}}","feature":"credits","amount":1,"ttl_seconds":9223372036854775807}"""),
            "application/json", "ttl 2^63", "corpus-ttl");
        await SendAsync("POST", $"/v1/customers/{Customer}/grants",
            Encoding.UTF8.GetBytes("""{"feature":"credits","amount":1,"reason":"r","expires_at":"99999-01-01T00:00:00Z"}"""), "application/json", "year 99999",
            "corpus-expiry");
        await SendAsync("POST", $"/v1/customers/{Customer}/grants",
            Encoding.UTF8.GetBytes("""{"feature":"credits","amount":9223372036854775807,"reason":"r"}"""), "application/json", "grant 2^63-1 onto a balance");

        foreach (var (name, body, contentType) in Bodies())
        {
            var signature = Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(CreemSecret), body));
            using var signed = new HttpRequestMessage(HttpMethod.Post, "/webhooks/creem") { Content = new ByteArrayContent(body) };
            signed.Content.Headers.TryAddWithoutValidation("Content-Type", contentType ?? "application/json");
            signed.Headers.Add("creem-signature", signature);
            using var response = await client.SendAsync(signed);
            answers.Add(($"POST /webhooks/creem [signed {name}]", (int)response.StatusCode));
            await SendAsync("POST", "/webhooks/stripe", body, contentType, "unsigned " + name, null);
            await SendAsync("POST", "/webhooks/sandbox", body, contentType, "unsigned " + name, null);
        }

        var booksAfter = await database.MoneyRowsAsync();
        var balanceAfter = await Api.AvailableAsync(client, Customer);
        var providerDown = answers.Count(a => a.Status == 502 && (a.Request.Contains("/checkouts", StringComparison.Ordinal) || a.Request.Contains("/access/ensure", StringComparison.Ordinal)));
        var failures = answers.Where(a => a.Status >= 500 && !(a.Status == 502 && (a.Request.Contains("/checkouts", StringComparison.Ordinal)
            || a.Request.Contains("/access/ensure", StringComparison.Ordinal)))).ToList();
        var byStatus = string.Join(", ", answers.GroupBy(a => a.Status).OrderBy(g => g.Key).Select(g => $"{g.Key}×{g.Count()}"));
        Figures.Report($"bad input ({database.Name}): {answers.Count} requests at {endpoints.Count} endpoints + 3 webhook endpoints: {byStatus}; "
            + $"5xx {failures.Count} (provider unreachable 502 on checkouts, not counted: {providerDown}); money rows changed: "
            + $"{string.Join(", ", booksAfter.Where(r => booksBefore[r.Key] != r.Value).Select(r => $"{r.Key} {booksBefore[r.Key]}→{r.Value}").DefaultIfEmpty("none"))}");

        Assert.True(answers.All(a => a.Status != 201), "created by bad input: " + string.Join("; ", answers.Where(a => a.Status == 201).Select(a => a.Request)));
        Assert.True(failures.Count == 0, "5xx answers:\n" + string.Join("\n", failures.Take(30).Select(f => $"{f.Status} {f.Request}")) + "\n" + server.Output);
        Assert.Equal(booksBefore, booksAfter);
        Assert.Equal(balanceBefore, balanceAfter);
        // The OpenAPI document lists, per operation and status, every problem code the server answers (the TypeScript
        // client's ProblemCode and the .NET client's vocabulary are generated or checked from it): a refusal it does not
        // declare is a code a client cannot know.
        Assert.True(undeclared.Count == 0, "refusals the OpenAPI document does not declare:\n" + string.Join("\n", undeclared.Distinct().Take(40)));
    }

    /// <summary>The problem codes the document declares for this operation and status; null when it declares that status
    /// with no code list (nothing to compare).</summary>
    private static HashSet<string>? Declared(JsonObject document, string method, string template, int status)
    {
        var responses = document["paths"]?[template]?[method.ToLowerInvariant()]?["responses"];
        if (responses?[status.ToString(System.Globalization.CultureInfo.InvariantCulture)] is not { } response)
        {
            return [];
        }

        return response["content"]?["application/problem+json"]?["schema"]?["allOf"]?[1]?["properties"]?["code"]?["enum"]?.AsArray()
            .Select(n => (string)n!).ToHashSet(StringComparer.Ordinal);
    }

    private static string? ProblemCode(string body)
    {
        try
        {
            return JsonNode.Parse(body)?["code"]?.GetValue<string>();
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    private static string Fill(string template, string value)
    {
        var path = template;
        while (path.IndexOf('{', StringComparison.Ordinal) is var open and >= 0)
        {
            var close = path.IndexOf('}', open);
            path = path[..open] + value + path[(close + 1)..];
        }

        return path;
    }
}

public sealed class SqliteBadInputCorpusTests : BadInputCorpusTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresBadInputCorpusTests : BadInputCorpusTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
