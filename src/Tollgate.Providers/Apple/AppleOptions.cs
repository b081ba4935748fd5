using System.Security.Cryptography.X509Certificates;

namespace Tollgate.Providers.Apple;

/// <summary>The App Store environment a server accepts signed data from. A transaction or notification from the other
/// environment is refused (a Sandbox purchase must never grant anything on a Production server).</summary>
public enum AppleEnvironment
{
    /// <summary>Real purchases.</summary>
    Production,

    /// <summary>Sandbox and TestFlight purchases.</summary>
    Sandbox,
}

/// <summary>App Store settings; API.md §6.4 binds them from <c>Tollgate__Providers__Apple__*</c>.</summary>
public sealed record AppleOptions
{
    /// <summary>The app's bundle id (<c>com.example.app</c>); signed data for any other app is refused. Required.</summary>
    public string BundleId { get; init; } = "";

    /// <summary>Which environment's signed data is accepted. Default <see cref="AppleEnvironment.Production"/>.</summary>
    public AppleEnvironment Environment { get; init; } = AppleEnvironment.Production;

    /// <summary>Roots trusted beside the built-in Apple Root CA - G3 (a test PKI, or a root Apple adds later).</summary>
    public IReadOnlyList<X509Certificate2> AdditionalRoots { get; init; } = [];

    /// <summary>Asks Apple's OCSP responder whether the certificates were revoked, as Apple's own library optionally
    /// does; the certificates are then checked at the current time rather than at the signing date. Off by default,
    /// so verification needs no network; never applied to <see cref="AdditionalRoots"/>.</summary>
    public bool OnlineRevocationChecks { get; init; }

    /// <summary>The settings without the certificates' contents.</summary>
    public override string ToString() =>
        $"AppleOptions {{ BundleId = {BundleId}, Environment = {Environment}, AdditionalRoots = {AdditionalRoots.Count}, "
        + $"OnlineRevocationChecks = {OnlineRevocationChecks} }}";

    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(BundleId))
        {
            throw new ArgumentException("Apple BundleId is required (Tollgate__Providers__Apple__BundleId).");
        }

        if (!Enum.IsDefined(Environment))
        {
            throw new ArgumentException("Apple Environment must be Production or Sandbox (Tollgate__Providers__Apple__Environment).");
        }

        if (AdditionalRoots.Any(r => r is null))
        {
            throw new ArgumentException("Apple AdditionalRoots may not contain null (Tollgate__Providers__Apple__RootCertificates).");
        }
    }
}
