using System.Security.Cryptography;
using Microsoft.Net.Http.Headers;

namespace Tollgate.Server.Pages.Shared;

/// <summary>
/// The pages' stylesheet, script and icon, from <c>wwwroot/</c>, embedded in the assembly so they are served whatever
/// the working directory (<c>dotnet run</c> keeps the caller's). Addresses carry a content hash, so browsers may keep
/// them for a year.
/// </summary>
internal static class Assets
{
    private static readonly Dictionary<string, Asset> ByName = new(StringComparer.Ordinal)
    {
        ["tollgate.css"] = Load("tollgate.css", "text/css; charset=utf-8"),
        ["tollgate.js"] = Load("tollgate.js", "text/javascript; charset=utf-8"),
        ["tollgate.svg"] = Load("tollgate.svg", "image/svg+xml"),
    };

    public static string CssUrl { get; } = Url("tollgate.css");
    public static string JsUrl { get; } = Url("tollgate.js");
    public static string IconUrl { get; } = Url("tollgate.svg");

    public static IEndpointRouteBuilder MapAssets(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/assets/{name}", (string name, string? v, HttpContext http) =>
        {
            if (!ByName.TryGetValue(name, out var asset))
            {
                return Results.NotFound();
            }

            var headers = http.Response.GetTypedHeaders();
            headers.ETag = asset.ETag;
            headers.CacheControl = v == asset.Version
                ? new CacheControlHeaderValue { Public = true, MaxAge = TimeSpan.FromDays(365), Extensions = { new NameValueHeaderValue("immutable") } }
                : new CacheControlHeaderValue { NoCache = true };
            var ifNoneMatch = http.Request.GetTypedHeaders().IfNoneMatch;
            return ifNoneMatch.Any(e => e.Compare(asset.ETag, useStrongComparison: false))
                ? Results.StatusCode(StatusCodes.Status304NotModified)
                : Results.Bytes(asset.Content, asset.ContentType);
        }).ExcludeFromDescription();
        return endpoints;
    }

    private static string Url(string name) => $"/assets/{name}?v={ByName[name].Version}";

    private static Asset Load(string name, string contentType)
    {
        using var stream = typeof(Assets).Assembly.GetManifestResourceStream("Tollgate.Assets." + name)
            ?? throw new InvalidOperationException($"The asset {name} is not embedded in the assembly.");
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        var content = memory.ToArray();
        var version = Convert.ToHexStringLower(SHA256.HashData(content))[..12];
        return new Asset(content, contentType, version, new EntityTagHeaderValue($"\"{version}\""));
    }

    private sealed record Asset(byte[] Content, string ContentType, string Version, EntityTagHeaderValue ETag);
}
