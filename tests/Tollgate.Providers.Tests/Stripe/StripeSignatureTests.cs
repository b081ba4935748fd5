using System.Globalization;
using System.Text;
using Tollgate.Core.Payments;
using Tollgate.Providers.Stripe;
using Tollgate.Testing.Fakes;
using static Tollgate.Providers.Tests.TestSupport;

namespace Tollgate.Providers.Tests.Stripe;

public sealed class StripeSignatureTests
{
    private const string Secret = "whsec_tollgate_stripe_1";
    private const string OldSecret = "whsec_tollgate_stripe_0";
    private const long SignedAt = 1735689560;
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(SignedAt + 5);
    private static readonly byte[] Body = Resource("stripe/invoice.paid.basil.json");

    private static IPaymentProvider Stripe(params string[] secrets) =>
        PaymentProviders.CreateStripe(SharedHttp, new StripeOptions { SecretKey = FakeStripe.SecretKey, WebhookSecrets = secrets }, TimeProvider.System);

    private static string V1(string secret, long t, byte[] body) =>
        HmacHex(secret, [.. Encoding.UTF8.GetBytes(t.ToString(CultureInfo.InvariantCulture) + "."), .. body]);

    private static Dictionary<string, string> Header(string value, string name = "Stripe-Signature") => new() { [name] = value };

    private static WebhookVerification Verify(string header, byte[]? body = null, DateTimeOffset? now = null, string[]? secrets = null) =>
        Stripe(secrets ?? [Secret]).VerifyWebhook(Header(header), body ?? Body, now ?? Now);

    [Fact]
    public void ValidSignature_IsValid()
    {
        Assert.Equal(WebhookVerification.Valid, Verify($"t={SignedAt},v1={V1(Secret, SignedAt, Body)}"));
    }

    [Fact]
    public void KnownAnswer_MatchesAnIndependentHmac()
    {
        // HMAC-SHA256(key "whsec_tollgate_stripe_1", "1735689560." + the resource's bytes), computed outside .NET.
        Assert.Equal(WebhookVerification.Valid, Verify($"t={SignedAt},v1=bef2e3db5620ab4423b323dc7c95fc83ee0bb01e76b3138dc6c77e294d4a745c"));
    }

    [Fact]
    public void HeaderNameInAnyCase_IsFound()
    {
        var headers = Header($"t={SignedAt},v1={V1(Secret, SignedAt, Body)}", "stripe-signature");

        Assert.Equal(WebhookVerification.Valid, Stripe(Secret).VerifyWebhook(headers, Body, Now));
    }

    [Fact]
    public void SpacesAroundItems_AreTolerated()
    {
        Assert.Equal(WebhookVerification.Valid, Verify($" t={SignedAt}, v1={V1(Secret, SignedAt, Body)} "));
    }

    [Fact]
    public void ForgedSignature_IsInvalid()
    {
        Assert.Equal(WebhookVerification.InvalidSignature, Verify($"t={SignedAt},v1={new string('0', 64)}"));
    }

    [Fact]
    public void TamperedBody_IsInvalid()
    {
        var tampered = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(Body).Replace("2000", "20000", StringComparison.Ordinal));

