using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Tollgate.Core.Ledger;
using Tollgate.Core.Payments;
using Tollgate.Core.Subscriptions;
using Tollgate.Server.Reconciliation;
using Tollgate.Server.Tests.Support;
using Tollgate.Storage;
using Tollgate.Testing.Fakes;

namespace Tollgate.Server.Tests.Reconciliation;

/// <summary>The reconcile verb (API.md §6.6) against fake Stripe and Creem servers that page their lists as documented:
/// Tollgate's records come from signed webhooks (and, for what a webhook cannot produce, from the stores), then a
/// difference of each kind is planted on one side and the verb must name it, exit 1, and change nothing.</summary>
public abstract partial class ReconcileTests : IAsyncLifetime
{
    private const string AdminKey = "admin_test_0123456789abcdef";

    private readonly FakeStripeLists _stripeLists = new();
    private readonly FakeCreemLists _creemLists = new();
    private FakeServer _stripe = null!;
    private FakeServer _creem = null!;
    private string _catalog = null!;

    protected abstract DatabaseProvider Provider { get; }

    private TollgateApp App { get; set; } = null!;

    public async ValueTask InitializeAsync()
    {
        _stripe = await _stripeLists.StartAsync();
        _creem = await _creemLists.StartAsync();
        _catalog = SignedWebhooks.CatalogFile();
        App = await TollgateApp.StartAsync(Provider, settings: Settings());
    }

    public async ValueTask DisposeAsync()
    {
        await App.DisposeAsync();
        await _stripe.DisposeAsync();
        await _creem.DisposeAsync();
        File.Delete(_catalog);
        GC.SuppressFinalize(this);
    }

    private Dictionary<string, string?> Settings() => new()
    {
        ["Tollgate:Catalog"] = _catalog,
        ["Tollgate:AdminKey"] = AdminKey,
        ["Tollgate:Providers:Default"] = "stripe",
        ["Tollgate:Providers:Creem:ApiKey"] = FakeCreem.ApiKey,
        ["Tollgate:Providers:Creem:WebhookSecret"] = SignedWebhooks.CreemSecret,
        ["Tollgate:Providers:Creem:BaseUrl"] = _creem.BaseUrl.ToString(),
        ["Tollgate:Providers:Stripe:SecretKey"] = FakeStripe.SecretKey,
        ["Tollgate:Providers:Stripe:WebhookSecrets:0"] = SignedWebhooks.StripeSecret,
        ["Tollgate:Providers:Stripe:BaseUrl"] = _stripe.BaseUrl.ToString(),
    };

    private IPaymentStore Payments => App.Services.GetRequiredService<IPaymentStore>();

    private DateTimeOffset Now => App.Clock.GetUtcNow();

    /// <summary>Runs the verb as the command line would, with the server's configuration as command-line settings.</summary>
    private async Task<(int Exit, string Output, string Error)> ReconcileAsync(params string[] args)
    {
        var configuration = new Dictionary<string, string?>(Settings())
        {
            ["Tollgate:Database:Provider"] = Provider == DatabaseProvider.Postgres ? "postgres" : "sqlite",
            ["Tollgate:Database:ConnectionString"] = App.Database.Options.ConnectionString,
        };
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await ReconcileCommand.RunAsync([.. args, .. configuration.Select(kv => $"--{kv.Key}={kv.Value}")], output, error, App.Clock,
            TestContext.Current.CancellationToken);
        return (exit, output.ToString(), error.ToString());
    }

    private async Task<string> StripeCheckoutAsync(string customer, string product)
    {
        var checkout = await Json.ReadAsync(await App.PostAsync("/v1/checkouts", new { customer_id = customer, product, provider = "stripe" }), 201);
        return (string)checkout["id"]!;
    }

