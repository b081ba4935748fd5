using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;

namespace Tollgate.Fault.Tests.Support;

/// <summary>
/// The real server (<c>tollgate.dll</c>, built beside these tests) in a process of its own on a loopback port, configured
/// through the environment as API.md §2 describes. <see cref="KillAsync"/> is SIGKILL: no shutdown hook, no flush, no
/// goodbye; <see cref="StartAgainAsync"/> starts a new process on the same port and database.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    public const string ApiKey = "tg_fault_0123456789abcdef";

    private readonly IReadOnlyDictionary<string, string> _environment;
    private readonly string _workingDirectory;
    private readonly ConcurrentQueue<string> _output = new();
    private Process? _process;

    private ServerProcess(int port, IReadOnlyDictionary<string, string> environment, string workingDirectory)
    {
        Port = port;
        _environment = environment;
        _workingDirectory = workingDirectory;
        BaseAddress = new Uri($"http://127.0.0.1:{port}");
    }

    public int Port { get; }

    public Uri BaseAddress { get; }

    /// <summary>What the server printed last (for failure messages).</summary>
    public string Output => string.Join(Environment.NewLine, _output);

    public static async Task<ServerProcess> StartAsync(FaultDatabase database, IReadOnlyDictionary<string, string>? environment = null)
    {
        var settings = new Dictionary<string, string>
        {
            ["Tollgate__Database__Provider"] = database.IsPostgres ? "postgres" : "sqlite",
            ["Tollgate__Database__ConnectionString"] = database.ConnectionString,
            ["Tollgate__ApiKeys__0"] = ApiKey,
            ["Logging__LogLevel__Default"] = "Warning",
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
        };
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            settings[key] = value;
        }

        var folder = Directory.CreateTempSubdirectory("tollgate-fault-").FullName;
        var server = new ServerProcess(FreePort(), settings, folder);
        await server.StartAgainAsync();
        return server;
    }

    /// <summary>Starts the server (again), on the same port and database, and waits until <c>/healthz</c> answers 200.</summary>
    public async Task StartAgainAsync(TimeSpan? timeout = null)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "tollgate.dll");
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = _workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(dll);
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add(BaseAddress.ToString().TrimEnd('/'));
        foreach (var (key, value) in _environment)
        {
            start.Environment[key] = value;
        }

        _process = Process.Start(start) ?? throw new InvalidOperationException("Could not start dotnet.");
        _process.OutputDataReceived += (_, e) => Keep(e.Data);
        _process.ErrorDataReceived += (_, e) => Keep(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        await WaitUntilHealthyAsync(timeout ?? TimeSpan.FromSeconds(90));
    }

    /// <summary>SIGKILL (Process.Kill on Linux), then waits for the process to be gone.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    /// <summary>SIGTERM, as an orchestrator stops a server; returns the exit code, or null when the process had not
    /// exited within <paramref name="timeout"/> (then it is killed).</summary>
    public async Task<int?> TerminateAsync(TimeSpan timeout)
    {
        if (_process is not { HasExited: false } process)
        {
            throw new InvalidOperationException("The server is not running.");
        }

        // .NET's Process.Kill is SIGKILL only; kill(1) sends the signal an orchestrator sends.
        using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
            if (kill.ExitCode != 0)
            {
                throw new InvalidOperationException($"kill -TERM {process.Id} failed with exit code {kill.ExitCode}");
            }
        }

        using var wait = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(wait.Token);
            return process.ExitCode;
        }
        catch (OperationCanceledException)
        {
            await KillAsync();
            return null;
        }
    }

    /// <summary>Whether the process has exited (after <see cref="TerminateAsync"/> or on its own).</summary>
    public bool HasExited => _process is null || _process.HasExited;

    /// <summary>Waits until <c>/healthz</c> answers 200 (the database reachable and migrated).</summary>
    public async Task WaitUntilHealthyAsync(TimeSpan timeout)
    {
        using var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (_process is { HasExited: true } exited)
            {
                throw new InvalidOperationException($"The server exited with code {exited.ExitCode}:{Environment.NewLine}{Output}");
            }

            try
            {
                using var response = await client.GetAsync(new Uri("/healthz", UriKind.Relative));
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                // Not listening yet.
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"The server was not healthy after {timeout.TotalSeconds:F0} s:{Environment.NewLine}{Output}");
    }

    /// <summary>A client sending the API key; connections are not kept beyond a failure, so a restarted server is reached.</summary>
    public HttpClient CreateClient(int connections = 64) =>
        new(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = connections,
            UseProxy = false,
            UseCookies = false,
            AllowAutoRedirect = false,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(5),
            ConnectTimeout = TimeSpan.FromSeconds(5),
        })
        {
            BaseAddress = BaseAddress,
            Timeout = TimeSpan.FromSeconds(30),
            DefaultRequestHeaders = { Authorization = new AuthenticationHeaderValue("Bearer", ApiKey) },
        };

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process?.Dispose();
        try
        {
            Directory.Delete(_workingDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A file still held by the dying process: the temp folder is cleaned later.
        }
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        _output.Enqueue(line);
        while (_output.Count > 200 && _output.TryDequeue(out _))
        {
        }
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}

