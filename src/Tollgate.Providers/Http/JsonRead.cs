using System.Globalization;
using System.Text.Json;
using Tollgate.Core.Common;

namespace Tollgate.Providers.Http;

/// <summary>
/// Defensive reads of provider JSON: a field that is missing, null or of an unexpected kind reads as null, because
/// providers expand ids into objects (and back) and add fields between API versions.
/// </summary>
internal static class JsonRead
{
    /// <summary>Parses a webhook body; anything that is not a JSON object, or that <see cref="StrictJson"/> refuses (invalid
    /// UTF-8, a NUL, a duplicate key), is a <see cref="FormatException"/>.</summary>
    public static JsonDocument ParseObject(ReadOnlySpan<byte> body, string provider)
    {
        if (StrictJson.Problem(body) is { } problem)
        {
            throw new FormatException($"The {provider} webhook body is not acceptable JSON: {problem}");
        }

        JsonDocument document;
        try
        {
            var reader = new Utf8JsonReader(body);
            document = JsonDocument.ParseValue(ref reader);
        }
        catch (JsonException ex)
        {
            throw new FormatException($"The {provider} webhook body is not JSON.", ex);
        }

        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            document.Dispose();
            throw new FormatException($"The {provider} webhook body is not a JSON object.");
        }

        return document;
    }

    public static JsonElement? Obj(this JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Object
            ? value
            : null;

    public static JsonElement? Obj(this JsonElement? element, string name) => element?.Obj(name);

    public static string? Str(this JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : null;

    public static string? Str(this JsonElement? element, string name) => element?.Str(name);

    public static long? Long(this JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value)
            && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var number)
            ? number
            : null;

    public static long? Long(this JsonElement? element, string name) => element?.Long(name);

    public static bool? Bool(this JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value)
            && value.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? value.GetBoolean()
            : null;

    public static bool? Bool(this JsonElement? element, string name) => element?.Bool(name);

    /// <summary>The id of a reference that is either an id string or an expanded object with an <c>id</c>.</summary>
    public static string? IdOf(this JsonElement element, string name)
    {
        if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(name, out var value))
        {
            return null;
        }

        return value.ValueKind switch
        {
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Object => value.Str("id"),
            _ => null,
        };
    }

    public static string? IdOf(this JsonElement? element, string name) => element?.IdOf(name);

    /// <summary>The first element of an array field, or of a Stripe list object's <c>data</c>.</summary>
    public static JsonElement? First(this JsonElement? element, string name)
    {
        if (element is not { ValueKind: JsonValueKind.Object } e || !e.TryGetProperty(name, out var value))
        {
            return null;
        }

        if (value.ValueKind == JsonValueKind.Object && value.TryGetProperty("data", out var data))
        {
            value = data;
        }

        return value.ValueKind == JsonValueKind.Array && value.GetArrayLength() > 0 ? value[0] : null;
    }

    /// <summary>The elements of an array field, or of a Stripe list object's <c>data</c>; empty when absent.</summary>
    public static IEnumerable<JsonElement> Items(this JsonElement? element, string name)
    {
        if (element is not { ValueKind: JsonValueKind.Object } e || !e.TryGetProperty(name, out var value))
        {
            return [];
        }

        if (value.ValueKind == JsonValueKind.Object && value.TryGetProperty("data", out var data))
        {
            value = data;
        }

        return value.ValueKind == JsonValueKind.Array ? value.EnumerateArray() : [];
    }

    /// <summary>A timestamp given as Unix seconds (Stripe).</summary>
    public static DateTimeOffset? UnixSeconds(this JsonElement? element, string name) =>
        element.Long(name) is { } seconds ? FromUnixSeconds(seconds, name) : null;

    /// <summary>Unix seconds as an instant; one outside years 1–9999 is not a date a provider sends: a <see cref="FormatException"/>.</summary>
    public static DateTimeOffset FromUnixSeconds(long seconds, string name) =>
        seconds is >= MinUnixSeconds and <= MaxUnixSeconds
            ? DateTimeOffset.FromUnixTimeSeconds(seconds)
            : throw new FormatException($"'{name}' ({seconds.ToString(CultureInfo.InvariantCulture)}) is not a time.");

    /// <summary>Unix milliseconds as an instant; out of range is a <see cref="FormatException"/>.</summary>
    public static DateTimeOffset FromUnixMilliseconds(long millis, string name) =>
        millis is >= MinUnixSeconds * 1000 and <= (MaxUnixSeconds * 1000) + 999
            ? DateTimeOffset.FromUnixTimeMilliseconds(millis)
            : throw new FormatException($"'{name}' ({millis.ToString(CultureInfo.InvariantCulture)}) is not a time.");

    private const long MinUnixSeconds = -62_135_596_800;
    private const long MaxUnixSeconds = 253_402_300_799;

    /// <summary>A timestamp given as Unix milliseconds or as an ISO-8601 string (Creem uses both, by entity).</summary>
    public static DateTimeOffset? MillisOrIso(this JsonElement? element, string name)
    {
        if (element.Long(name) is { } millis)
        {
            return FromUnixMilliseconds(millis, name);
        }

        return element.Str(name) is { } text
            && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var parsed)
            ? parsed.ToUniversalTime()
            : null;
    }

    public static string? UpperCurrency(this JsonElement? element, string name) => element.Str(name)?.ToUpperInvariant();

    /// <summary>The ids a payload gave, in order, without nulls or repeats (a payment's ids for refunds and disputes).</summary>
    public static List<string> Ids(params ReadOnlySpan<string?> ids)
    {
        var list = new List<string>(ids.Length);
        foreach (var id in ids)
        {
            if (!string.IsNullOrEmpty(id) && !list.Contains(id, StringComparer.Ordinal))
            {
                list.Add(id);
            }
        }

        return list;
    }

    public static JsonElement? First(this JsonElement element, string name) => ((JsonElement?)element).First(name);

    public static IEnumerable<JsonElement> Items(this JsonElement element, string name) => ((JsonElement?)element).Items(name);

    public static DateTimeOffset? UnixSeconds(this JsonElement element, string name) => ((JsonElement?)element).UnixSeconds(name);

    public static DateTimeOffset? MillisOrIso(this JsonElement element, string name) => ((JsonElement?)element).MillisOrIso(name);

    public static string? UpperCurrency(this JsonElement element, string name) => ((JsonElement?)element).UpperCurrency(name);
}