    /// <summary>A pack bought at Stripe (the documented checkout.session.completed) and a subscription with its paid invoice,
    /// applied through the signed webhooks; the same objects listed by the fake Stripe.</summary>
    private async Task<(JsonObject Session, JsonObject Subscription, JsonObject Invoice)> AgreeingStripeRecordsAsync()
    {
        var c = TollgateApp.NewCustomer();
        var completed = SignedWebhooks.Sample("stripe", "checkout.session.completed.payment");
        completed["data"]!["object"]!["client_reference_id"] = await StripeCheckoutAsync(c, "pack");
        await Json.ReadAsync(await App.Client.SendAsync(SignedWebhooks.Stripe(completed.ToJsonString(), Now)), 200);

        var updated = SignedWebhooks.Sample("stripe", "customer.subscription.updated.basil");
        var sub = updated["data"]!["object"]!.AsObject();
        sub["metadata"] = new JsonObject { ["tollgate_customer_id"] = c, ["tollgate_product"] = "pro" };
        sub["cancel_at_period_end"] = false;
        var item = sub["items"]!["data"]![0]!.AsObject();
        item["current_period_start"] = Now.ToUnixTimeSeconds();
        item["current_period_end"] = Now.AddMonths(1).ToUnixTimeSeconds();
        updated["created"] = Now.ToUnixTimeSeconds();
        var invoice = SignedWebhooks.Sample("stripe", "invoice.paid.basil");
        invoice["created"] = Now.ToUnixTimeSeconds();
        await Json.ReadAsync(await App.Client.SendAsync(SignedWebhooks.Stripe(updated.ToJsonString(), Now)), 200);
        await Json.ReadAsync(await App.Client.SendAsync(SignedWebhooks.Stripe(invoice.ToJsonString(), Now)), 200);

        var created = Now.AddHours(-1).ToUnixTimeSeconds();
        var session = completed["data"]!["object"]!.DeepClone().AsObject();
        session["created"] = created;
        var listedSub = sub.DeepClone().AsObject();
        listedSub["created"] = created;
        var listedInvoice = invoice["data"]!["object"]!.DeepClone().AsObject();
        listedInvoice["created"] = created;
        _stripeLists.Add("checkout/sessions", session);
        _stripeLists.Add("subscriptions", listedSub);
        _stripeLists.Add("invoices", listedInvoice);
        return (session, listedSub, listedInvoice);
    }

    [Fact]
    public async Task Stripe_records_that_agree_exit_0_after_reading_every_page_of_the_period_and_no_further()
    {
        await AgreeingStripeRecordsAsync();
        // 230 expired sessions of the period (three pages of 100; read, not payments) and older ones that must not be read.
        for (var i = 0; i < 230; i++)
        {
            _stripeLists.Add("checkout/sessions", new JsonObject
            {
                ["id"] = $"cs_open_{i:D4}", ["object"] = "checkout.session", ["mode"] = "payment", ["status"] = "expired",
                ["payment_status"] = "unpaid", ["created"] = Now.AddDays(-2).AddMinutes(i).ToUnixTimeSeconds(),
            });
        }

        for (var i = 0; i < 150; i++)
        {
            _stripeLists.Add("checkout/sessions", new JsonObject
            {
                ["id"] = $"cs_old_{i:D4}", ["object"] = "checkout.session", ["mode"] = "payment", ["status"] = "complete",
                ["payment_status"] = "paid", ["amount_total"] = 4900, ["currency"] = "usd", ["created"] = Now.AddDays(-90).ToUnixTimeSeconds(),
            });
        }

        var rows = await App.CountRowsAsync("payments");
        var (exit, output, error) = await ReconcileAsync("--provider", "stripe", "--since", "30d");

        Assert.True(exit == ReconcileCommand.Agree, output + error);
        Assert.Contains("They agree.", output, StringComparison.Ordinal);
        Assert.Contains("stripe: 1 subscriptions, 2 payments; tollgate: 1 subscriptions, 2 payments.", output, StringComparison.Ordinal);
        var pages = _stripe.Requests.Where(r => r is { Method: "GET", Path: "/v1/checkout/sessions" }).Select(r => r.Query).ToList();
        Assert.Equal(3, pages.Count);
        Assert.DoesNotContain("starting_after", pages[0], StringComparison.Ordinal);
        Assert.All(pages, q => Assert.Contains("limit=100", q, StringComparison.Ordinal));
        Assert.Contains("starting_after=", pages[1], StringComparison.Ordinal);
        Assert.Contains("status=all", _stripe.Requests.Single(r => r.Path == "/v1/subscriptions").Query, StringComparison.Ordinal);
        Assert.Equal(rows, await App.CountRowsAsync("payments"));
    }

