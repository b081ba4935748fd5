using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Tollgate.Client.Tests.Support;

namespace Tollgate.Client.Tests;

/// <summary><c>services.AddTollgateClient(…)</c>: ITollgate for the app, options checked with one message per problem.</summary>
public sealed class RegistrationTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AddTollgateClient_RegistersITollgate_ThatCallsTheServerWithTheKey()
    {
        await using var stub = await StubServer.StartAsync(Answer.Json(200, Answer.Usage));
        var services = new ServiceCollection();
        services.AddTollgateClient(stub.BaseAddress.ToString(), "tg_registered_key");
        await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });

        var tollgate = provider.GetRequiredService<ITollgate>();
        var result = await tollgate.UseAsync(new UsageRequest("alice", "credits", 3), Ct);

        Assert.IsType<TollgateClient>(tollgate);
        Assert.True(result.Succeeded, result.ToString());
        Assert.Equal("Bearer tg_registered_key", Assert.Single(stub.Requests).Authorization);
    }

    [Fact]
    public async Task ABaseAddressWithAPath_KeepsItsPath()
    {
        await using var stub = await StubServer.StartAsync(Answer.Json(200, Answer.Usage));
        var services = new ServiceCollection();
        services.AddTollgateClient(o =>
        {
            o.BaseAddress = new Uri(stub.BaseAddress, "tollgate");
            o.SecretKey = "k";
        });
        await using var provider = services.BuildServiceProvider();

        await provider.GetRequiredService<ITollgate>().UseAsync(new UsageRequest("alice", "credits", 3), Ct);

        Assert.Equal("/tollgate/v1/usage", Assert.Single(stub.Requests).RawTarget);
    }

    [Fact]
    public void MisconfiguredOptions_AreNamed_OneMessageEach_WhenResolved()
    {
        var services = new ServiceCollection();
        services.AddTollgateClient(o =>
        {
            o.BaseAddress = new Uri("ftp://example.com/");
            o.SecretKey = " ";
            o.MaxAttempts = 0;
            o.AttemptTimeout = TimeSpan.Zero;
            o.Deadline = TimeSpan.MaxValue;
        });
        using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<ITollgate>());

        Assert.Equal(5, error.Failures.Count());
        Assert.Contains(error.Failures, f => f.Contains("BaseAddress must be an absolute http or https URL; 'ftp://example.com/'", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("SecretKey is required", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("MaxAttempts must be at least 1", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("AttemptTimeout must be positive", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("Deadline must be positive and at most a day", StringComparison.Ordinal));
    }

    [Fact]
    public async Task MisconfiguredOptions_StopTheHostFromStarting()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddTollgateClient(o => o.SecretKey = "k");
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(Ct));

        Assert.Contains("BaseAddress is required", Assert.Single(error.Failures), StringComparison.Ordinal);
    }

    [Fact]
    public void ABaseUrlThatIsNotAUrl_IsRefusedAtRegistration()
    {
        var error = Assert.Throws<ArgumentException>(() => new ServiceCollection().AddTollgateClient("not a url", "k"));

        Assert.Contains("not an absolute URL", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheConstructor_RefusesMisconfiguredOptions_NamingEachProblem()
    {
        var error = Assert.Throws<ArgumentException>(() => new TollgateClient(new HttpClient(), new TollgateClientOptions()));

        Assert.Contains("BaseAddress is required", error.Message, StringComparison.Ordinal);
        Assert.Contains("SecretKey is required", error.Message, StringComparison.Ordinal);
    }
}
