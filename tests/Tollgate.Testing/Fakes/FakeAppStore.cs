using System.Buffers.Text;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;

namespace Tollgate.Testing.Fakes;

/// <summary>How a test certificate chain should (mis)behave: each switch is one of the forgeries a verifier must refuse.</summary>
public sealed record ApplePkiOptions
{
    public bool LeafOid { get; init; } = true;

    public bool IntermediateOid { get; init; } = true;

    public DateTimeOffset LeafNotBefore { get; init; } = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public DateTimeOffset LeafNotAfter { get; init; } = new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public string Name { get; init; } = "Tollgate Test";

    /// <summary>The key the leaf certificate names: <c>p256</c> (Apple's), or <c>p384</c>, <c>brainpool256</c> (256 bits,
    /// not P-256), <c>rsa</c>. The JWS are still signed with a P-256 key, so only the key's kind is wrong.</summary>
    public string LeafKey { get; init; } = "p256";
}

/// <summary>
/// A certificate chain shaped like Apple's, built in the test with <see cref="CertificateRequest"/>: a self-signed P-384
/// root (like Apple Root CA - G3), an intermediate CA carrying Apple's extension OID <c>1.2.840.113635.100.6.2.1</c>
/// (like Apple Worldwide Developer Relations G6) and a P-256 leaf carrying <c>1.2.840.113635.100.6.11.1</c> (like "Prod
/// ECC Mac App Store and iTunes Store Receipt Signing"), the extensions non-critical with a NULL value as in Apple's.
/// It signs JWS exactly as the App Store does: <c>alg</c> ES256, <c>x5c</c> = [leaf, intermediate, root] in standard
/// base64, raw r||s signature over <c>header.payload</c>.
/// </summary>
public sealed class AppleTestPki : IDisposable
{
    public const string LeafOid = "1.2.840.113635.100.6.11.1";
    public const string IntermediateOid = "1.2.840.113635.100.6.2.1";

    private static readonly Lazy<AppleTestPki> Shared = new(() => new AppleTestPki(new ApplePkiOptions()));
    private readonly ECDsa _leafKey;