    [Fact]
    public async Task Stripe_differences_of_every_kind_are_listed_and_exit_1_in_text_and_json()
    {
        var (session, subscription, invoice) = await AgreeingStripeRecordsAsync();
        var created = Now.AddHours(-2).ToUnixTimeSeconds();
        // At Stripe only: a paid session and a subscription.
        _stripeLists.Add("checkout/sessions", new JsonObject
        {
            ["id"] = "cs_only_there", ["object"] = "checkout.session", ["mode"] = "payment", ["status"] = "complete", ["payment_status"] = "paid",
            ["payment_intent"] = "pi_only_there", ["amount_total"] = 4900, ["currency"] = "usd", ["created"] = created,
        });
        _stripeLists.Add("subscriptions", new JsonObject { ["id"] = "sub_only_there", ["object"] = "subscription", ["status"] = "active", ["created"] = created });
        // Changed at Stripe: the pack cost more, the invoice's payment failed, the subscription was canceled.
        session["amount_total"] = 5900;
        invoice["status"] = "open";
        invoice["attempt_count"] = 1;
        subscription["status"] = "canceled";
        // In Tollgate only: a completed pack payment that granted no credits, a subscription, and credits for an unknown payment.
        var c = TollgateApp.NewCustomer();
        await App.GrantAsync(c, "credits", 1);
        Assert.True(await Payments.TryInsertPaymentAsync(new Payment("pay_only_here", c, "stripe", PaymentKind.Pack, "pack", PaymentStatus.Completed, 4900, "USD",
            null, "cs_only_here", "pi_only_here", null, null, "payment:stripe:pi_only_here", 100, 0, 0, null, "{}", Now, Now), CancellationToken.None));
        await App.Services.GetRequiredService<ISubscriptionStore>().SaveAsync(new Subscription("sub_local", c, "pro", "stripe", "sub_only_here", null,
            SubscriptionStatus.Active, Now, Now.AddMonths(1), false, null, null, Now, Now, Now), CancellationToken.None);
        await App.Services.GetRequiredService<LedgerEngine>().GrantAsync(new GrantRequest(c, "credits", 50, LotSource.Payment, "planted-grant")
        {
            SourceRef = "payment:stripe:pi_never_recorded",
        });
        var rows = (await App.CountRowsAsync("payments"), await App.CountRowsAsync("subscriptions"), await App.CountRowsAsync("ledger_entries"));

        var (exit, output, error) = await ReconcileAsync("--provider", "stripe");
        var (jsonExit, json, _) = await ReconcileAsync("--provider", "stripe", "--since", "30d", "--json");

        Assert.True(exit == ReconcileCommand.Differ, output + error);
        Assert.Equal(ReconcileCommand.Differ, jsonExit);
        var report = JsonNode.Parse(json)!.AsObject();
        Assert.False((bool)report["agrees"]!);
        var found = report["differences"]!.AsArray().Select(d => ((string)d!["kind"]!, (string)d["object"]!, (string)d["id"]!)).Order().ToList();
        Assert.Equal(new[]
        {
            ("amount_differs", "payment", "cs_test_a1PayExample0001"),
            ("grant_without_payment", "grant", "pi_never_recorded"),
            ("missing_here", "payment", "cs_only_there"),
            ("missing_here", "subscription", "sub_only_there"),
            ("missing_there", "payment", "pi_only_here"),
            ("missing_there", "subscription", "sub_only_here"),
            ("payment_granted_nothing", "payment", "pi_only_here"),
            ("status_differs", "payment", "in_1QExample42"),
            ("status_differs", "subscription", "sub_1QExample42"),
        }.Order(), found);
        var amount = report["differences"]!.AsArray().Single(d => (string)d!["kind"]! == "amount_differs")!;
        Assert.Equal(("4900 USD", "5900 USD"), ((string?)amount["tollgate"], (string?)amount["provider"]));
        Assert.Contains("9 difference(s).", output, StringComparison.Ordinal);
        Assert.Contains("status_differs", output, StringComparison.Ordinal);
        Assert.Matches(@"status_differs\s+subscription\s+sub_1QExample42 .*tollgate=active  stripe=canceled", output);
        // Report only.
        Assert.Equal(rows, (await App.CountRowsAsync("payments"), await App.CountRowsAsync("subscriptions"), await App.CountRowsAsync("ledger_entries")));
    }

