using System.Security.Cryptography;
using Microsoft.AspNetCore.Mvc;
using Tollgate.Core.Customers;
using Tollgate.Core.Payments;
using Tollgate.Providers.Sandbox;
using Tollgate.Server.Sessions;
using Tollgate.Server.Pages.Shared;
using Tollgate.Server.Hosting;

namespace Tollgate.Server.Pages;

internal sealed class IndexModel(ProviderRegistry providers, ICustomerStore customers, PortalTokens tokens, PortalSessions sessions, PublicUrls urls,
    Texts t, TimeProvider time) : TollgatePageModel
{
    /// <summary>The demo set-up: the Sandbox sells by default, so anyone may make a customer and pay with test cards.</summary>
    public bool Demo => providers.Default == SandboxPlugin.ProviderId;

    public string? CustomerId { get; private set; }

    public string BaseUrl => urls.Base.ToString().TrimEnd('/');

    public async Task OnGetAsync() => CustomerId = (await sessions.ResolveAsync(HttpContext)).CustomerId;

    public async Task<IActionResult> OnPostDemoAsync()
    {
        if (!Demo)
        {
            return NotFound();
        }

        var id = "demo_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        await customers.UpsertAsync(id, null, t["home.demo.customer_name"], new Dictionary<string, string> { ["demo"] = "true" }, time.GetUtcNow(),
            HttpContext.RequestAborted);
        var (token, _) = await tokens.IssueAsync(id, HttpContext.RequestAborted);
        // The same door an app uses: the portal link of POST /v1/customers/{id}/portal.
        return Redirect("/portal?token=" + Uri.EscapeDataString(token));
    }
}
