using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Tollgate.Providers.Apple;

namespace Tollgate.Providers.Tests.Apple;

public sealed class AppleRootTests
{
    [Fact]
    public void TheBuiltInRoot_IsAppleRootCaG3_WithApplesPublishedFingerprint()
    {
        using var root = AppleRoots.LoadAppleRootCaG3();

        // The fingerprint Apple publishes at apple.com/certificateauthority, written out independently of the constant.
        Assert.Equal("63343ABFB89A6A03EBB57E9B3F5FA7BE7C4F5C756F3017B3A8C488C3653E9179", Convert.ToHexString(SHA256.HashData(root.RawData)));
        Assert.Equal("Apple Root CA - G3", root.GetNameInfo(X509NameType.SimpleName, forIssuer: false));
        Assert.Equal(root.Subject, root.Issuer);
        Assert.Equal(new DateTime(2039, 4, 30, 18, 19, 6, DateTimeKind.Utc), root.NotAfter.ToUniversalTime());
    }

    [Fact]
    public void ARootWhoseBytesDoNotMatchTheFingerprint_IsRefusedAtLoad()
    {
        using var real = AppleRoots.LoadAppleRootCaG3();
        var altered = real.RawData.ToArray();
        altered[^1] ^= 0x01;

        var ex = Assert.Throws<InvalidOperationException>(() => AppleRoots.Load(altered, AppleRoots.AppleRootCaG3Sha256));

        Assert.Contains("refusing to trust it", ex.Message, StringComparison.Ordinal);
    }
}
