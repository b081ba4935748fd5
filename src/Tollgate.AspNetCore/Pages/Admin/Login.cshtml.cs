using Microsoft.AspNetCore.Mvc;
using Tollgate.Server.Sessions;
using Tollgate.Server.Pages.Shared;

namespace Tollgate.Server.Pages.Admin;

internal sealed class LoginModel(AdminSessions admin, TimeProvider time) : AdminPageModel
{
    protected override bool RequiresSignIn => false;

    public string Return { get; private set; } = "/admin";

    public bool Failed { get; private set; }

    public IActionResult OnGet(string? @return)
    {
        Return = PageLinks.IsLocal(@return) && @return!.StartsWith("/admin", StringComparison.Ordinal) ? @return : "/admin";
        return admin.IsSignedIn(HttpContext) ? Redirect(Return) : Page();
    }

    public async Task<IActionResult> OnPostAsync(string? key, string? @return)
    {
        Return = PageLinks.IsLocal(@return) && @return!.StartsWith("/admin", StringComparison.Ordinal) ? @return : "/admin";
        if (admin.KeyMatches(key))
        {
            admin.SignIn(HttpContext);
            return Redirect(Return);
        }

        // A wrong key costs a moment, which makes guessing slow.
        await Task.Delay(TimeSpan.FromMilliseconds(400), time, HttpContext.RequestAborted);
        Failed = true;
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        return Page();
    }

    public IActionResult OnPostSignOut()
    {
        AdminSessions.SignOut(HttpContext);
        return Redirect("/admin/login");
    }
}
