using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Tollgate.Server.Hosting;

namespace Tollgate.Server.Sessions;

/// <summary>
/// The admin console's sign-in. The admin key itself never goes into a cookie: signing in with it sets
/// <c>expiry.HMAC(expiry)</c> keyed by a hash of the key, HttpOnly and SameSite=Strict, scoped to <c>/admin</c>.
/// Changing <c>Tollgate__AdminKey</c> signs everyone out; any server with the same key accepts the cookie.
/// </summary>
internal sealed class AdminSessions(TollgateSettings settings, TimeProvider time)
{
    public const string Cookie = "tollgate_admin";
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(8);

    private readonly byte[]? _keyHash = settings.AdminKey is { } key ? SHA256.HashData(Encoding.UTF8.GetBytes(key)) : null;

    /// <summary>Without <c>Tollgate__AdminKey</c> the console does not exist (404).</summary>
    public bool Enabled => _keyHash is not null;

    public bool KeyMatches(string? candidate) =>
        _keyHash is not null && candidate is not null
        && CryptographicOperations.FixedTimeEquals(_keyHash, SHA256.HashData(Encoding.UTF8.GetBytes(candidate)));

    public void SignIn(HttpContext http)
    {
        var expires = time.GetUtcNow() + Lifetime;
        var claims = "admin|" + expires.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        http.Response.Cookies.Append(Cookie, Base64Url.EncodeToString(Encoding.UTF8.GetBytes(claims)) + "." + Base64Url.EncodeToString(Mac(claims)),
            new CookieOptions
            {
                HttpOnly = true,
                Secure = http.Request.IsHttps,
                SameSite = SameSiteMode.Strict,
                Path = "/admin",
                IsEssential = true,
                MaxAge = Lifetime,
            });
    }

    public static void SignOut(HttpContext http) => http.Response.Cookies.Delete(Cookie, new CookieOptions { Path = "/admin" });

    public bool IsSignedIn(HttpContext http)
    {
        if (_keyHash is null || http.Request.Cookies[Cookie] is not { } value || value.Split('.') is not [var claimsPart, var macPart])
        {
            return false;
        }

        byte[] claims, mac;
        try
        {
            claims = Base64Url.DecodeFromChars(claimsPart);
            mac = Base64Url.DecodeFromChars(macPart);
        }
        catch (FormatException)
        {
            return false;
        }

        var text = Encoding.UTF8.GetString(claims);
        return CryptographicOperations.FixedTimeEquals(mac, Mac(text))
            && text.StartsWith("admin|", StringComparison.Ordinal)
            && long.TryParse(text.AsSpan(6), NumberStyles.None, CultureInfo.InvariantCulture, out var expires)
            && DateTimeOffset.FromUnixTimeSeconds(expires) > time.GetUtcNow();
    }

    private byte[] Mac(string claims) =>
        HMACSHA256.HashData(HMACSHA256.HashData(_keyHash!, "tollgate admin session"u8), Encoding.UTF8.GetBytes(claims));
}
