using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Tollgate.Providers.Sandbox;

/// <summary>The Sandbox signs its webhooks like Stripe does: <c>t=&lt;unix seconds&gt;,v1=&lt;hex HMAC-SHA256 of "t.body"&gt;</c>.</summary>
public static class SandboxSignature
{
    /// <summary>The request header that carries the signature.</summary>
    public const string Header = "tollgate-sandbox-signature";
    /// <summary>How far a signature's timestamp may lie from now before it is refused (replay protection).</summary>
    public static readonly TimeSpan Tolerance = TimeSpan.FromMinutes(5);

    /// <summary>The header value for <paramref name="body"/> signed with <paramref name="secret"/> at <paramref name="at"/>.</summary>
    public static string Sign(string secret, ReadOnlySpan<byte> body, DateTimeOffset at)
    {
        var t = at.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        return $"t={t},v1={Mac(secret, t, body)}";
    }

    /// <summary>Null when valid; otherwise why not.</summary>
    public static string? Problem(string secret, string? header, ReadOnlySpan<byte> body, DateTimeOffset now)
    {
        if (string.IsNullOrEmpty(header))
        {
            return "missing";
        }

        string? t = null, v1 = null;
        foreach (var part in header.Split(','))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                return "malformed";
            }

            switch (part[..eq].Trim())
            {
                case "t": t = part[(eq + 1)..].Trim(); break;
                case "v1": v1 = part[(eq + 1)..].Trim(); break;
            }
        }

        if (t is null || v1 is null || !long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            return "malformed";
        }

        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Mac(secret, t, body)), Encoding.ASCII.GetBytes(v1)))
        {
            return "invalid";
        }

        return (now - DateTimeOffset.FromUnixTimeSeconds(seconds)).Duration() > Tolerance ? "outside tolerance" : null;
    }

    private static string Mac(string secret, string t, ReadOnlySpan<byte> body)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(secret));
        hmac.AppendData(Encoding.UTF8.GetBytes(t + "."));
        hmac.AppendData(body);
        return Convert.ToHexStringLower(hmac.GetHashAndReset());
    }
}
