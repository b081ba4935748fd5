using System.Globalization;
using Tollgate.Core.Catalog;
using Tollgate.Core.Customers;
using Tollgate.Core.Usage;
using Tollgate.Server.Api.Http;

namespace Tollgate.Server.Api;

/// <summary><c>/v1/customers/…</c>: customers, capabilities, grants, balances, ledger and usage statistics.</summary>
internal static class CustomersApi
{
    public static RouteGroupBuilder MapCustomersApi(this RouteGroupBuilder v1)
    {
        var customers = v1.MapGroup("/customers/{id}");

        customers.MapPut("", async (string id, HttpContext http, Organizations organizations, Gate gate) =>
        {
            var (body, problem) = await RequestBody.ReadAsync<CustomerBody>(http, allowEmpty: true);
            body ??= new CustomerBody(null, null, null);
            problem ??= Validate.First(Validate.CustomerId(id, "id"), Validate.Text(body.Email, "email", 254), Validate.Text(body.Name, "name", 200),
                Validate.Metadata(body.Metadata),
                body.BillingCustomerId is null ? null : Validate.CustomerId(body.BillingCustomerId, "billing_customer_id"));
            if (problem is not null)
            {
                return problem;
            }

            if (body.Email is { } email && !email.Contains('@', StringComparison.Ordinal))
            {
                return Problems.InvalidRequest("email must be an email address.");
            }

            // billing_customer_id left out leaves it as it is; null detaches the customer from its organization.
            var setBilling = await MentionsAsync(http, "billing_customer_id");
            var outcome = await organizations.PutAsync(id, body.Email?.Trim(), body.Name?.Trim(), body.Metadata, setBilling, body.BillingCustomerId,
                http.RequestAborted);
            return outcome.Refusal is { } refusal
                ? Refusals.Problem(refusal, outcome.Message)
                : ApiResult.Ok(await ViewAsync(outcome.Customer!, gate, http.RequestAborted));
        }).JsonBody<CustomerBody>().Produces<CustomerView>().WithName("upsertCustomer")
            .Refuses(400, "invalid_request").Refuses(402, "limit_reached").Refuses(404, "customer_not_found")
            .Refuses(409, "conflict");

        customers.MapGet("/members", async (string id, int? limit, string? after, Organizations organizations, CancellationToken ct) =>
        {
            if (Validate.First(Validate.CustomerId(id, "id"), after is null ? null : Validate.CustomerId(after, "after")) is { } problem)
            {
                return problem;
            }

            if (limit is < 1 or > 200)
            {
                return Problems.InvalidRequest("limit must be from 1 to 200.");
            }

            return await organizations.MembersAsync(id, after, limit ?? 50, ct) is { } page
                ? ApiResult.Ok(new MembersView(id, [.. page.Members.Select(m => new MemberView(m.Id, m.Email, m.Name, m.Metadata, m.CreatedAt))], page.Next))
                : Problems.NotFound("customer_not_found", $"No customer '{id}'.");
        }).Produces<MembersView>().WithName("listMembers").Refuses(400, "invalid_request").Refuses(404, "customer_not_found");

        customers.MapGet("", async (string id, ICustomerStore store, Gate gate, CancellationToken ct) =>
        {
            if (Validate.CustomerId(id, "id") is { } problem)
            {
                return problem;
            }

            var customer = await store.GetAsync(id, ct);
            return customer is null
                ? Problems.NotFound("customer_not_found", $"No customer '{id}'.")
                : ApiResult.Ok(await ViewAsync(customer, gate, ct));
        }).Produces<CustomerView>().WithName("getCustomer").Refuses(400, "invalid_request").Refuses(404, "customer_not_found");

        customers.MapGet("/capabilities", async (string id, Gate gate, CancellationToken ct) =>
            Validate.CustomerId(id, "id") ?? ApiResult.Ok(new CapabilitiesView(id, await gate.CapabilitiesAsync(id, ct))))
            .Produces<CapabilitiesView>().WithName("getCapabilities").Refuses(400, "invalid_request");

        customers.MapPost("/grants", async (string id, HttpContext http, Gate gate) =>
        {
            var (body, problem) = await RequestBody.ReadAsync<GrantBody>(http);
            problem ??= Validate.First(Validate.CustomerId(id, "id"), Validate.Required(body!.Feature, "feature"), Validate.Positive(body.Amount, "amount"),
                Validate.Text(body.Reason, "reason", 500, required: true));
            if (problem is not null)
            {
                return problem;
            }

            if (body!.ExpiresAt is { } expires && expires <= http.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow())
            {
                return Problems.InvalidRequest("expires_at must be in the future.");
            }

            var call = IdempotencyFilter.Call<GrantOutcome>(http, GrantAnswer);
            var outcome = await gate.GrantAsync(id, body.Feature!, body.Amount!.Value, body.ExpiresAt, body.Reason!.Trim(), call.Key, call,
                cancellationToken: http.RequestAborted);
            if (outcome is { Refusal: null, Replayed: false })
            {
                Log.Granted(http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Tollgate.Grants"), body.Amount.Value, body.Feature!, id, body.Reason.Trim());
            }
            return IdempotencyFilter.Answer(http, outcome.Response, outcome.Refusal == TollgateRefusal.IdempotencyKeyReused) ?? GrantAnswer(outcome);
        }).Idempotent().JsonBody<GrantBody>().Produces<GrantView>(StatusCodes.Status201Created).WithName("createGrant")
            .Refuses(404, "unknown_feature").Refuses(503, "unavailable");

        customers.MapPost("/trials", async (string id, HttpContext http, Core.Subscriptions.TrialService trials) =>
        {
            var (body, problem) = await RequestBody.ReadAsync<TrialBody>(http);
            // An empty plan id is a bad request, not a plan nobody sells (the trial service refuses to be asked for one).
            problem ??= Validate.First(Validate.CustomerId(id, "id"), Validate.Text(body!.Plan, "plan", 200, required: true));
            if (problem is not null)
            {
                return problem;
            }

            var call = IdempotencyFilter.Call<Core.Subscriptions.TrialOutcome>(http, TrialAnswer);
            var outcome = await trials.StartAsync(id, body!.Plan!, call, http.RequestAborted);
            return IdempotencyFilter.Answer(http, outcome.Response, outcome.Refusal == TollgateRefusal.IdempotencyKeyReused) ?? TrialAnswer(outcome);
        }).Idempotent().JsonBody<TrialBody>().Produces<SubscriptionView>(StatusCodes.Status201Created).WithName("startTrial")
            .Refuses(404, "unknown_product").Refuses(409, "not_eligible");

        customers.MapGet("/balances", async (string id, Gate gate, CancellationToken ct) =>
        {
            if (Validate.CustomerId(id, "id") is { } problem)
            {
                return problem;
            }

            var balances = await gate.BalancesAsync(id, ct);
            return ApiResult.Ok(new BalancesView(id, balances.Select(b => new BalanceView(b.Feature, b.Type, b.Available, b.Held, b.Debt, b.Limit,
                b.Used, b.ResetsAt, b.Lots.Select(LotView.From).ToList())).ToList()));
        }).Produces<BalancesView>().WithName("getBalances").Refuses(400, "invalid_request");

        customers.MapGet("/ledger", async (string id, string? feature, int? limit, string? after, Core.Ledger.LedgerEngine ledger, CancellationToken ct) =>
        {
            if (Validate.CustomerId(id, "id") is { } problem)
            {
                return problem;
            }

            if (limit is < 1 or > 200)
            {
                return Problems.InvalidRequest("limit must be from 1 to 200.");
            }

            long? cursor = null;
            if (after is not null)
            {
                if (!long.TryParse(after, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
                {
                    return Problems.InvalidRequest("after must be the next value of a previous page.");
                }

                cursor = parsed;
            }

            var page = await ledger.GetEntriesAsync(id, feature, limit ?? 50, cursor, ct);
            return ApiResult.Ok(new LedgerView(page.Entries.Select(EntryView.From).ToList(),
                page.Next?.ToString(CultureInfo.InvariantCulture)));
        }).Produces<LedgerView>().WithName("getLedger").Refuses(400, "invalid_request");

        customers.MapGet("/usage", async (string id, string? feature, string? bucket, DateTimeOffset? from, DateTimeOffset? to, Gate gate,
            TimeProvider time, CancellationToken ct) =>
        {
            if (Validate.First(Validate.CustomerId(id, "id"), Validate.Required(feature, "feature")) is { } problem)
            {
                return problem;
            }

            var unit = bucket switch
            {
                null or "day" => ResetInterval.Day,
                "month" => ResetInterval.Month,
                _ => (ResetInterval?)null,
            };
            if (unit is null)
            {
                return Problems.InvalidRequest("bucket must be day or month.");
            }

            var now = time.GetUtcNow();
            var end = to ?? Core.Subscriptions.Periods.Calendar(unit.Value, now).End;
            var start = from ?? (unit == ResetInterval.Day ? Core.Subscriptions.Periods.Calendar(ResetInterval.Month, now).Start : end.AddYears(-1));
            if (start >= end || (unit == ResetInterval.Day && (end - start).TotalDays > 400) || (end - start).TotalDays > 3700)
            {
                return Problems.InvalidRequest("from must be before to, at most 400 days apart for daily buckets (10 years for monthly).");
            }

            return ApiResult.Ok(await gate.StatsAsync(id, feature!, unit.Value, start, end, ct));
        }).Produces<UsageStats>().WithName("getUsageStats").Refuses(400, "invalid_request").Refuses(404, "unknown_feature");

        customers.MapGet("/subscriptions", async (string id, Gate gate, CancellationToken ct) =>
            Validate.CustomerId(id, "id")
            ?? ApiResult.Ok(new SubscriptionsView((await gate.SubscriptionsAsync(id, ct)).Select(SubscriptionView.From).ToList())))
            .Produces<SubscriptionsView>().WithName("getSubscriptions").Refuses(400, "invalid_request");

        return v1;
    }

    private static ApiResult GrantAnswer(GrantOutcome outcome) => outcome.Refusal is { } refusal
        ? Refusals.Problem(refusal, outcome.Message)
        : ApiResult.Json(StatusCodes.Status201Created, new GrantView(outcome.LotId!, outcome.Feature, outcome.Amount, outcome.ExpiresAt));

    private static ApiResult TrialAnswer(Core.Subscriptions.TrialOutcome outcome) => outcome.Subscription is { } trial
        ? ApiResult.Json(StatusCodes.Status201Created, SubscriptionView.From(trial))
        : Refusals.Problem(outcome.Refusal!, outcome.Message);

    private static async Task<CustomerView> ViewAsync(Customer customer, Gate gate, CancellationToken ct)
    {
        var plan = await gate.PlanAsync(customer.Id, ct);
        var subscriptions = await gate.SubscriptionsAsync(customer.Id, ct);
        return new CustomerView(customer.Id, customer.Email, customer.Name, customer.Metadata, plan?.Primary.Id,
            subscriptions.Select(SubscriptionView.From).ToList(), customer.CreatedAt, customer.BillingCustomerId);
    }

    /// <summary>Whether the JSON body names <paramref name="property"/> at all (null included): a PUT leaves out what it does not change.</summary>
    private static async Task<bool> MentionsAsync(HttpContext http, string property)
    {
        var bytes = await RequestBody.ReadBytesAsync(http);
        if (bytes is null || bytes.AsSpan().Trim(" \t\r\n"u8).IsEmpty)
        {
            return false;
        }

        using var document = System.Text.Json.JsonDocument.Parse(bytes);
        return document.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object && document.RootElement.TryGetProperty(property, out _);
    }
}
