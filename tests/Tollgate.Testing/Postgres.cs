using Xunit;

namespace Tollgate.Testing;

/// <summary>PostgreSQL tests run against the database named by <c>TOLLGATE_TEST_POSTGRES</c> (a connection string).
/// Without it they are skipped with that reason, except under <c>CI=true</c>, where a skip would hide a gap: there
/// they fail.</summary>
public static class Postgres
{
    public const string Variable = "TOLLGATE_TEST_POSTGRES";

    public static string ConnectionString
    {
        get
        {
            var value = Environment.GetEnvironmentVariable(Variable);
            if (!string.IsNullOrWhiteSpace(value))
            {
                return value;
            }

            var reason = $"PostgreSQL tests need {Variable} (a connection string); see README.";
            if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
            {
                Assert.Fail($"CI=true and {reason}");
            }

            Assert.Skip(reason);
            return "";
        }
    }
}
