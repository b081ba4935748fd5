using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Mvc;
using Tollgate.Core.Payments;
using Tollgate.Server.Pages.Shared;

namespace Tollgate.Server.Pages.Admin;

internal sealed class WebhookModel(IWebhookInbox inbox, WebhookProcessor processor, Texts t) : AdminPageModel
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public WebhookEvent Event { get; private set; } = null!;

    public string Payload { get; private set; } = "";

    public string? Notice { get; private set; }

    public async Task<IActionResult> OnGetAsync(string provider, string eventId, string? done)
    {
        if (await inbox.GetAsync(provider, eventId, HttpContext.RequestAborted) is not { } stored)
        {
            return NotFoundPage();
        }

        Show(stored);
        Notice = done == "replayed" ? t["admin.webhook.replayed"] : null;
        return Page();
    }

    /// <summary>Applies the stored event again. Its effects are keyed, so an event applied before changes nothing twice.</summary>
    public async Task<IActionResult> OnPostReplayAsync(string provider, string eventId)
    {
        return await processor.ReplayAsync(provider, eventId, HttpContext.RequestAborted) is null
            ? NotFoundPage()
            : Redirect($"/admin/webhooks/{Uri.EscapeDataString(provider)}/{Uri.EscapeDataString(eventId)}?done=replayed");
    }

    private void Show(WebhookEvent stored)
    {
        Event = stored;
        try
        {
            Payload = JsonNode.Parse(stored.Payload)?.ToJsonString(Indented) ?? stored.Payload;
        }
        catch (JsonException)
        {
            Payload = stored.Payload;
        }
    }
}
