namespace Tollgate.Storage;

public enum DatabaseProvider
{
    Sqlite,
    Postgres,
}

/// <summary>Which database Tollgate keeps its state in (API.md §2, <c>Tollgate__Database__*</c>).</summary>
public sealed record DatabaseOptions(DatabaseProvider Provider, string ConnectionString)
{
    public static DatabaseOptions DefaultSqlite { get; } = new(DatabaseProvider.Sqlite, "Data Source=tollgate.db");
}
