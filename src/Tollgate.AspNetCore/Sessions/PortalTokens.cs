using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Tollgate.Core.Idempotency;

namespace Tollgate.Server.Sessions;

/// <summary>
/// Signed, short-lived links to a customer's portal: <c>base64url(customer|expiry).base64url(HMAC-SHA256)</c>. The
/// token scopes every portal page and action to that one customer; a forged, altered, expired or revoked (signed out)
/// token is refused.
/// </summary>
internal sealed class PortalTokens(ISettingsStore settings, TimeProvider time)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(1);
    private const string SecretSetting = "portal_token_secret";
    private byte[]? _key;

    public async Task<(string Token, DateTimeOffset ExpiresAt)> IssueAsync(string customerId, CancellationToken ct)
    {
        var expires = time.GetUtcNow() + Lifetime;
        var claims = Encoding.UTF8.GetBytes($"{customerId}|{expires.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)}");
        var mac = HMACSHA256.HashData(await KeyAsync(ct), claims);
        return ($"{Base64Url.EncodeToString(claims)}.{Base64Url.EncodeToString(mac)}", expires);
    }

    /// <summary>The customer the token is for, or null (with why) when it is forged, malformed or expired.</summary>
    public async Task<(string? CustomerId, string? Problem)> ValidateAsync(string? token, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(token) || token.Split('.') is not [var claimsPart, var macPart])
        {
            return (null, "malformed");
        }

        byte[] claims, mac;
        try
        {
            claims = Base64Url.DecodeFromChars(claimsPart);
            mac = Base64Url.DecodeFromChars(macPart);
        }
        catch (FormatException)
        {
            return (null, "malformed");
        }

        var key = await KeyAsync(ct);
        if (!CryptographicOperations.FixedTimeEquals(mac, HMACSHA256.HashData(key, claims)))
        {
            return (null, "forged");
        }

        var text = Encoding.UTF8.GetString(claims);
        var bar = text.LastIndexOf('|');
        if (bar <= 0 || !long.TryParse(text[(bar + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var expires))
        {
            return (null, "malformed");
        }

        if (DateTimeOffset.FromUnixTimeSeconds(expires) <= time.GetUtcNow())
        {
            return (null, "expired");
        }

        return await settings.GetAsync(RevokedSetting(mac), ct) is not null ? (null, "revoked") : (text[..bar], null);
    }

    /// <summary>Ends a token before its expiry (the portal's sign-out): the link and the cookie holding it stop working on
    /// every server. Kept by the token's signature in the settings store; a forged token has nothing to revoke.</summary>
    public async Task RevokeAsync(string? token, CancellationToken ct)
    {
        if (token?.Split('.') is [_, var macPart] && Base64Url.IsValid(macPart) && await ValidateAsync(token, ct) is { CustomerId: not null })
        {
            await settings.GetOrAddAsync(RevokedSetting(Base64Url.DecodeFromChars(macPart)),
                // Stryker disable once String : ValidateAsync asks only whether the setting exists; an empty value is still one
                "revoked", ct);
        }
    }

    // Stryker disable once String : the name stays the MAC in hex, unique per token; only the settings row's name would differ
    private static string RevokedSetting(byte[] mac) => "portal_revoked:" + Convert.ToHexStringLower(mac);

    private async Task<byte[]> KeyAsync(CancellationToken ct) =>
        // Stryker disable once Assignment : GetOrAddAsync returns the stored secret every time; "??=" only saves the read
        _key ??= Convert.FromHexString(await settings.GetOrAddAsync(SecretSetting, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)), ct));
}
