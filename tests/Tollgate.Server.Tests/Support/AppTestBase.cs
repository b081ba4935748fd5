using Tollgate.Storage;

namespace Tollgate.Server.Tests.Support;

/// <summary>A fresh server on a fresh database per test; subclasses pick the database.</summary>
public abstract class AppTestBase : IAsyncLifetime
{
    protected abstract DatabaseProvider Provider { get; }

    protected TollgateApp App { get; private set; } = null!;

    protected HttpClient Client => App.Client;

    /// <summary>PostgreSQL with one pooled connection (TestDatabase.CreateAsync): for flows run again to show that
    /// nothing in them asks for a second connection while it holds one.</summary>
    protected virtual bool OnePooledConnection => false;

    public virtual async ValueTask InitializeAsync() => App = await TollgateApp.StartAsync(Provider, onePooledConnection: OnePooledConnection);

    public async ValueTask DisposeAsync()
    {
        await App.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}
