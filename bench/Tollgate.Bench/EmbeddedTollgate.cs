using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Tollgate.Bench;

/// <summary>
/// An app of the bench's own with Tollgate embedded (<c>AddTollgate()</c>, <c>MapTollgate()</c>) on a database of its own:
/// its <see cref="ITollgate"/> is the engine in this process. It listens on a loopback port only so that the books can be
/// checked through its /v1 (<see cref="Admin"/>), not through the <see cref="ITollgate"/> being measured.
/// </summary>
internal sealed class EmbeddedTollgate : IAsyncDisposable
{
    private readonly WebApplication _app;

    private EmbeddedTollgate(WebApplication app, HttpClient admin)
    {
        _app = app;
        Admin = admin;
    }

    public ITollgate Tollgate => _app.Services.GetRequiredService<ITollgate>();

    /// <summary>The embedded app's /v1 with the secret key, for the grant and the books.</summary>
    public HttpClient Admin { get; }

    public static async Task<EmbeddedTollgate> StartAsync(BenchDatabase database)
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Tollgate:Database:Provider"] = database.IsPostgres ? "postgres" : "sqlite",
            ["Tollgate:Database:ConnectionString"] = database.ConnectionString,
            ["Tollgate:ApiKeys:0"] = ServerProcess.ApiKey,
            ["Logging:LogLevel:Default"] = "Warning",
        });
        builder.Services.AddTollgate(builder.Configuration.GetSection("Tollgate"));
        var app = builder.Build();
        app.MapTollgate(o => o.Pages = false);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var admin = new HttpClient { BaseAddress = new Uri(address + "/") };
        admin.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", ServerProcess.ApiKey);
        return new EmbeddedTollgate(app, admin);
    }

    public async ValueTask DisposeAsync()
    {
        Admin.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
