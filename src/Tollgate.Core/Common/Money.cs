namespace Tollgate.Core.Common;

/// <summary>An amount of money in integer minor units (cents) of an ISO 4217 currency.</summary>
public readonly record struct Money(long Amount, string Currency)
{
    public override string ToString() => $"{Amount} {Currency}";
}
