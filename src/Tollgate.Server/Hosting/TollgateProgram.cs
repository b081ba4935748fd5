using Tollgate.Server.Health;
using Tollgate.Storage;

namespace Tollgate.Server.Hosting;

/// <summary>The <c>tollgate</c> command: <c>serve</c> (default) and <c>migrate</c>.</summary>
public static class TollgateProgram
{
    public const string DefaultUrl = "http://localhost:5080";

    public static async Task<int> RunAsync(string[] args)
    {
        var verb = args.Length > 0 && !args[0].StartsWith('-') ? args[0] : "serve";
        var rest = verb == "serve" && (args.Length == 0 || args[0].StartsWith('-')) ? args : args[1..];
        try
        {
            return verb switch
            {
                "serve" => await ServeAsync(rest),
                "migrate" => await MigrateAsync(rest),
                _ => Usage($"unknown command '{verb}'"),
            };
        }
        catch (ConfigurationException ex)
        {
            await Console.Error.WriteLineAsync($"tollgate: configuration error: {ex.Message}");
            return 2;
        }
    }

    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        if (string.IsNullOrEmpty(builder.Configuration["urls"]))
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }

        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(sp => TollgateDatabase.Create(DatabaseConfiguration.Read(builder.Configuration), sp.GetRequiredService<TimeProvider>()));
        configure?.Invoke(builder);

        var app = builder.Build();
        app.MapHealthApi();
        return app;
    }

    private static async Task<int> ServeAsync(string[] args)
    {
        await using var app = Build(args);
        var database = app.Services.GetRequiredService<TollgateDatabase>();
        var report = await database.MigrateAsync(CancellationToken.None);
        app.Logger.LogInformation("Database {Provider} at schema version {Version}; applied now: {Applied}",
            database.Provider, report.CurrentVersion, report.Applied.Count == 0 ? "none" : string.Join(", ", report.Applied));
        await app.RunAsync();
        return 0;
    }

    private static async Task<int> MigrateAsync(string[] args)
    {
        var configuration = new ConfigurationBuilder()
            .AddJsonFile("appsettings.json", optional: true)
            .AddEnvironmentVariables()
            .AddCommandLine(args)
            .Build();
        await using var database = TollgateDatabase.Create(DatabaseConfiguration.Read(configuration), TimeProvider.System);
        var report = await database.MigrateAsync(CancellationToken.None);
        Console.WriteLine(report.Applied.Count == 0
            ? $"Database is up to date (schema version {report.CurrentVersion})."
            : $"Applied {string.Join(", ", report.Applied)}; schema version {report.CurrentVersion}.");
        return 0;
    }

    private static int Usage(string problem)
    {
        Console.Error.WriteLine($"tollgate: {problem}\nusage: tollgate [serve] [--urls URL] | tollgate migrate");
        return 64;
    }
}
