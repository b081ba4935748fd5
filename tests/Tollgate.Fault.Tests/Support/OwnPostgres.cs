using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Tollgate.Fault.Tests.Support;

/// <summary>
/// A PostgreSQL cluster of the test's own (initdb into a temp folder, its own port), so it can be stopped and started
/// while other test projects keep using the shared cluster on 5432, which must never be stopped. The binaries come from
/// <c>TOLLGATE_TEST_PG_BIN</c> or the newest <c>/usr/lib/postgresql/*/bin</c>. PostgreSQL refuses to run as root: as root
/// (CI), the cluster belongs to the <c>postgres</c> user and is driven through <c>runuser</c>.
/// </summary>
public sealed class OwnPostgres : IAsyncDisposable
{
    private readonly string _bin;
    private readonly string _folder;
    private readonly string? _runAs;

    private OwnPostgres(string bin, string folder, string? runAs, int port)
    {
        _bin = bin;
        _folder = folder;
        _runAs = runAs;
        Port = port;
    }

    public int Port { get; }

    public string ConnectionString =>
        new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = Port, Username = "postgres", Database = "postgres", Timeout = 3, CommandTimeout = 10 }
            .ToString();

    /// <summary>Why a cluster of one's own cannot be made here, or null when it can.</summary>
    public static string? Unavailable()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "the outage test drives PostgreSQL binaries on Linux";
        }

        return FindBin() is null ? "no PostgreSQL server binaries (initdb, pg_ctl): set TOLLGATE_TEST_PG_BIN or install postgresql" : null;
    }

    public static async Task<OwnPostgres> StartAsync()
    {
        var bin = FindBin() ?? throw new InvalidOperationException(Unavailable());
        var root = Environment.UserName == "root" || Environment.GetEnvironmentVariable("USER") == "root" || IsRoot();
        var folder = Directory.CreateTempSubdirectory("tollgate-fault-pg-").FullName;
        var runAs = root ? "postgres" : null;
        if (runAs is not null)
        {
            await RunAsync("chown", ["-R", $"{runAs}:{runAs}", folder], null);
        }

        var cluster = new OwnPostgres(bin, folder, runAs, FreePort());
        await cluster.PgAsync("initdb", ["-D", cluster.Data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"]);
        await cluster.StartPostgresAsync();
        return cluster;
    }

    private string Data => Path.Combine(_folder, "data");

    /// <summary>Stops the server at once, as a crash or a failover would (<c>-m immediate</c>: no checkpoint).</summary>
    public Task StopAsync() => PgAsync("pg_ctl", ["-D", Data, "-m", "immediate", "-w", "stop"]);

    public async Task StartPostgresAsync()
    {
        await PgAsync("pg_ctl", ["-D", Data, "-w", "-t", "60", "-l", Path.Combine(_folder, "log"), "-o",
            $"-p {Port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={_folder} -c fsync=off -c max_connections=200", "start"]);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        catch (InvalidOperationException)
        {
            // Already stopped.
        }

        Directory.Delete(_folder, recursive: true);
    }

    private Task PgAsync(string tool, IReadOnlyList<string> args) =>
        _runAs is null
            ? RunAsync(Path.Combine(_bin, tool), args, null)
            : RunAsync("runuser", ["-u", _runAs, "--", Path.Combine(_bin, tool), .. args], null);

    private static async Task RunAsync(string file, IReadOnlyList<string> args, string? workingDirectory)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited with {process.ExitCode}: {await output}{await error}");
        }
    }

    private static string? FindBin()
    {
        if (Environment.GetEnvironmentVariable("TOLLGATE_TEST_PG_BIN") is { Length: > 0 } configured)
        {
            return File.Exists(Path.Combine(configured, "pg_ctl")) ? configured : null;
        }

        const string root = "/usr/lib/postgresql";
        return Directory.Exists(root)
            ? Directory.GetDirectories(root)
                .Select(d => Path.Combine(d, "bin"))
                .Where(d => File.Exists(Path.Combine(d, "pg_ctl")) && File.Exists(Path.Combine(d, "initdb")))
                .OrderByDescending(d => int.TryParse(Path.GetFileName(Path.GetDirectoryName(d)), out var v) ? v : 0)
                .FirstOrDefault()
            : null;
    }

    private static bool IsRoot()
    {
        try
        {
            return File.ReadAllLines("/proc/self/status").Any(l => l.StartsWith("Uid:", StringComparison.Ordinal) && l.Split('\t', ' ', StringSplitOptions.RemoveEmptyEntries)[1] == "0");
        }
        catch (IOException)
        {
            return false;
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
