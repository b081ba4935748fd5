using System.Diagnostics;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;

namespace Tollgate.TypeScript.Tests.Support;

/// <summary>
/// <c>clients/typescript</c>, installed (<c>npm ci</c>, skipped when <c>node_modules</c> was installed from this very
/// lock file) and built (<c>npm run build</c>) once for the test class. Without Node.js 20.9+ the tests are skipped with
/// the reason, except under <c>CI=true</c>, where a skip would hide a gap: there they fail.
/// </summary>
public sealed class TypeScriptWorkspace : IAsyncLifetime
{
    private const string Stamp = ".tollgate-lock-sha256";
    private string? _unavailable;
    private Exception? _setupFailure;

    public string Root { get; } = Metadata("TypeScriptRoot");

    /// <summary>The server the npm tests start (<c>scripts/tollgate-server.mjs</c>): the one this solution just built.</summary>
    public string ServerDll { get; } = Metadata("TollgateServerDll");

    public async ValueTask InitializeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(15));
        var node = await Npm.TryVersionAsync("node", timeout.Token);
        if (node is null || await Npm.TryVersionAsync("npm", timeout.Token) is null)
        {
            _unavailable = "The TypeScript tests need node (20.9+) and npm on PATH.";
            return;
        }

        if (!Version.TryParse(node.TrimStart('v'), out var version) || version < new Version(20, 9))
        {
            _unavailable = $"The TypeScript tests need Node.js 20.9 or later; node --version says {node}.";
            return;
        }

        try
        {
            var lockHash = Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(Path.Combine(Root, "package-lock.json"), timeout.Token)));
            var stamp = Path.Combine(Root, "node_modules", Stamp);
            if (!File.Exists(stamp) || (await File.ReadAllTextAsync(stamp, timeout.Token)).Trim() != lockHash)
            {
                await RunAsync(null, timeout.Token, "npm", "ci");
                await File.WriteAllTextAsync(stamp, lockHash, timeout.Token);
            }

            await RunAsync(null, timeout.Token, "npm", "run", "build");
        }
        catch (Exception ex) when (ex is NpmFailed or OperationCanceledException)
        {
            // Reported by every test that needs the workspace, with the command's output.
            _setupFailure = ex;
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>Skips (or, under CI=true, fails) without Node.js; fails when installing or building failed.</summary>
    public void Require()
    {
        if (_unavailable is not null)
        {
            if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
            {
                Assert.Fail($"CI=true and {_unavailable}");
            }

            Assert.Skip(_unavailable);
        }

        if (_setupFailure is not null)
        {
            Assert.Fail($"Setting up clients/typescript failed: {_setupFailure.Message}");
        }
    }

    /// <summary>Runs a command in <c>clients/typescript</c>; fails with its output unless it exits 0.</summary>
    public Task RunAsync(IReadOnlyDictionary<string, string>? environment, CancellationToken cancellationToken, params string[] command)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["TOLLGATE_SERVER_DLL"] = ServerDll,
            ["NEXT_TELEMETRY_DISABLED"] = "1",
            ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1",
            ["NO_COLOR"] = "1",
            ["FORCE_COLOR"] = "0",
            ["npm_config_update_notifier"] = "false",
            ["npm_config_fund"] = "false",
            ["npm_config_audit"] = "false",
        };
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            env[name] = value;
        }

        return Npm.RunAsync(Root, command, env, TimeSpan.FromMinutes(10), cancellationToken);
    }

    private static string Metadata(string key) =>
        typeof(TypeScriptWorkspace).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!;
}

public sealed class NpmFailed(string message) : Exception(message);

/// <summary>Child processes, with their output streamed to the test's output and kept for the failure message.</summary>
internal static class Npm
{
    private const int TailLines = 150;

    public static async Task<string?> TryVersionAsync(string tool, CancellationToken cancellationToken)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(tool, "--version") { RedirectStandardOutput = true, RedirectStandardError = true })!;
            var output = await process.StandardOutput.ReadToEndAsync(cancellationToken);
            await process.WaitForExitAsync(cancellationToken);
            return process.ExitCode == 0 ? output.Trim() : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // Not on PATH.
            return null;
        }
    }

    public static async Task RunAsync(string directory, string[] command, IReadOnlyDictionary<string, string> environment, TimeSpan limit,
        CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(command[0])
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        foreach (var argument in command.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        var output = new Queue<string>();
        var gate = new Lock();
        void Line(string? line)
        {
            if (line is null)
            {
                return;
            }

            TestContext.Current.TestOutputHelper?.WriteLine(line);
            lock (gate)
            {
                output.Enqueue(line);
                if (output.Count > TailLines)
                {
                    output.Dequeue();
                }
            }
        }

        var text = string.Join(' ', command);
        var watch = Stopwatch.StartNew();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Line(e.Data);
        process.ErrorDataReceived += (_, e) => Line(e.Data);
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(limit);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            throw new NpmFailed($"`{text}` did not finish within {limit.TotalMinutes} minutes.\n{Tail(output, gate)}");
        }

        // WaitForExitAsync returns once the output streams are drained too.
        Line($"[{text}: exit {process.ExitCode} after {watch.Elapsed.TotalSeconds:0.0} s]");
        if (process.ExitCode != 0)
        {
            throw new NpmFailed($"`{text}` exited with {process.ExitCode}. Its last {TailLines} lines:\n{Tail(output, gate)}");
        }
    }

    private static string Tail(Queue<string> output, Lock gate)
    {
        lock (gate)
        {
            var builder = new StringBuilder();
            foreach (var line in output)
            {
                builder.AppendLine(line);
            }

            return builder.ToString();
        }
    }
}
