using Xunit;
using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Tollgate.Testing.Fakes;

/// <summary>A request as the fake server received it, byte for byte.</summary>
public sealed record RecordedRequest(string Method, string Path, string Query, IReadOnlyDictionary<string, string> Headers, string Body)
{
    public string? Header(string name) =>
        Headers.FirstOrDefault(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Value;

    public JsonElement Json()
    {
        using var document = JsonDocument.Parse(Body);
        return document.RootElement.Clone();
    }

    /// <summary>The form fields in order, names and values percent-decoded (brackets and all).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Form() =>
        Body.Length == 0
            ? []
            : Body.Split('&')
                .Select(pair => pair.Split('=', 2))
                .Select(kv => KeyValuePair.Create(Uri.UnescapeDataString(kv[0]), Uri.UnescapeDataString(kv.Length > 1 ? kv[1] : "")))
                .ToList();

    public Dictionary<string, string> FormMap() => Form().ToDictionary(kv => kv.Key, kv => kv.Value);
}

/// <summary>An answer from the fake: a status and a JSON body, or no answer at all until the client gives up.</summary>
public sealed record FakeResponse(int Status, string Body)
{
    public static readonly FakeResponse Hang = new(0, "");

    public bool Hangs => Status == 0;

    public static FakeResponse Json(int status, object body) => new(status, JsonSerializer.Serialize(body));
}

/// <summary>
/// A minimal ASP.NET Core app on Kestrel at 127.0.0.1 with an OS-chosen port. It records every request, answers
/// through the provider-specific <c>route</c>, and can be told to misbehave for the next few requests.
/// </summary>
public sealed class FakeServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();
    private readonly ConcurrentQueue<FakeResponse> _faults = new();

    private FakeServer(WebApplication app, Uri baseUrl)
    {
        _app = app;
        BaseUrl = baseUrl;
    }

    public Uri BaseUrl { get; }

    public IReadOnlyList<RecordedRequest> Requests => [.. _requests];

    public RecordedRequest SingleRequest => Assert.Single(_requests);

    /// <summary>The next requests get these answers, one each, in order, before the route answers again.</summary>
    public void FailNext(params FakeResponse[] responses)
    {
        foreach (var response in responses)
        {
            _faults.Enqueue(response);
        }
    }

    public static async Task<FakeServer> StartAsync(Func<RecordedRequest, FakeResponse> route)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(2));
        var app = builder.Build();

        FakeServer? server = null;
        app.Run(async context =>
        {
            var recorded = await RecordAsync(context.Request);
            server!._requests.Enqueue(recorded);
            var response = server._faults.TryDequeue(out var fault) ? fault : route(recorded);
            if (response.Hangs)
            {
                try
                {
                    await Task.Delay(Timeout.InfiniteTimeSpan, context.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                    // The client gave up, as the test intends.
                }

                return;
            }

            context.Response.StatusCode = response.Status;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(response.Body, context.RequestAborted);
        });

        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        server = new FakeServer(app, new Uri(address));
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private static async Task<RecordedRequest> RecordAsync(HttpRequest request)
    {
        using var reader = new StreamReader(request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync();
        var headers = request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
        return new RecordedRequest(request.Method, request.Path.Value ?? "", request.QueryString.Value ?? "", headers, body);
    }
}
