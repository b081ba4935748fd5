namespace Tollgate.Core.Common;

/// <summary>Prefixed, time-ordered identifiers (<c>lot_…</c>, <c>hold_…</c>, <c>ent_…</c>).</summary>
public static class Ids
{
    /// <summary>A new id: <paramref name="prefix"/>, an underscore and a UUIDv7 of the current time in 32 hex digits, so ids sort by creation.</summary>
    public static string New(string prefix, TimeProvider time) =>
        prefix + "_" + Guid.CreateVersion7(time.GetUtcNow()).ToString("N");
}

/// <summary>The app's own customer ids: 1–128 chars of <c>A-Za-z0-9_.:@-</c> (API.md §4).</summary>
public static class CustomerIds
{
    /// <summary>The longest customer id accepted.</summary>
    public const int MaxLength = 128;

    /// <summary>Whether <paramref name="id"/> is a well-formed customer id; null and empty are not.</summary>
    public static bool IsValid(string? id)
    {
        if (string.IsNullOrEmpty(id) || id.Length > MaxLength)
        {
            return false;
        }

        foreach (var c in id)
        {
            var ok = c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9')
                or '_' or '.' or ':' or '@' or '-';
            if (!ok)
            {
                return false;
            }
        }

        return true;
    }
}
