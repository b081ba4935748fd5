using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json.Nodes;
using System.Web;

namespace Tollgate.Testing.Fakes;

/// <summary>Stripe's list endpoints (<c>GET /v1/subscriptions</c>, <c>/v1/checkout/sessions</c>, <c>/v1/invoices</c>) over
/// objects a test plants, paged as stripe.md §3.5 documents: newest first, <c>limit</c> 1–100 (default 10),
/// <c>starting_after</c>, <c>{"object":"list","url","has_more","data"}</c>. Every other path is <see cref="FakeStripe"/>'s.</summary>
public sealed class FakeStripeLists
{
    private readonly ConcurrentDictionary<string, ConcurrentQueue<JsonObject>> _lists = new(StringComparer.Ordinal);

    public Task<FakeServer> StartAsync() => FakeServer.StartAsync(Route);

    /// <summary>Adds an object to a list (<c>subscriptions</c>, <c>checkout/sessions</c>, <c>invoices</c>); it needs an
    /// <c>id</c> and a <c>created</c> in Unix seconds.</summary>
    public void Add(string list, JsonObject item) => _lists.GetOrAdd(list, _ => new()).Enqueue(item);

    private FakeResponse Route(RecordedRequest request)
    {
        var list = request.Path switch
        {
            "/v1/subscriptions" => "subscriptions",
            "/v1/checkout/sessions" => "checkout/sessions",
            "/v1/invoices" => "invoices",
            _ => null,
        };
        if (request.Method != "GET" || list is null || request.Header("Authorization") != "Bearer " + FakeStripe.SecretKey)
        {
            return FakeStripe.Route(request);
        }

        var query = HttpUtility.ParseQueryString(request.Query);
        var limit = query["limit"] is { } l ? int.Parse(l, CultureInfo.InvariantCulture) : 10;
        if (limit is < 1 or > 100)
        {
            return FakeStripe.Error(400, "invalid_request_error", "This value must be less than or equal to 100.", "parameter_invalid_integer");
        }

        IEnumerable<JsonObject> items = _lists.GetValueOrDefault(list)?.ToArray() ?? [];
        if (list == "subscriptions" && query["status"] != "all")
        {
            // Stripe leaves canceled subscriptions out unless status=all is asked for.
            items = items.Where(s => (string?)s["status"] != "canceled");
        }

        var ordered = items.OrderByDescending(i => (long)i["created"]!).ThenByDescending(i => (string?)i["id"], StringComparer.Ordinal).ToList();
        if (query["starting_after"] is { } after)
        {
            var index = ordered.FindIndex(i => (string?)i["id"] == after);
            if (index < 0)
            {
                return FakeStripe.Error(400, "invalid_request_error", "No such object: '" + after + "'", "resource_missing");
            }

            ordered = ordered[(index + 1)..];
        }

        var page = ordered.Take(limit).Select(i => i.DeepClone()).ToArray();
        return new FakeResponse(200, new JsonObject
        {
            ["object"] = "list",
            ["url"] = request.Path,
            ["has_more"] = ordered.Count > limit,
            ["data"] = new JsonArray(page),
        }.ToJsonString());
    }
}

/// <summary>Creem's list endpoints (<c>GET /v1/subscriptions/search</c>, <c>/v1/transactions/search</c>) over objects a
/// test plants, paged as creem.md documents: <c>page_number</c>, <c>page_size</c>, and
/// <c>{"items":[…],"pagination":{"total_records","total_pages","current_page","next_page","prev_page"}}</c>. No order
/// is documented, so this one answers oldest first. Every other path is <see cref="FakeCreem"/>'s.</summary>
public sealed class FakeCreemLists
{
    private readonly ConcurrentDictionary<string, ConcurrentQueue<JsonObject>> _lists = new(StringComparer.Ordinal);

    public Task<FakeServer> StartAsync() => FakeServer.StartAsync(Route);

    /// <summary>Adds an object to <c>subscriptions</c> or <c>transactions</c>.</summary>
    public void Add(string list, JsonObject item) => _lists.GetOrAdd(list, _ => new()).Enqueue(item);

    private FakeResponse Route(RecordedRequest request)
    {
        var list = request.Path switch
        {
            "/v1/subscriptions/search" => "subscriptions",
            "/v1/transactions/search" => "transactions",
            _ => null,
        };
        if (request.Method != "GET" || list is null || request.Header("x-api-key") != FakeCreem.ApiKey)
        {
            return FakeCreem.Route(request);
        }

        var query = HttpUtility.ParseQueryString(request.Query);
        var number = query["page_number"] is { } n ? int.Parse(n, CultureInfo.InvariantCulture) : 1;
        var size = query["page_size"] is { } s ? int.Parse(s, CultureInfo.InvariantCulture) : 10;
        var items = _lists.GetValueOrDefault(list)?.ToArray() ?? [];
        var pages = Math.Max(1, (items.Length + size - 1) / size);
        return new FakeResponse(200, new JsonObject
        {
            ["items"] = new JsonArray(items.Skip((number - 1) * size).Take(size).Select(i => i.DeepClone()).ToArray()),
            ["pagination"] = new JsonObject
            {
                ["total_records"] = items.Length,
                ["total_pages"] = pages,
                ["current_page"] = number,
                ["next_page"] = number < pages ? number + 1 : null,
                ["prev_page"] = number > 1 ? number - 1 : null,
            },
        }.ToJsonString());
    }
}
