using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Tollgate.Server.Tests.Support;
using Tollgate.Storage;

namespace Tollgate.Server.Tests.Health;

/// <summary>The server's log at its default level says what an operator needs — where it listens and in which mode,
/// each webhook applied, each grant — and not one line per request, nor warnings nobody can act on.</summary>
public sealed class OperatorLogTests
{
    [Fact]
    public async Task TheLog_HasALinePerAppliedEventAndGrant_AndNonePerRequest()
    {
        var logs = new Capture();
        await using var app = await TollgateApp.StartAsync(DatabaseProvider.Sqlite, services: s => s.AddSingleton<ILoggerProvider>(logs),
            settings: new Dictionary<string, string?> { ["Logging:LogLevel:Default"] = "Information", ["Tollgate:AdminKey"] = "admin-key-0123456789abcdef" });
        var customer = TollgateApp.NewCustomer();

        // Where it listens, in which mode; nothing of the framework's "Hosting environment: Production".
        Assert.Single(logs.Lines, l => l.Message.StartsWith("Tollgate listening on ", StringComparison.Ordinal)
            && l.Message.Contains("production: configured secret keys", StringComparison.Ordinal));
        Assert.DoesNotContain(logs.Lines, l => l.Message.Contains("Hosting environment", StringComparison.Ordinal));

        // Two hundred requests, API and pages (one with a form, which antiforgery protects): no line each.
        var before = logs.Lines.Count;
        for (var i = 0; i < 50; i++)
        {
            await app.Client.GetAsync($"/v1/customers/{customer}/balances");
            await app.Client.GetAsync("/pricing");
            await app.Client.GetAsync("/admin/login");
            await app.Client.GetAsync("/v1/nothing-here");
        }

        var during = logs.Lines.Skip(before).ToList();
        Assert.True(during.Count(l => l.Level >= LogLevel.Information) < 5, string.Join("\n", during.Select(l => l.Message)));
        Assert.DoesNotContain(during, l => l.Category.StartsWith("Microsoft.AspNetCore.Antiforgery", StringComparison.Ordinal));

        // A purchase: one line for each provider event applied, naming the customer.
        await app.BuyInSandboxAsync(customer, "starter_pack");
        var applied = logs.Lines.Where(l => l.Message.StartsWith("Applied sandbox event ", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(applied);
        Assert.All(applied, l => Assert.Contains(customer, l.Message, StringComparison.Ordinal));
        Assert.Equal(applied.Count, applied.Select(l => l.Message).Distinct().Count());

        // A grant sent twice with one key: one line, for the one grant made.
        var key = app.Key();
        for (var i = 0; i < 2; i++)
        {
            await Json.ReadAsync(await app.PostAsync($"/v1/customers/{customer}/grants", new { feature = "credits", amount = 5, reason = "support credit" }, key), 201);
        }

        Assert.Single(logs.Lines, l => l.Message == $"Granted 5 credits to customer {customer} (support credit)");
    }

    [Fact]
    public async Task ASpikeOfRefusals_IsOneWarningForItsMinute_WithCodesAndCustomers()
    {
        var logs = new Capture();
        await using var app = await TollgateApp.StartAsync(DatabaseProvider.Sqlite, services: s => s.AddSingleton<ILoggerProvider>(logs),
            settings: new Dictionary<string, string?> { ["Logging:LogLevel:Default"] = "Information" });
        var (busy, other) = (TollgateApp.NewCustomer(), TollgateApp.NewCustomer());
        foreach (var c in new[] { busy, other })
        {
            await Json.ReadAsync(await app.SendAsync(HttpMethod.Put, $"/v1/customers/{c}", "{}"), 200);
        }

        // Start at the beginning of a minute, so that the refusals below fall in one window.
        var now = app.Clock.GetUtcNow();
        app.Clock.Set(new DateTimeOffset(now.UtcTicks - now.UtcTicks % TimeSpan.TicksPerMinute, TimeSpan.Zero).AddMinutes(1));
        List<Line> Spikes() => logs.Lines.Where(l => l.EventId == 5010).ToList();

        // Nine refusals in a minute are business as usual: no warning when the minute is over.
        for (var i = 0; i < 9; i++)
        {
            Assert.Equal(402, (int)(await app.UseAsync(busy, "credits", 5)).StatusCode);
        }

        app.Clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(402, (int)(await app.UseAsync(busy, "credits", 5)).StatusCode);
        Assert.Empty(Spikes());

        // Twelve in the next minute (one already counted above): one warning, once that minute is over.
        for (var i = 0; i < 8; i++)
        {
            Assert.Equal(402, (int)(await app.UseAsync(busy, "credits", 5)).StatusCode);
        }

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(402, (int)(await app.UseAsync(other, "credits", 5)).StatusCode);
        }

        // A customer not known is a 404, not a refusal; answers that are not refusals are not counted.
        await app.Client.GetAsync($"/v1/customers/{busy}/balances");
        Assert.Empty(Spikes());
        app.Clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(402, (int)(await app.UseAsync(other, "credits", 5)).StatusCode);

        var spike = Assert.Single(Spikes());
        Assert.Equal(LogLevel.Warning, spike.Level);
        Assert.StartsWith("12 refusals (402/403/429) in the minute from ", spike.Message, StringComparison.Ordinal);
        Assert.Contains("402 insufficient_balance ×12", spike.Message, StringComparison.Ordinal);
        Assert.EndsWith($"customers refused most: {busy} ×9, {other} ×3", spike.Message, StringComparison.Ordinal);
    }

    private sealed record Line(string Category, LogLevel Level, string Message, int EventId = 0);

    private sealed class Capture : ILoggerProvider
    {
        public ConcurrentQueue<Line> Lines { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(categoryName, Lines);

        public void Dispose()
        {
        }

        private sealed class Logger(string category, ConcurrentQueue<Line> lines) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                lines.Enqueue(new Line(category, logLevel, formatter(state, exception), eventId.Id));
        }
    }
}
