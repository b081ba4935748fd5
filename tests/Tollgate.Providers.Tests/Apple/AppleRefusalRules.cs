using System.Buffers.Text;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using Tollgate.Providers.Apple;
using Tollgate.Testing.Fakes;

namespace Tollgate.Providers.Tests.Apple;

/// <summary>
/// Rules of the App Store's signed-data check (<see cref="AppleJwsVerifier"/>, <see cref="AppleVerifier"/>) stated with
/// the reason each refusal gives (an operator reads it in the inbox): the JWS's shape, its algorithm and critical
/// headers, the x5c chain (three base64 DER certificates, leaf → x5c intermediate → a trusted root, Apple's OIDs, a P-256
/// leaf key), the signature; a chain that verified is remembered with its validity window, judged at each signing date
/// to the instant, and the memory is bounded. Each test names its rule.
/// </summary>
public sealed class AppleRefusalRules
{
    private static readonly AppleTestPki Pki = AppleTestPki.Default;
    private static readonly DateTimeOffset Signed = new(2026, 1, 15, 9, 0, 0, TimeSpan.Zero);

    private static AppleJwsVerifier Verifier(bool online = false, params X509Certificate2[] roots) =>
        new(AppleRoots.LoadAppleRootCaG3(), roots.Length == 0 ? [Pki.Root] : roots, online, TimeProvider.System);

    private static string B64(string text) => Base64Url.EncodeToString(Encoding.UTF8.GetBytes(text));

    private static JsonObject Payload(DateTimeOffset? signed = null) => new() { ["signedDate"] = (signed ?? Signed).ToUnixTimeMilliseconds() };

    private static (AppleVerificationFailure, string?) Refusal(string? jws, AppleJwsVerifier? verifier = null)
    {
        var result = (verifier ?? Verifier()).Verify(jws);
        return (result.Failure, result.Detail);
    }

    [Fact]
    public void Rule_AJwsOfAnotherShape_IsMalformed_SayingWhatIsWrong()
    {
        var payload = B64(Payload().ToJsonString());
        Assert.Equal((AppleVerificationFailure.Malformed, "not a compact JWS (three base64url parts)"), Refusal("a.b"));
        Assert.Equal((AppleVerificationFailure.Malformed, "not a compact JWS (three base64url parts)"), Refusal(null));
        Assert.Equal((AppleVerificationFailure.Malformed, "a JWS part is not a JSON object"), Refusal(B64("[1]") + "." + payload + ".AAAA"));
        Assert.Equal((AppleVerificationFailure.Malformed, "a JWS part is not a JSON object"), Refusal(B64("{\"alg\":\"ES256\"}") + "." + B64("\"x\"") + ".AAAA"));
        var (failure, detail) = Refusal(B64("not json") + "." + payload + ".AAAA");
        Assert.Equal(AppleVerificationFailure.Malformed, failure);
        Assert.StartsWith("a JWS part is not JSON: ", detail, StringComparison.Ordinal);
        Assert.True(detail!.Length > "a JWS part is not JSON: ".Length); // the parser's own words follow
    }

    [Fact]
    public void Rule_OnlyES256_IsAccepted_AndAHeaderWithCriticalExtensions_IsRefused()
    {
        var payload = Payload().ToJsonString();
        Assert.Equal((AppleVerificationFailure.UnsupportedAlgorithm, "alg is '(none)', not ES256"),
            Refusal(Pki.Sign(new JsonObject { ["x5c"] = Pki.X5c() }, payload)));
        Assert.Equal((AppleVerificationFailure.UnsupportedAlgorithm, "alg is 'ES384', not ES256"),
            Refusal(Pki.Sign(new JsonObject { ["alg"] = "ES384", ["x5c"] = Pki.X5c() }, payload)));
        Assert.Equal((AppleVerificationFailure.Malformed, "the header names critical extensions Apple never uses"),
            Refusal(Pki.Sign(new JsonObject { ["alg"] = "ES256", ["crit"] = new JsonArray("b64"), ["x5c"] = Pki.X5c() }, payload)));
        Assert.Equal((AppleVerificationFailure.None, (string?)null), Refusal(Pki.Sign(Payload())));
    }

