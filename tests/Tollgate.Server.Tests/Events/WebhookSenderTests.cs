using System.Diagnostics;
using Tollgate.Core.Events;
using Tollgate.Server.Events;
using Tollgate.Testing.Fakes;

namespace Tollgate.Server.Tests.Events;

/// <summary>
/// The sender on its own (no database: what it does is the same whichever one stores the deliveries): an endpoint that
/// holds the request past 15 s gets a timeout, recorded as the attempt's error, not an endless wait.
/// </summary>
public sealed class WebhookSenderTests
{
    [Fact]
    public async Task AReceiverThatDoesNotAnswer_TimesOutAfter15Seconds()
    {
        await using var receiver = await EventReceiver.StartAsync();
        receiver.Delay = TimeSpan.FromSeconds(40);
        using var sender = new WebhookSender(allowPrivate: true, TimeProvider.System);
        var now = TimeProvider.System.GetUtcNow();
        var endpoint = new WebhookEndpoint("we_slow", receiver.Url.ToString(), null, null, EndpointStatus.Enabled, null, WebhookSecrets.New(), null, null,
            now, now);
        var body = """{"id":"evt_slow","type":"credits.granted","created_at":"2026-01-01T00:00:00.000000Z","sequence":1,"data":{"customer_id":"c"}}""";

        var watch = Stopwatch.StartNew();
        var result = await sender.SendAsync(new DeliveryWork(endpoint, "evt_slow", body, 0, "claim") { CustomerId = "cus_slow" }, CancellationToken.None);
        watch.Stop();

        Assert.Equal(TimeSpan.FromSeconds(15), WebhookSender.Timeout);
        Assert.Null(result.StatusCode);
        Assert.Equal("timeout after 15 s", result.Error);
        // It waited for the timeout (the request arrived and was held), and not much longer.
        Assert.Single(receiver.Received);
        Assert.InRange(watch.Elapsed.TotalSeconds, 14.5, 25);
    }
}
