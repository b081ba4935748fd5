using System.Text.Json;
using Tollgate.Core.Common;
using Tollgate.Core.Events;
using Tollgate.Server.Api.Http;
using Tollgate.Server.Events;
using Tollgate.Server.Hosting;

namespace Tollgate.Server.Api;

internal sealed record EndpointBody(string? Url, List<string>? Events, string? Description);

internal sealed record EndpointView(string Id, string Url, IReadOnlyList<string>? Events, string? Description, string Status, string? DisabledReason,
    DateTimeOffset CreatedAt, string? Secret = null);

internal sealed record EndpointList(IReadOnlyList<EndpointView> Endpoints);

internal sealed record SecretView(string Secret, DateTimeOffset PreviousSecretExpiresAt);

internal sealed record AttemptView(long Id, string EventId, string Type, int Attempt, int? StatusCode, string? Error, DateTimeOffset At,
    DateTimeOffset? NextAttemptAt);

internal sealed record AttemptPage(IReadOnlyList<AttemptView> Deliveries, long? Next);

internal sealed record EventView(string Id, string Type, string CustomerId, long Sequence, DateTimeOffset CreatedAt, JsonElement Payload);

/// <summary><c>/v1/webhook-endpoints</c> and <c>/v1/events</c>: the app's endpoints for outbound events (API.md §6.3).</summary>
internal static class EventsApi
{
    /// <summary>How long the old secret keeps signing after a rotation.</summary>
    public static readonly TimeSpan RotationOverlap = TimeSpan.FromHours(24);

    public static RouteGroupBuilder MapEventsApi(this RouteGroupBuilder v1)
    {
        v1.MapPost("/webhook-endpoints", async (HttpContext http, IWebhookEndpointStore store, TollgateSettings settings, TimeProvider time) =>
        {
            var (body, problem) = await RequestBody.ReadAsync<EndpointBody>(http);
            problem ??= Validate.Text(body!.Description, "description", 500);
            if (problem is null && body!.Events is { } types)
            {
                if (types.Count == 0)
                {
                    problem = Problems.InvalidRequest("events, when given, lists at least one event type (leave it out for all).");
                }
                else if (types.FirstOrDefault(t => !EventTypes.All.Contains(t ?? "")) is { } unknown)
                {
                    problem = Problems.InvalidRequest($"'{unknown}' is not an event type; use {string.Join(", ", EventTypes.All.Order(StringComparer.Ordinal))}.");
                }
            }

            if (problem is null && await AddressGuard.CheckAsync(body!.Url, settings.AllowPrivateWebhookAddresses, http.RequestAborted) is { } refusal)
            {
                problem = Problems.InvalidRequest(refusal);
            }

            if (problem is not null)
            {
                return problem;
            }

            var now = Instants.Now(time);
            var endpoint = new WebhookEndpoint(Ids.New("we", time), body!.Url!, body.Events?.Distinct(StringComparer.Ordinal).ToList(), body.Description,
                EndpointStatus.Enabled, null, WebhookSecrets.New(), null, null, now, now);
            await store.CreateAsync(endpoint, http.RequestAborted);
            return ApiResult.Json(StatusCodes.Status201Created, View(endpoint) with { Secret = endpoint.Secret });
        }).JsonBody<EndpointBody>().Produces<EndpointView>(StatusCodes.Status201Created).WithName("createWebhookEndpoint").Refuses(400, "invalid_request");

        v1.MapGet("/webhook-endpoints", async (IWebhookEndpointStore store, CancellationToken ct) =>
            ApiResult.Ok(new EndpointList([.. (await store.ListAsync(ct)).Select(View)])))
            .Produces<EndpointList>().WithName("listWebhookEndpoints");

        v1.MapGet("/webhook-endpoints/{id}", async (string id, IWebhookEndpointStore store, CancellationToken ct) =>
            await store.GetAsync(id, ct) is { } endpoint ? ApiResult.Ok(View(endpoint)) : NotFound(id))
            .Produces<EndpointView>().WithName("getWebhookEndpoint").Refuses(404, "endpoint_not_found");

        v1.MapDelete("/webhook-endpoints/{id}", async (string id, IWebhookEndpointStore store, CancellationToken ct) =>
            await store.DeleteAsync(id, ct) ? (IResult)TypedResults.NoContent() : NotFound(id))
            .Produces(StatusCodes.Status204NoContent).WithName("deleteWebhookEndpoint").Refuses(404, "endpoint_not_found");

        v1.MapPost("/webhook-endpoints/{id}/rotate-secret", async (string id, IWebhookEndpointStore store, TimeProvider time, CancellationToken ct) =>
        {
            var now = Instants.Now(time);
            var secret = WebhookSecrets.New();
            return await store.RotateSecretAsync(id, secret, now + RotationOverlap, now, ct) is not null
                ? ApiResult.Ok(new SecretView(secret, now + RotationOverlap))
                : NotFound(id);
        }).Produces<SecretView>().WithName("rotateWebhookSecret").Refuses(404, "endpoint_not_found");

        v1.MapGet("/webhook-endpoints/{id}/deliveries", async (string id, int? limit, long? after, IWebhookEndpointStore store, CancellationToken ct) =>
        {
            if (limit is < 1 or > 100)
            {
                return Problems.InvalidRequest("limit must be from 1 to 100.");
            }

            if (await store.GetAsync(id, ct) is null)
            {
                return NotFound(id);
            }

            var size = limit ?? 50;
            var attempts = await store.ListAttemptsAsync(id, size + 1, after, ct);
            var page = attempts.Take(size).Select(a => new AttemptView(a.Id, a.EventId, a.EventType, a.Attempt, a.StatusCode, a.Error, a.At, a.NextAttemptAt))
                .ToList();
            return ApiResult.Ok(new AttemptPage(page, attempts.Count > size ? page[^1].Id : null));
        }).Produces<AttemptPage>().WithName("listWebhookDeliveries").Refuses(400, "invalid_request").Refuses(404, "endpoint_not_found");

        v1.MapGet("/events/{id}", async (string id, IWebhookEndpointStore store, CancellationToken ct) =>
            await store.GetEventAsync(id, ct) is { } e
                ? ApiResult.Ok(new EventView(e.EventId, e.Type, e.CustomerId, e.Sequence, e.CreatedAt, JsonDocument.Parse(e.Payload).RootElement))
                : Problems.NotFound("event_not_found", $"No event {id}."))
            .Produces<EventView>().WithName("getEvent").Refuses(404, "event_not_found");

        v1.MapPost("/events/{id}/redeliver", async (string id, IWebhookEndpointStore store, Storage.TollgateDatabase database, TimeProvider time,
            CancellationToken ct) =>
        {
            if (!await store.RedeliverAsync(id, Instants.Now(time), ct))
            {
                return Problems.NotFound("event_not_found", $"No event {id}.");
            }

            database.OutboxSignal.Notify();
            return ApiResult.Json(StatusCodes.Status202Accepted, new AcceptedView(id, "pending", "The event will be sent again to its endpoints."));
        }).Produces<AcceptedView>(StatusCodes.Status202Accepted).WithName("redeliverEvent").Refuses(404, "event_not_found");

        return v1;
    }

    private static ApiResult NotFound(string id) => Problems.NotFound("endpoint_not_found", $"No webhook endpoint {id}.");

    internal static EndpointView View(WebhookEndpoint e) =>
        new(e.Id, e.Url, e.EventTypes, e.Description, SnakeCase<EndpointStatus>.Name(e.Status), e.DisabledReason, e.CreatedAt);
}
