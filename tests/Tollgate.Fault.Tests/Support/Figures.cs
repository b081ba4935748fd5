using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;

namespace Tollgate.Fault.Tests.Support;

/// <summary>Figures of a fault run, printed where <c>dotnet test</c> shows them (xUnit diagnostic messages, enabled in
/// xunit.runner.json) and kept with the test's output.</summary>
internal static class Figures
{
    public static void Report(string line)
    {
        TestContext.Current.SendDiagnosticMessage("FAULT " + line);
        TestContext.Current.TestOutputHelper?.WriteLine(line);
    }

    /// <summary>A PostgreSQL test without <c>TOLLGATE_TEST_POSTGRES</c>, or an outage test without the means: skipped with
    /// the reason locally, a failure under <c>CI=true</c> (a skip there would hide a gap).</summary>
    public static void RequireOrSkip(string? missing)
    {
        if (missing is null)
        {
            return;
        }

        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Assert.Fail("CI=true and " + missing);
        }

        Assert.Skip(missing);
    }
}

/// <summary>The API calls the fault tests make besides the burst.</summary>
internal static class Api
{
    public static async Task GrantAsync(HttpClient client, string customer, long amount)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/customers/{customer}/grants")
        {
            Content = new StringContent($$"""{"feature":"credits","amount":{{amount}},"reason":"fault test"}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Idempotency-Key", "grant-" + customer);
        using var response = await client.SendAsync(request);
        Assert.True((int)response.StatusCode == 201, $"grant: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    public static async Task<long> AvailableAsync(HttpClient client, string customer, string feature = "credits")
    {
        var balances = await client.GetFromJsonAsync<JsonObject>($"/v1/customers/{customer}/balances");
        return (long)balances!["balances"]!.AsArray().Single(b => (string)b!["feature"]! == feature)!["available"]!;
    }
}
