using System.Globalization;
using System.Text;
using Tollgate.Core.Payments;
using Tollgate.Providers.Creem;
using Tollgate.Providers.Stripe;
using Tollgate.Testing.Fakes;
using static Tollgate.Providers.Tests.TestSupport;

namespace Tollgate.Providers.Tests.Http;

/// <summary>
/// Rule: a webhook signature is the whole MAC. A forgery that differs from the valid signature in a single hex digit
/// — the last one, or any other — is refused; a check that compared only a prefix (half a MAC) fails here.
/// </summary>
public sealed class SignatureForgeryTests
{
    private const string CreemSecret = "whsec_test_secret_123";
    private const string StripeSecret = "whsec_tollgate_stripe_1";
    private const long SignedAt = 1735689560;
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(SignedAt + 5);

    private static readonly IPaymentProvider Creem = PaymentProviders.CreateCreem(
        SharedHttp, new CreemOptions { ApiKey = FakeCreem.ApiKey, WebhookSecret = CreemSecret }, TimeProvider.System);

    private static readonly IPaymentProvider Stripe = PaymentProviders.CreateStripe(
        SharedHttp, new StripeOptions { SecretKey = FakeStripe.SecretKey, WebhookSecrets = [StripeSecret] }, TimeProvider.System);

    private static readonly byte[] CreemBody = Resource("creem/checkout.completed.json");
    private static readonly byte[] StripeBody = Resource("stripe/invoice.paid.basil.json");

    private static string CreemMac => HmacHex(CreemSecret, CreemBody);

    private static string StripeMac =>
        HmacHex(StripeSecret, [.. Encoding.UTF8.GetBytes(SignedAt.ToString(CultureInfo.InvariantCulture) + "."), .. StripeBody]);

    private static WebhookVerification VerifyCreem(string signature) =>
        Creem.VerifyWebhook(new Dictionary<string, string> { ["creem-signature"] = signature }, CreemBody, Now);

    private static WebhookVerification VerifyStripe(string v1) =>
        Stripe.VerifyWebhook(new Dictionary<string, string> { ["Stripe-Signature"] = $"t={SignedAt},v1={v1}" }, StripeBody, Now);

    /// <summary>The signature with the hex digit at <paramref name="index"/> replaced by another valid lower-case digit.</summary>
    internal static string FlipDigit(string hex, int index)
    {
        var digit = Convert.ToInt32(hex[index].ToString(), 16);
        var flipped = ((digit + 1) % 16).ToString("x", CultureInfo.InvariantCulture);
        return string.Concat(hex.AsSpan(0, index), flipped, hex.AsSpan(index + 1));
    }

    [Fact]
    public void Creem_ValidSignatureWithOnlyTheLastHexDigitChanged_IsInvalid()
    {
        Assert.Equal(WebhookVerification.Valid, VerifyCreem(CreemMac));
        Assert.Equal(WebhookVerification.InvalidSignature, VerifyCreem(FlipDigit(CreemMac, 63)));
    }

    [Fact]
    public void Stripe_ValidSignatureWithOnlyTheLastHexDigitChanged_IsInvalid()
    {
        Assert.Equal(WebhookVerification.Valid, VerifyStripe(StripeMac));
        Assert.Equal(WebhookVerification.InvalidSignature, VerifyStripe(FlipDigit(StripeMac, 63)));
    }

    [Fact]
    public void Creem_ValidSignatureWithAnyOneHexDigitChanged_IsInvalid()
    {
        var accepted = Enumerable.Range(0, 64).Where(i => VerifyCreem(FlipDigit(CreemMac, i)) != WebhookVerification.InvalidSignature).ToList();

        Assert.Empty(accepted);
    }

    [Fact]
    public void Stripe_ValidSignatureWithAnyOneHexDigitChanged_IsInvalid()
    {
        var accepted = Enumerable.Range(0, 64).Where(i => VerifyStripe(FlipDigit(StripeMac, i)) != WebhookVerification.InvalidSignature).ToList();

        Assert.Empty(accepted);
    }

    [Theory]
    [InlineData(62)]
    [InlineData(66)]
    public void Creem_ValidSignatureTruncatedOrExtended_IsInvalid(int length)
    {
        var signature = length < 64 ? CreemMac[..length] : CreemMac + new string('0', length - 64);

        Assert.Equal(WebhookVerification.InvalidSignature, VerifyCreem(signature));
    }

    [Fact]
    public void Stripe_AHeaderItemWithoutAName_IsInvalid_EvenBesideAValidSignature()
    {
        var header = $"t={SignedAt},=junk,v1={StripeMac}";

        Assert.Equal(WebhookVerification.InvalidSignature,
            Stripe.VerifyWebhook(new Dictionary<string, string> { ["Stripe-Signature"] = header }, StripeBody, Now));
    }

    [Fact]
    public void Stripe_TheSameValidSignatureTwice_IsStillValid()
    {
        // Any matching v1 is enough; a second match must not cancel the first.
        var header = $"t={SignedAt},v1={StripeMac},v1={StripeMac}";

        Assert.Equal(WebhookVerification.Valid,
            Stripe.VerifyWebhook(new Dictionary<string, string> { ["Stripe-Signature"] = header }, StripeBody, Now));
    }

    [Fact]
    public void Stripe_AnEmptySecretAmongTheConfiguredOnes_SignsNothing()
    {
        // A blank entry in the secrets list (a rotation slot left empty) must not make an empty-key HMAC acceptable.
        var stripe = PaymentProviders.CreateStripe(
            SharedHttp, new StripeOptions { SecretKey = FakeStripe.SecretKey, WebhookSecrets = ["", StripeSecret] }, TimeProvider.System);
        var emptyKeyMac = HmacHex("", [.. Encoding.UTF8.GetBytes(SignedAt.ToString(CultureInfo.InvariantCulture) + "."), .. StripeBody]);

        Assert.Equal(WebhookVerification.InvalidSignature,
            stripe.VerifyWebhook(new Dictionary<string, string> { ["Stripe-Signature"] = $"t={SignedAt},v1={emptyKeyMac}" }, StripeBody, Now));
        Assert.Equal(WebhookVerification.Valid,
            stripe.VerifyWebhook(new Dictionary<string, string> { ["Stripe-Signature"] = $"t={SignedAt},v1={StripeMac}" }, StripeBody, Now));
    }
}
