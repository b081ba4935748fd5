using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Reflection;
using Microsoft.Extensions.Logging.Abstractions;
using Tollgate.Storage;
using Tollgate.Testing;

namespace Tollgate.Client.Tests.Support;

/// <summary>
/// The real server, <c>dotnet tollgate.dll</c> as built with this solution, in a process of its own on a free loopback
/// port: a fresh database (SQLite file, or a PostgreSQL schema of its own), the Sandbox as the default provider, the test
/// catalog (the demo one plus a count feature no plan includes), and Creem configured against a port that refuses
/// connections, so that a checkout through Creem fails as a provider failure does. Ready once <c>/healthz</c> answers.
/// </summary>
public abstract class TollgateServer : IAsyncLifetime
{
    public const string SecretKey = "tg_client_tests_0123456789abcdef";

    private readonly string _folder = Path.Combine(Path.GetTempPath(), "tollgate-client-tests", Guid.NewGuid().ToString("N"));
    private readonly ConcurrentQueue<string> _output = new();
    private Process? _process;
    private TestDatabase? _database;
    private SocketsHttpHandler? _handler;

    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>Plain HTTP with the key, for what ITollgate does not cover (the ledger, the Sandbox's payment form).</summary>
    public HttpClient Raw { get; private set; } = null!;

    /// <summary>Why this server cannot run here, or null.</summary>
    protected virtual string? Unavailable => null;

    /// <summary>Skips (or under CI=true fails) the test when this server cannot run here.</summary>
    public virtual void Require()
    {
    }

    protected abstract Task<(string Provider, string ConnectionString, TestDatabase? Database)> CreateDatabaseAsync(string folder);

    public async ValueTask InitializeAsync()
    {
        if (Unavailable is not null)
        {
            return;
        }

        Directory.CreateDirectory(_folder);
        var (provider, connection, database) = await CreateDatabaseAsync(_folder);
        _database = database;
        var dll = typeof(TollgateServer).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "TollgateServerDll").Value!;
        if (!File.Exists(dll))
        {
            throw new InvalidOperationException($"No server at {dll}: build the solution first.");
        }

        var port = FreePort();
        BaseAddress = new Uri($"http://127.0.0.1:{port}/");
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = _folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(dll);
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add($"http://127.0.0.1:{port}");
        start.Environment["Tollgate__Database__Provider"] = provider;
        start.Environment["Tollgate__Database__ConnectionString"] = connection;
        start.Environment["Tollgate__ApiKeys__0"] = SecretKey;
        start.Environment["Tollgate__Catalog"] = Path.Combine(AppContext.BaseDirectory, "Resources", "catalog.yaml");
        start.Environment["Tollgate__Providers__Default"] = "sandbox";
        start.Environment["Tollgate__Providers__Sandbox__Enabled"] = "true";
        start.Environment["Tollgate__Providers__Creem__ApiKey"] = "creem_test_client_tests";
        start.Environment["Tollgate__Providers__Creem__WebhookSecret"] = "whsec_client_tests";
        start.Environment["Tollgate__Providers__Creem__BaseUrl"] = $"http://127.0.0.1:{FreePort()}";
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        start.Environment["Logging__LogLevel__Microsoft.AspNetCore.DataProtection"] = "Error";
        start.Environment["DOTNET_NOLOGO"] = "1";
        _process = Process.Start(start) ?? throw new InvalidOperationException("Could not start dotnet.");
        _process.OutputDataReceived += (_, e) => Keep(e.Data);
        _process.ErrorDataReceived += (_, e) => Keep(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        _handler = new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5), MaxConnectionsPerServer = 256 };
        Raw = new HttpClient(_handler, disposeHandler: false) { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        Raw.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", SecretKey);
        await WaitUntilReadyAsync(TimeSpan.FromMinutes(3));
    }

    /// <summary>A client of this server (or of <paramref name="address"/>, a proxy in front of it), as an app would make one.</summary>
    public TollgateClient Client(Uri? address = null, string secretKey = SecretKey, Action<TollgateClientOptions>? configure = null)
    {
        var options = new TollgateClientOptions
        {
            BaseAddress = address ?? BaseAddress,
            SecretKey = secretKey,
            // The shared test machine is slow at times; a retry is a test's subject, not a way to pass it.
            AttemptTimeout = TimeSpan.FromSeconds(60),
            Deadline = TimeSpan.FromSeconds(120),
            RetryDelay = TimeSpan.FromMilliseconds(20),
        };
        configure?.Invoke(options);
        return new TollgateClient(new HttpClient(_handler!, disposeHandler: false) { Timeout = Timeout.InfiniteTimeSpan }, options, NullLogger.Instance);
    }

    public static string NewCustomerId() => "cl_" + Guid.NewGuid().ToString("N")[..16];

    /// <summary>What the server printed (its last lines), for failure messages.</summary>
    public string Output => string.Join(Environment.NewLine, _output);

    public async ValueTask DisposeAsync()
    {
        Raw?.Dispose();
        _handler?.Dispose();
        if (_process is not null)
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            await _process.WaitForExitAsync();
            _process.Dispose();
        }

        if (_database is not null)
        {
            await _database.DisposeAsync();
        }

        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
            // Never created: this server did not run here.
        }
        catch (IOException)
        {
            // A file still held: the temp folder is cleaned up another day.
        }

        GC.SuppressFinalize(this);
    }

    private async Task WaitUntilReadyAsync(TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (_process!.HasExited)
            {
                throw new InvalidOperationException($"The server exited with code {_process.ExitCode} before it was ready:{Environment.NewLine}{Output}");
            }

            try
            {
                using var response = await Raw.GetAsync(new Uri("healthz", UriKind.Relative));
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(200);
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
        while (_output.Count > 300 && _output.TryDequeue(out _))
        {
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>The server on a SQLite file in a temporary folder.</summary>
public sealed class SqliteServer : TollgateServer
{
    protected override Task<(string Provider, string ConnectionString, TestDatabase? Database)> CreateDatabaseAsync(string folder) =>
        Task.FromResult<(string, string, TestDatabase?)>(("sqlite", $"Data Source={Path.Combine(folder, "tollgate.db")}", null));
}

/// <summary>The server on a PostgreSQL schema of its own in the <c>TOLLGATE_TEST_POSTGRES</c> database (migrated by the
/// server as it starts, dropped afterwards). Without the variable its tests are skipped, or fail under CI=true.</summary>
public sealed class PostgresServer : TollgateServer
{
    protected override string? Unavailable =>
        string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(Postgres.Variable)) ? "no TOLLGATE_TEST_POSTGRES" : null;

    public override void Require() => _ = Postgres.ConnectionString;

    protected override async Task<(string Provider, string ConnectionString, TestDatabase? Database)> CreateDatabaseAsync(string folder)
    {
        var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres, TimeProvider.System, migrate: false);
        return ("postgres", database.Options.ConnectionString, database);
    }
}