    [Fact]
    public async Task Creem_pages_transactions_and_subscriptions_and_names_a_payment_it_never_heard_of()
    {
        var c = TollgateApp.NewCustomer();
        var checkout = await Json.ReadAsync(await App.PostAsync("/v1/checkouts", new { customer_id = c, product = "pack", provider = "creem" }), 201);
        var e = SignedWebhooks.Sample("creem", "checkout.completed");
        var o = e["object"]!.AsObject();
        o["request_id"] = (string)checkout["id"]!;
        o.Remove("subscription");
        o["order"]!["id"] = "ord_agrees";
        o["order"]!["product"] = "prod_pack";
        o["order"]!["type"] = "onetime";
        o["product"]!["id"] = "prod_pack";
        o["product"]!["billing_type"] = "onetime";
        o["metadata"] = new JsonObject { ["tollgate_customer_id"] = c, ["tollgate_product"] = "pack" };
        await Json.ReadAsync(await App.Client.SendAsync(SignedWebhooks.Creem(e.ToJsonString())), 200);
        var recorded = Assert.Single(await Payments.ListPaymentsAsync(c, CancellationToken.None));
        Assert.Equal("ord_agrees", recorded.ProviderPaymentId);

        JsonObject Transaction(string id, string? order, string status, long amount, DateTimeOffset at) => new()
        {
            ["id"] = id, ["object"] = "transaction", ["mode"] = "test", ["amount"] = amount, ["amount_paid"] = amount, ["currency"] = recorded.Currency,
            ["type"] = "payment", ["status"] = status, ["order"] = order, ["created_at"] = at.ToUnixTimeMilliseconds(),
        };
        _creemLists.Add("transactions", Transaction("tran_agrees", "ord_agrees", "paid", recorded.Amount!.Value, Now.AddMinutes(-5)));
        // 120 declined attempts of the period (two pages) and a paid transaction from before it.
        for (var i = 0; i < 120; i++)
        {
            _creemLists.Add("transactions", Transaction($"tran_declined_{i:D3}", null, "declined", 100, Now.AddDays(-3)));
        }

        _creemLists.Add("transactions", Transaction("tran_old", "ord_old", "paid", 100, Now.AddDays(-60)));

        var (exit, output, error) = await ReconcileAsync("--provider", "creem", "--since", "30d");
        Assert.True(exit == ReconcileCommand.Agree, output + error);
        Assert.Equal(["?page_number=1&page_size=100", "?page_number=2&page_size=100"],
            _creem.Requests.Where(r => r.Path == "/v1/transactions/search").Select(r => r.Query));

        _creemLists.Add("transactions", Transaction("tran_unheard", "ord_unheard", "paid", 2900, Now.AddDays(-1)));
        _creemLists.Add("subscriptions", new JsonObject
        {
            ["id"] = "sub_unheard", ["object"] = "subscription", ["status"] = "active", ["customer"] = "cust_x", ["created_at"] = Now.AddDays(-1).ToString("O"),
        });
        (exit, output, error) = await ReconcileAsync("--provider", "creem", "--since", "30d");

        Assert.True(exit == ReconcileCommand.Differ, output + error);
        Assert.Matches(@"missing_here\s+payment\s+tran_unheard .*creem=paid 2900", output);
        Assert.Matches(@"missing_here\s+subscription\s+sub_unheard ", output);
        Assert.Contains("2 difference(s).", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--provider", "paddle", "unknown provider 'paddle'")]
    [InlineData("--provider", "apple", "unknown provider 'apple'")]
    [InlineData("--since", "30d", "--provider is required")]
    [InlineData("--provider", "stripe", "--since", "soon", "--since 'soon' is not a period")]
    [InlineData("--provider", "stripe", "--since", "0d", "--since '0d' is not a period")]
    [InlineData("--provider", "stripe", "--since", "2099-01-01", "--since '2099-01-01' is not a period")]
    public async Task Bad_input_is_a_clear_error_with_exit_2(params string[] argsAndMessage)
    {
        var (exit, output, error) = await ReconcileAsync(argsAndMessage[..^1]);

        Assert.Equal(ReconcileCommand.Error, exit);
        Assert.Equal("", output);
        Assert.Contains(argsAndMessage[^1], error, StringComparison.Ordinal);
        Assert.Empty(_stripe.Requests);
    }

    /// <summary>API.md §6.6 names the verb of the <c>tollgate</c> command itself: the built server, run as a process
    /// with its settings on the command line, must reach the same report and hand its exit code to the shell.</summary>
    [Fact]
    public async Task The_tollgate_command_runs_the_verb_and_exits_with_its_code()
    {
        var settings = new Dictionary<string, string?>(Settings())
        {
            ["Tollgate:Database:Provider"] = Provider == DatabaseProvider.Postgres ? "postgres" : "sqlite",
            ["Tollgate:Database:ConnectionString"] = App.Database.Options.ConnectionString,
        }.Select(kv => $"--{kv.Key}={kv.Value}").ToArray();

        var agree = await RunTollgateAsync(["reconcile", "--provider", "stripe", "--json", .. settings]);
        var unknown = await RunTollgateAsync(["reconcile", "--provider", "paddle", .. settings]);

        Assert.True(agree.Exit == ReconcileCommand.Agree, agree.Output + agree.Error);
        Assert.Equal("stripe", (string?)JsonNode.Parse(agree.Output)!["provider"]);
        Assert.Contains(_stripe.Requests, r => r.Path == "/v1/subscriptions");
        Assert.Equal((ReconcileCommand.Error, ""), (unknown.Exit, unknown.Output));
        Assert.Contains("unknown provider 'paddle'", unknown.Error, StringComparison.Ordinal);
    }

    private static async Task<(int Exit, string Output, string Error)> RunTollgateAsync(string[] args)
    {
        var start = new System.Diagnostics.ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "tollgate.dll"), .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = System.Diagnostics.Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var error = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await error);
    }

