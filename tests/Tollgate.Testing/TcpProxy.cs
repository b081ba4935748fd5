using System.Net;
using System.Net.Sockets;

namespace Tollgate.Testing;

/// <summary>
/// A TCP forwarder in front of a database, so a test can take the database away from a server and give it back
/// without touching the database itself (the shared PostgreSQL cluster must never be stopped): <see cref="Cut"/>
/// resets every open connection and refuses new ones, as a crashed or unreachable server does; <see cref="Restore"/>
/// accepts again on the same port.
/// </summary>
public sealed class TcpProxy : IAsyncDisposable
{
    private readonly IPEndPoint _target;
    private readonly List<(TcpClient Client, TcpClient Server)> _pairs = [];
    private readonly Lock _lock = new();
    private TcpListener? _listener;
    private CancellationTokenSource _accepting = new();

    private TcpProxy(IPEndPoint target, int port)
    {
        _target = target;
        Port = port;
    }

    public int Port { get; }

    public static TcpProxy Start(string host, int port)
    {
        var address = Dns.GetHostAddresses(host).First(a => a.AddressFamily == AddressFamily.InterNetwork);
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var free = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        var proxy = new TcpProxy(new IPEndPoint(address, port), free);
        proxy.Restore();
        return proxy;
    }

    /// <summary>A connection string to the same database through this proxy.</summary>
    public string Route(string connectionString)
    {
        var builder = new Npgsql.NpgsqlConnectionStringBuilder(connectionString) { Host = "127.0.0.1", Port = Port };
        return builder.ToString();
    }

    public void Cut()
    {
        lock (_lock)
        {
            _accepting.Cancel();
            _listener?.Stop();
            _listener = null;
            foreach (var (client, server) in _pairs)
            {
                // Linger 0: a reset, not a polite close, like a machine that went away.
                if (client.Client is { } socket)
                {
                    try
                    {
                        socket.LingerState = new LingerOption(true, 0);
                    }
                    catch (Exception ex) when (ex is ObjectDisposedException or SocketException)
                    {
                        // Already closed by its pump.
                    }
                }

                client.Dispose();
                server.Dispose();
            }

            _pairs.Clear();
        }
    }

    public void Restore()
    {
        lock (_lock)
        {
            if (_listener is not null)
            {
                return;
            }

            _accepting = new CancellationTokenSource();
            _listener = new TcpListener(IPAddress.Loopback, Port);
            _listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            _listener.Start();
            _ = AcceptAsync(_listener, _accepting.Token);
        }
    }

    private async Task AcceptAsync(TcpListener listener, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await listener.AcceptTcpClientAsync(ct);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            var server = new TcpClient();
            try
            {
                await server.ConnectAsync(_target, ct);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException)
            {
                client.Dispose();
                server.Dispose();
                continue;
            }

            lock (_lock)
            {
                if (ct.IsCancellationRequested)
                {
                    client.Dispose();
                    server.Dispose();
                    return;
                }

                _pairs.Add((client, server));
            }

            _ = PumpAsync(client, server);
            _ = PumpAsync(server, client);
        }
    }

    private static async Task PumpAsync(TcpClient from, TcpClient to)
    {
        try
        {
            await from.GetStream().CopyToAsync(to.GetStream());
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or InvalidOperationException)
        {
            // The other side went away (or the proxy cut it): the pair is closed below.
        }

        from.Dispose();
        to.Dispose();
    }

    public ValueTask DisposeAsync()
    {
        Cut();
        return ValueTask.CompletedTask;
    }
}
