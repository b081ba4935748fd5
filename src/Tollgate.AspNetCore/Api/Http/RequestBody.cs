using System.Text.Json;
using Tollgate.Core.Common;
using Microsoft.AspNetCore.Http.Features;

namespace Tollgate.Server.Api.Http;

/// <summary>Reads a JSON body with problem+json answers for everything that can go
/// wrong: empty, not JSON, a duplicate key, a NUL character or invalid UTF-8, wrong types (naming the field), over the
/// size limit.</summary>
internal static class RequestBody
{
    public const long MaxBytes = 64 * 1024;

    public static async Task<(T? Value, ApiResult? Problem)> ReadAsync<T>(HttpContext context, bool allowEmpty = false)
        where T : class
    {
        var bytes = await ReadBytesAsync(context);
        if (bytes is null)
        {
            return (null, Problems.TooLarge(MaxBytes));
        }

        if (bytes.Length == 0 || bytes.AsSpan().Trim(" \t\r\n"u8).IsEmpty)
        {
            return allowEmpty ? (null, null) : (null, Problems.InvalidRequest("The body must be a JSON object."));
        }

        if (StrictJson.Problem(bytes) is { } malformed)
        {
            // Refused before binding: a duplicate key would otherwise be last-one-wins, and a NUL reach the database.
            return (null, Problems.InvalidRequest("The body is not acceptable JSON: " + malformed));
        }

        try
        {
            var value = JsonSerializer.Deserialize<T>(bytes, ApiJson.Options);
            return value is null ? (null, Problems.InvalidRequest("The body must be a JSON object.")) : (value, null);
        }
        catch (JsonException ex)
        {
            var where = string.IsNullOrEmpty(ex.Path) || ex.Path == "$" ? "" : $" at {ex.Path.TrimStart('$', '.')}";
            return (null, Problems.InvalidRequest($"Malformed JSON or a value of the wrong type{where}."));
        }
    }

    /// <summary>The body as bytes, buffered once per request (the idempotency filter hashes it too); null when over the limit.</summary>
    public static async Task<byte[]?> ReadBytesAsync(HttpContext context)
    {
        if (context.Items.TryGetValue(typeof(RequestBody), out var cached))
        {
            return (byte[]?)cached;
        }

        byte[]? bytes;
        if (context.Request.ContentLength > MaxBytes)
        {
            bytes = null;
        }
        else
        {
            if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            {
                limit.MaxRequestBodySize = MaxBytes;
            }

            using var buffer = new MemoryStream();
            try
            {
                await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
                bytes = buffer.Length > MaxBytes ? null : buffer.ToArray();
            }
            catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                bytes = null;
            }
        }

        context.Items[typeof(RequestBody)] = bytes;
        return bytes;
    }
}
