using System.Security.Cryptography;
using System.Text;

namespace Tollgate.Providers.Http;

/// <summary>The HMAC-SHA256 pieces both providers' webhook signatures are built from.</summary>
internal static class WebhookSignature
{
    private const int MacLength = 32;

    /// <summary>A header value by name, ignoring case: hosts hand headers over in whatever case they received.</summary>
    public static string? FindHeader(IReadOnlyDictionary<string, string> headers, string name)
    {
        if (headers.TryGetValue(name, out var exact))
        {
            return exact;
        }

        foreach (var (key, value) in headers)
        {
            if (string.Equals(key, name, StringComparison.OrdinalIgnoreCase))
            {
                return value;
            }
        }

        return null;
    }

    /// <summary>HMAC-SHA256 of <paramref name="prefix"/> followed by <paramref name="body"/>, keyed by the secret's
    /// UTF-8 bytes as they are (no base64, no prefix stripped: both providers sign with the whole secret string).</summary>
    public static byte[] Compute(string secret, string prefix, ReadOnlySpan<byte> body)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(secret));
        if (prefix.Length > 0)
        {
            hmac.AppendData(Encoding.UTF8.GetBytes(prefix));
        }

        hmac.AppendData(body);
        return hmac.GetHashAndReset();
    }

    /// <summary>True when <paramref name="hex"/> spells <paramref name="mac"/>, compared in constant time.
    /// Anything that is not 64 hex digits simply does not match.</summary>
    public static bool Matches(ReadOnlySpan<byte> mac, ReadOnlySpan<char> hex)
    {
        if (hex.Length != MacLength * 2)
        {
            return false;
        }

        Span<byte> given = stackalloc byte[MacLength];
        var status = Convert.FromHexString(hex, given, out _, out var written);
        return status == System.Buffers.OperationStatus.Done
            && written == MacLength
            && CryptographicOperations.FixedTimeEquals(mac, given);
    }
}
