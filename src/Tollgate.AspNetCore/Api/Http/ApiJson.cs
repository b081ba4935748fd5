using System.Text.Json;
using System.Text.Json.Serialization;

namespace Tollgate.Server.Api.Http;

/// <summary>The JSON of the public API: snake_case names and enum values, nulls left out.</summary>
internal static class ApiJson
{
    public static JsonSerializerOptions Options { get; } = Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        options.DictionaryKeyPolicy = null;
        options.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
        options.NumberHandling = JsonNumberHandling.Strict;
        // Responses are JSON for programs, never embedded in HTML: no need to escape quotes and non-ASCII text.
        options.Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping;
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower));
        return options;
    }
}

/// <summary>
/// A response as bytes with its status, so that a response stored under an Idempotency-Key replays byte for byte.
/// Every /v1 endpoint answers with one.
/// </summary>
internal sealed class ApiResult(int status, byte[] body, string contentType) : IResult, IStatusCodeHttpResult
{
    public int Status { get; } = status;

    public byte[] Body { get; } = body;

    public string ContentType { get; } = contentType;

    int? IStatusCodeHttpResult.StatusCode => Status;

    public static ApiResult Json<T>(int status, T value) =>
        new(status, JsonSerializer.SerializeToUtf8Bytes(value, ApiJson.Options), "application/json");

    public static ApiResult Ok<T>(T value) => Json(StatusCodes.Status200OK, value);

    public Task ExecuteAsync(HttpContext httpContext)
    {
        httpContext.Response.StatusCode = Status;
        httpContext.Response.ContentType = ContentType;
        httpContext.Response.ContentLength = Body.Length;
        if (Status >= StatusCodes.Status400BadRequest)
        {
            Health.RefusalCounting.Count(httpContext, Status, Body);
        }

        return httpContext.Response.Body.WriteAsync(Body).AsTask();
    }
}
