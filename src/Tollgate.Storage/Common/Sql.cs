using System.Data.Common;

namespace Tollgate.Storage.Common;

/// <summary>
/// Plain statements with <c>@name</c> parameters, understood by both drivers, for the stores whose SQL is the same
/// on both databases. Instants are converted by the dialect; the hot ledger paths do not use this.
/// </summary>
internal sealed class Sql(Func<CancellationToken, Task<DbConnection>> open, Dialect dialect)
{
    public Dialect Dialect => dialect;

    public async Task<List<T>> QueryAsync<T>(string sql, Func<DbDataReader, T> map, CancellationToken cancellationToken, params (string Name, object? Value)[] args)
    {
        await using var connection = await open(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, sql, args);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var rows = new List<T>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            rows.Add(map(reader));
        }

        return rows;
    }

    public async Task<T?> QuerySingleAsync<T>(string sql, Func<DbDataReader, T> map, CancellationToken cancellationToken, params (string Name, object? Value)[] args)
        where T : class =>
        (await QueryAsync(sql, map, cancellationToken, args).ConfigureAwait(false)).FirstOrDefault();

    public async Task<int> ExecuteAsync(string sql, CancellationToken cancellationToken, params (string Name, object? Value)[] args)
    {
        await using var connection = await open(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, sql, args);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private DbCommand Command(DbConnection connection, string sql, (string Name, object? Value)[] args)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in args)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value switch
            {
                null => DBNull.Value,
                DateTimeOffset instant => dialect.Time(instant),
                _ => value,
            };
            command.Parameters.Add(parameter);
        }

        return command;
    }
}
