using System.Globalization;
using System.Text;
using Tollgate.Providers.Sandbox;

namespace Tollgate.Server.Tests.Payments;

/// <summary>Rule: the Sandbox's webhook signature is checked whole, like Creem's and Stripe's. A signature that differs
/// from the valid one in a single hex digit (the last, or any other) is refused.</summary>
public sealed class SandboxSignatureTests
{
    private const string Secret = "sbx_whsec_0123456789abcdef";
    private static readonly DateTimeOffset At = new(2026, 1, 15, 9, 0, 0, TimeSpan.Zero);
    private static readonly byte[] Body = Encoding.UTF8.GetBytes("""{"id":"evt_sbx_1","type":"checkout.completed","data":{"amount":500}}""");

    private static string ValidMac => SandboxSignature.Sign(Secret, Body, At).Split(",v1=")[1];

    private static string? Problem(string v1) =>
        SandboxSignature.Problem(Secret, $"t={At.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)},v1={v1}", Body, At);

    private static string FlipDigit(string hex, int index)
    {
        var digit = Convert.ToInt32(hex[index].ToString(), 16);
        return string.Concat(hex.AsSpan(0, index), ((digit + 1) % 16).ToString("x", CultureInfo.InvariantCulture), hex.AsSpan(index + 1));
    }

    [Fact]
    public void ValidSignatureWithOnlyTheLastHexDigitChanged_IsInvalid()
    {
        Assert.Null(Problem(ValidMac));
        Assert.Equal("invalid", Problem(FlipDigit(ValidMac, 63)));
    }

    [Fact]
    public void ValidSignatureWithAnyOneHexDigitChanged_IsInvalid()
    {
        Assert.Equal(64, ValidMac.Length);
        var accepted = Enumerable.Range(0, 64).Where(i => Problem(FlipDigit(ValidMac, i)) != "invalid").ToList();

        Assert.Empty(accepted);
    }

    [Fact]
    public void ValidSignatureTruncatedByOneDigit_IsInvalid()
    {
        Assert.Equal("invalid", Problem(ValidMac[..63]));
    }
}
