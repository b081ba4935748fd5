using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Tollgate.Server.Hosting;

/// <summary>
/// Where Tollgate can be reached: the configured <c>Tollgate__PublicBaseUrl</c> for links handed out, else the first
/// address the server listens on. <see cref="SelfClient"/> calls Tollgate's own endpoints (the Sandbox delivers its
/// webhooks this way, through the same pipeline as the real providers).
/// </summary>
internal sealed class PublicUrls(TollgateSettings settings, IServer server) : Tollgate.Providers.Sandbox.ISandboxHost
{
    /// <summary>Where the server listens when nothing else is configured.</summary>
    internal const string DefaultUrl = "http://localhost:5080";

    private Uri? _listening;

    /// <summary>A test server sets this: requests to self then go through its in-memory handler.</summary>
    public HttpMessageHandler? SelfHandler { get; set; }

    public Uri Base => settings.PublicBaseUrl ?? Listening;

    public Uri Listening => _listening ??= ReadListening();

    public HttpClient SelfClient() =>
        SelfHandler is { } handler
            ? new HttpClient(handler, disposeHandler: false) { BaseAddress = Base }
            : new HttpClient { BaseAddress = Listening, Timeout = TimeSpan.FromSeconds(30) };

    private Uri ReadListening()
    {
        var address = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? DefaultUrl;
        // A wildcard binding is reachable on loopback.
        address = address.Replace("://+", "://localhost", StringComparison.Ordinal).Replace("://*", "://localhost", StringComparison.Ordinal)
            .Replace("://0.0.0.0", "://localhost", StringComparison.Ordinal).Replace("://[::]", "://localhost", StringComparison.Ordinal);
        return new Uri(address.EndsWith('/') ? address : address + "/");
    }
}
