using System.Net;
using System.Net.Sockets;

namespace Tollgate.Server.Events;

/// <summary>
/// Keeps event deliveries away from the network Tollgate runs in (SSRF): an endpoint's host must resolve to public
/// addresses only, checked when the endpoint is created and again on the address each delivery actually connects to
/// (so a name that later resolves elsewhere, DNS rebinding, is caught). <c>Tollgate__Webhooks__AllowPrivateAddresses</c>
/// turns the check off (an app on the same private network).
/// </summary>
internal static class AddressGuard
{
    /// <summary>Loopback, private (RFC 1918, unique-local), link-local, carrier-grade NAT, unspecified, multicast,
    /// broadcast and reserved addresses; IPv4-mapped IPv6 addresses are judged by their IPv4 address.</summary>
    public static bool IsPrivate(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (IPAddress.IsLoopback(address))
        {
            return true;
        }

        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = address.GetAddressBytes();
            return b[0] switch
            {
                0 or 10 or 127 => true,
                100 => b[1] >= 64 && b[1] <= 127,
                169 => b[1] == 254,
                172 => b[1] >= 16 && b[1] <= 31,
                192 => (b[1] == 168) || (b[1] == 0 && b[2] == 0),
                198 => b[1] == 18 || b[1] == 19,
                >= 224 => true,
                _ => false,
            };
        }

        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            if (address.Equals(IPAddress.IPv6None) || address.Equals(IPAddress.IPv6Any))
            {
                return true;
            }

            var b = address.GetAddressBytes();
            return address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6Multicast || address.IsIPv6UniqueLocal
                || (b[0] & 0xfe) == 0xfc
                // 64:ff9b::/96 (NAT64) can reach IPv4 private space through a translator
                || (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b);
        }

        return true;
    }

    /// <summary>Why <paramref name="url"/> cannot be an endpoint, or null when it can.</summary>
    public static async Task<string?> CheckAsync(string? url, bool allowPrivate, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(url) || !Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            return "url must be an absolute http(s) URL.";
        }

        if (url.Length > 2048)
        {
            return "url must be at most 2048 characters.";
        }

        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            return "url must not carry credentials.";
        }

        if (allowPrivate)
        {
            return null;
        }

        IPAddress[] addresses;
        try
        {
            addresses = IPAddress.TryParse(uri.DnsSafeHost, out var literal)
                ? [literal]
                : await Dns.GetHostAddressesAsync(uri.DnsSafeHost, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException)
        {
            return $"url's host '{uri.Host}' does not resolve.";
        }

        if (addresses.Length == 0)
        {
            return $"url's host '{uri.Host}' does not resolve.";
        }

        return addresses.Any(IsPrivate)
            ? $"url's host '{uri.Host}' resolves to a private, loopback or link-local address; events are only sent to public addresses."
            : null;
    }
}
