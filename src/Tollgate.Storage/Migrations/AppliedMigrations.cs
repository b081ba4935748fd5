namespace Tollgate.Storage.Migrations;

internal static class AppliedMigrations
{
    /// <summary>Checks that every applied migration is one this build knows, unchanged; returns the pending ones.</summary>
    public static IReadOnlyList<Migration> Pending(IReadOnlyList<Migration> known, IReadOnlyDictionary<int, string> applied)
    {
        foreach (var (version, checksum) in applied)
        {
            var migration = known.FirstOrDefault(m => m.Version == version)
                ?? throw new InvalidOperationException(
                    $"The database has migration {version}, which this Tollgate build does not know: it was migrated by a newer version.");
            if (migration.Checksum != checksum)
            {
                throw new InvalidOperationException(
                    $"Migration {version} ({migration.Name}) was changed after it was applied; checksums differ.");
            }
        }

        return known.Where(m => !applied.ContainsKey(m.Version)).ToList();
    }
}
