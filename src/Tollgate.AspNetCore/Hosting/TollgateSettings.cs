using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Tollgate.Core.Catalog;
using Tollgate.Providers.Apple;
using Tollgate.Storage;
using Tollgate.Storage.Stores;

namespace Tollgate.Server.Hosting;

/// <summary>
/// Tollgate's configuration (API.md §2), read and validated once at start-up. Every problem names the key in its
/// environment form (<c>Tollgate__Database__Provider</c>), so the one line printed is enough to fix it.
/// </summary>
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
    RetentionOptions? Retention = null)
{
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
        return new TollgateSettings(database, catalog, apiKeys, adminKey, baseUrl, ProviderSettings.Read(section.GetSection("Providers")), pastDue, forwarded,
            allowPrivate, ReadRetention(section.GetSection("Retention")));
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

    public ProductCatalog LoadCatalog()
    {
        try
        {
            return CatalogPath is null ? CatalogLoader.LoadDemo() : CatalogLoader.LoadFile(CatalogPath);
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

/// <summary>Payment providers: the default for new checkouts, each provider's secrets, and whether the Sandbox (test cards,
/// and with it the landing page's demo path) is live.</summary>
/// <param name="SandboxEnabled">Only when no real provider is configured, unless an operator turns it on: with Creem, Stripe
/// or the App Store live, a Sandbox left on would let anyone buy anything with a test card (issue 9, item 3).</param>
public sealed record ProviderSettings(string Default, CreemSettings? Creem, StripeSettings? Stripe, bool SandboxEnabled = true,
    AppleSettings? Apple = null)
{
    /// <summary>The providers that take payments, the default first (for the start-up log).</summary>
    public IReadOnlyList<string> Live =>
        new[] { SandboxEnabled ? "sandbox" : null, Creem is null ? null : "creem", Stripe is null ? null : "stripe", Apple is null ? null : "apple" }
            .OfType<string>().OrderBy(p => p == Default ? 0 : 1).ThenBy(p => p, StringComparer.Ordinal).ToList();

    public static ProviderSettings Read(IConfigurationSection section)
    {
        var creem = CreemSettings.Read(section.GetSection("Creem"));
        var stripe = StripeSettings.Read(section.GetSection("Stripe"));
        var apple = AppleSettings.Read(section.GetSection("Apple"));
        // Web checkouts go to Creem or Stripe; the App Store sells only inside the app, but it is a real provider too.
        var web = new[] { creem is null ? null : "creem", stripe is null ? null : "stripe" }.OfType<string>().ToList();
        var real = apple is null ? web : [.. web, "apple"];

        bool? sandboxSetting = null;
        if (TollgateSettings.Blank(section["Sandbox:Enabled"]) is { } rawSandbox)
        {
            sandboxSetting = bool.TryParse(rawSandbox, out var enabled)
                ? enabled
                : throw new ConfigurationException("Tollgate__Providers__Sandbox__Enabled", $"'{rawSandbox}' must be true or false.");
        }

        var sandbox = sandboxSetting ?? real.Count == 0;
        var explicitDefault = TollgateSettings.Blank(section["Default"])?.ToLowerInvariant();
        if (explicitDefault is not (null or "sandbox" or "creem" or "stripe" or "apple"))
        {
            throw new ConfigurationException("Tollgate__Providers__Default", $"'{explicitDefault}' is not a provider; use sandbox, creem, stripe or apple.");
        }

        var defaultProvider = explicitDefault ?? web.Count switch
        {
            0 => apple is null ? "sandbox" : "apple",
            1 => web[0],
            _ => throw new ConfigurationException("Tollgate__Providers__Default",
                $"{string.Join(" and ", web)} are both configured; name the one new checkouts use (creem or stripe)."),
        };
        if (defaultProvider == "apple" && apple is null)
        {
            throw new ConfigurationException("Tollgate__Providers__Apple__BundleId", "is required when the default provider is apple.");
        }

        if (defaultProvider == "creem" && creem is null)
        {
            throw new ConfigurationException("Tollgate__Providers__Creem__ApiKey", "is required when the default provider is creem.");
        }

        if (defaultProvider == "stripe" && stripe is null)
        {
            throw new ConfigurationException("Tollgate__Providers__Stripe__SecretKey", "is required when the default provider is stripe.");
        }

        if (defaultProvider == "sandbox" && !sandbox)
        {
            throw new ConfigurationException("Tollgate__Providers__Sandbox__Enabled", real.Count == 0
                ? "is false and no real provider (Creem, Stripe or the App Store) is configured: nothing could take a payment."
                : $"must be true for the Sandbox to be the default beside {string.Join(" and ", real)}; test cards would then buy anything.");
        }

        return new ProviderSettings(defaultProvider, creem, stripe, sandbox, apple);
    }
}

/// <summary>The App Store (API.md §6.4): the app's bundle id, the environment whose signed data is accepted, roots
/// trusted beside the built-in Apple Root CA - G3, and whether revocation is asked of Apple online.</summary>
public sealed record AppleSettings(string BundleId, AppleEnvironment Environment,
    IReadOnlyList<X509Certificate2> RootCertificates, bool OnlineChecks)
{
    public static AppleSettings? Read(IConfigurationSection section)
    {
        var bundleId = TollgateSettings.Blank(section["BundleId"]);
        var roots = section.GetSection("RootCertificates").GetChildren().Where(c => !string.IsNullOrWhiteSpace(c.Value)).ToList();
        if (bundleId is null)
        {
            return TollgateSettings.Blank(section["Environment"]) is null && roots.Count == 0
                ? null
                : throw new ConfigurationException("Tollgate__Providers__Apple__BundleId", "is required when the App Store is configured.");
        }

        var environment = TollgateSettings.Blank(section["Environment"]) switch
        {
            null or "Production" => AppleEnvironment.Production,
            "Sandbox" => AppleEnvironment.Sandbox,
            var other => throw new ConfigurationException("Tollgate__Providers__Apple__Environment", $"'{other}' is not an App Store environment; use Production or Sandbox."),
        };
        var online = TollgateSettings.Blank(section["OnlineChecks"]) is { } raw
            ? bool.TryParse(raw, out var parsed) ? parsed : throw new ConfigurationException("Tollgate__Providers__Apple__OnlineChecks", "must be true or false.")
            : false;
        return new AppleSettings(bundleId, environment, roots.Select(LoadRoot).ToList(), online);
    }

    private static X509Certificate2 LoadRoot(IConfigurationSection entry)
    {
        var key = "Tollgate__Providers__Apple__RootCertificates__" + entry.Key;
        var path = entry.Value!.Trim();
        if (!File.Exists(path))
        {
            throw new ConfigurationException(key, $"no certificate file at '{path}'.");
        }

        try
        {
            return X509CertificateLoader.LoadCertificateFromFile(path);
        }
        catch (CryptographicException ex)
        {
            throw new ConfigurationException(key, $"'{path}' is not a DER or PEM certificate ({ex.Message}).");
        }
    }
}

public sealed record CreemSettings(string ApiKey, string WebhookSecret, Uri BaseUrl)
{
    public static CreemSettings? Read(IConfigurationSection section)
    {
        var apiKey = TollgateSettings.Blank(section["ApiKey"]);
        var secret = TollgateSettings.Blank(section["WebhookSecret"]);
        if (apiKey is null)
        {
            return secret is null ? null : throw new ConfigurationException("Tollgate__Providers__Creem__ApiKey", "is required with a webhook secret.");
        }

        if (secret is null)
        {
            throw new ConfigurationException("Tollgate__Providers__Creem__WebhookSecret", "is required when Creem is enabled (an API key is set).");
        }

        var baseUrl = TollgateSettings.Blank(section["BaseUrl"])
            ?? (apiKey.StartsWith("creem_test_", StringComparison.Ordinal) ? "https://test-api.creem.io" : "https://api.creem.io");
        return Uri.TryCreate(baseUrl, UriKind.Absolute, out var uri)
            ? new CreemSettings(apiKey, secret, uri)
            : throw new ConfigurationException("Tollgate__Providers__Creem__BaseUrl", $"'{baseUrl}' is not an absolute URL.");
    }
}

public sealed record StripeSettings(string SecretKey, IReadOnlyList<string> WebhookSecrets, Uri BaseUrl, int ToleranceSeconds)
{
    public static StripeSettings? Read(IConfigurationSection section)
    {
        var key = TollgateSettings.Blank(section["SecretKey"]);
        var secrets = section.GetSection("WebhookSecrets").GetChildren().Select(c => c.Value).OfType<string>().Where(v => v.Length > 0).ToList();
        if (key is null)
        {
            return secrets.Count == 0 ? null : throw new ConfigurationException("Tollgate__Providers__Stripe__SecretKey", "is required with webhook secrets.");
        }

        if (secrets.Count == 0)
        {
            throw new ConfigurationException("Tollgate__Providers__Stripe__WebhookSecrets__0", "is required when Stripe is enabled (a secret key is set).");
        }

        var baseUrl = TollgateSettings.Blank(section["BaseUrl"]) ?? "https://api.stripe.com";
        if (!Uri.TryCreate(baseUrl, UriKind.Absolute, out var uri))
        {
            throw new ConfigurationException("Tollgate__Providers__Stripe__BaseUrl", $"'{baseUrl}' is not an absolute URL.");
        }

        var tolerance = 300;
        if (TollgateSettings.Blank(section["SignatureToleranceSeconds"]) is { } raw && (!int.TryParse(raw, out tolerance) || tolerance < 1))
        {
            throw new ConfigurationException("Tollgate__Providers__Stripe__SignatureToleranceSeconds", "must be a whole number of seconds ≥ 1.");
        }

        return new StripeSettings(key, secrets, uri, tolerance);
    }
}

/// <summary>A configuration error, reported at start-up with the key it concerns.</summary>
public sealed class ConfigurationException(string key, string problem) : Exception($"{key}: {problem}")
{
    public string Key { get; } = key;
}
