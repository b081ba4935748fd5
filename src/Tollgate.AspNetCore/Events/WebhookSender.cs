using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Tollgate.Core.Events;

namespace Tollgate.Server.Events;

/// <summary>How one POST to an endpoint went: a status code, or an error before one arrived.</summary>
internal sealed record SendResult(int? StatusCode, string? Error, TimeSpan? RetryAfter);

/// <summary>
/// Sends one event to one endpoint per Standard Webhooks: headers <c>webhook-id</c>, <c>webhook-timestamp</c>,
/// <c>webhook-signature</c> (<c>v1,</c> base64 HMAC-SHA256 of <c>{id}.{timestamp}.{body}</c>, one per signing secret,
/// space-separated). No redirects are followed (a 3xx is a failure), 15 s timeout, and every connection goes through
/// <see cref="AddressGuard"/> on the address it actually connects to.
/// </summary>
internal sealed class WebhookSender : IDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    private readonly HttpClient _http;
    private readonly TimeProvider _time;

    public WebhookSender(bool allowPrivate, TimeProvider time)
    {
        _time = time;
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseProxy = false,
            UseCookies = false,
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            ConnectTimeout = TimeSpan.FromSeconds(10),
            ConnectCallback = (context, ct) => ConnectAsync(context, allowPrivate, ct),
        };
        _http = new HttpClient(handler) { Timeout = Timeout };
    }

    /// <summary>Resolves the host and connects to its first allowed address; refuses when every address is private.</summary>
    private static async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, bool allowPrivate, CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host;
        var addresses = IPAddress.TryParse(host.Trim('[', ']'), out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
        var allowed = allowPrivate ? addresses : addresses.Where(a => !AddressGuard.IsPrivate(a)).ToArray();
        if (allowed.Length == 0)
        {
            throw new BlockedAddressException($"{host} resolves to no public address ({string.Join(", ", addresses.Select(a => a.ToString()))})");
        }

        Exception? last = null;
        foreach (var address in allowed)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), cancellationToken).ConfigureAwait(false);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                last = ex;
            }
        }

        throw last!;
    }

    public static string Sign(string secret, string id, long timestamp, string body)
    {
        var content = Encoding.UTF8.GetBytes($"{id}.{timestamp.ToString(CultureInfo.InvariantCulture)}.{body}");
        return "v1," + Convert.ToBase64String(HMACSHA256.HashData(WebhookSecrets.Key(secret), content));
    }

    public async Task<SendResult> SendAsync(DeliveryWork work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        var now = _time.GetUtcNow();
        var timestamp = now.ToUnixTimeSeconds();
        using var request = new HttpRequestMessage(HttpMethod.Post, work.Endpoint.Url)
        {
            Content = new StringContent(work.Payload, Encoding.UTF8, "application/json"),
        };
        request.Headers.TryAddWithoutValidation("webhook-id", work.EventId);
        request.Headers.TryAddWithoutValidation("webhook-timestamp", timestamp.ToString(CultureInfo.InvariantCulture));
        request.Headers.TryAddWithoutValidation("webhook-signature",
            string.Join(' ', work.Endpoint.SigningSecrets(now).Select(s => Sign(s, work.EventId, timestamp, work.Payload))));
        request.Headers.UserAgent.ParseAdd("Tollgate-Webhooks/1");
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            var code = (int)response.StatusCode;
            TimeSpan? retryAfter = null;
            if (code is 429 or 502 or 503 or 504 && response.Headers.RetryAfter is { } header)
            {
                retryAfter = header.Delta ?? (header.Date is { } date ? date - now : null);
            }

            return new SendResult(code, code is >= 200 and < 300 ? null : $"HTTP {code}", retryAfter);
        }
        catch (HttpRequestException ex) when (ex.InnerException is BlockedAddressException blocked)
        {
            return new SendResult(null, "refused: " + blocked.Message, null);
        }
        catch (HttpRequestException ex)
        {
            return new SendResult(null, ex.HttpRequestError + ": " + ex.Message, null);
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new SendResult(null, $"timeout after {Timeout.TotalSeconds:0} s", null);
        }
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>A connection refused because the endpoint's host resolves only to private addresses.</summary>
internal sealed class BlockedAddressException(string message) : IOException(message);
