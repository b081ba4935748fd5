using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Tollgate.Core.Payments;
using Tollgate.Providers.Apple;
using Tollgate.Testing.Fakes;
using static Tollgate.Providers.Tests.TestSupport;

namespace Tollgate.Providers.Tests.Apple;

/// <summary>
/// The App Store signature check against a test chain built here with <see cref="System.Security.Cryptography.X509Certificates.CertificateRequest"/>,
/// and against a real notification Apple signed. Every forgery is refused with the reason that catches it.
/// </summary>
public sealed class AppleSignatureTests
{
    private static readonly DateTimeOffset Bought = new(2026, 1, 15, 9, 0, 0, TimeSpan.Zero);
    private static readonly FakeAppStore Store = new(AppleTestPki.Default);

    private static AppleAppStore Provider(AppleEnvironment environment = AppleEnvironment.Production, string bundleId = FakeAppStore.BundleId,
        AppleTestPki? trusted = null) =>
        PaymentProviders.CreateApple(new AppleOptions
        {
            BundleId = bundleId,
            Environment = environment,
            AdditionalRoots = [(trusted ?? AppleTestPki.Default).Root],
        }, TimeProvider.System);

    private static AppleTransactionPayload Credits(string id = "2000000000000001") =>
        new(id, "com.example.credits60", AppleTransactionPayload.Consumable, Bought);

    private static AppleVerificationFailure Check(string jws, AppleAppStore? provider = null) =>
        (provider ?? Provider()).CheckTransaction(jws, "cus_1").Failure;

    [Fact]
    public void AGenuineTransaction_Verifies_AndIsRead()
    {
        var check = Provider().CheckTransaction(Store.SignTransaction(Credits() with { Quantity = 2, AppAccountToken = "7E3C6B6C-90C5-4B8A-9E5E-5D2B2D8C1A11" }), "cus_1");

        Assert.Equal(AppleVerificationFailure.None, check.Failure);
        Assert.Equal(("2000000000000001", "com.example.credits60", "7e3c6b6c-90c5-4b8a-9e5e-5d2b2d8c1a11"),
            (check.TransactionId, check.ProductId, check.AppAccountToken));
        var purchase = Assert.IsType<CheckoutCompleted>(Assert.Single(check.Event!.Facts));
        Assert.Equal(("2000000000000001", 2, 998L, "USD"), (purchase.ProviderOrderId, purchase.Quantity, purchase.Amount, purchase.Currency));
    }

    [Fact]
    public void WrongRoot_IsRefused()
    {
        using var stranger = new AppleTestPki(new ApplePkiOptions { Name = "Stranger" });

        Assert.Equal(AppleVerificationFailure.CertificateChain, Check(new FakeAppStore(stranger).SignTransaction(Credits())));
    }

    [Fact]
    public void ALeafWithoutApplesOid_IsRefused()
    {
        using var pki = new AppleTestPki(new ApplePkiOptions { LeafOid = false });

        Assert.Equal(AppleVerificationFailure.MissingAppleExtension, Check(new FakeAppStore(pki).SignTransaction(Credits()), Provider(trusted: pki)));
    }

    [Fact]
    public void AnIntermediateWithoutApplesOid_IsRefused()
    {
        using var pki = new AppleTestPki(new ApplePkiOptions { IntermediateOid = false });

        Assert.Equal(AppleVerificationFailure.MissingAppleExtension, Check(new FakeAppStore(pki).SignTransaction(Credits()), Provider(trusted: pki)));
    }

    [Fact]
    public void ALeafExpiredAtTheSigningDate_IsRefused_ButValidityIsJudgedAtTheSigningDateNotNow()
    {
        using var pki = new AppleTestPki(new ApplePkiOptions
        {
            LeafNotBefore = new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero),
            LeafNotAfter = new DateTimeOffset(2025, 6, 1, 0, 0, 0, TimeSpan.Zero),
        });
        var provider = Provider(trusted: pki);
        var store = new FakeAppStore(pki);

        var signedAfterExpiry = Check(store.SignTransaction(Credits()), provider);
        var signedWhileValid = Check(store.SignTransaction(Credits() with { PurchaseDate = new DateTimeOffset(2025, 3, 1, 0, 0, 0, TimeSpan.Zero) }), provider);
        // Once the chain has verified, it is remembered: its validity window must still be applied to every signing date.
        var afterExpiryAgain = Check(store.SignTransaction(Credits() with { PurchaseDate = new DateTimeOffset(2025, 6, 1, 0, 0, 1, TimeSpan.Zero) }), provider);
        var beforeTheLeaf = Check(store.SignTransaction(Credits() with { PurchaseDate = new DateTimeOffset(2023, 12, 31, 0, 0, 0, TimeSpan.Zero) }), provider);
        var stillValid = Check(store.SignTransaction(Credits() with { PurchaseDate = new DateTimeOffset(2025, 5, 31, 0, 0, 0, TimeSpan.Zero) }), provider);

