using System.Globalization;
using System.Text;

namespace Tollgate.Providers.Stripe;

/// <summary>
/// A Stripe request body: <c>application/x-www-form-urlencoded</c> with bracket notation for nesting
/// (<c>metadata[k]=v</c>, <c>line_items[0][price]=…</c>). Structural brackets stay literal, as Stripe's own SDKs send
/// them; everything else is percent-encoded, including brackets inside a map key, so a key cannot add nesting.
/// </summary>
internal sealed class StripeForm
{
    public const string MediaType = "application/x-www-form-urlencoded";

    private readonly List<string> _fields = [];

    /// <summary>Adds <paramref name="key"/> (already in bracket notation) unless <paramref name="value"/> is null.</summary>
    public StripeForm Add(string key, string? value)
    {
        if (value is not null)
        {
            _fields.Add(EscapeKey(key) + "=" + Uri.EscapeDataString(value));
        }

        return this;
    }

    public StripeForm Add(string key, long value) => Add(key, value.ToString(CultureInfo.InvariantCulture));

    public StripeForm Add(string key, bool value) => Add(key, value ? "true" : "false");

    /// <summary>Adds <c>prefix[key]=value</c> for each entry, in order.</summary>
    public StripeForm AddMap(string prefix, IEnumerable<KeyValuePair<string, string>> entries)
    {
        var escapedPrefix = EscapeKey(prefix);
        foreach (var (key, value) in entries)
        {
            _fields.Add(escapedPrefix + "[" + Uri.EscapeDataString(key) + "]=" + Uri.EscapeDataString(value));
        }

        return this;
    }

    public string Encode() => string.Join('&', _fields);

    private static string EscapeKey(string key)
    {
        var escaped = new StringBuilder(Uri.EscapeDataString(key));
        return escaped.Replace("%5B", "[").Replace("%5D", "]").ToString();
    }
}
