using Tollgate.Storage;
using Tollgate.Testing;
using Tollgate.TypeScript.Tests.Support;

// The npm runs start servers and a browser of their own; one at a time is what two cores can take.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Tollgate.TypeScript.Tests;

/// <summary>
/// <c>clients/typescript</c>'s own tests (vitest), run against the server this solution built: the client's retries,
/// keys and error mapping; the client and <c>createTollgateHandler</c> against a real server process on SQLite and on
/// PostgreSQL; the React hooks; the generated types against the live OpenAPI document; the Next.js example in Chromium.
/// </summary>
public sealed class TypeScriptTests(TypeScriptWorkspace workspace) : IClassFixture<TypeScriptWorkspace>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TypeCheck_OfPackagesAndTests_Passes()
    {
        workspace.Require();
        await workspace.RunAsync(null, Ct, "npm", "run", "typecheck");
    }

    [Fact]
    public async Task ClientAndHandler_UnitTests_Pass()
    {
        workspace.Require();
        await Vitest("client-unit");
    }

    [Fact]
    public async Task ReactHooks_Pass()
    {
        workspace.Require();
        await Vitest("react");
    }

    /// <summary>The built packages as an app installs them: ESM and CommonJS with their declarations, and a client with no
    /// Node built-ins (edge runtimes).</summary>
    [Fact]
    public async Task BuiltPackages_LoadAsEsmAndCommonJs_AndTheClientIsEdgeSafe()
    {
        workspace.Require();
        await Vitest("packages");
    }

    /// <summary>A server change that changes the API fails here until the client's types are regenerated (npm run generate).</summary>
    [Fact]
    public async Task GeneratedTypes_MatchTheLiveOpenApiDocument()
    {
        workspace.Require();
        await workspace.RunAsync(null, Ct, "npm", "run", "check:openapi");
    }

    [Fact]
    public async Task Client_AgainstARealServer_OnSqlite_Passes()
    {
        workspace.Require();
        await Vitest("client-integration");
    }

    /// <summary>The same tests with the server on a PostgreSQL schema of its own (the money paths' race and books checks on both databases).</summary>
    [Fact]
    public async Task Client_AgainstARealServer_OnPostgres_Passes()
    {
        workspace.Require();
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres, TimeProvider.System, migrate: false);
        await Vitest("client-integration", new Dictionary<string, string>
        {
            ["TOLLGATE_TEST_DATABASE_PROVIDER"] = "postgres",
            ["TOLLGATE_TEST_DATABASE_CONNECTION"] = database.Options.ConnectionString,
        });
    }

    [Fact]
    public async Task NextJsExample_MainFlowInChromium_Passes()
    {
        workspace.Require();
        Chromium.Require();
        await Vitest("example-e2e", new Dictionary<string, string> { ["TOLLGATE_TEST_CHROMIUM"] = Chromium.ExecutablePath });
    }

    private Task Vitest(string project, IReadOnlyDictionary<string, string>? environment = null) =>
        workspace.RunAsync(environment, Ct, "node", "node_modules/vitest/vitest.mjs", "run", "--project", project);
}