        Assert.Equal(WebhookVerification.InvalidSignature, Verify($"t={SignedAt},v1={V1(Secret, SignedAt, Body)}", tampered));
    }

    [Fact]
    public void SignatureMovedToAnotherTimestamp_IsInvalid()
    {
        Assert.Equal(WebhookVerification.InvalidSignature, Verify($"t={SignedAt + 1},v1={V1(Secret, SignedAt, Body)}"));
    }

    [Fact]
    public void WrongSecret_IsInvalid()
    {
        Assert.Equal(WebhookVerification.InvalidSignature, Verify($"t={SignedAt},v1={V1("whsec_someone_else", SignedAt, Body)}"));
    }

    [Fact]
    public void EmptyBody_IsValidOnlyWithItsOwnSignature()
    {
        Assert.Equal(WebhookVerification.Valid, Verify($"t={SignedAt},v1={V1(Secret, SignedAt, [])}", []));
        Assert.Equal(WebhookVerification.InvalidSignature, Verify($"t={SignedAt},v1={V1(Secret, SignedAt, Body)}", []));
    }

    [Theory]
    [InlineData(Secret)]
    [InlineData(OldSecret)]
    public void DuringRotation_EitherConfiguredSecretVerifies(string signingSecret)
    {
        Assert.Equal(
            WebhookVerification.Valid,
            Verify($"t={SignedAt},v1={V1(signingSecret, SignedAt, Body)}", secrets: [OldSecret, Secret]));
    }

    [Fact]
    public void SeveralV1Values_AnyMatchIsEnough()
    {
        var header = $"t={SignedAt},v1={V1("whsec_unknown", SignedAt, Body)},v1={V1(Secret, SignedAt, Body)}";

        Assert.Equal(WebhookVerification.Valid, Verify(header));
    }

    [Fact]
    public void V0_IsIgnored_EvenWhenItWouldMatch()
    {
        Assert.Equal(WebhookVerification.InvalidSignature, Verify($"t={SignedAt},v0={V1(Secret, SignedAt, Body)}"));
        Assert.Equal(WebhookVerification.Valid, Verify($"t={SignedAt},v1={V1(Secret, SignedAt, Body)},v0={new string('f', 64)}"));
    }

    [Theory]
    [InlineData(-301)]
    [InlineData(301)]
    [InlineData(-86_400)]
    [InlineData(86_400)]
    public void TimestampOutsideTolerance_EitherWay_IsRejected(long offsetSeconds)
    {
        var now = DateTimeOffset.FromUnixTimeSeconds(SignedAt + offsetSeconds);

        Assert.Equal(WebhookVerification.OutsideTolerance, Verify($"t={SignedAt},v1={V1(Secret, SignedAt, Body)}", now: now));
    }

    [Theory]
    [InlineData(-300)]
    [InlineData(0)]
    [InlineData(300)]
    public void TimestampWithinTolerance_IsValid(long offsetSeconds)
    {
        var now = DateTimeOffset.FromUnixTimeSeconds(SignedAt + offsetSeconds);

        Assert.Equal(WebhookVerification.Valid, Verify($"t={SignedAt},v1={V1(Secret, SignedAt, Body)}", now: now));
    }

    [Fact]
    public void ToleranceIsConfigurable()
    {
        var stripe = PaymentProviders.CreateStripe(
            SharedHttp,
            new StripeOptions { SecretKey = FakeStripe.SecretKey, WebhookSecrets = [Secret], SignatureToleranceSeconds = 10 },
            TimeProvider.System);
        var header = Header($"t={SignedAt},v1={V1(Secret, SignedAt, Body)}");

        Assert.Equal(WebhookVerification.Valid, stripe.VerifyWebhook(header, Body, DateTimeOffset.FromUnixTimeSeconds(SignedAt + 10)));
        Assert.Equal(WebhookVerification.OutsideTolerance, stripe.VerifyWebhook(header, Body, DateTimeOffset.FromUnixTimeSeconds(SignedAt + 11)));
    }

    [Fact]
    public void BadSignatureOutsideTolerance_IsInvalidNotOutsideTolerance()
    {
        var now = DateTimeOffset.FromUnixTimeSeconds(SignedAt + 3600);

        Assert.Equal(WebhookVerification.InvalidSignature, Verify($"t={SignedAt},v1={new string('0', 64)}", now: now));
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("t=1735689560")]
    [InlineData("v1=bef2e3db5620ab4423b323dc7c95fc83ee0bb01e76b3138dc6c77e294d4a745c")]
    [InlineData("t=abc,v1=bef2e3db5620ab4423b323dc7c95fc83ee0bb01e76b3138dc6c77e294d4a745c")]
    [InlineData("t=-1735689560,v1=bef2e3db5620ab4423b323dc7c95fc83ee0bb01e76b3138dc6c77e294d4a745c")]
    [InlineData("t=1735689560,,v1=bef2e3db5620ab4423b323dc7c95fc83ee0bb01e76b3138dc6c77e294d4a745c")]
    [InlineData("t=1735689560;v1=bef2e3db5620ab4423b323dc7c95fc83ee0bb01e76b3138dc6c77e294d4a745c")]
    [InlineData("t=1735689560,v1=xyz")]
    public void MalformedHeader_IsInvalid(string header)
    {
        Assert.Equal(WebhookVerification.InvalidSignature, Verify(header));
    }

    [Fact]
    public void MissingHeader_IsMissingSignature()
    {
        var headers = Header($"t={SignedAt},v1={V1(Secret, SignedAt, Body)}", "Stripe-Signatures");

        Assert.Equal(WebhookVerification.MissingSignature, Stripe(Secret).VerifyWebhook(headers, Body, Now));
    }

    [Fact]
    public void NoSecrets_IsNotConfigured()
    {
        Assert.Equal(WebhookVerification.NotConfigured, Verify($"t={SignedAt},v1={V1(Secret, SignedAt, Body)}", secrets: []));
        Assert.Equal(WebhookVerification.NotConfigured, Verify($"t={SignedAt},v1={V1(Secret, SignedAt, Body)}", secrets: [""]));
    }
}
