using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Filters;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Tollgate.Server.Sessions;

namespace Tollgate.Server.Pages.Shared;

/// <summary>Common ground of the pages: a problem page in the site's layout, with its status code.</summary>
internal abstract class TollgatePageModel : PageModel
{
    public IActionResult Problem(ProblemView view)
    {
        var result = Partial("_Problem", view);
        result.StatusCode = view.Status;
        return result;
    }

    public IActionResult NotFoundPage() => Problem(new ProblemView(StatusCodes.Status404NotFound, "problem.404.title", "problem.404.message"));
}

/// <summary>
/// A page of the customer portal. The customer is the one of the portal token — from the link (<c>?token=</c>, then
/// kept in a cookie) or the cookie — and nobody else: pages and actions take no customer id from the request.
/// </summary>
internal abstract class PortalPageModel : TollgatePageModel
{
    public string CustomerId { get; private set; } = "";

    public override async Task OnPageHandlerExecutionAsync(PageHandlerExecutingContext context, PageHandlerExecutionDelegate next)
    {
        var sessions = HttpContext.RequestServices.GetRequiredService<PortalSessions>();
        PortalSession session;
        if (Request.Query.TryGetValue("token", out var token))
        {
            session = await sessions.SignInAsync(HttpContext, token.ToString());
            if (session.CustomerId is not null)
            {
                // The token leaves the address bar at once.
                context.Result = Redirect(PageLinks.Here(Request));
                return;
            }
        }
        else
        {
            session = await sessions.ResolveAsync(HttpContext);
        }

        if (session.CustomerId is null)
        {
            context.Result = Problem(Denied(session.Problem));
            return;
        }

        CustomerId = session.CustomerId;
        ViewData["Section"] = "portal";
        await next();
    }

    public static ProblemView Denied(string? problem) => problem switch
    {
        "expired" => new ProblemView(StatusCodes.Status401Unauthorized, "portal.denied.expired.title", "portal.denied.expired.message"),
        "revoked" => new ProblemView(StatusCodes.Status401Unauthorized, "portal.denied.revoked.title", "portal.denied.revoked.message"),
        "none" or null => new ProblemView(StatusCodes.Status401Unauthorized, "portal.denied.none.title", "portal.denied.none.message"),
        _ => new ProblemView(StatusCodes.Status403Forbidden, "portal.denied.invalid.title", "portal.denied.invalid.message"),
    };
}

/// <summary>A page of the admin console: absent (404) without <c>Tollgate__AdminKey</c>, behind the sign-in otherwise.</summary>
internal abstract class AdminPageModel : TollgatePageModel
{
    protected virtual bool RequiresSignIn => true;

    public override async Task OnPageHandlerExecutionAsync(PageHandlerExecutingContext context, PageHandlerExecutionDelegate next)
    {
        var admin = HttpContext.RequestServices.GetRequiredService<AdminSessions>();
        if (!admin.Enabled)
        {
            context.Result = NotFound();
            return;
        }

        if (RequiresSignIn && !admin.IsSignedIn(HttpContext))
        {
            context.Result = Redirect("/admin/login?return=" + Uri.EscapeDataString(HttpMethods.IsGet(Request.Method) ? PageLinks.Here(Request) : "/admin"));
            return;
        }

        ViewData["Section"] = "admin";
        await next();
    }
}
