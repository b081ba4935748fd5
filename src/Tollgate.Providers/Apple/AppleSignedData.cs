using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Tollgate.Providers.Http;

namespace Tollgate.Providers.Apple;

/// <summary>Why Apple-signed data was refused. Any of them answers <c>401 invalid_signature</c>, nothing stored.</summary>
public enum AppleVerificationFailure
{
    /// <summary>Verified: nothing failed.</summary>
    None,

    /// <summary>Not a compact JWS whose header and payload are JSON objects.</summary>
    Malformed,

    /// <summary><c>alg</c> is not exactly <c>ES256</c> (<c>none</c>, <c>HS256</c>, …).</summary>
    UnsupportedAlgorithm,

    /// <summary><c>x5c</c> is not exactly three certificates chaining to a trusted root, valid at the signing date.</summary>
    CertificateChain,

    /// <summary>The leaf or the intermediate lacks Apple's certificate extension.</summary>
    MissingAppleExtension,

    /// <summary>The ES256 signature over <c>header.payload</c> does not verify with the leaf's P-256 key.</summary>
    InvalidSignature,

    /// <summary>Signed by Apple, but for another app.</summary>
    WrongBundleId,

    /// <summary>Signed by Apple, but from the other environment (Sandbox vs Production).</summary>
    WrongEnvironment,
}

/// <summary>The verified payload of a JWS, or why it was refused.</summary>
internal sealed record AppleSignedData(JsonElement Payload, AppleVerificationFailure Failure, string? Detail)
{
    public bool Verified => Failure == AppleVerificationFailure.None;

    public static AppleSignedData Refused(AppleVerificationFailure failure, string detail) => new(default, failure, detail);
}

/// <summary>A leaf and intermediate that chained to a trusted root with Apple's OIDs: the dates all three certificates of the
/// path are valid between, and the leaf's P-256 key (SubjectPublicKeyInfo).</summary>
internal sealed record VerifiedChain(DateTimeOffset ValidFrom, DateTimeOffset ValidUntil, byte[] LeafKey);

/// <summary>
/// Verifies data Apple signs (StoreKit 2 transactions, renewal infos, App Store Server Notifications V2) the way Apple's
/// own server library does (<c>ChainVerifier</c>, <c>AppleExtensionCertPathChecker</c>): the JWS header's <c>x5c</c>
/// holds exactly three certificates (leaf, Apple Worldwide Developer Relations intermediate, root); leaf and
/// intermediate must chain to a trusted root with .NET's own <see cref="X509Chain"/> in custom-root mode (no system
/// store, no downloads), valid at the payload's <c>signedDate</c>; the leaf must carry OID
/// <c>1.2.840.113635.100.6.11.1</c> and the intermediate <c>1.2.840.113635.100.6.2.1</c>; <c>alg</c> must be exactly
/// ES256 and the raw <c>r||s</c> signature over <c>header.payload</c> must verify with the leaf's P-256 key. Thread-safe.
/// </summary>
internal sealed class AppleJwsVerifier
{
    public const string LeafOid = "1.2.840.113635.100.6.11.1";
    public const string IntermediateOid = "1.2.840.113635.100.6.2.1";
    private const string P256Oid = "1.2.840.10045.3.1.7";

    private const int MaxRemembered = 64;

    // A static initializer runs once per process, so a mutant of it cannot be switched per test; the rule is
    // AppleSignatureTests.AHeaderWithDuplicateKeys_IsRefused.
    // Stryker disable once Boolean : static initializer (above)
    private static readonly JsonDocumentOptions StrictJson = new() { AllowDuplicateProperties = false, MaxDepth = 16 };

    private readonly ConcurrentDictionary<(string Leaf, string Intermediate), VerifiedChain> _verified = new();

    private readonly X509Certificate2 _appleRoot;
    private readonly X509Certificate2[] _roots;
    private readonly bool _online;
    private readonly TimeProvider _time;

