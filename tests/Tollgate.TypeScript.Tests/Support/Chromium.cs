namespace Tollgate.TypeScript.Tests.Support;

/// <summary>Debian's Chromium (or <c>TOLLGATE_TEST_CHROMIUM</c>), as for the .NET browser tests: skipped with the reason
/// when absent, a failure under <c>CI=true</c>.</summary>
public static class Chromium
{
    public const string Variable = "TOLLGATE_TEST_CHROMIUM";

    public static string ExecutablePath =>
        Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } path ? path : "/usr/bin/chromium";

    public static void Require()
    {
        if (File.Exists(ExecutablePath))
        {
            return;
        }

        var reason = $"The example's browser test needs Chromium at {ExecutablePath} (apt-get install -y chromium, or set {Variable}).";
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Assert.Fail($"CI=true and {reason}");
        }

        Assert.Skip(reason);
    }
}
