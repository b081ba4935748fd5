
namespace Tollgate.Server.Sessions;

/// <summary>Who the portal is open for: the customer of a valid portal token, or why there is none.</summary>
/// <param name="Problem"><c>none</c> (no token at all), <c>malformed</c>, <c>forged</c>, <c>expired</c> or <c>revoked</c>.</param>
internal sealed record PortalSession(string? CustomerId, string? Problem);

/// <summary>
/// The portal's sign-in: the signed, short-lived token of <c>POST /v1/customers/{id}/portal</c> arrives once in the
/// query string and is then kept in an HttpOnly cookie, so it leaves the address bar (and browser history and
/// Referer headers). Every request validates the token again: nothing but its signature and expiry says who the
/// customer is, so a page or action can only ever reach that one customer.
/// </summary>
internal sealed class PortalSessions(PortalTokens tokens)
{
    public const string Cookie = "tollgate_portal";
    private const string ItemKey = "tollgate.portal";

    public async Task<PortalSession> ResolveAsync(HttpContext http)
    {
        if (http.Items.TryGetValue(ItemKey, out var known) && known is PortalSession session)
        {
            return session;
        }

        var token = http.Request.Cookies[Cookie];
        session = string.IsNullOrEmpty(token)
            ? new PortalSession(null, "none")
            : await ValidateAsync(token, http.RequestAborted);
        http.Items[ItemKey] = session;
        return session;
    }

    /// <summary>Validates a token from a link; when valid, keeps it in the cookie for the following requests.</summary>
    public async Task<PortalSession> SignInAsync(HttpContext http, string token)
    {
        var session = await ValidateAsync(token, http.RequestAborted);
        if (session.CustomerId is not null)
        {
            http.Response.Cookies.Append(Cookie, token, new CookieOptions
            {
                HttpOnly = true,
                Secure = http.Request.IsHttps,
                // Lax, not Strict: the way back from a provider's checkout page is a cross-site top-level navigation.
                SameSite = SameSiteMode.Lax,
                Path = "/",
                IsEssential = true,
                MaxAge = PortalTokens.Lifetime,
            });
            http.Items[ItemKey] = session;
        }

        return session;
    }

    /// <summary>Signs out: the token is revoked server-side (the link stops working too), then the cookie is dropped.</summary>
    public async Task SignOutAsync(HttpContext http)
    {
        await tokens.RevokeAsync(http.Request.Cookies[Cookie], http.RequestAborted);
        http.Response.Cookies.Delete(Cookie, new CookieOptions { Path = "/", Secure = http.Request.IsHttps, HttpOnly = true });
    }

    private async Task<PortalSession> ValidateAsync(string token, CancellationToken ct)
    {
        var (customerId, problem) = await tokens.ValidateAsync(token, ct);
        return new PortalSession(customerId, problem);
    }
}
