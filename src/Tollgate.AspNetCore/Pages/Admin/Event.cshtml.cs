using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Mvc;
using Tollgate.Core.Common;
using Tollgate.Core.Events;
using Tollgate.Server.Pages.Shared;
using Tollgate.Storage;

namespace Tollgate.Server.Pages.Admin;

/// <summary>One outbound event: its payload as sent, and a button to send it again.</summary>
internal sealed class EventModel(IWebhookEndpointStore store, TollgateDatabase database, TimeProvider time, Texts t) : AdminPageModel
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public StoredEvent Event { get; private set; } = null!;

    public string Payload { get; private set; } = "";

    public string? Notice { get; private set; }

    public async Task<IActionResult> OnGetAsync(string eventId, string? done)
    {
        if (await store.GetEventAsync(eventId, HttpContext.RequestAborted) is not { } stored)
        {
            return NotFoundPage();
        }

        Event = stored;
        Payload = JsonNode.Parse(stored.Payload)?.ToJsonString(Indented) ?? stored.Payload;
        Notice = done == "redelivered" ? t["admin.events.redelivered"] : null;
        return Page();
    }

    public async Task<IActionResult> OnPostRedeliverAsync(string eventId)
    {
        if (!await store.RedeliverAsync(eventId, Instants.Now(time), HttpContext.RequestAborted))
        {
            return NotFoundPage();
        }

        database.OutboxSignal.Notify();
        return Redirect($"/admin/events/{Uri.EscapeDataString(eventId)}?done=redelivered");
    }
}
