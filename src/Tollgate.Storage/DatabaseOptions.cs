namespace Tollgate.Storage;

/// <summary>The database engines Tollgate runs on.</summary>
public enum DatabaseProvider
{
    /// <summary>SQLite: one file, one server process (the default).</summary>
    Sqlite,

    /// <summary>PostgreSQL: several server processes may share it.</summary>
    Postgres,
}

/// <summary>Which database Tollgate keeps its state in (API.md §2, <c>Tollgate__Database__*</c>).</summary>
public sealed record DatabaseOptions(DatabaseProvider Provider, string ConnectionString)
{
    /// <summary><c>tollgate.db</c> in the working directory.</summary>
    public static DatabaseOptions DefaultSqlite { get; } = new(DatabaseProvider.Sqlite, "Data Source=tollgate.db");
}