    public AppleTestPki(ApplePkiOptions options)
    {
        Options = options;
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        var rootRequest = new CertificateRequest($"CN={options.Name} Root CA - G3, OU=Certification Authority, O=Tollgate Tests, C=US", rootKey,
            HashAlgorithmName.SHA384);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        rootRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        rootRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(rootRequest.PublicKey, false));
        using var rootWithKey = rootRequest.CreateSelfSigned(new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero),
            new DateTimeOffset(2045, 1, 1, 0, 0, 0, TimeSpan.Zero));
        Root = X509CertificateLoader.LoadCertificate(rootWithKey.RawData);

        using var intermediateKey = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        var intermediateRequest = new CertificateRequest($"CN={options.Name} Worldwide Developer Relations CA, OU=G6, O=Tollgate Tests, C=US",
            intermediateKey, HashAlgorithmName.SHA384);
        intermediateRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        intermediateRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        intermediateRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(intermediateRequest.PublicKey, false));
        intermediateRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(rootWithKey, true, false));
        if (options.IntermediateOid)
        {
            intermediateRequest.CertificateExtensions.Add(new X509Extension(IntermediateOid, [0x05, 0x00], false));
        }

        using var intermediatePublic = intermediateRequest.Create(rootWithKey, new DateTimeOffset(2021, 1, 1, 0, 0, 0, TimeSpan.Zero),
            new DateTimeOffset(2040, 1, 1, 0, 0, 0, TimeSpan.Zero), [0x10, 0x01]);
        using var intermediateWithKey = intermediatePublic.CopyWithPrivateKey(intermediateKey);
        Intermediate = X509CertificateLoader.LoadCertificate(intermediatePublic.RawData);

        _leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var leafName = $"CN={options.Name} ECC App Store Receipt Signing, OU=G6, O=Tollgate Tests, C=US";
        using AsymmetricAlgorithm? otherKey = options.LeafKey switch
        {
            "p256" => null,
            "p384" => ECDsa.Create(ECCurve.NamedCurves.nistP384),
            "brainpool256" => ECDsa.Create(ECCurve.NamedCurves.brainpoolP256r1),
            "rsa" => RSA.Create(2048),
            _ => throw new ArgumentException($"Unknown leaf key '{options.LeafKey}'.", nameof(options)),
        };
        var leafRequest = otherKey is null
            ? new CertificateRequest(leafName, _leafKey, HashAlgorithmName.SHA256)
            : new CertificateRequest(new X500DistinguishedName(leafName), new PublicKey(otherKey), HashAlgorithmName.SHA256);
        leafRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        leafRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        leafRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(intermediatePublic, true, false));
        if (options.LeafOid)
        {
            leafRequest.CertificateExtensions.Add(new X509Extension(LeafOid, [0x05, 0x00], false));
        }

        // A leaf of another key algorithm than its issuer's needs the issuer's signature generator, not its certificate.
        Leaf = otherKey is null
            ? leafRequest.Create(intermediateWithKey, options.LeafNotBefore, options.LeafNotAfter, [0x20, 0x02])
            : leafRequest.Create(intermediatePublic.SubjectName, X509SignatureGenerator.CreateForECDsa(intermediateKey), options.LeafNotBefore,
                options.LeafNotAfter, [0x20, 0x02]);
    }

    /// <summary>A chain built once for the whole test run (building one costs a few key generations).</summary>
    public static AppleTestPki Default => Shared.Value;

    public ApplePkiOptions Options { get; }

    public X509Certificate2 Root { get; }

    public X509Certificate2 Intermediate { get; }

    public X509Certificate2 Leaf { get; }

    /// <summary>The leaf's public key in SubjectPublicKeyInfo DER: what an "HS256 with the public key as secret" forger uses.</summary>
    public byte[] LeafPublicKey => _leafKey.ExportSubjectPublicKeyInfo();

    /// <summary>The root as a DER file, for <c>Tollgate__Providers__Apple__RootCertificates__0</c>.</summary>
    public string WriteRootFile()
    {
        var path = Path.Combine(Path.GetTempPath(), $"tollgate-apple-root-{Guid.NewGuid():N}.cer");
        File.WriteAllBytes(path, Root.RawData);
        return path;
    }

    /// <summary>x5c as Apple sends it: leaf, intermediate, root, standard base64.</summary>
    public JsonArray X5c(int count = 3)
    {
        var chain = new[] { Leaf, Intermediate, Root }.Take(count).Select(c => (JsonNode?)Convert.ToBase64String(c.RawData)).ToArray();
        return new JsonArray(chain);
    }

    /// <summary>Signs <paramref name="payload"/> as the App Store does.</summary>
    public string Sign(JsonObject payload) => Sign(new JsonObject { ["alg"] = "ES256", ["x5c"] = X5c() }, payload.ToJsonString());

    /// <summary>Signs any header over any payload text with the leaf's key (ES256, raw r||s): forgeries start here.</summary>
    public string Sign(JsonObject header, string payloadJson)
    {
        var input = Base64Url.EncodeToString(Encoding.UTF8.GetBytes(header.ToJsonString())) + "." + Base64Url.EncodeToString(Encoding.UTF8.GetBytes(payloadJson));
        var signature = _leafKey.SignData(Encoding.ASCII.GetBytes(input), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        return input + "." + Base64Url.EncodeToString(signature);
    }

    public void Dispose()
    {
        _leafKey.Dispose();
        Root.Dispose();
        Intermediate.Dispose();
        Leaf.Dispose();
    }
}

/// <summary>A StoreKit 2 transaction as the App Store signs it (<c>JWSTransactionDecodedPayload</c>, the documented
/// fields). Dates are sent as milliseconds since the Unix epoch.</summary>
public sealed record AppleTransactionPayload(string TransactionId, string ProductId, string Type, DateTimeOffset PurchaseDate)
{
    public const string Consumable = "Consumable";
    public const string NonConsumable = "Non-Consumable";
    public const string AutoRenewable = "Auto-Renewable Subscription";

    public string? OriginalTransactionId { get; init; }

    public DateTimeOffset? ExpiresDate { get; init; }

    public string BundleId { get; init; } = FakeAppStore.BundleId;

    public string Environment { get; init; } = "Production";

    public string? AppAccountToken { get; init; }

    public int Quantity { get; init; } = 1;

    /// <summary>Milliunits: 4990 is 4.99.</summary>
    public long Price { get; init; } = 4990;

    public string Currency { get; init; } = "USD";

    /// <summary>Default: one second after the purchase.</summary>
    public DateTimeOffset? SignedDate { get; init; }

    public DateTimeOffset? RevocationDate { get; init; }

