using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Tollgate.Client.Tests.Support;

/// <summary>A request as the stub received it.</summary>
/// <param name="RawTarget">The request target exactly as sent, before the server decoded it.</param>
public sealed record Seen(string Method, string PathAndQuery, string RawTarget, string? IdempotencyKey, string? Authorization, string? ContentType, string Body,
    long ArrivedAt)
{
    /// <summary>Time from <paramref name="earlier"/>'s arrival to this one's.</summary>
    public TimeSpan After(Seen earlier) => Stopwatch.GetElapsedTime(earlier.ArrivedAt, ArrivedAt);
}

/// <summary>
/// A scripted HTTP server on 127.0.0.1 (Kestrel): the n-th request gets the n-th answer of the script, every later one
/// the last. Each request is recorded when it arrives, before it is answered, so that an answer the stub drops still
/// shows. For the client's behaviour on answers a real server gives only under failure: lost answers, 5xx, Retry-After,
/// hangs.
/// </summary>
public sealed class StubServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Func<HttpContext, Task>[] _script;
    private readonly ConcurrentQueue<Seen> _seen = new();
    private int _index = -1;

    private StubServer(WebApplication app, Func<HttpContext, Task>[] script)
    {
        _app = app;
        _script = script;
    }

    public Uri BaseAddress { get; private set; } = null!;

    public IReadOnlyList<Seen> Requests => [.. _seen];

    public static async Task<StubServer> StartAsync(params Func<HttpContext, Task>[] script)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var stub = new StubServer(app, script);
        app.Run(stub.HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        stub.BaseAddress = new Uri(address);
        return stub;
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync(context.RequestAborted);
        _seen.Enqueue(new Seen(context.Request.Method, context.Request.Path + context.Request.QueryString,
            context.Features.Get<IHttpRequestFeature>()!.RawTarget, Header(context, "Idempotency-Key"),
            Header(context, "Authorization"), Header(context, "Content-Type"), body, Stopwatch.GetTimestamp()));
        var index = Math.Min(Interlocked.Increment(ref _index), _script.Length - 1);
        await _script[index](context);
    }

    private static string? Header(HttpContext context, string name) => context.Request.Headers.TryGetValue(name, out var value) ? value.ToString() : null;

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>Answers for a <see cref="StubServer"/> script.</summary>
public static class Answer
{
    public static Func<HttpContext, Task> Json(int status, string json, string? retryAfter = null) => context =>
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = status >= 400 ? "application/problem+json" : "application/json";
        if (retryAfter is not null)
        {
            context.Response.Headers.RetryAfter = retryAfter;
        }

        return context.Response.WriteAsync(json);
    };

    public static Func<HttpContext, Task> Problem(int status, string code, string? detail = null, string? retryAfter = null) =>
        Json(status, $$"""{"type":"https://tollgate.dev/problems/{{code}}","title":"Title of {{code}}.","status":{{status}}{{(detail is null ? "" : $",\"detail\":\"{detail}\"")}},"code":"{{code}}"}""",
            retryAfter);

    public static Func<HttpContext, Task> Text(int status, string contentType, string text) => context =>
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = contentType;
        return context.Response.WriteAsync(text);
    };

    /// <summary>The request arrived (and, on a real server, took effect); the answer never comes back: the connection is cut.</summary>
    public static Func<HttpContext, Task> Drop() => context =>
    {
        context.Abort();
        return Task.CompletedTask;
    };

    /// <summary>No answer until the client gives up.</summary>
    public static Func<HttpContext, Task> Hang() => async context =>
    {
        try
        {
            await Task.Delay(Timeout.Infinite, context.RequestAborted);
        }
        catch (OperationCanceledException)
        {
            // The client hung up, as it should have.
        }
    };

    public const string Usage = """{"allowed":true,"feature":"credits","remaining":7,"entry_id":"ent_1"}""";
}
