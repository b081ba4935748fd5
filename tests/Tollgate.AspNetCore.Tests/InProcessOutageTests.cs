using Tollgate.AspNetCore.Tests.Support;
using Tollgate.Storage;
using Tollgate.Testing;

namespace Tollgate.AspNetCore.Tests;

/// <summary>
/// The in-process <see cref="ITollgate"/> while PostgreSQL cannot be reached: <see cref="TollgateRefusal.Unavailable"/>,
/// as Tollgate.Client answers a 503, never an exception the app did not expect and never a half-applied write; and it
/// works again once the database is back. The database is taken away by a proxy in front of it.
/// </summary>
public sealed class InProcessOutageTests : IAsyncLifetime
{
    private TcpProxy _proxy = null!;
    private EmbeddedApp _app = null!;

    public async ValueTask InitializeAsync()
    {
        var target = new Npgsql.NpgsqlConnectionStringBuilder(Postgres.ConnectionString);
        _proxy = TcpProxy.Start(target.Host!, target.Port);
        _app = await EmbeddedApp.StartAsync(DatabaseProvider.Postgres,
            route: connectionString => _proxy.Route(connectionString) + ";Timeout=3;Command Timeout=5");
    }

    public async ValueTask DisposeAsync()
    {
        _proxy.Restore();
        await _app.DisposeAsync();
        await _proxy.DisposeAsync();
    }

    [Fact]
    public async Task WhileTheDatabaseCannotBeReached_UsageHoldsAndChecksAnswerUnavailable_AndNothingIsHalfApplied()
    {
        var customer = EmbeddedApp.NewCustomer();
        (await _app.Tollgate.GrantAsync(new CreateGrantRequest(customer, "credits", 10, "test"))).EnsureSuccess();
        var usage = new UsageRequest(customer, "credits", 4) { IdempotencyKey = "outage-" + customer };

        _proxy.Cut();
        var down = await _app.Tollgate.UseAsync(usage);
        var hold = await _app.Tollgate.CreateHoldAsync(new CreateHoldRequest(customer, "credits", 2));
        var check = await _app.Tollgate.CheckAsync(new CheckRequest(customer, "credits"));
        _proxy.Restore();
        var retried = await _app.Tollgate.UseAsync(usage);

        Assert.Equal((TollgateRefusal.Unavailable, TollgateRefusal.Unavailable), (down.Refusal, hold.Refusal));
        // Check answers a refusal as a reason (allowed: false), the way the API's 200 does; either way, unavailable.
        Assert.Equal(TollgateRefusal.Unavailable, check.Refusal ?? check.Value?.Reason);
        Assert.False(check.Value?.Allowed ?? false);
        Assert.Equal(6, retried.EnsureSuccess().Remaining);
        Assert.Equal((6L, 0L), ((await _app.Tollgate.GetBalancesAsync(customer)).EnsureSuccess().For("credits")!.Available,
            (await _app.Tollgate.GetBalancesAsync(customer)).EnsureSuccess().For("credits")!.Held));
    }
}
