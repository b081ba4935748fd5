using Tollgate.Storage;

namespace Tollgate.Server.Hosting;

/// <summary>The <c>tollgate</c> command: <c>serve</c> (default), <c>migrate</c> and <c>reconcile</c>.</summary>
public static class TollgateProgram
{
    public static async Task<int> RunAsync(string[] args)
    {
        var verb = args.Length > 0 && !args[0].StartsWith('-') ? args[0] : "serve";
        var rest = args.Length > 0 && !args[0].StartsWith('-') ? args[1..] : args;
        try
        {
            return verb switch
            {
                "serve" => await ServeAsync(rest),
                "migrate" => await MigrateAsync(rest),
                "reconcile" => await Reconciliation.ReconcileCommand.RunAsync(rest, Console.Out, Console.Error, TimeProvider.System),
                _ => Usage($"unknown command '{verb}'"),
            };
        }
        catch (ConfigurationException ex)
        {
            await Console.Error.WriteLineAsync($"tollgate: configuration error: {ex.Message}");
            return 2;
        }
    }

    private static async Task<int> ServeAsync(string[] args)
    {
        await using var app = await TollgateHost.CreateAsync(args);
        await app.RunAsync();
        return 0;
    }

    private static async Task<int> MigrateAsync(string[] args)
    {
        var configuration = new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true)
            .AddEnvironmentVariables()
            .AddCommandLine(args)
            .Build();
        await using var database = TollgateDatabase.Create(TollgateSettings.Read(configuration).Database, TimeProvider.System);
        var report = await database.MigrateAsync(CancellationToken.None);
        Console.WriteLine(report.Applied.Count == 0
            ? $"Database is up to date (schema version {report.CurrentVersion})."
            : $"Applied {string.Join(", ", report.Applied)}; schema version {report.CurrentVersion}.");
        return 0;
    }

    private static int Usage(string problem)
    {
        Console.Error.WriteLine($"tollgate: {problem}\nusage: tollgate [serve] [--urls URL] | tollgate migrate | tollgate reconcile --provider stripe|creem [--since 30d] [--json]");
        return 64;
    }
}
