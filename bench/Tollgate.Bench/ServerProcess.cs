using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Reflection;

namespace Tollgate.Bench;

/// <summary>
/// <c>tollgate.dll</c> in a process of its own on a free loopback port, configured through the environment as API.md §2
/// describes, with one API key. Ready once <c>GET /healthz</c> answers 200. Disposing kills it.
/// </summary>
internal sealed class ServerProcess : IAsyncDisposable
{
    public const string ApiKey = "tg_bench_0123456789abcdef";

    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();

    private ServerProcess(Process process, Uri baseAddress)
    {
        _process = process;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    /// <summary>CPU time the server process has used so far (all its threads).</summary>
    public TimeSpan CpuTime
    {
        get
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
    }

    /// <summary>
    /// CPU ticks the server's tiered-compilation threads have used so far, by thread (Linux /proc; empty elsewhere). .NET first runs a
    /// method as quickly compiled code and recompiles it optimized, on that one background thread, once it has been
    /// called often; on two cores under load that thread was still busy a minute after start (a fifth of the server's
    /// CPU in a usage cell after a 20 s warm-up and three other cells; 6 % after a 90 s warm-up), so the cells report it apart from the requests' own.
    /// By thread id, in /proc's ticks (1/100 s): the worker ends after a few idle seconds and a new one starts when there
    /// is work again, so only a difference per thread says what was used between two readings.
    /// </summary>
    public IReadOnlyDictionary<int, long> JitTicks
    {
        get
        {
            var ticks = new Dictionary<int, long>();
            var tasks = $"/proc/{_process.Id}/task";
            if (!Directory.Exists(tasks))
            {
                return ticks;
            }

            foreach (var task in Directory.EnumerateDirectories(tasks))
            {
                try
                {
                    // The thread's name is cut to 15 characters: ".NET Tiered Compilation Worker" reads ".NET Tiered Com".
                    if (File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n') != ".NET Tiered Com")
                    {
                        continue;
                    }

                    var stat = File.ReadAllText(Path.Combine(task, "stat"));
                    // After the name (which has spaces): utime and stime are the 12th and 13th fields.
                    var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                    ticks[int.Parse(Path.GetFileName(task), CultureInfo.InvariantCulture)] =
                        long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
                }
                catch (IOException)
                {
                    // The thread ended while we read.
                }
            }

            return ticks;
        }
    }

    /// <summary>The server's resident memory now (Linux: VmRSS), in MiB.</summary>
    public double RssMiB
    {
        get
        {
            _process.Refresh();
            return _process.WorkingSet64 / (1024.0 * 1024.0);
        }
    }

    /// <param name="environment">More configuration (API.md §2, environment form), e.g. a provider's keys.</param>
    public static async Task<ServerProcess> StartAsync(string? dll, BenchDatabase database, IReadOnlyDictionary<string, string>? environment = null)
    {
        dll ??= DefaultDll();
        if (!File.Exists(dll))
        {
            throw new InvalidOperationException($"No server at {dll}: build it first (dotnet build -c Release src/Tollgate.Server) or pass --server <tollgate.dll>.");
        }

        var port = FreePort();
        var workingDirectory = Path.Combine(Path.GetTempPath(), "tollgate-bench", "server-" + port);
        Directory.CreateDirectory(workingDirectory);
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(dll);
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add($"http://127.0.0.1:{port}");
        start.Environment["Tollgate__Database__Provider"] = database.IsPostgres ? "postgres" : "sqlite";
        start.Environment["Tollgate__Database__ConnectionString"] = database.ConnectionString;
        start.Environment["Tollgate__ApiKeys__0"] = ApiKey;
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start dotnet.");
        var server = new ServerProcess(process, new Uri($"http://127.0.0.1:{port}"));
        process.OutputDataReceived += (_, e) => server.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => server.Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            // Three minutes: on the shared 2-core machine at a load average above 40 a server took more than one to start.
            await server.WaitUntilReadyAsync(TimeSpan.FromSeconds(180));
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>A client with exactly <paramref name="connections"/> pooled HTTP/1.1 connections to the server, sending the API key.</summary>
    public HttpClient CreateClient(int connections) =>
        new(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = connections,
            UseProxy = false,
            UseCookies = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        })
        {
            BaseAddress = BaseAddress,
            Timeout = TimeSpan.FromSeconds(30),
            DefaultRequestHeaders = { Authorization = new AuthenticationHeaderValue("Bearer", ApiKey) },
        };

    /// <summary>What the server printed (the last lines), for error messages.</summary>
    public string Output => string.Join(Environment.NewLine, _output);

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
    }

    private async Task WaitUntilReadyAsync(TimeSpan timeout)
    {
        using var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"The server exited with code {_process.ExitCode} before it was ready:{Environment.NewLine}{Output}");
            }

            try
            {
                using var response = await client.GetAsync(new Uri("/healthz", UriKind.Relative));
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException)
            {
                // Listening but not answering within the probe's 5 s (a starting server on a machine at a load above 50).
            }

            await Task.Delay(100);
        }

        throw new InvalidOperationException($"The server was not ready after {timeout.TotalSeconds:F0} s:{Environment.NewLine}{Output}");
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

    /// <summary>The server's Release build in the source tree (the bench project references it, so it is built first).</summary>
    private static string DefaultDll() =>
        typeof(ServerProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "TollgateServerDll")?.Value
        ?? throw new InvalidOperationException("The bench was built without the server's path; pass --server <tollgate.dll>.");
}
