using Tollgate.Core.Payments;
using Tollgate.Server.Api.Http;

namespace Tollgate.Server.Api;

/// <summary><c>POST /webhooks/{provider}</c> (API.md §5): no API key — the signature over the raw body is the
/// authentication. 200 once stored (duplicates and ignored types too); 401 for a missing or bad signature and 400 for
/// a signed body that is not JSON, with nothing stored.</summary>
internal static class WebhooksApi
{
    public const long MaxBytes = 256 * 1024;

    public static IEndpointRouteBuilder MapWebhooksApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPost("/webhooks/{provider}", async (string provider, HttpContext http, WebhookProcessor processor) =>
        {
            var body = await ReadAsync(http);
            if (body is null)
            {
                return Problems.TooLarge(MaxBytes);
            }

            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var (name, value) in http.Request.Headers)
            {
                headers[name] = value.ToString();
            }

            var (receipt, stored) = await processor.ReceiveAsync(provider, headers, body, http.RequestAborted);
            return receipt switch
            {
                WebhookReceipt.Accepted or WebhookReceipt.Duplicate => ApiResult.Ok(new WebhookAnswer(true, receipt == WebhookReceipt.Duplicate,
                    stored is null ? null : Core.Common.SnakeCase<WebhookStatus>.Name(stored.Status))),
                WebhookReceipt.UnknownProvider => Problems.NotFound("unknown_provider", $"'{provider}' is not an enabled provider."),
                WebhookReceipt.BadSignature => Problems.Create(401, "invalid_signature", "The webhook signature is missing or invalid."),
                _ => Problems.InvalidRequest("The body is not a webhook this provider sends."),
            };
        }).ExcludeFromDescription();
        return endpoints;
    }

    private static async Task<byte[]?> ReadAsync(HttpContext http)
    {
        if (http.Request.ContentLength > MaxBytes)
        {
            return null;
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await http.Request.Body.ReadAsync(chunk, http.RequestAborted)) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (buffer.Length > MaxBytes)
            {
                return null;
            }
        }

        return buffer.ToArray();
    }

    public sealed record WebhookAnswer(bool Received, bool Duplicate, string? Status);
}
