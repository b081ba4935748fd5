using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.TestHost;
using Tollgate.Server.Api;
using Tollgate.Server.Export;
using Tollgate.Server.Tests.Support;
using Tollgate.Storage;

namespace Tollgate.Server.Tests.Export;

/// <summary>A customer's records as JSON and CSV, from the API and the admin console: enough to answer "why was I
/// charged" — each payment with its amount and what it granted, each ledger movement with its balance after.</summary>
public abstract partial class ExportTests : IAsyncLifetime
{
    private const string AdminKey = "admin_test_0123456789abcdef";

    protected abstract DatabaseProvider Provider { get; }

    private TollgateApp App { get; set; } = null!;

    public async ValueTask InitializeAsync() =>
        App = await TollgateApp.StartAsync(Provider, settings: new Dictionary<string, string?> { ["Tollgate:AdminKey"] = AdminKey });

    public async ValueTask DisposeAsync()
    {
        await App.DisposeAsync();
        GC.SuppressFinalize(this);
    }

    [Fact]
    public async Task The_json_export_holds_the_payment_the_subscription_and_every_ledger_movement_with_its_balance()
    {
        var customer = TollgateApp.NewCustomer();
        Assert.Equal(302, (await App.BuyInSandboxAsync(customer, "new_user_pack")).PayStatus);
        Assert.Equal(302, (await App.BuyInSandboxAsync(customer, "pro")).PayStatus);
        var usage = await Json.ReadAsync(await App.UseAsync(customer, "credits", 7), 200);
        await Json.ProblemAsync(await App.UseAsync(customer, "credits", 1_000_000), 402, "insufficient_balance");

        var export = await Json.ReadAsync(await App.Client.GetAsync(new Uri($"/v1/customers/{customer}/export", UriKind.Relative)), 200);

        Assert.Equal(customer, (string?)export["customer_id"]);
        var payments = export["payments"]!.AsArray();
        Assert.Equal(2, payments.Count);
        var pack = payments.Single(p => (string?)p!["product"] == "new_user_pack")!;
        Assert.Equal(("completed", 100L, "USD", 60L), ((string?)pack["status"], (long)pack["amount"]!, (string?)pack["currency"], (long)pack["credits"]!));
        Assert.Equal("pro", (string?)Assert.Single(export["subscriptions"]!.AsArray())!["plan"]);

        var ledger = export["ledger"]!.AsArray().Select(e => e!.AsObject()).Where(e => (string?)e["feature"] == "credits").ToList();
        // Oldest first, and the charge carries its own entry id and the balance it left.
        var charge = ledger.Single(e => (string?)e["id"] == (string?)usage["entry_id"]);
        Assert.Equal(-7, (long)charge["amount"]!);
        Assert.True((long)usage["remaining"]! == (long)charge["balance_after"]!, string.Join("\n", ledger.Select(e => e.ToJsonString())) + "\n" + usage.ToJsonString());
        Assert.Equal(ledger.Sum(e => (long)e["amount"]!), (long)ledger[^1]["balance_after"]!);
        var newestFirst = (await Json.ReadAsync(await App.Client.GetAsync(new Uri($"/v1/customers/{customer}/ledger?feature=credits&limit=200", UriKind.Relative)), 200))["entries"]!
            .AsArray().Select(e => (string?)e!["id"]);
        Assert.Equal(newestFirst.Reverse(), ledger.Select(e => (string?)e["id"]));
        // The refused call wrote nothing, so it is not there.
        Assert.DoesNotContain(ledger, e => (long)e["amount"]! == -1_000_000);
        // The same ledger as the paged API.
        var paged = await Json.ReadAsync(await App.Client.GetAsync(new Uri($"/v1/customers/{customer}/ledger?limit=200", UriKind.Relative)), 200);
        Assert.Equal(paged["entries"]!.AsArray().Count, export["ledger"]!.AsArray().Count);
    }

