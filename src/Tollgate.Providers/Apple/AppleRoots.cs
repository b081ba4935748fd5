using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Tollgate.Providers.Apple;

/// <summary>
/// Apple Root CA - G3, the root of every chain Apple signs App Store data with, built in as
/// <c>AppleRootCA-G3.cer</c> (the DER file Apple publishes at apple.com/certificateauthority). Its SHA-256
/// fingerprint is checked every time it is loaded, so a corrupted or swapped resource stops start-up instead of
/// silently trusting something else.
/// </summary>
public static class AppleRoots
{
    /// <summary>SHA-256 of Apple Root CA - G3's DER bytes, as Apple publishes it
    /// (63:34:3A:BF:B8:9A:6A:03:EB:B5:7E:9B:3F:5F:A7:BE:7C:4F:5C:75:6F:30:17:B3:A8:C4:88:C3:65:3E:91:79).</summary>
    public const string AppleRootCaG3Sha256 = "63343ABFB89A6A03EBB57E9B3F5FA7BE7C4F5C756F3017B3A8C488C3653E9179";

    private const string ResourceName = "Tollgate.Providers.Apple.AppleRootCA-G3.cer";

    /// <summary>Loads the built-in root. Throws <see cref="InvalidOperationException"/> when the embedded bytes are not
    /// the certificate whose fingerprint Apple publishes.</summary>
    public static X509Certificate2 LoadAppleRootCaG3() => Load(ReadResource(), AppleRootCaG3Sha256);

    internal static X509Certificate2 Load(byte[] der, string expectedSha256)
    {
        var actual = Convert.ToHexString(SHA256.HashData(der));
        if (!string.Equals(actual, expectedSha256, StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException(
                $"The built-in Apple root certificate has SHA-256 {actual}, not Apple's published {expectedSha256}; refusing to trust it.");
        }

        return X509CertificateLoader.LoadCertificate(der);
    }

    private static byte[] ReadResource()
    {
        using var stream = typeof(AppleRoots).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"The built-in Apple root certificate ({ResourceName}) is missing from the assembly.");
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }
}
