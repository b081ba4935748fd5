using System.Text.Json;

namespace Tollgate.Core.Common;

/// <summary>
/// Checks a JSON text for what a lenient parser would let through and a database or a second reader would then trip
/// on: invalid UTF-8, a NUL character in a string or a property name (PostgreSQL text cannot hold one), and an object
/// with the same key twice (last-one-wins would let two readers see different values).
/// </summary>
public static class StrictJson
{
    /// <summary>What is wrong with <paramref name="json"/>, or null when it is well-formed JSON without any of the above.</summary>
    public static string? Problem(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 64 });
        // One set of keys per open object; arrays push null.
        var keys = new Stack<HashSet<string>?>();
        try
        {
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject:
                        keys.Push(new HashSet<string>(StringComparer.Ordinal));
                        break;
                    case JsonTokenType.StartArray:
                        keys.Push(null);
                        break;
                    case JsonTokenType.EndObject or JsonTokenType.EndArray:
                        keys.Pop();
                        break;
                    case JsonTokenType.PropertyName:
                        var name = reader.GetString()!;
                        if (name.Contains('\0', StringComparison.Ordinal))
                        {
                            return $"a property name at {Where(reader)} contains a NUL character.";
                        }

                        if (keys.Peek() is { } seen && !seen.Add(name))
                        {
                            return $"the key '{name}' appears twice in one object (at {Where(reader)}).";
                        }

                        break;
                    case JsonTokenType.String:
                        // GetString also validates the UTF-8 of the value (a parse alone does not).
                        if (reader.GetString()!.Contains('\0', StringComparison.Ordinal))
                        {
                            return $"a string at {Where(reader)} contains a NUL character.";
                        }

                        break;
                }
            }
        }
        catch (JsonException ex)
        {
            return $"malformed JSON ({ex.Message.Split(" LineNumber", 2)[0].TrimEnd('.', ' ')}).";
        }
        catch (InvalidOperationException)
        {
            return $"a string at {Where(reader)} is not valid UTF-8.";
        }

        return null;
    }

    private static string Where(Utf8JsonReader reader) => $"byte {reader.TokenStartIndex.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
}
