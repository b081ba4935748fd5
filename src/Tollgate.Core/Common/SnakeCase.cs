using System.Collections.Frozen;
using System.Text.Json;

namespace Tollgate.Core.Common;

/// <summary>The snake_case names enums have in storage and JSON (<c>SubscriptionPeriod</c> ⇄ <c>subscription_period</c>).</summary>
public static class SnakeCase<TEnum>
    where TEnum : struct, Enum
{
    private static readonly FrozenDictionary<TEnum, string> Names =
        Enum.GetValues<TEnum>().ToFrozenDictionary(v => v, v => JsonNamingPolicy.SnakeCaseLower.ConvertName(v.ToString()));

    private static readonly FrozenDictionary<string, TEnum> Values =
        Names.ToFrozenDictionary(kv => kv.Value, kv => kv.Key, StringComparer.Ordinal);

    /// <summary>The snake_case name of <paramref name="value"/>.</summary>
    public static string Name(TEnum value) => Names[value];

    /// <summary>The value named <paramref name="name"/> (exact, case-sensitive); throws <see cref="FormatException"/> for any other name.</summary>
    public static TEnum Parse(string name) =>
        Values.TryGetValue(name, out var value) ? value : throw new FormatException($"'{name}' is not a {typeof(TEnum).Name}.");

    /// <summary>Like <see cref="Parse"/>, returning false instead of throwing (null is never a name).</summary>
    public static bool TryParse(string? name, out TEnum value) => Values.TryGetValue(name ?? "", out value);
}