    [Fact]
    public async Task A_provider_that_refuses_the_key_is_an_error_with_exit_2_and_no_report()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await ReconcileCommand.RunAsync(["--provider", "stripe", "--Tollgate:Providers:Stripe:SecretKey=sk_test_wrong",
            "--Tollgate:Providers:Stripe:WebhookSecrets:0=whsec_x", $"--Tollgate:Providers:Stripe:BaseUrl={_stripe.BaseUrl}",
            $"--Tollgate:Database:Provider={(Provider == DatabaseProvider.Postgres ? "postgres" : "sqlite")}",
            $"--Tollgate:Database:ConnectionString={App.Database.Options.ConnectionString}"], output, error, App.Clock, TestContext.Current.CancellationToken);

        Assert.Equal(ReconcileCommand.Error, exit);
        Assert.Equal("", output.ToString());
        Assert.Contains("Invalid API Key", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_admin_page_shows_the_same_report_after_sign_in_only_and_refuses_a_bad_period()
    {
        var (session, _, _) = await AgreeingStripeRecordsAsync();
        session["amount_total"] = 5900;
        var client = new HttpClient(App.App.GetTestServer().CreateHandler()) { BaseAddress = new Uri("http://localhost") };
        const string path = "/admin/reconcile?provider=stripe&since=30d";
        using (var anonymous = await client.GetAsync(new Uri(path, UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.Redirect, anonymous.StatusCode);
            Assert.StartsWith("/admin/login", anonymous.Headers.Location?.OriginalString, StringComparison.Ordinal);
        }

        Assert.DoesNotContain(_stripe.Requests, r => r is { Method: "GET", Path: "/v1/checkout/sessions" });
        using var loginPage = await client.GetAsync(new Uri("/admin/login", UriKind.Relative));
        var token = CsrfField().Match(await loginPage.Content.ReadAsStringAsync()).Groups[1].Value;
        using var post = new HttpRequestMessage(HttpMethod.Post, "/admin/login") { Content = new FormUrlEncodedContent([new("key", AdminKey), new("__csrf", token)]) };
        post.Headers.Add("Cookie", string.Join("; ", loginPage.Headers.GetValues("Set-Cookie").Select(c => c.Split(';')[0])));
        using var login = await client.SendAsync(post);
        Assert.Equal(HttpStatusCode.Redirect, login.StatusCode);
        var cookies = string.Join("; ", loginPage.Headers.GetValues("Set-Cookie").Concat(login.Headers.GetValues("Set-Cookie")).Select(c => c.Split(';')[0]));

        async Task<(HttpStatusCode Status, string Html)> GetAsync(string url)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            request.Headers.Add("Cookie", cookies);
            using var response = await client.SendAsync(request);
            return (response.StatusCode, await response.Content.ReadAsStringAsync());
        }

        var (status, html) = await GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains("data-agrees=\"false\"", html, StringComparison.Ordinal);
        var row = Assert.Single(Regex.Matches(html, "<tr data-kind=\"([a-z_]+)\">[\\s\\S]*?</tr>"));
        Assert.Equal("amount_differs", row.Groups[1].Value);
        Assert.Contains("cs_test_a1PayExample0001", row.Value, StringComparison.Ordinal);
        Assert.Contains("5900 USD", row.Value, StringComparison.Ordinal);

        var (bad, badHtml) = await GetAsync("/admin/reconcile?provider=stripe&since=soon");
        Assert.Equal(HttpStatusCode.BadRequest, bad);
        Assert.Contains("That is not a period", badHtml, StringComparison.Ordinal);
        var (unknown, _) = await GetAsync("/admin/reconcile?provider=paddle");
        Assert.Equal(HttpStatusCode.BadRequest, unknown);
        var (form, formHtml) = await GetAsync("/admin/reconcile");
        Assert.Equal(HttpStatusCode.OK, form);
        Assert.DoesNotContain("data-agrees", formHtml, StringComparison.Ordinal);
    }

    [GeneratedRegex("name=\"__csrf\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex CsrfField();
}

public sealed class SqliteReconcileTests : ReconcileTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresReconcileTests : ReconcileTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
