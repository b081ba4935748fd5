using System.Data.Common;
using Tollgate.Core.Common;

namespace Tollgate.Storage.Common;

/// <summary>What differs between the two databases when reading and writing values.</summary>
internal abstract class Dialect
{
    public static readonly Dialect Sqlite = new SqliteDialect();
    public static readonly Dialect Postgres = new PostgresDialect();

    public abstract DateTimeOffset ReadTime(DbDataReader reader, int ordinal);

    public DateTimeOffset? ReadNullableTime(DbDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : ReadTime(reader, ordinal);

    public abstract object Time(DateTimeOffset? value);

    private sealed class SqliteDialect : Dialect
    {
        public override DateTimeOffset ReadTime(DbDataReader reader, int ordinal) =>
            Instants.FromUnixMicroseconds(reader.GetInt64(ordinal));

        public override object Time(DateTimeOffset? value) =>
            value is { } v ? Instants.ToUnixMicroseconds(v) : DBNull.Value;
    }

    private sealed class PostgresDialect : Dialect
    {
        public override DateTimeOffset ReadTime(DbDataReader reader, int ordinal) =>
            reader.GetFieldValue<DateTimeOffset>(ordinal);

        public override object Time(DateTimeOffset? value) =>
            value is { } v ? Instants.Normalize(v) : DBNull.Value;
    }
}
