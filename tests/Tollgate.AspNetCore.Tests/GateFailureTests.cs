using System.Net;
using System.Reflection;
using Microsoft.Extensions.DependencyInjection;
using Tollgate.AspNetCore.Tests.Support;
using Tollgate.Server.InProcess;
using Tollgate.Storage;

namespace Tollgate.AspNetCore.Tests;

public sealed class SqliteGateFailureTests : GateFailureTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresGateFailureTests : GateFailureTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}

/// <summary>
/// The endpoint gates when Tollgate itself fails part-way: a hold already taken for an earlier charge must go back, or
/// its units stay reserved for the hold's lifetime (an hour) and the customer is refused meanwhile.
/// </summary>
public abstract class GateFailureTests : IAsyncLifetime
{
    protected abstract DatabaseProvider Provider { get; }

    private EmbeddedApp _app = null!;

    public async ValueTask InitializeAsync()
    {
        if (Provider == DatabaseProvider.Postgres)
        {
            _ = Tollgate.Testing.Postgres.ConnectionString;
        }

        _app = await EmbeddedApp.StartAsync(Provider, services =>
        {
            services.AddTollgateGates();
            // The engine's own ITollgate, except that holds of credits fail as an unreachable database would.
            services.AddSingleton(sp => FailingHolds.Wrap(ActivatorUtilities.CreateInstance<InProcessTollgate>(sp), "credits"));
        });
    }

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        GC.SuppressFinalize(this);
    }

    [Fact]
    public async Task ChargeUsage_WhenALaterChargeFails_ReleasesTheHoldsAlreadyTaken_AndChargesNothing()
    {
        var customer = EmbeddedApp.NewCustomer();
        (await _app.Tollgate.GrantAsync(new CreateGrantRequest(customer, "credits", 50, "test"))).EnsureSuccess();

        using var response = await _app.SendAsUserAsync(HttpMethod.Post, "/ai/two", customer);

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        var balances = (await _app.Tollgate.GetBalancesAsync(customer)).EnsureSuccess();
        var messages = balances.For("ai_messages")!;
        Assert.Equal((50L, 0L, 0L), (messages.Available, messages.Held, messages.Used!.Value));
        Assert.Equal((50L, 0L), (balances.For("credits")!.Available, balances.For("credits")!.Held));
    }

    /// <summary>An <see cref="ITollgate"/> that passes every call to the engine but throws on holds of one feature.</summary>
    public class FailingHolds : DispatchProxy
    {
        private ITollgate _inner = null!;
        private string _feature = "";

        public static ITollgate Wrap(ITollgate inner, string feature)
        {
            var proxy = Create<ITollgate, FailingHolds>();
            var failing = (FailingHolds)(object)proxy;
            failing._inner = inner;
            failing._feature = feature;
            return proxy;
        }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            if (targetMethod!.Name == nameof(ITollgate.CreateHoldAsync) && args![0] is CreateHoldRequest request && request.Feature == _feature)
            {
                throw new TimeoutException("planted: the database did not answer");
            }

            return targetMethod.Invoke(_inner, args);
        }
    }
}
