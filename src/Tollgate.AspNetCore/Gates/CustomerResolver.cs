using System.Security.Claims;
using Microsoft.Extensions.Options;

namespace Tollgate.AspNetCore;

/// <summary>Names the Tollgate customer a request acts for. Register your own to bill by something else (a header, a
/// tenant from the route).</summary>
public interface ITollgateCustomerResolver
{
    /// <summary>The customer id, or null when the request has none (it is then refused with <c>401</c>).</summary>
    ValueTask<string?> ResolveAsync(HttpContext context);
}

/// <summary>How the default <see cref="ITollgateCustomerResolver"/> reads the caller.</summary>
public sealed class TollgateGateOptions
{
    /// <summary>The claim that names the user; <see cref="ClaimTypes.NameIdentifier"/> by default.</summary>
    public string UserClaim { get; set; } = ClaimTypes.NameIdentifier;

    /// <summary>A claim that names the user's organization: when set and present, the organization is the customer (one
    /// plan and one balance for the whole team); when absent from a request, the user is.</summary>
    public string? OrganizationClaim { get; set; }
}

/// <summary>The default resolver: the organization claim when configured and present, otherwise the user claim.</summary>
internal sealed class ClaimsCustomerResolver(IOptions<TollgateGateOptions> options) : ITollgateCustomerResolver
{
    public ValueTask<string?> ResolveAsync(HttpContext context)
    {
        var user = context.User;
        var o = options.Value;
        var id = (o.OrganizationClaim is { } org ? user.FindFirst(org)?.Value : null) ?? user.FindFirst(o.UserClaim)?.Value;
        return ValueTask.FromResult(string.IsNullOrEmpty(id) ? null : id);
    }
}