    public AppleJwsVerifier(X509Certificate2 appleRoot, IReadOnlyList<X509Certificate2> additionalRoots, bool onlineRevocationChecks, TimeProvider time)
    {
        _appleRoot = appleRoot;
        _roots = [appleRoot, .. additionalRoots];
        _online = onlineRevocationChecks;
        _time = time;
    }

    public AppleSignedData Verify(string? compact)
    {
        var parts = compact?.Split('.');
        if (parts is not { Length: 3 } || parts.Any(p => p.Length == 0))
        {
            return AppleSignedData.Refused(AppleVerificationFailure.Malformed, "not a compact JWS (three base64url parts)");
        }

        JsonElement header, payload;
        byte[] signature;
        try
        {
            header = ParseObject(Base64Url.DecodeFromChars(parts[0]));
            payload = ParseObject(Base64Url.DecodeFromChars(parts[1]));
            signature = Base64Url.DecodeFromChars(parts[2]);
        }
        catch (FormatException ex)
        {
            return AppleSignedData.Refused(AppleVerificationFailure.Malformed, ex.Message);
        }

        // Exactly ES256: "none", HS256 keyed with the public key, ES384 … are all refused before any key is used.
        if (header.Str("alg") is not "ES256")
        {
            return AppleSignedData.Refused(AppleVerificationFailure.UnsupportedAlgorithm, $"alg is '{header.Str("alg") ?? "(none)"}', not ES256");
        }

        if (header.ValueKind == JsonValueKind.Object && header.TryGetProperty("crit", out _))
        {
            return AppleSignedData.Refused(AppleVerificationFailure.Malformed, "the header names critical extensions Apple never uses");
        }

        if (ChainStrings(header) is not { } x5c)
        {
            return AppleSignedData.Refused(AppleVerificationFailure.CertificateChain, "x5c is not exactly three base64 DER certificates");
        }

        var signedAt = payload.Long("signedDate") is { } millis ? DateTimeOffset.FromUnixTimeMilliseconds(millis) : _time.GetUtcNow();
        var chain = VerifiedChainAt(x5c, signedAt, out var refusal);
        if (chain is null)
        {
            return refusal!;
        }

        using var key = ECDsa.Create();
        key.ImportSubjectPublicKeyInfo(chain.LeafKey, out _);
        var signingInput = Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]);
        if (signature.Length != 64
            || !key.VerifyData(signingInput, signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation))
        {
            return AppleSignedData.Refused(AppleVerificationFailure.InvalidSignature, "the ES256 signature does not verify");
        }

        return new AppleSignedData(payload, AppleVerificationFailure.None, null);
    }

    /// <summary>
    /// The leaf and intermediate of <paramref name="x5c"/> as a chain to a trusted root valid at <paramref name="at"/>,
    /// with Apple's OIDs and a P-256 leaf key; or null and why not. Building a chain costs milliseconds (three
    /// certificates parsed, OpenSSL's path validation), and Apple signs everything with the same few chains, so a chain
    /// that verified once is remembered: what can differ at another date is only whether every certificate of the path
    /// is valid then, which is checked against the remembered validity window. Only chains that verified are remembered,
    /// so nothing an attacker sends can fill the cache; with online revocation checks nothing is.
    /// </summary>
    private VerifiedChain? VerifiedChainAt(string[] x5c, DateTimeOffset at, out AppleSignedData? refusal)
    {
        refusal = null;
        var key = (x5c[0], x5c[1]);
        if (!_online && _verified.TryGetValue(key, out var known))
        {
            if (at >= known.ValidFrom && at <= known.ValidUntil)
            {
                return known;
            }

            refusal = AppleSignedData.Refused(AppleVerificationFailure.CertificateChain, "a certificate of the chain is not valid at the signing date");
            return null;
        }

        var certificates = LoadChain(x5c);
        if (certificates is null)
        {
            refusal = AppleSignedData.Refused(AppleVerificationFailure.CertificateChain, "x5c is not exactly three base64 DER certificates");
            return null;
        }

        var (leaf, intermediate) = (certificates[0], certificates[1]);
        try
        {
            if (CheckChain(leaf, intermediate, at, out var path) is { } chainProblem)
            {
                refusal = chainProblem;
                return null;
            }

            if (!HasExtension(leaf, LeafOid) || !HasExtension(intermediate, IntermediateOid))
            {
                refusal = AppleSignedData.Refused(AppleVerificationFailure.MissingAppleExtension,
                    !HasExtension(leaf, LeafOid) ? $"the leaf lacks Apple's extension {LeafOid}" : $"the intermediate lacks Apple's extension {IntermediateOid}");
                return null;
            }

            using var leafKey = leaf.GetECDsaPublicKey();
            // The curve's OID on Linux and macOS; the two names are what Windows' CNG reports instead. The tests run on Linux,
            // where the names never match, so their mutants cannot be observed here.
            // Stryker disable once String : platform names (above)
            if (leafKey is null || leafKey.KeySize != 256 || leafKey.ExportParameters(false).Curve.Oid?.Value is not (P256Oid or "nistP256" or "ECDSA_P256"))
            {
                refusal = AppleSignedData.Refused(AppleVerificationFailure.InvalidSignature, "the leaf's key is not an EC P-256 key");
                return null;
            }

            var verified = new VerifiedChain(path.Max(c => new DateTimeOffset(c.NotBefore.ToUniversalTime())),
                path.Min(c => new DateTimeOffset(c.NotAfter.ToUniversalTime())), leafKey.ExportSubjectPublicKeyInfo());
            if (!_online)
            {
                if (_verified.Count >= MaxRemembered)
                {
                    _verified.Clear();
                }

                _verified[key] = verified;
            }

            return verified;
        }
        finally
        {
            // Stryker disable once Block : releases native handles only; no answer depends on it
            foreach (var certificate in certificates)
            {
                // Stryker disable once Statement : releases native handles only; no answer depends on it
                certificate.Dispose();
            }
        }
    }

    /// <summary>The payload of a JWS that was verified before (an event stored in the inbox), without verifying again.</summary>
    public static JsonElement ReadPayload(string compact)
    {
        var parts = compact.Split('.');
        return parts.Length == 3 ? ParseObject(Base64Url.DecodeFromChars(parts[1])) : throw new FormatException("not a compact JWS");
    }

    private AppleSignedData? CheckChain(X509Certificate2 leaf, X509Certificate2 intermediate, DateTimeOffset signedAt, out X509Certificate2[] path)
    {
        path = [];
        using var chain = Chain(intermediate, signedAt, X509RevocationMode.NoCheck);
        if (!chain.Build(leaf))
        {
            return ChainRefused(chain);
        }

        // Built from exactly our leaf, the x5c intermediate and one of the trusted roots (never a longer or shorter path).
        var elements = chain.ChainElements;
        if (elements.Count != 3 || !elements[1].Certificate.RawDataMemory.Span.SequenceEqual(intermediate.RawDataMemory.Span)
            || !_roots.Any(r => r.RawDataMemory.Span.SequenceEqual(elements[2].Certificate.RawDataMemory.Span)))
        {
            return AppleSignedData.Refused(AppleVerificationFailure.CertificateChain, "the chain is not leaf → x5c intermediate → trusted root");
        }

        // Stryker disable once Linq : equivalent, the Any just above found the root
        path = [leaf, intermediate, _roots.First(r => r.RawDataMemory.Span.SequenceEqual(elements[2].Certificate.RawDataMemory.Span))];

        if (_online && elements[2].Certificate.RawDataMemory.Span.SequenceEqual(_appleRoot.RawDataMemory.Span))
        {
            // As Apple's library does with online checks on: revocation asked of Apple, validity as of now. Never for
            // roots given by setting (a test PKI has no OCSP responder).
            using var online = Chain(intermediate, _time.GetUtcNow(), X509RevocationMode.Online);
            if (!online.Build(leaf))
            {
                return ChainRefused(online);
            }
        }

        return null;
    }

    private X509Chain Chain(X509Certificate2 intermediate, DateTimeOffset at, X509RevocationMode revocation)
    {
        var chain = new X509Chain();
        var policy = chain.ChainPolicy;
        policy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        policy.CustomTrustStore.AddRange(_roots);
        // Only the x5c intermediate: the x5c "root" is never trusted for being in the header.
        policy.ExtraStore.Add(intermediate);
        policy.RevocationMode = revocation;
        policy.RevocationFlag = X509RevocationFlag.ExcludeRoot;
        policy.DisableCertificateDownloads = revocation == X509RevocationMode.NoCheck;
        // Validity as of the signing date, as Apple's library checks it offline (setting the time also stops .NET using now).
        policy.VerificationTime = at.UtcDateTime;
        return chain;
    }

    private static AppleSignedData ChainRefused(X509Chain chain)
    {
        var status = chain.ChainStatus.Select(s => s.Status.ToString()).Distinct(StringComparer.Ordinal).DefaultIfEmpty("unknown");
        return AppleSignedData.Refused(AppleVerificationFailure.CertificateChain, "the certificate chain does not verify: " + string.Join(", ", status));
    }

    /// <summary>The x5c entries when there are exactly three strings.</summary>
    private static string[]? ChainStrings(JsonElement header)
    {
        if (header.ValueKind != JsonValueKind.Object || !header.TryGetProperty("x5c", out var x5c) || x5c.ValueKind != JsonValueKind.Array
            || x5c.GetArrayLength() != 3 || x5c.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.String))
        {
            return null;
        }

        return [.. x5c.EnumerateArray().Select(e => e.GetString()!)];
    }

    private static X509Certificate2[]? LoadChain(string[] x5c)
    {
        var certificates = new List<X509Certificate2>(3);
        try
        {
            foreach (var entry in x5c)
            {
                // x5c entries are standard base64 (RFC 7515 §4.1.6), not base64url. (What does not decode does not load as
                // a certificate either: the early return only spares the attempt.)
                // Stryker disable once Block : equivalent (above)
                if (!TryBase64(entry, out var der))
                {
                    return Dispose(certificates);
                }

                certificates.Add(X509CertificateLoader.LoadCertificate(der));
            }
        }
        catch (CryptographicException)
        {
            return Dispose(certificates);
        }

        return [.. certificates];
    }

    private static X509Certificate2[]? Dispose(List<X509Certificate2> certificates)
    {
        // Stryker disable once Statement : releases native handles only; no answer depends on it
        certificates.ForEach(c => c.Dispose());
        return null;
    }

    private static bool TryBase64(string text, out byte[] bytes)
    {
        // A larger buffer decodes the same; an empty or undecodable entry fails to load as a certificate anyway.
        // Stryker disable once Arithmetic : equivalent (above)
        bytes = new byte[(text.Length * 3 / 4) + 3];
        // Stryker disable once Logical,Equality : equivalent (above)
        if (Convert.TryFromBase64String(text, bytes, out var written) && written > 0)
        {
            bytes = bytes[..written];
            return true;
        }

        // Stryker disable once Boolean : equivalent, undecoded bytes do not load as a certificate (above)
        return false;
    }

    private static bool HasExtension(X509Certificate2 certificate, string oid) =>
        certificate.Extensions.Any(e => e.Oid?.Value == oid);

    private static JsonElement ParseObject(byte[] json)
    {
        try
        {
            using var document = JsonDocument.Parse(json, StrictJson);
            return document.RootElement.ValueKind == JsonValueKind.Object
                ? document.RootElement.Clone()
                : throw new FormatException("a JWS part is not a JSON object");
        }
        catch (JsonException ex)
        {
            throw new FormatException("a JWS part is not JSON: " + ex.Message, ex);
        }
    }
}