        Assert.Equal(AppleVerificationFailure.CertificateChain, signedAfterExpiry);
        Assert.Equal(AppleVerificationFailure.None, signedWhileValid);
        Assert.Equal(AppleVerificationFailure.CertificateChain, afterExpiryAgain);
        Assert.Equal(AppleVerificationFailure.CertificateChain, beforeTheLeaf);
        Assert.Equal(AppleVerificationFailure.None, stillValid);
    }

    [Fact]
    public void ARememberedChain_StillNeedsAValidSignatureEachTime()
    {
        var provider = Provider();
        Assert.Equal(AppleVerificationFailure.None, Check(Store.SignTransaction(Credits()), provider));
        var genuine = Store.SignTransaction(Credits("2000000000000002")).Split('.');

        var tampered = genuine[0] + "." + B64(Credits("2000000000000002").ToJson().ToJsonString().Replace("\"quantity\":1", "\"quantity\":9", StringComparison.Ordinal))
            + "." + genuine[2];

        Assert.Equal(AppleVerificationFailure.InvalidSignature, Check(tampered, provider));
    }

    [Fact]
    public void AlgNone_IsRefused()
    {
        var payload = Credits().ToJson().ToJsonString();
        var header = new JsonObject { ["alg"] = "none", ["x5c"] = AppleTestPki.Default.X5c() };
        var unsigned = B64(header.ToJsonString()) + "." + B64(payload) + ".";
        // Even with a genuine ES256 signature attached, "none" is not ES256.
        var withSignature = AppleTestPki.Default.Sign(header, payload);

        Assert.Equal(AppleVerificationFailure.Malformed, Check(unsigned));
        Assert.Equal(AppleVerificationFailure.UnsupportedAlgorithm, Check(withSignature));
    }

    [Fact]
    public void AlgHs256KeyedWithTheLeafsPublicKey_IsRefused()
    {
        var header = new JsonObject { ["alg"] = "HS256", ["x5c"] = AppleTestPki.Default.X5c() };
        var input = B64(header.ToJsonString()) + "." + B64(Credits().ToJson().ToJsonString());
        var pem = Encoding.ASCII.GetBytes(PemEncoding.WriteString("PUBLIC KEY", AppleTestPki.Default.LeafPublicKey));

        Assert.Equal(AppleVerificationFailure.UnsupportedAlgorithm,
            Check(input + "." + Base64Url.EncodeToString(HMACSHA256.HashData(pem, Encoding.ASCII.GetBytes(input)))));
        Assert.Equal(AppleVerificationFailure.UnsupportedAlgorithm,
            Check(input + "." + Base64Url.EncodeToString(HMACSHA256.HashData(AppleTestPki.Default.LeafPublicKey, Encoding.ASCII.GetBytes(input)))));
    }

    [Fact]
    public void ATamperedPayload_IsRefused()
    {
        var genuine = Store.SignTransaction(Credits()).Split('.');
        var forged = Credits() with { Quantity = 50 };

        Assert.Equal(AppleVerificationFailure.InvalidSignature, Check(genuine[0] + "." + B64(forged.ToJson().ToJsonString()) + "." + genuine[2]));
    }

    [Fact]
    public void ASignatureByAnotherKey_IsRefused()
    {
        var genuine = Store.SignTransaction(Credits()).Split('.');
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var signature = other.SignData(Encoding.ASCII.GetBytes(genuine[0] + "." + genuine[1]), HashAlgorithmName.SHA256,
            DSASignatureFormat.IeeeP1363FixedFieldConcatenation);

        Assert.Equal(AppleVerificationFailure.InvalidSignature, Check(genuine[0] + "." + genuine[1] + "." + Base64Url.EncodeToString(signature)));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(1)]
    public void AChainOfOtherThanThreeCertificates_IsRefused(int count)
    {
        var header = new JsonObject { ["alg"] = "ES256", ["x5c"] = AppleTestPki.Default.X5c(count) };

        Assert.Equal(AppleVerificationFailure.CertificateChain, Check(AppleTestPki.Default.Sign(header, Credits().ToJson().ToJsonString())));
    }

    [Fact]
    public void AnotherAppsBundleId_IsRefused() =>
        Assert.Equal(AppleVerificationFailure.WrongBundleId, Check(Store.SignTransaction(Credits() with { BundleId = "com.example.other" })));

    [Fact]
    public void ASandboxTransaction_OnAProductionServer_IsRefused_AndOnASandboxServerAccepted()
    {
        var sandbox = Store.SignTransaction(Credits() with { Environment = "Sandbox" });

        Assert.Equal(AppleVerificationFailure.WrongEnvironment, Check(sandbox));
        Assert.Equal(AppleVerificationFailure.None, Check(sandbox, Provider(AppleEnvironment.Sandbox)));
    }

    [Theory]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("a.b")]
    [InlineData("a.b.c.d")]
    [InlineData("!!!.???.***")]
    public void Garbage_IsRefused(string jws) => Assert.Equal(AppleVerificationFailure.Malformed, Check(jws));

    [Fact]
    public void AHeaderWithDuplicateKeys_IsRefused()
    {
        var genuine = Store.SignTransaction(Credits()).Split('.');
        var header = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(genuine[0]));
        var duplicated = B64(header.Replace("{\"alg\":\"ES256\"", "{\"alg\":\"ES256\",\"alg\":\"none\"", StringComparison.Ordinal));

        Assert.Equal(AppleVerificationFailure.Malformed, Check(duplicated + "." + genuine[1] + "." + genuine[2]));
    }

    [Fact]
    public void ANotification_IsVerified_WithItsSignedTransactionAndRenewalInfo()
    {
        var subscription = new AppleTransactionPayload("2000000000000010", "com.example.pro.monthly", AppleTransactionPayload.AutoRenewable, Bought)
        {
            ExpiresDate = Bought.AddMonths(1),
        };
        var renewal = new AppleRenewalPayload("2000000000000010", "com.example.pro.monthly", Bought);
        var body = Encoding.UTF8.GetBytes(Store.Body(Store.Notification("SUBSCRIBED", "INITIAL_BUY", Bought, subscription, renewal, status: 1)));

        Assert.Equal(WebhookVerification.Valid, Provider().VerifyWebhook(new Dictionary<string, string>(), body, Bought));
    }

    [Fact]
    public void ANotificationWhoseInnerTransactionIsForged_IsRefused()
    {
        using var stranger = new AppleTestPki(new ApplePkiOptions { Name = "Stranger" });
        var subscription = new AppleTransactionPayload("2000000000000010", "com.example.pro.monthly", AppleTransactionPayload.AutoRenewable, Bought)
        {
            ExpiresDate = Bought.AddMonths(1),
        };
        var notification = Store.Notification("SUBSCRIBED", "INITIAL_BUY", Bought, null, status: 1);
        notification["data"]!["signedTransactionInfo"] = new FakeAppStore(stranger).SignTransaction(subscription);
        var body = Encoding.UTF8.GetBytes(Store.Body(notification));

        Assert.Equal(WebhookVerification.InvalidSignature, Provider().VerifyWebhook(new Dictionary<string, string>(), body, Bought));
    }

    /// <summary>
    /// The renewal info inside a notification is Apple-signed data too: forged, it could stretch a grace period
    /// (<c>gracePeriodExpiresDate</c>) or name the next product, and so give access nobody paid for.
    /// </summary>
    [Fact]
    public void ANotificationWhoseRenewalInfoIsForged_IsRefused()
    {
        using var stranger = new AppleTestPki(new ApplePkiOptions { Name = "Stranger" });
        var subscription = new AppleTransactionPayload("2000000000000010", "com.example.pro.monthly", AppleTransactionPayload.AutoRenewable, Bought)
        {
            ExpiresDate = Bought.AddMonths(1),
        };
        var renewal = new AppleRenewalPayload("2000000000000010", "com.example.pro.monthly", Bought) { GracePeriodExpiresDate = Bought.AddYears(5) };
        var notification = Store.Notification("DID_FAIL_TO_RENEW", "GRACE_PERIOD", Bought, subscription, renewal, status: 4);
        notification["data"]!["signedRenewalInfo"] = new FakeAppStore(stranger).SignRenewal(renewal);
        var body = Encoding.UTF8.GetBytes(Store.Body(notification));

        Assert.Equal(WebhookVerification.InvalidSignature, Provider().VerifyWebhook(new Dictionary<string, string>(), body, Bought));
    }

    /// <summary>A renewal info names no bundle id; its environment is checked like the transaction's.</summary>
    [Fact]
    public void ANotificationWhoseRenewalInfoIsFromTheOtherEnvironment_IsRefused()
    {
        var subscription = new AppleTransactionPayload("2000000000000010", "com.example.pro.monthly", AppleTransactionPayload.AutoRenewable, Bought)
        {
            ExpiresDate = Bought.AddMonths(1),
        };
        var renewal = new AppleRenewalPayload("2000000000000010", "com.example.pro.monthly", Bought) { Environment = "Sandbox" };
        var body = Encoding.UTF8.GetBytes(Store.Body(Store.Notification("SUBSCRIBED", "INITIAL_BUY", Bought, subscription, renewal, status: 1)));

        Assert.Equal(WebhookVerification.InvalidSignature, Provider().VerifyWebhook(new Dictionary<string, string>(), body, Bought));
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("{\"signedPayload\": 42}")]
    [InlineData("not json")]
    [InlineData("{\"signedTransaction\": \"x.y.z\", \"customer_id\": \"cus_1\"}")]
    public void AWebhookBodyWithoutASignedPayload_IsMissingItsSignature(string body) =>
        Assert.Equal(WebhookVerification.MissingSignature,
            Provider().VerifyWebhook(new Dictionary<string, string>(), Encoding.UTF8.GetBytes(body), Bought));

    [Fact]
    public void ANotificationForAnotherAppOrEnvironment_IsRefused()
    {
        var otherApp = Encoding.UTF8.GetBytes(Store.Body(Store.Notification("TEST", null, Bought, null, bundleId: "com.example.other")));
        var sandbox = Encoding.UTF8.GetBytes(Store.Body(Store.Notification("TEST", null, Bought, null, environment: "Sandbox")));

        Assert.Equal(WebhookVerification.InvalidSignature, Provider().VerifyWebhook(new Dictionary<string, string>(), otherApp, Bought));
        Assert.Equal(WebhookVerification.InvalidSignature, Provider().VerifyWebhook(new Dictionary<string, string>(), sandbox, Bought));
    }

    [Fact]
    public void ARealNotificationSignedByApple_VerifiesAgainstTheBuiltInRoot()
    {
        // Apple's own TEST notification (Resources/README.md): Apple's real chain, only the built-in root trusted.
        var provider = PaymentProviders.CreateApple(new AppleOptions { BundleId = "com.loki-project.loki-messenger", Environment = AppleEnvironment.Sandbox },
            TimeProvider.System);
        var body = Resource("apple/TEST.apple-signed.json");

        var verified = provider.VerifyWebhook(new Dictionary<string, string>(), body, Bought);
        var parsed = provider.ParseWebhook(body);

        Assert.Equal(WebhookVerification.Valid, verified);
        Assert.Equal(("592751ef-c1b8-47fc-929e-d62dee66df4c", "TEST"), (parsed.EventId, parsed.EventType));
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1757035472686), parsed.OccurredAt);
        Assert.Empty(parsed.Facts);
    }

    [Fact]
    public void ARealAppleNotification_Tampered_IsRefused()
    {
        var provider = PaymentProviders.CreateApple(new AppleOptions { BundleId = "com.loki-project.loki-messenger", Environment = AppleEnvironment.Sandbox },
            TimeProvider.System);
        var jws = (string)JsonNode.Parse(Resource("apple/TEST.apple-signed.json"))!["signedPayload"]!;
        var parts = jws.Split('.');
        var payload = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(parts[1])).Replace("\"TEST\"", "\"REFUND\"", StringComparison.Ordinal);
        var body = Encoding.UTF8.GetBytes(new JsonObject { ["signedPayload"] = parts[0] + "." + B64(payload) + "." + parts[2] }.ToJsonString());

        Assert.Equal(WebhookVerification.InvalidSignature, provider.VerifyWebhook(new Dictionary<string, string>(), body, Bought));
    }

    [Fact]
    public void ARealAppleNotification_IsRefusedByAServerForAnotherApp()
    {
        var body = Resource("apple/TEST.apple-signed.json");

        Assert.Equal(WebhookVerification.InvalidSignature,
            PaymentProviders.CreateApple(new AppleOptions { BundleId = FakeAppStore.BundleId, Environment = AppleEnvironment.Sandbox }, TimeProvider.System)
                .VerifyWebhook(new Dictionary<string, string>(), body, Bought));
    }

    [Fact]
    public void TheTestChain_IsNotTrustedUnlessConfigured()
    {
        var provider = PaymentProviders.CreateApple(new AppleOptions { BundleId = FakeAppStore.BundleId }, TimeProvider.System);

        Assert.Equal(AppleVerificationFailure.CertificateChain, Check(Store.SignTransaction(Credits()), provider));
    }

    [Fact]
    public void OnlineRevocationChecks_AreNeverAppliedToRootsGivenBySetting()
    {
        // No OCSP responder exists for the test chain: were revocation asked for it, verification would fail.
        var provider = PaymentProviders.CreateApple(new AppleOptions
        {
            BundleId = FakeAppStore.BundleId,
            AdditionalRoots = [AppleTestPki.Default.Root],
            OnlineRevocationChecks = true,
        }, TimeProvider.System);

        Assert.Equal(AppleVerificationFailure.None, Check(Store.SignTransaction(Credits()), provider));
    }

    private static string B64(string json) => Base64Url.EncodeToString(Encoding.UTF8.GetBytes(json));
}
