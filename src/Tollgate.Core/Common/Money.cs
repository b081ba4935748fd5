namespace Tollgate.Core.Common;

/// <summary>An amount of money in integer minor units (cents) of an ISO 4217 currency.</summary>
public readonly record struct Money(long Amount, string Currency)
{
    /// <summary>Amount in minor units and the currency code, e.g. <c>1999 USD</c> (not a formatted price).</summary>
    public override string ToString() => $"{Amount} {Currency}";
}

/// <summary>ISO 4217 facts Tollgate needs.</summary>
public static class Currencies
{
    /// <summary>Digits of the currency's minor unit: 2 for USD (cents), 0 for JPY, 3 for KWD.</summary>
    public static int MinorDigits(string currency) => currency.ToUpperInvariant() switch
    {
        "BIF" or "CLP" or "DJF" or "GNF" or "ISK" or "JPY" or "KMF" or "KRW" or "PYG" or "RWF" or "UGX" or "UYI" or "VND" or "VUV" or "XAF" or "XOF"
            or "XPF" => 0,
        "BHD" or "IQD" or "JOD" or "KWD" or "LYD" or "OMR" or "TND" => 3,
        _ => 2,
    };
}
