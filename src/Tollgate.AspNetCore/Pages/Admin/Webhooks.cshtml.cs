using Tollgate.Core.Common;
using Tollgate.Core.Payments;
using Tollgate.Server.Pages.Shared;

namespace Tollgate.Server.Pages.Admin;

internal sealed class WebhooksModel(IWebhookInbox inbox) : AdminPageModel
{
    public const int Limit = 100;

    public static readonly WebhookStatus[] Statuses = [WebhookStatus.Failed, WebhookStatus.Unmatched, WebhookStatus.Received, WebhookStatus.Applied, WebhookStatus.Ignored];

    public WebhookStatus? Status { get; private set; }

    public IReadOnlyList<WebhookEvent> Events { get; private set; } = [];

    public async Task OnGetAsync(string? status)
    {
        Status = Statuses.Cast<WebhookStatus?>().FirstOrDefault(s => SnakeCase<WebhookStatus>.Name(s!.Value) == status);
        Events = await inbox.ListAsync(Status, Limit, HttpContext.RequestAborted);
    }
}