    [Fact]
    public void Rule_X5cMustBeExactlyThreeBase64DerCertificates()
    {
        var payload = Payload().ToJsonString();
        const string Refused = "x5c is not exactly three base64 DER certificates";
        var chain = Pki.X5c();
        Assert.Equal((AppleVerificationFailure.CertificateChain, Refused), Refusal(Pki.Sign(new JsonObject { ["alg"] = "ES256", ["x5c"] = Pki.X5c(2) }, payload)));
        Assert.Equal((AppleVerificationFailure.CertificateChain, Refused), Refusal(Pki.Sign(new JsonObject { ["alg"] = "ES256" }, payload)));
        Assert.Equal((AppleVerificationFailure.CertificateChain, Refused),
            Refusal(Pki.Sign(new JsonObject { ["alg"] = "ES256", ["x5c"] = new JsonArray((string)chain[0]!, 42, (string)chain[2]!) }, payload)));
        Assert.Equal((AppleVerificationFailure.CertificateChain, Refused),
            Refusal(Pki.Sign(new JsonObject { ["alg"] = "ES256", ["x5c"] = new JsonArray((string)chain[0]!, "not base64!", (string)chain[2]!) }, payload)));
        Assert.Equal((AppleVerificationFailure.CertificateChain, Refused),
            Refusal(Pki.Sign(new JsonObject { ["alg"] = "ES256", ["x5c"] = new JsonArray((string)chain[0]!, "AAAA", (string)chain[2]!) }, payload)));
        Assert.Equal((AppleVerificationFailure.CertificateChain, Refused),
            Refusal(Pki.Sign(new JsonObject { ["alg"] = "ES256", ["x5c"] = new JsonArray((string)chain[0]!, "", (string)chain[2]!) }, payload)));
    }

