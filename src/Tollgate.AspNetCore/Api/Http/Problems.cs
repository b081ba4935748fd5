using System.Text.Json;

namespace Tollgate.Server.Api.Http;

/// <summary>Errors as <c>application/problem+json</c> with a stable <c>code</c> (API.md §4).</summary>
internal static class Problems
{
    public static ApiResult Create(int status, string code, string title, string? detail = null) =>
        new(status, JsonSerializer.SerializeToUtf8Bytes(new Problem($"https://tollgate.dev/problems/{code}", title, status, detail, code), ApiJson.Options),
            "application/problem+json");

    public static ApiResult InvalidRequest(string detail) => Create(400, "invalid_request", "The request is not valid.", detail);

    public static ApiResult Unauthorized() =>
        Create(401, "unauthorized", "A valid secret key is required.", "Send Authorization: Bearer <secret key>.");

    public static ApiResult NotFound(string code, string detail) => Create(404, code, "Not found.", detail);

    public static ApiResult TooLarge(long limit) => Create(413, "payload_too_large", "The request body is too large.", $"The limit is {limit} bytes.");

    public static ApiResult KeyReused() => Create(422, "idempotency_key_reused", "The Idempotency-Key was used with a different request.",
        "Use a new key for a new request; resend the original body to get the original response.");

    public static ApiResult Internal() => Create(500, "internal_error", "Something went wrong on our side.", "The error was logged.");

    public static ApiResult Unavailable() =>
        Create(503, "unavailable", "Tollgate cannot reach its database.", "Nothing was changed; retry with the same Idempotency-Key.");

    public static ApiResult UnsupportedMediaType() =>
        Create(415, "unsupported_media_type", "The body must be JSON.", "Send Content-Type: application/json (UTF-8).");

    /// <summary>The problem+json body.</summary>
    public sealed record Problem(string Type, string Title, int Status, string? Detail, string Code);
}
