using Tollgate.Core.Events;
using Tollgate.Server.Pages.Shared;

namespace Tollgate.Server.Pages.Admin;

/// <summary>The app's event endpoints with their most recent deliveries and why they failed.</summary>
internal sealed class EventsModel(IWebhookEndpointStore store) : AdminPageModel
{
    public const int DeliveriesPerEndpoint = 25;

    public IReadOnlyList<(WebhookEndpoint Endpoint, IReadOnlyList<DeliveryState> Deliveries)> Endpoints { get; private set; } = [];

    public async Task OnGetAsync()
    {
        var endpoints = await store.ListAsync(HttpContext.RequestAborted);
        var list = new List<(WebhookEndpoint, IReadOnlyList<DeliveryState>)>();
        foreach (var endpoint in endpoints)
        {
            list.Add((endpoint, await store.ListDeliveriesAsync(endpoint.Id, DeliveriesPerEndpoint, HttpContext.RequestAborted)));
        }

        Endpoints = list;
    }
}
