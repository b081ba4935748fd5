using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StandardWebhooks;
using StandardWebhooks.Diagnostics;

namespace Tollgate.Testing.Fakes;

/// <summary>One event as the receiver got it: whether its signature verified (with the StandardWebhooks package,
/// not Tollgate's code, under any of the secrets the receiver knows), its id, type, sequence and body.</summary>
public sealed record ReceivedEvent(string WebhookId, string Timestamp, string Signature, bool Verified, string Type, string? CustomerId, long Sequence, JsonElement Data,
    string Body, int Answered);

/// <summary>
/// An app's endpoint for Tollgate's events: Kestrel on 127.0.0.1, verifying each delivery with the
/// <c>StandardWebhooks</c> NuGet package, answering 2xx unless told otherwise for the next requests.
/// </summary>
public sealed class EventReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedEvent> _received = new();
    private readonly ConcurrentQueue<(int Status, string? RetryAfter)> _answers = new();
    private readonly ConcurrentBag<string> _secrets = [];

    private EventReceiver(WebApplication app, Uri url)
    {
        _app = app;
        Url = url;
    }

    public Uri Url { get; }

    /// <summary>Every request received, in arrival order (retries and duplicates included).</summary>
    public IReadOnlyList<ReceivedEvent> Received => [.. _received];

    /// <summary>Requests answered with a 2xx.</summary>
    public IReadOnlyList<ReceivedEvent> Accepted => [.. _received.Where(r => r.Answered is >= 200 and < 300)];

    /// <summary>A secret the receiver verifies with (the one Tollgate returned when the endpoint was created or rotated).</summary>
    public void Trust(string secret) => _secrets.Add(secret);

    /// <summary>The next requests get these statuses, one each, before the receiver answers 200 again.</summary>
    public void AnswerNext(int status, int times = 1, string? retryAfter = null)
    {
        for (var i = 0; i < times; i++)
        {
            _answers.Enqueue((status, retryAfter));
        }
    }

    /// <summary>Holds each request this long before answering (a slow app).</summary>
    public TimeSpan Delay { get; set; }

    public static async Task<EventReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(2));
        var app = builder.Build();
        EventReceiver? receiver = null;
        app.Run(async context =>
        {
            using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
            var body = await reader.ReadToEndAsync();
            var verified = receiver!._secrets.Any(secret =>
            {
                try
                {
                    new StandardWebhook(secret).Verify(body, context.Request.Headers);
                    return true;
                }
                catch (WebhookVerificationException)
                {
                    return false;
                }
            });
            var (status, retryAfter) = receiver._answers.TryDequeue(out var answer) ? answer : (200, null);
            using var json = JsonDocument.Parse(body);
            var root = json.RootElement;
            var data = root.GetProperty("data").Clone();
            // Recorded on arrival: a request whose answer never reaches the sender (it was killed) still counts.
            receiver._received.Enqueue(new ReceivedEvent(context.Request.Headers["webhook-id"].ToString(), context.Request.Headers["webhook-timestamp"].ToString(),
                context.Request.Headers["webhook-signature"].ToString(),
                verified, root.GetProperty("type").GetString()!, data.TryGetProperty("customer_id", out var c) ? c.GetString() : null,
                root.GetProperty("sequence").GetInt64(), data, body, status));
            if (receiver.Delay > TimeSpan.Zero)
            {
                await Task.Delay(receiver.Delay, context.RequestAborted);
            }

            context.Response.StatusCode = status;
            if (retryAfter is not null)
            {
                context.Response.Headers.RetryAfter = retryAfter;
            }
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        receiver = new EventReceiver(app, new Uri(address + "/hooks"));
        return receiver;
    }

    /// <summary>Waits until <paramref name="done"/> holds for what was received (wall clock: deliveries are real HTTP).</summary>
    public async Task<IReadOnlyList<ReceivedEvent>> WaitForAsync(Func<IReadOnlyList<ReceivedEvent>, bool> done, TimeSpan? timeout = null)
    {
        var until = TimeProvider.System.GetUtcNow() + (timeout ?? TimeSpan.FromSeconds(30));
        while (!done(Received))
        {
            if (TimeProvider.System.GetUtcNow() > until)
            {
                throw new TimeoutException($"The receiver got {Received.Count} requests: {string.Join(", ", Received.Select(r => $"{r.Type}#{r.Sequence}→{r.Answered}"))}");
            }

            await Task.Delay(50);
        }

        return Received;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
