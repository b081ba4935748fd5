using Tollgate.Storage;

namespace Tollgate.Server.Hosting;

/// <summary>Reads <c>Tollgate:Database:*</c> (API.md §2) into <see cref="DatabaseOptions"/>.</summary>
internal static class DatabaseConfiguration
{
    public static DatabaseOptions Read(IConfiguration configuration)
    {
        var section = configuration.GetSection("Tollgate:Database");
        var providerName = section["Provider"];
        var provider = providerName?.Trim().ToLowerInvariant() switch
        {
            null or "" or "sqlite" => DatabaseProvider.Sqlite,
            "postgres" or "postgresql" => DatabaseProvider.Postgres,
            _ => throw new ConfigurationException("Tollgate__Database__Provider", $"'{providerName}' is not a database provider; use sqlite or postgres."),
        };
        var connectionString = section["ConnectionString"];
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            if (provider == DatabaseProvider.Postgres)
            {
                throw new ConfigurationException("Tollgate__Database__ConnectionString", "is required when the provider is postgres.");
            }

            connectionString = DatabaseOptions.DefaultSqlite.ConnectionString;
        }

        return new DatabaseOptions(provider, connectionString);
    }
}

/// <summary>A configuration error, reported at start-up with the key it concerns.</summary>
internal sealed class ConfigurationException(string key, string problem) : Exception($"{key}: {problem}")
{
    public string Key { get; } = key;
}
