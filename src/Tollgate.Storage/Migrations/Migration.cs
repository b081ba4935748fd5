using System.Collections.Concurrent;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;

namespace Tollgate.Storage.Migrations;

/// <summary>One versioned schema script, embedded per dialect as <c>Migrations/{Dialect}/{NNNN}_{name}.sql</c>.</summary>
internal sealed record Migration(int Version, string Name, string Sql, string Checksum)
{
    // Read and hashed once per process: /healthz and /readyz ask for the latest version on every request, and reading
    // and hashing twenty-odd embedded scripts each time made a probe cost three times an API call.
    private static readonly ConcurrentDictionary<DatabaseProvider, IReadOnlyList<Migration>> Loaded = new();

    /// <summary>This build's migrations for <paramref name="provider"/>, in version order.</summary>
    public static IReadOnlyList<Migration> For(DatabaseProvider provider) => Loaded.GetOrAdd(provider, LoadAll);

    private static IReadOnlyList<Migration> LoadAll(DatabaseProvider provider)
    {
        var prefix = $"Tollgate.Migrations.{provider}/";
        var assembly = typeof(Migration).Assembly;
        var migrations = assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith(prefix, StringComparison.Ordinal))
            .Select(n => Load(assembly, n, n[prefix.Length..]))
            .OrderBy(m => m.Version)
            .ToList();
        // Numbers are unique and start at 1; a gap is allowed, since parallel branches are each given their own numbers
        // and one may be merged before another (a missing number is applied whenever it arrives: see AppliedMigrations).
        for (var i = 0; i < migrations.Count; i++)
        {
            if (migrations[i].Version < 1 || (i > 0 && migrations[i].Version == migrations[i - 1].Version))
            {
                throw new InvalidOperationException($"{provider} migrations must have unique numbers from 1; found {migrations[i].Version} twice or below 1.");
            }
        }

        return migrations.AsReadOnly();
    }

    private static Migration Load(Assembly assembly, string resource, string fileName)
    {
        using var stream = assembly.GetManifestResourceStream(resource)!;
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var sql = reader.ReadToEnd().Replace("\r\n", "\n", StringComparison.Ordinal);
        var stem = Path.GetFileNameWithoutExtension(fileName);
        var underscore = stem.IndexOf('_', StringComparison.Ordinal);
        var version = int.Parse(stem[..underscore], System.Globalization.CultureInfo.InvariantCulture);
        var checksum = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sql)));
        return new Migration(version, stem[(underscore + 1)..], sql, checksum);
    }
}

/// <summary>What a migration run did.</summary>
public sealed record MigrationReport(int CurrentVersion, IReadOnlyList<string> Applied);
