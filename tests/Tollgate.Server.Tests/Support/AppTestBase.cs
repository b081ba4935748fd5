using Tollgate.Storage;

namespace Tollgate.Server.Tests.Support;

/// <summary>A fresh server on a fresh database per test; subclasses pick the database.</summary>
public abstract class AppTestBase : IAsyncLifetime
{
    protected abstract DatabaseProvider Provider { get; }

    protected TollgateApp App { get; private set; } = null!;

    protected HttpClient Client => App.Client;

    public virtual async ValueTask InitializeAsync() => App = await TollgateApp.StartAsync(Provider);

    public async ValueTask DisposeAsync()
    {
        await App.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}
