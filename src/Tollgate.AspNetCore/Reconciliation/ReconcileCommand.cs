using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Tollgate.Core.Common;
using Tollgate.Providers;
using Tollgate.Server.Hosting;
using Tollgate.Storage;

namespace Tollgate.Server.Reconciliation;

/// <summary><c>tollgate reconcile --provider stripe|creem [--since 30d] [--json]</c> (API.md §6.6): exit 0 when the
/// provider and Tollgate agree, 1 with the differences listed, 2 on error. It changes nothing: it does not even migrate.</summary>
internal static class ReconcileCommand
{
    public const int Agree = 0;
    public const int Differ = 1;
    public const int Error = 2;

    public static readonly TimeSpan DefaultPeriod = TimeSpan.FromDays(30);

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    /// <param name="args">The verb's own options, then any configuration (<c>--Tollgate:Database:ConnectionString=…</c>).</param>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, TimeProvider time, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        ArgumentNullException.ThrowIfNull(time);
        string? provider = null;
        string since = "30d";
        var json = false;
        var configuration = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--provider" when i + 1 < args.Length:
                    provider = args[++i];
                    break;
                case "--since" when i + 1 < args.Length:
                    since = args[++i];
                    break;
                case "--json":
                    json = true;
                    break;
                default:
                    configuration.Add(args[i]);
                    break;
            }
        }

        var listable = ProviderPlugins.BuiltIn.Where(p => p.Reconciles).ToList();
        var names = string.Join(" or ", listable.Select(p => p.Id));
        if (listable.FirstOrDefault(p => p.Id == provider) is not { } plugin)
        {
            return await FailAsync(error, provider is null
                ? $"--provider is required: {names}."
                : $"unknown provider '{provider}': reconcile compares {names}.");
        }

        var now = time.GetUtcNow();
        if (ParseSince(since, now) is not { } from)
        {
            return await FailAsync(error, $"--since '{since}' is not a period: give days or hours back (30d, 12h) or a UTC date (2026-11-01).");
        }

        try
        {
            var settings = TollgateSettings.Read(new ConfigurationBuilder()
                .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true)
                .AddEnvironmentVariables()
                .AddCommandLine([.. configuration])
                .Build());
            using var http = new HttpClient();
            var listing = Listing(plugin.Id, settings.Providers, http, time);
            if (listing is null)
            {
                return await FailAsync(error, $"{provider} is not configured here ({plugin.Key(plugin.RequiredSetting)}).");
            }

            await using var database = TollgateDatabase.Create(settings.Database, time);
            if (await database.GetSchemaVersionAsync(cancellationToken) != database.LatestVersion)
            {
                return await FailAsync(error, "the database is not at the current schema version; run 'tollgate migrate' first (reconcile changes nothing).");
            }

            var report = await new Reconciler(database.Subscriptions, database.Payments, database.Customers, database.Ledger, time)
                .RunAsync(plugin.Id, listing, from, cancellationToken);
            await output.WriteAsync(json ? Json(report) : Text(report));
            return report.Agrees ? Agree : Differ;
        }
        catch (ConfigurationException ex)
        {
            return await FailAsync(error, $"configuration error: {ex.Message}");
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // A provider that refused or could not be reached, a database that could not be read: no report, exit 2.
            return await FailAsync(error, ex.Message);
        }
    }

    /// <summary>The listing client of a configured provider, or null when it is not configured or lists nothing.</summary>
    public static IProviderListing? Listing(string provider, ProviderSettings settings, HttpClient http, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return settings.Find(provider) is { Plugin.Reconciles: true } live ? live.Plugin.CreateListing(live.Settings, http, time) : null;
    }

    /// <summary><c>30d</c>, <c>12h</c> back from now, or a UTC date or date-time; null when it is none of them or not in the past.</summary>
    public static DateTimeOffset? ParseSince(string text, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length >= 2 && text[^1] is 'd' or 'h'
            && int.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var count) && count is > 0 and <= 36_500)
        {
            return now - (text[^1] == 'd' ? TimeSpan.FromDays(count) : TimeSpan.FromHours(count));
        }

        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at)
            && at < now
            ? at
            : null;
    }

    public static string Json(ReconcileReport report) =>
        JsonSerializer.Serialize(new
        {
            report.Provider,
            report.Since,
            report.Until,
            report.Agrees,
            Provider_Counts = new { Subscriptions = report.ProviderSubscriptions, Payments = report.ProviderPayments },
            Tollgate_Counts = new { Subscriptions = report.TollgateSubscriptions, Payments = report.TollgatePayments },
            report.Differences,
            report.Notes,
        }, JsonOptions) + "\n";

    public static string Text(ReconcileReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var text = new System.Text.StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"Reconciling {report.Provider} from {Time(report.Since)} to {Time(report.Until)}.\n");
        text.Append(CultureInfo.InvariantCulture,
            $"{report.Provider}: {report.ProviderSubscriptions} subscriptions, {report.ProviderPayments} payments; tollgate: {report.TollgateSubscriptions} subscriptions, {report.TollgatePayments} payments.\n");
        foreach (var d in report.Differences)
        {
            text.Append(CultureInfo.InvariantCulture,
                $"{SnakeCase<DifferenceKind>.Name(d.Kind),-24}{d.Object,-14}{d.Id}  customer={d.CustomerId ?? "-"}  tollgate={d.Tollgate ?? "-"}  {report.Provider}={d.Provider ?? "-"}\n");
        }

        text.Append(report.Agrees ? "They agree.\n" : $"{report.Differences.Count.ToString(CultureInfo.InvariantCulture)} difference(s).\n");
        foreach (var note in report.Notes)
        {
            text.Append("Note: ").Append(note).Append('\n');
        }

        return text.ToString();
    }

    private static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static async Task<int> FailAsync(TextWriter error, string message)
    {
        await error.WriteLineAsync("tollgate reconcile: " + message);
        return Error;
    }
}
