using Tollgate.Core.Catalog;
using Tollgate.Providers;
using Tollgate.Storage;
using Tollgate.Storage.Stores;

namespace Tollgate.Server.Hosting;

/// <summary>
/// Tollgate's configuration (API.md §2), read and validated once at start-up. Every problem names the key in its
/// environment form (<c>Tollgate__Database__Provider</c>), so the one line printed is enough to fix it.
/// </summary>
/// <param name="Database">The database: SQLite or PostgreSQL and its connection (<c>Tollgate__Database__*</c>).</param>
/// <param name="CatalogPath">The catalog file (<c>Tollgate__Catalog</c>); null: the built-in demo catalog.</param>
/// <param name="ApiKeys">The secret keys that may call <c>/v1</c> (<c>Tollgate__ApiKeys__0</c>, …), each at least 16 characters.</param>
/// <param name="AdminKey">The admin console's key (<c>Tollgate__AdminKey</c>), at least 16 characters; null: no admin console (its pages answer 404).</param>
/// <param name="PublicBaseUrl">The absolute http(s) URL customers reach Tollgate at (<c>Tollgate__PublicBaseUrl</c>), for redirect and portal links; null: the first address the server listens on.</param>
/// <param name="Providers">The payment providers and the default one (<c>Tollgate__Providers__*</c>).</param>
/// <param name="PastDueKeepsAccess">A past-due subscription keeps its plan until its period ends (<c>Tollgate__Subscriptions__PastDueKeepsAccess</c>).</param>
/// <param name="ForwardedHeaders">Trust <c>X-Forwarded-For</c> and <c>X-Forwarded-Proto</c> from a reverse proxy (<c>Tollgate__ForwardedHeaders</c>); applied only when Tollgate is the whole app.</param>
/// <param name="AllowPrivateWebhookAddresses">Let webhook endpoints point at private and loopback addresses (<c>Tollgate__Webhooks__AllowPrivateAddresses</c>); off in production.</param>
/// <param name="EventRetentionDays">Days sent events and their deliveries are kept (<c>Tollgate__Webhooks__RetentionDays</c>).</param>
/// <param name="Retention">What the retention sweep keeps (<c>Tollgate__Retention__*</c>); null: <see cref="RetentionOptions.Default"/>.</param>
/// <param name="LedgerLanes">The ledger's parallel write transactions on PostgreSQL (<c>Tollgate__Ledger__Lanes</c>); null: <see cref="DefaultPostgresLanes"/>.</param>
public sealed record TollgateSettings(
    DatabaseOptions Database,
    string? CatalogPath,
    IReadOnlyList<string> ApiKeys,
    string? AdminKey,
    Uri? PublicBaseUrl,
    ProviderSettings Providers,
    bool PastDueKeepsAccess,
    bool ForwardedHeaders = false,
    bool AllowPrivateWebhookAddresses = false,
    int EventRetentionDays = TollgateSettings.DefaultEventRetentionDays,
    RetentionOptions? Retention = null,
    int? LedgerLanes = null)
{
    /// <summary>
    /// The ledger's lanes on PostgreSQL unless set. A lane writes one batch at a time, and every request queued meanwhile
    /// joins its next batch, so fewer lanes mean larger batches: fewer transactions, commits and statements per usage.
    /// On the 2-core bench machine, where the server and PostgreSQL share the cores, one lane beat two, three, four and
    /// eight in usage spread over many customers (docs/benchmarks.md, "Lanes"). A database with cores to spare may
    /// gain from more; SQLite has one writer and always runs one.
    /// </summary>
    public const int DefaultPostgresLanes = 1;

    /// <summary>The lanes the ledger engine runs: always one on SQLite.</summary>
    public int LedgerLanesOrDefault => Database.Provider == DatabaseProvider.Postgres ? LedgerLanes ?? DefaultPostgresLanes : 1;

    /// <summary>How long sent events and their deliveries are kept (<c>Tollgate__Webhooks__RetentionDays</c>).</summary>
    public const int DefaultEventRetentionDays = 30;

    /// <summary>What the retention sweep keeps (docs/operations.md); <see cref="RetentionOptions.Default"/> unless set.</summary>
    public RetentionOptions RetentionOrDefault => Retention ?? RetentionOptions.Default;

    /// <summary>Reads the <c>Tollgate</c> section of an app's configuration.</summary>
    public static TollgateSettings Read(IConfiguration configuration) => ReadSection(configuration.GetSection("Tollgate"));

    /// <summary>Reads Tollgate's settings from their section (an embedding app may keep them under any name; problems
    /// still name the keys in their <c>Tollgate__…</c> form, the one the documentation uses).</summary>
    public static TollgateSettings ReadSection(IConfiguration section)
    {
        var database = ReadDatabase(section.GetSection("Database"));
        var catalog = Blank(section["Catalog"]);
        if (catalog is not null && !File.Exists(catalog))
        {
            throw new ConfigurationException("Tollgate__Catalog", $"no catalog file at '{catalog}'.");
        }

        var apiKeys = section.GetSection("ApiKeys").GetChildren().Select(c => c.Value).OfType<string>().Where(v => v.Length > 0).ToList();
        foreach (var key in apiKeys.Where(k => k.Length < 16))
        {
            throw new ConfigurationException("Tollgate__ApiKeys", "every API key must be at least 16 characters.");
        }

        var adminKey = Blank(section["AdminKey"]);
        if (adminKey is { Length: < 16 })
        {
            throw new ConfigurationException("Tollgate__AdminKey", "must be at least 16 characters.");
        }

        Uri? baseUrl = null;
        if (Blank(section["PublicBaseUrl"]) is { } url
            && (!Uri.TryCreate(url, UriKind.Absolute, out baseUrl) || baseUrl.Scheme is not ("http" or "https")))
        {
            throw new ConfigurationException("Tollgate__PublicBaseUrl", $"'{url}' is not an absolute http(s) URL.");
        }

        var pastDue = section["Subscriptions:PastDueKeepsAccess"] is { Length: > 0 } raw
            ? bool.TryParse(raw, out var parsed) ? parsed : throw new ConfigurationException("Tollgate__Subscriptions__PastDueKeepsAccess", "must be true or false.")
            : true;
        // Behind a TLS proxy, requests arrive as plain HTTP: X-Forwarded-Proto says they were HTTPS, so cookies get Secure
        // and HSTS is sent. Off by default, since without a proxy in front anyone could send those headers.
        var forwarded = section["ForwardedHeaders"] is { Length: > 0 } rawForwarded
            ? bool.TryParse(rawForwarded, out var parsedForwarded) ? parsedForwarded : throw new ConfigurationException("Tollgate__ForwardedHeaders", "must be true or false.")
            : false;
        // Event endpoints on private networks (an app beside Tollgate, the tests' receivers) only when the operator says so.
        var allowPrivate = section["Webhooks:AllowPrivateAddresses"] is { Length: > 0 } rawPrivate
            ? bool.TryParse(rawPrivate, out var parsedPrivate) ? parsedPrivate : throw new ConfigurationException("Tollgate__Webhooks__AllowPrivateAddresses", "must be true or false.")
            : false;
        // Events whose deliveries are all done are pruned after this many days (the outbox is not an archive).
        var retention = section["Webhooks:RetentionDays"] is { Length: > 0 } rawRetention
            ? int.TryParse(rawRetention, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var days) && days is >= 1 and <= 3650
                ? days
                : throw new ConfigurationException("Tollgate__Webhooks__RetentionDays", "must be a whole number of days from 1 to 3650.")
            : DefaultEventRetentionDays;
        // SQLite has one writer: a second lane would only wait for the first, so asking for one is a mistake worth a word.
        var lanes = Number(section.GetSection("Ledger"), "Lanes", "Tollgate__Ledger__Lanes", 1, 64, "a whole number from 1 to 64");
        if (lanes > 1 && database.Provider != DatabaseProvider.Postgres)
        {
            throw new ConfigurationException("Tollgate__Ledger__Lanes", "more than one lane needs PostgreSQL; SQLite has one writer.");
        }

        return new TollgateSettings(database, catalog, apiKeys, adminKey, baseUrl, ProviderSettings.Read(section.GetSection("Providers")), pastDue, forwarded,
            allowPrivate, retention, ReadRetention(section.GetSection("Retention")), (int?)lanes);
    }

    private static RetentionOptions ReadRetention(IConfigurationSection section)
    {
        var defaults = RetentionOptions.Default;
        // At least a day: a client's retries (Tollgate.Client's, a job queue's) must find the first answer.
        var hours = Number(section, "IdempotencyHours", "Tollgate__Retention__IdempotencyHours", 24, 24 * 3650, "a whole number of hours from 24 to 87600")
            ?? (long)defaults.IdempotencyWindow.TotalHours;
        var days = Number(section, "WebhookPayloadDays", "Tollgate__Retention__WebhookPayloadDays", 0, 3650, "a whole number of days from 1 to 3650, or 0 to keep payloads")
            ?? (long)defaults.WebhookPayloadWindow!.Value.TotalDays;
        var batch = Number(section, "BatchSize", "Tollgate__Retention__BatchSize", 1, 100_000, "a whole number from 1 to 100000") ?? defaults.BatchSize;
        return new RetentionOptions(TimeSpan.FromHours(hours), days == 0 ? null : TimeSpan.FromDays(days), (int)batch);
    }

    private static long? Number(IConfigurationSection section, string name, string key, long min, long max, string expected) =>
        Blank(section[name]) is not { } raw ? null
            : long.TryParse(raw, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
                ? value
                : throw new ConfigurationException(key, $"'{raw}' must be {expected}.");

    /// <summary>Loads the catalog <see cref="CatalogPath"/> names (the demo catalog when null) with the mappings of every known provider.
    /// <exception cref="ConfigurationException">The catalog cannot be read or is invalid; the key is <c>Tollgate__Catalog</c>.</exception></summary>
    public ProductCatalog LoadCatalog()
    {
        try
        {
            var mappings = ProviderPlugins.CatalogMappings(Providers.Plugins);
            return CatalogPath is null ? CatalogLoader.LoadDemo(mappings) : CatalogLoader.LoadFile(CatalogPath, mappings);
        }
        catch (CatalogException ex)
        {
            throw new ConfigurationException("Tollgate__Catalog", ex.Message);
        }
    }

    private static DatabaseOptions ReadDatabase(IConfigurationSection section)
    {
        var providerName = section["Provider"];
        var provider = providerName?.Trim().ToLowerInvariant() switch
        {
            null or "" or "sqlite" => DatabaseProvider.Sqlite,
            "postgres" or "postgresql" => DatabaseProvider.Postgres,
            _ => throw new ConfigurationException("Tollgate__Database__Provider", $"'{providerName}' is not a database provider; use sqlite or postgres."),
        };
        var connectionString = Blank(section["ConnectionString"]);
        if (connectionString is null)
        {
            return provider == DatabaseProvider.Postgres
                ? throw new ConfigurationException("Tollgate__Database__ConnectionString", "is required when the provider is postgres.")
                : DatabaseOptions.DefaultSqlite;
        }

        return new DatabaseOptions(provider, connectionString);
    }

    internal static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}

/// <summary>A provider that takes payments here, with the settings its plug-in read.</summary>
/// <param name="Plugin">The provider's plug-in.</param>
/// <param name="Settings">What <see cref="ProviderPlugin.ReadSettings"/> returned (the provider's options).</param>
public sealed record LiveProvider(ProviderPlugin Plugin, object Settings);

/// <summary>Payment providers: the default for new checkouts and the providers that take payments, each with its
/// settings. Which providers exist is the plug-ins' business (<see cref="ProviderPlugins.BuiltIn"/>); this only decides,
/// the same way for each, which are live and which is the default.</summary>
/// <param name="Default">The provider new checkouts use when none is named.</param>
/// <param name="Live">The providers that take payments, the default first, then by id.</param>
public sealed record ProviderSettings(string Default, IReadOnlyList<LiveProvider> Live)
{
    /// <summary>Every provider this app knows (live or not): a catalog may map products for any of them.</summary>
    public IReadOnlyList<ProviderPlugin> Plugins { get; init; } = ProviderPlugins.BuiltIn;

    /// <summary>The ids of <see cref="Live"/> (for the start-up log).</summary>
    public IReadOnlyList<string> LiveIds => [.. Live.Select(p => p.Plugin.Id)];

    /// <summary>A test provider (the Sandbox) takes payments: anyone can pay with a test card.</summary>
    public bool SandboxEnabled => Live.Any(p => p.Plugin.Kind == ProviderKind.Test);

    /// <summary>The default is a test provider: the pages show their demo path.</summary>
    public bool DefaultIsTest => Live.Any(p => p.Plugin.Id == Default && p.Plugin.Kind == ProviderKind.Test);

    /// <summary>A live provider's settings, or null when it is not live here.</summary>
    public T? Get<T>(string provider) where T : class => Live.FirstOrDefault(p => p.Plugin.Id == provider)?.Settings as T;

    /// <summary>A live provider, or null when it is not live here.</summary>
    public LiveProvider? Find(string provider) => Live.FirstOrDefault(p => p.Plugin.Id == provider);

    /// <summary>Reads the <c>Providers</c> section with the built-in providers.</summary>
    public static ProviderSettings Read(IConfigurationSection section) => Read(section, ProviderPlugins.BuiltIn);

    /// <summary>Reads the <c>Providers</c> section: each plug-in reads its own sub-section; then the same rules for all
    /// decide what is live and the default.</summary>
    /// <exception cref="ConfigurationException">A setting is wrong or the providers do not add up; the message names the key.</exception>
    public static ProviderSettings Read(IConfigurationSection section, IReadOnlyList<ProviderPlugin> plugins)
    {
        ArgumentNullException.ThrowIfNull(section);
        ArgumentNullException.ThrowIfNull(plugins);
        var configured = new List<LiveProvider>();
        try
        {
            foreach (var plugin in plugins.Where(p => p.Kind != ProviderKind.Test))
            {
                if (plugin.ReadSettings(section.GetSection(plugin.Section)) is { } read)
                {
                    configured.Add(new LiveProvider(plugin, read));
                }
            }
        }
        catch (ProviderSettingException ex)
        {
            throw new ConfigurationException(ex.Key, ex.Problem);
        }

        // Web checkouts go to a web provider; an in-app store sells only inside the app, but it is a real provider too.
        var web = configured.Where(p => p.Plugin.Kind == ProviderKind.Web).Select(p => p.Plugin.Id).ToList();
        var real = configured.Select(p => p.Plugin.Id).ToList();
        var tests = new List<LiveProvider>();
        foreach (var plugin in plugins.Where(p => p.Kind == ProviderKind.Test))
        {
            bool? setting = null;
            if (TollgateSettings.Blank(section[$"{plugin.Section}:Enabled"]) is { } raw)
            {
                setting = bool.TryParse(raw, out var enabled)
                    ? enabled
                    : throw new ConfigurationException(plugin.Key("Enabled"), $"'{raw}' must be true or false.");
            }

            // Only when no real provider is configured, unless an operator turns it on: beside a live real provider, a
            // test provider left on would let anyone buy anything with a test card (issue 9, item 3).
            if ((setting ?? real.Count == 0) && plugin.ReadSettings(section.GetSection(plugin.Section)) is { } read)
            {
                tests.Add(new LiveProvider(plugin, read));
            }
        }

        var explicitDefault = TollgateSettings.Blank(section["Default"])?.ToLowerInvariant();
        if (explicitDefault is not null && plugins.All(p => p.Id != explicitDefault))
        {
            throw new ConfigurationException("Tollgate__Providers__Default",
                $"'{explicitDefault}' is not a provider; use {Or(plugins.Select(p => p.Id))}.");
        }

        var inApp = configured.Where(p => p.Plugin.Kind == ProviderKind.InApp).Select(p => p.Plugin.Id).ToList();
        var defaultProvider = explicitDefault ?? web.Count switch
        {
            0 => inApp.FirstOrDefault() ?? plugins.FirstOrDefault(p => p.Kind == ProviderKind.Test)?.Id ?? "",
            1 => web[0],
            _ => throw new ConfigurationException("Tollgate__Providers__Default",
                $"{string.Join(" and ", web)} are both configured; name the one new checkouts use ({Or(web)})."),
        };
        var live = configured.Concat(tests).ToList();
        if (live.All(p => p.Plugin.Id != defaultProvider) && plugins.FirstOrDefault(p => p.Id == defaultProvider) is { } missing)
        {
            throw missing.Kind != ProviderKind.Test
                ? new ConfigurationException(missing.Key(missing.RequiredSetting), $"is required when the default provider is {missing.Id}.")
                : new ConfigurationException(missing.Key("Enabled"), real.Count == 0
                    ? $"is false and no real provider ({Or(plugins.Where(p => p.Kind != ProviderKind.Test).Select(p => p.Section))}) is configured: nothing could take a payment."
                    : $"must be true for the {missing.Section} to be the default beside {string.Join(" and ", real)}; test cards would then buy anything.");
        }

        if (live.Count == 0)
        {
            throw new ConfigurationException("Tollgate__Providers", "no payment provider is available.");
        }

        return new ProviderSettings(defaultProvider,
            [.. live.OrderBy(p => p.Plugin.Id == defaultProvider ? 0 : 1).ThenBy(p => p.Plugin.Id, StringComparer.Ordinal)]) { Plugins = plugins };
    }

    private static string Or(IEnumerable<string> names)
    {
        var list = names.ToList();
        return list.Count <= 1 ? string.Concat(list) : $"{string.Join(", ", list[..^1])} or {list[^1]}";
    }
}

/// <summary>A configuration error, reported at start-up with the key it concerns.</summary>
public sealed class ConfigurationException(string key, string problem) : Exception($"{key}: {problem}")
{
    /// <summary>The setting at fault, in its environment form (<c>Tollgate__Database__Provider</c>).</summary>
    public string Key { get; } = key;
}