    [Fact]
    public async Task Each_part_is_a_csv_table_with_a_header_and_one_row_per_record()
    {
        var customer = TollgateApp.NewCustomer();
        await App.BuyInSandboxAsync(customer, "new_user_pack");
        await Json.ReadAsync(await App.UseAsync(customer, "credits", 2), 200);
        var json = await Json.ReadAsync(await App.Client.GetAsync(new Uri($"/v1/customers/{customer}/export", UriKind.Relative)), 200);

        using var response = await App.Client.GetAsync(new Uri($"/v1/customers/{customer}/export?format=csv&part=ledger", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/csv", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal($"{customer}-ledger.csv", response.Content.Headers.ContentDisposition?.FileName?.Trim('"'));
        var lines = (await response.Content.ReadAsStringAsync()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("id,at,feature,type,amount,balance_after,reference,hold_id,units", lines[0]);
        Assert.Equal(json["ledger"]!.AsArray().Count + 1, lines.Length);
        Assert.Contains(lines, l => l.Contains(",credits,consume,-2,58,", StringComparison.Ordinal));

        var payments = (await (await App.Client.GetAsync(new Uri($"/v1/customers/{customer}/export?format=csv&part=payments", UriKind.Relative)))
            .Content.ReadAsStringAsync()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, payments.Length);
        var row = payments[1].Split(',');
        var header = payments[0].Split(',');
        Assert.Equal(("new_user_pack", "completed", "100", "USD", "60"),
            (row[Array.IndexOf(header, "product")], row[Array.IndexOf(header, "status")], row[Array.IndexOf(header, "amount")],
                row[Array.IndexOf(header, "currency")], row[Array.IndexOf(header, "credits")]));
    }

    [Theory]
    [InlineData("?format=xml", 400, "invalid_request")]
    [InlineData("?format=csv", 400, "invalid_request")]
    [InlineData("?format=csv&part=secrets", 400, "invalid_request")]
    [InlineData("?part=ledger", 400, "invalid_request")]
    public async Task A_bad_format_or_part_is_refused(string query, int status, string code) =>
        await Json.ProblemAsync(await App.Client.GetAsync(new Uri($"/v1/customers/{TollgateApp.NewCustomer()}/export{query}", UriKind.Relative)), status, code);

    [Fact]
    public async Task A_customer_tollgate_knows_nothing_about_is_not_found_and_the_key_is_required()
    {
        await Json.ProblemAsync(await App.Client.GetAsync(new Uri($"/v1/customers/{TollgateApp.NewCustomer()}/export", UriKind.Relative)), 404, "customer_not_found");
        using var anonymous = App.App.GetTestClientWithoutKey();
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync(new Uri("/v1/customers/someone/export", UriKind.Relative))).StatusCode);
    }

    [Fact]
    public async Task The_admin_console_downloads_the_same_export_after_sign_in_only()
    {
        var customer = TollgateApp.NewCustomer();
        await App.BuyInSandboxAsync(customer, "new_user_pack");
        var client = new HttpClient(App.App.GetTestServer().CreateHandler()) { BaseAddress = new Uri("http://localhost") };
        var path = $"/admin/customers/{customer}?handler=Export&format=csv&part=payments";
        using (var anonymous = await client.GetAsync(new Uri(path, UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.Redirect, anonymous.StatusCode);
        }

        using var loginPage = await client.GetAsync(new Uri("/admin/login", UriKind.Relative));
        var token = CsrfField().Match(await loginPage.Content.ReadAsStringAsync()).Groups[1].Value;
        using var post = new HttpRequestMessage(HttpMethod.Post, "/admin/login") { Content = new FormUrlEncodedContent([new("key", AdminKey), new("__csrf", token)]) };
        post.Headers.Add("Cookie", string.Join("; ", loginPage.Headers.GetValues("Set-Cookie").Select(c => c.Split(';')[0])));
        using var login = await client.SendAsync(post);
        Assert.Equal(HttpStatusCode.Redirect, login.StatusCode);
        var cookies = string.Join("; ", loginPage.Headers.GetValues("Set-Cookie").Concat(login.Headers.GetValues("Set-Cookie")).Select(c => c.Split(';')[0]));

        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Add("Cookie", cookies);
        using var csv = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, csv.StatusCode);
        Assert.Equal("text/csv", csv.Content.Headers.ContentType?.MediaType);
        Assert.Contains(",new_user_pack,completed,100,USD,60,", await csv.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var customerPage = new HttpRequestMessage(HttpMethod.Get, $"/admin/customers/{customer}");
        customerPage.Headers.Add("Cookie", cookies);
        var html = await (await client.SendAsync(customerPage)).Content.ReadAsStringAsync();
        Assert.Contains("?handler=Export&amp;format=json", html, StringComparison.Ordinal);
    }

    [Fact]
    public void Csv_cells_are_quoted_and_text_that_a_spreadsheet_would_run_is_defused()
    {
        var now = DateTimeOffset.UnixEpoch;
        var view = new CustomerExportView("c", now, null, null, null, [], [],
        [
            new EntryView("e1", now, "credits", "grant", 5, 5, "=HYPERLINK(\"http://x\")", null, null, []),
            new EntryView("e2", now, "credits", "consume", -2, 3, "usage:a,b", null, null, []),
        ]);
        var lines = CustomerExport.Csv(view, "ledger").Split("\r\n");
        Assert.Equal("e1,1970-01-01T00:00:00.000Z,credits,grant,5,5,\"'=HYPERLINK(\"\"http://x\"\")\",,", lines[1]);
        Assert.Equal("e2,1970-01-01T00:00:00.000Z,credits,consume,-2,3,\"usage:a,b\",,", lines[2]);
    }

    [GeneratedRegex("name=\"__csrf\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex CsrfField();
}

public sealed class SqliteExportTests : ExportTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresExportTests : ExportTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