    [Fact]
    public void Rule_TheChain_MustVerifyToATrustedRoot_ThroughTheX5cIntermediate_WithApplesOids()
    {
        using var stranger = new AppleTestPki(new ApplePkiOptions { Name = "Stranger" });
        var (failure, detail) = Refusal(stranger.Sign(Payload()));
        Assert.Equal(AppleVerificationFailure.CertificateChain, failure);
        Assert.StartsWith("the certificate chain does not verify: ", detail, StringComparison.Ordinal);
        Assert.DoesNotContain("unknown", detail, StringComparison.Ordinal);

        // A leaf issued by a trusted root directly, with an unrelated intermediate in x5c: a chain of two is not Apple's shape.
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        var rootRequest = new CertificateRequest("CN=Direct Root", rootKey, HashAlgorithmName.SHA384);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        rootRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        using var root = rootRequest.CreateSelfSigned(new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2045, 1, 1, 0, 0, 0, TimeSpan.Zero));
        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var leafRequest = new CertificateRequest("CN=Direct Leaf", leafKey, HashAlgorithmName.SHA256);
        leafRequest.CertificateExtensions.Add(new X509Extension(AppleTestPki.LeafOid, [0x05, 0x00], false));
        using var leaf = leafRequest.Create(root, new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero), [0x30]);
        var header = new JsonObject
        {
            ["alg"] = "ES256",
            ["x5c"] = new JsonArray(Convert.ToBase64String(leaf.RawData), Convert.ToBase64String(Pki.Intermediate.RawData), Convert.ToBase64String(root.RawData)),
        };
        using var trusted = X509CertificateLoader.LoadCertificate(root.RawData);
        Assert.Equal((AppleVerificationFailure.CertificateChain, "the chain is not leaf → x5c intermediate → trusted root"),
            Refusal(B64(header.ToJsonString()) + "." + B64(Payload().ToJsonString()) + ".AAAA", Verifier(roots: [trusted])));
        // Nor with the root itself as the x5c intermediate.
        header["x5c"] = new JsonArray(Convert.ToBase64String(leaf.RawData), Convert.ToBase64String(root.RawData), Convert.ToBase64String(root.RawData));
        Assert.Equal((AppleVerificationFailure.CertificateChain, "the chain is not leaf → x5c intermediate → trusted root"),
            Refusal(B64(header.ToJsonString()) + "." + B64(Payload().ToJsonString()) + ".AAAA", Verifier(roots: [trusted])));

        // Every reason the chain gives is named: an untrusted root, and a leaf expired at the signing date.
        using var expiredStranger = new AppleTestPki(new ApplePkiOptions { Name = "Expired Stranger", LeafNotAfter = new DateTimeOffset(2025, 6, 1, 0, 0, 0, TimeSpan.Zero) });
        var reasons = Refusal(expiredStranger.Sign(Payload())).Item2!["the certificate chain does not verify: ".Length..].Split(", ");
        Assert.True(reasons.Length >= 2, string.Join(", ", reasons));
        Assert.Contains("NotTimeValid", reasons);

        using var noLeafOid = new AppleTestPki(new ApplePkiOptions { LeafOid = false });
        using var noIntermediateOid = new AppleTestPki(new ApplePkiOptions { IntermediateOid = false });
        Assert.Equal((AppleVerificationFailure.MissingAppleExtension, "the leaf lacks Apple's extension 1.2.840.113635.100.6.11.1"),
            Refusal(noLeafOid.Sign(Payload()), Verifier(roots: [noLeafOid.Root])));
        Assert.Equal((AppleVerificationFailure.MissingAppleExtension, "the intermediate lacks Apple's extension 1.2.840.113635.100.6.2.1"),
            Refusal(noIntermediateOid.Sign(Payload()), Verifier(roots: [noIntermediateOid.Root])));
    }

    [Theory]
    [InlineData("p384")]
    [InlineData("brainpool256")]
    [InlineData("rsa")]
    public void Rule_TheLeafsKey_MustBeAnEcP256Key(string kind)
    {
        using var pki = new AppleTestPki(new ApplePkiOptions { LeafKey = kind });

        Assert.Equal((AppleVerificationFailure.InvalidSignature, "the leaf's key is not an EC P-256 key"), Refusal(pki.Sign(Payload()), Verifier(roots: [pki.Root])));
    }

    [Fact]
    public void Rule_TheSignature_MustVerify_OverTheHeaderAndPayloadAsSent()
    {
        var genuine = Pki.Sign(Payload()).Split('.');
        Assert.Equal((AppleVerificationFailure.InvalidSignature, "the ES256 signature does not verify"),
            Refusal(genuine[0] + "." + B64(Payload(Signed.AddDays(1)).ToJsonString()) + "." + genuine[2]));
        Assert.Equal((AppleVerificationFailure.InvalidSignature, "the ES256 signature does not verify"), Refusal(genuine[0] + "." + genuine[1] + ".AAAA"));
    }

    [Fact]
    public void Rule_ARememberedChain_IsJudgedAtEachSigningDate_ToTheInstant_AgainstItsWholePathsValidity()
    {
        // The path's validity: from the latest NotBefore (the leaf's, 2025-01-01) to the earliest NotAfter (the leaf's, 2030-01-01).
        var verifier = Verifier();
        Assert.Equal((AppleVerificationFailure.None, (string?)null), Refusal(Pki.Sign(Payload()), verifier));

        var from = new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var until = new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);
        Assert.Equal((AppleVerificationFailure.None, (string?)null), Refusal(Pki.Sign(Payload(from)), verifier));
        Assert.Equal((AppleVerificationFailure.None, (string?)null), Refusal(Pki.Sign(Payload(until)), verifier));
        Assert.Equal((AppleVerificationFailure.CertificateChain, "a certificate of the chain is not valid at the signing date"),
            Refusal(Pki.Sign(Payload(from.AddMilliseconds(-1))), verifier));
        Assert.Equal((AppleVerificationFailure.CertificateChain, "a certificate of the chain is not valid at the signing date"),
            Refusal(Pki.Sign(Payload(until.AddMilliseconds(1))), verifier));

        // Not remembered (a fresh verifier): the chain itself is built at the signing date, and says so.
        var (failure, detail) = Refusal(Pki.Sign(Payload(until.AddDays(1))));
        Assert.Equal(AppleVerificationFailure.CertificateChain, failure);
        Assert.StartsWith("the certificate chain does not verify: ", detail, StringComparison.Ordinal);

        // With online revocation checks nothing is remembered: each check builds the chain again.
        var online = Verifier(online: true);
        Assert.Equal((AppleVerificationFailure.None, (string?)null), Refusal(Pki.Sign(Payload()), online));
        Assert.StartsWith("the certificate chain does not verify: ", Refusal(Pki.Sign(Payload(until.AddDays(1))), online).Item2, StringComparison.Ordinal);
    }

    [Fact]
    public void Rule_TheMemoryOfVerifiedChains_IsBounded_At64()
    {
        var others = Enumerable.Range(0, 64).Select(i => new AppleTestPki(new ApplePkiOptions { Name = $"Other {i}" })).ToList();
        try
        {
            var verifier = Verifier(roots: [Pki.Root, .. others.Select(o => o.Root)]);
            Assert.Equal(AppleVerificationFailure.None, Refusal(Pki.Sign(Payload()), verifier).Item1);
            foreach (var other in others.Take(63))
            {
                Assert.Equal(AppleVerificationFailure.None, Refusal(other.Sign(Payload()), verifier).Item1);
            }

            var late = Pki.Sign(Payload(new DateTimeOffset(2031, 1, 1, 0, 0, 0, TimeSpan.Zero)));
            // 64 remembered, the first among them.
            Assert.Equal("a certificate of the chain is not valid at the signing date", Refusal(late, verifier).Item2);
            Assert.Equal(AppleVerificationFailure.None, Refusal(others[63].Sign(Payload()), verifier).Item1); // the 65th: the memory starts over
            Assert.StartsWith("the certificate chain does not verify: ", Refusal(late, verifier).Item2, StringComparison.Ordinal);
        }
        finally
        {
            others.ForEach(o => o.Dispose());
        }
    }

    [Fact]
    public void Rule_AStoredPayload_IsReadBack_OnlyFromAThreePartJws()
    {
        var jws = Pki.Sign(Payload());
        Assert.Equal(Signed.ToUnixTimeMilliseconds(), AppleJwsVerifier.ReadPayload(jws).GetProperty("signedDate").GetInt64());
        Assert.Equal("not a compact JWS", Assert.Throws<FormatException>(() => AppleJwsVerifier.ReadPayload("a.b")).Message);
    }

    [Fact]
    public void Rule_ANotification_IsRefusedWithTheReasonOfWhicheverSignedPartFailed()
    {
        var store = new FakeAppStore(Pki);
        var verifier = new AppleVerifier(Verifier(), new AppleOptions { BundleId = FakeAppStore.BundleId, Environment = AppleEnvironment.Production });
        var subscription = new AppleTransactionPayload("2000000000000010", "com.example.pro.monthly", AppleTransactionPayload.AutoRenewable, Signed)
        {
            ExpiresDate = Signed.AddMonths(1),
        };
        var renewal = new AppleRenewalPayload("2000000000000010", "com.example.pro.monthly", Signed);
        string Signed_(JsonObject notification) => Pki.Sign(notification);
        (AppleVerificationFailure, string?) Check(string jws)
        {
            var result = verifier.VerifyNotification(jws);
            return (result.Failure, result.Detail);
        }

        Assert.Equal((AppleVerificationFailure.None, (string?)null), Check(Signed_(store.Notification("SUBSCRIBED", "INITIAL_BUY", Signed, subscription, renewal, status: 1))));
        var genuine = Signed_(store.Notification("SUBSCRIBED", "INITIAL_BUY", Signed, subscription, renewal, status: 1)).Split('.');
        Assert.Equal((AppleVerificationFailure.InvalidSignature, "the ES256 signature does not verify"), Check(genuine[0] + "." + genuine[1] + ".AAAA"));
        Assert.Equal((AppleVerificationFailure.Malformed, "the notification lacks its type, UUID or signedDate"), Check(Pki.Sign(new JsonObject { ["x"] = 1 })));
        Assert.Equal((AppleVerificationFailure.WrongEnvironment, "signed in Sandbox; this server accepts Production"),
            Check(Signed_(store.Notification("SUBSCRIBED", "INITIAL_BUY", Signed, subscription, renewal, status: 1, environment: "Sandbox"))));

        var forgedTransaction = store.Notification("SUBSCRIBED", "INITIAL_BUY", Signed, null, status: 1);
        forgedTransaction["data"]!["signedTransactionInfo"] = "a.b";
        Assert.Equal((AppleVerificationFailure.Malformed, "signedTransactionInfo: not a compact JWS (three base64url parts)"), Check(Signed_(forgedTransaction)));
        var forgedRenewal = store.Notification("SUBSCRIBED", "INITIAL_BUY", Signed, subscription, null, status: 1);
        forgedRenewal["data"]!["signedRenewalInfo"] = "a.b";
        Assert.Equal((AppleVerificationFailure.Malformed, "signedRenewalInfo: not a compact JWS (three base64url parts)"), Check(Signed_(forgedRenewal)));
        var emptyRenewal = store.Notification("SUBSCRIBED", "INITIAL_BUY", Signed, subscription, null, status: 1);
        emptyRenewal["data"]!["signedRenewalInfo"] = Pki.Sign(Payload());
        Assert.Equal((AppleVerificationFailure.Malformed, "signedRenewalInfo lacks fields every renewal info has"), Check(Signed_(emptyRenewal)));
        var noBundle = store.Notification("SUBSCRIBED", "INITIAL_BUY", Signed, subscription, renewal, status: 1);
        noBundle["data"]!.AsObject().Remove("bundleId");
        Assert.Equal((AppleVerificationFailure.WrongBundleId, $"signed for bundle '(none)', not '{FakeAppStore.BundleId}'"), Check(Signed_(noBundle)));
        var noEnvironment = store.Notification("SUBSCRIBED", "INITIAL_BUY", Signed, subscription, renewal, status: 1);
        noEnvironment["data"]!.AsObject().Remove("environment");
        Assert.Equal((AppleVerificationFailure.WrongEnvironment, "signed in (no environment); this server accepts Production"), Check(Signed_(noEnvironment)));
        Assert.Equal((AppleVerificationFailure.WrongEnvironment, "signedRenewalInfo is from Sandbox; this server accepts Production"),
            Check(Signed_(store.Notification("SUBSCRIBED", "INITIAL_BUY", Signed, subscription, renewal with { Environment = "Sandbox" }, status: 1))));
    }

    [Fact]
    public void Rule_TheAppCheck_NamesTheBundleAndEnvironment_ItRefused()
    {
        var store = new FakeAppStore(Pki);
        var verifier = new AppleVerifier(Verifier(), new AppleOptions { BundleId = FakeAppStore.BundleId, Environment = AppleEnvironment.Production });
        var transaction = new AppleTransactionPayload("2000000000000001", "com.example.credits60", AppleTransactionPayload.Consumable, Signed);

        var otherApp = verifier.VerifyTransaction(store.SignTransaction(transaction with { BundleId = "com.example.other" }));
        Assert.Equal((AppleVerificationFailure.WrongBundleId, $"signed for bundle 'com.example.other', not '{FakeAppStore.BundleId}'"), (otherApp.Failure, otherApp.Detail));
        var sandbox = verifier.VerifyTransaction(store.SignTransaction(transaction with { Environment = "Sandbox" }));
        Assert.Equal((AppleVerificationFailure.WrongEnvironment, "signed in Sandbox; this server accepts Production"), (sandbox.Failure, sandbox.Detail));
        var forged = verifier.VerifyTransaction("a.b");
        Assert.Equal((AppleVerificationFailure.Malformed, "not a compact JWS (three base64url parts)"), (forged.Failure, forged.Detail));

        var incomplete = verifier.VerifyTransaction(Pki.Sign(Payload()));
        Assert.Equal((AppleVerificationFailure.Malformed, "the signed transaction lacks fields every transaction has"), (incomplete.Failure, incomplete.Detail));
    }
}
