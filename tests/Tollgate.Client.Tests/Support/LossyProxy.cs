using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Tollgate.Client.Tests.Support;

/// <summary>A request the proxy passed on, and whether its answer was thrown away.</summary>
public sealed record Forwarded(string Method, string Path, string? IdempotencyKey, bool Dropped, int Status);

/// <summary>
/// A proxy in front of a server that forwards every request and, for the ones <c>dropAnswer</c> picks, waits for the
/// server's answer and then cuts the connection instead of passing it on: the effect happened, the caller never heard.
/// </summary>
public sealed class LossyProxy : IAsyncDisposable
{
    private static readonly HashSet<string> HopByHop = new(["Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade", "Host", "Content-Length"],
        StringComparer.OrdinalIgnoreCase);

    private readonly WebApplication _app;
    private readonly HttpClient _upstream;
    private readonly Func<string, string, int, bool> _dropAnswer;
    private readonly ConcurrentQueue<Forwarded> _seen = new();
    private int _index = -1;

    private LossyProxy(WebApplication app, Uri target, Func<string, string, int, bool> dropAnswer)
    {
        _app = app;
        _upstream = new HttpClient { BaseAddress = target, Timeout = TimeSpan.FromSeconds(60) };
        _dropAnswer = dropAnswer;
    }

    public Uri BaseAddress { get; private set; } = null!;

    public IReadOnlyList<Forwarded> Seen => [.. _seen];

    /// <param name="dropAnswer">(method, path, index of the request) → whether to lose its answer.</param>
    public static async Task<LossyProxy> StartAsync(Uri target, Func<string, string, int, bool> dropAnswer)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var proxy = new LossyProxy(app, target, dropAnswer);
        app.Run(proxy.ForwardAsync);
        await app.StartAsync();
        proxy.BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return proxy;
    }

    private async Task ForwardAsync(HttpContext context)
    {
        var drop = _dropAnswer(context.Request.Method, context.Request.Path, Interlocked.Increment(ref _index));
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body);
        using var request = new HttpRequestMessage(new HttpMethod(context.Request.Method),
            new Uri(context.Request.Path.Value!.TrimStart('/') + context.Request.QueryString, UriKind.Relative));
        if (body.Length > 0 || context.Request.ContentType is not null)
        {
            request.Content = new ByteArrayContent(body.ToArray());
        }

        foreach (var (name, value) in context.Request.Headers)
        {
            if (!HopByHop.Contains(name) && !request.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)value))
            {
                request.Content?.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)value);
            }
        }

        using var answer = await _upstream.SendAsync(request);
        var bytes = await answer.Content.ReadAsByteArrayAsync();
        _seen.Enqueue(new Forwarded(context.Request.Method, context.Request.Path, context.Request.Headers["Idempotency-Key"].FirstOrDefault(), drop,
            (int)answer.StatusCode));
        if (drop)
        {
            context.Abort();
            return;
        }

        context.Response.StatusCode = (int)answer.StatusCode;
        foreach (var (name, values) in answer.Headers.Concat(answer.Content.Headers))
        {
            if (!HopByHop.Contains(name))
            {
                context.Response.Headers[name] = values.ToArray();
            }
        }

        await context.Response.Body.WriteAsync(bytes);
    }

    public async ValueTask DisposeAsync()
    {
        _upstream.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