    public JsonObject ToJson()
    {
        var json = new JsonObject
        {
            ["transactionId"] = TransactionId,
            ["originalTransactionId"] = OriginalTransactionId ?? TransactionId,
            ["bundleId"] = BundleId,
            ["productId"] = ProductId,
            ["purchaseDate"] = PurchaseDate.ToUnixTimeMilliseconds(),
            ["originalPurchaseDate"] = PurchaseDate.ToUnixTimeMilliseconds(),
            ["quantity"] = Quantity,
            ["type"] = Type,
            ["inAppOwnershipType"] = "PURCHASED",
            ["signedDate"] = (SignedDate ?? PurchaseDate.AddSeconds(1)).ToUnixTimeMilliseconds(),
            ["environment"] = Environment,
            ["transactionReason"] = OriginalTransactionId is null || OriginalTransactionId == TransactionId ? "PURCHASE" : "RENEWAL",
            ["storefront"] = "USA",
            ["storefrontId"] = "143441",
            ["price"] = Price,
            ["currency"] = Currency,
        };
        if (Type == AutoRenewable)
        {
            json["webOrderLineItemId"] = "wol_" + TransactionId;
            json["subscriptionGroupIdentifier"] = "21000001";
            json["expiresDate"] = ExpiresDate?.ToUnixTimeMilliseconds();
        }

        if (AppAccountToken is not null)
        {
            json["appAccountToken"] = AppAccountToken;
        }

        if (RevocationDate is { } revoked)
        {
            json["revocationDate"] = revoked.ToUnixTimeMilliseconds();
            json["revocationReason"] = 0;
        }

        return json;
    }
}

/// <summary>A renewal info as the App Store signs it (<c>JWSRenewalInfoDecodedPayload</c>).</summary>
public sealed record AppleRenewalPayload(string OriginalTransactionId, string ProductId, DateTimeOffset SignedDate)
{
    public string? AutoRenewProductId { get; init; }

    public bool AutoRenew { get; init; } = true;

    public DateTimeOffset? GracePeriodExpiresDate { get; init; }

    public string Environment { get; init; } = "Production";

    public string? AppAccountToken { get; init; }

    public JsonObject ToJson()
    {
        var json = new JsonObject
        {
            ["originalTransactionId"] = OriginalTransactionId,
            ["productId"] = ProductId,
            ["autoRenewProductId"] = AutoRenewProductId ?? ProductId,
            ["autoRenewStatus"] = AutoRenew ? 1 : 0,
            ["isInBillingRetryPeriod"] = GracePeriodExpiresDate is not null,
            ["signedDate"] = SignedDate.ToUnixTimeMilliseconds(),
            ["environment"] = Environment,
            ["recentSubscriptionStartDate"] = SignedDate.ToUnixTimeMilliseconds(),
        };
        if (GracePeriodExpiresDate is { } grace)
        {
            json["gracePeriodExpiresDate"] = grace.ToUnixTimeMilliseconds();
        }

        if (AppAccountToken is not null)
        {
            json["appAccountToken"] = AppAccountToken;
        }

        return json;
    }
}

/// <summary>App Store Server Notifications V2 and StoreKit 2 transactions, signed by a test chain in the documented shapes.</summary>
public sealed class FakeAppStore(AppleTestPki pki)
{
    public const string BundleId = "com.example.tollgate";

    public AppleTestPki Pki => pki;

    public string SignTransaction(AppleTransactionPayload transaction) => pki.Sign(transaction.ToJson());

    public string SignRenewal(AppleRenewalPayload renewal) => pki.Sign(renewal.ToJson());

    /// <summary>The decoded notification (<c>responseBodyV2DecodedPayload</c>) with its signed transaction and renewal info.</summary>
    /// <param name="status">data.status: 1 active, 2 expired, 3 billing retry, 4 grace period, 5 revoked.</param>
    public JsonObject Notification(string type, string? subtype, DateTimeOffset signedDate, AppleTransactionPayload? transaction,
        AppleRenewalPayload? renewal = null, int? status = null, string? uuid = null, string environment = "Production", string bundleId = BundleId)
    {
        var data = new JsonObject { ["appAppleId"] = 1234567890, ["bundleId"] = bundleId, ["bundleVersion"] = "42", ["environment"] = environment };
        if (transaction is not null)
        {
            data["signedTransactionInfo"] = SignTransaction(transaction);
        }

        if (renewal is not null)
        {
            data["signedRenewalInfo"] = SignRenewal(renewal);
        }

        if (status is not null)
        {
            data["status"] = status;
        }

        var json = new JsonObject
        {
            ["notificationType"] = type,
            ["notificationUUID"] = uuid ?? Guid.NewGuid().ToString("D"),
            ["data"] = data,
            ["version"] = "2.0",
            ["signedDate"] = signedDate.ToUnixTimeMilliseconds(),
        };
        if (subtype is not null)
        {
            json["subtype"] = subtype;
        }

        return json;
    }

    /// <summary>The body Apple POSTs: <c>{"signedPayload": "&lt;JWS&gt;"}</c>.</summary>
    public string Body(JsonObject notification) => new JsonObject { ["signedPayload"] = pki.Sign(notification) }.ToJsonString();
}
