using Tollgate.AspNetCore;

namespace Tollgate.Sample.Web;

/// <summary>The body of <c>POST /ai/messages</c>.</summary>
public sealed record MessageRequest(string? Text, bool Fail = false);

/// <summary>The customer is whoever the <c>X-User-Id</c> header says: a demo without sign-in. Never do this in an app
/// that takes money; the default resolver reads the signed-in user's claim.</summary>
public sealed class HeaderCustomerResolver : ITollgateCustomerResolver
{
    public const string Header = "X-User-Id";

    public ValueTask<string?> ResolveAsync(HttpContext context) =>
        ValueTask.FromResult(context.Request.Headers[Header].ToString() is { Length: > 0 } id ? id : null);
}
