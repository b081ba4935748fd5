namespace Tollgate.Providers.Sandbox;

/// <summary>
/// What the Sandbox needs from the app that hosts it: the address its checkout pages are served under, and a client
/// that reaches the host's own <c>/webhooks/sandbox</c>, so its events travel the same pipeline as a real provider's.
/// Tollgate.AspNetCore implements it with the configured public base URL or the address the server listens on.
/// </summary>
public interface ISandboxHost
{
    /// <summary>The absolute base URL (ending in <c>/</c>) that links handed to a customer start from.</summary>
    Uri Base { get; }

    /// <summary>A new client whose base address is the host itself; the caller disposes it.</summary>
    HttpClient SelfClient();
}
