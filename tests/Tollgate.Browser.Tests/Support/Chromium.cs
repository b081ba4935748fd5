namespace Tollgate.Browser.Tests.Support;

/// <summary>The browser tests drive Debian's Chromium (<c>apt-get install chromium</c>); Playwright never downloads a
/// browser of its own. Without it the tests are skipped with that reason, except under <c>CI=true</c>, where a skip
/// would hide a gap: there they fail.</summary>
public static class Chromium
{
    public const string Variable = "TOLLGATE_TEST_CHROMIUM";

    /// <summary>Chromium's executable: <c>TOLLGATE_TEST_CHROMIUM</c> when set, else Debian's.</summary>
    public static string ExecutablePath =>
        Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } path ? path : "/usr/bin/chromium";

    public static bool IsInstalled => File.Exists(ExecutablePath);

    public static readonly string[] Args =
        ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

    public static void Require()
    {
        if (IsInstalled)
        {
            return;
        }

        var reason = $"Browser tests need Chromium at {ExecutablePath} (apt-get install -y chromium, or set {Variable}).";
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Assert.Fail($"CI=true and {reason}");
        }

        Assert.Skip(reason);
    }
}
