using Tollgate.Server.Health;
using Tollgate.AspNetCore.Gates;

namespace Tollgate.AspNetCore;

/// <summary>Endpoint gates: <c>app.MapGet("/export", …).RequireFeature("hd_export")</c>,
/// <c>app.MapPost("/ai/messages", …).ChargeUsage("ai_messages", amount: 1)</c>.</summary>
public static class TollgateGateExtensions
{
    /// <summary>The endpoints need <paramref name="feature"/> (see <see cref="RequireFeatureAttribute"/>).</summary>
    public static TBuilder RequireFeature<TBuilder>(this TBuilder builder, string feature) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new RequireFeatureAttribute(feature));

    /// <summary>The endpoints cost <paramref name="amount"/> of <paramref name="feature"/>, charged only when the handler
    /// succeeds (see <see cref="ChargeUsageAttribute"/>).</summary>
    public static TBuilder ChargeUsage<TBuilder>(this TBuilder builder, string feature, long amount = 1) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ChargeUsageAttribute(feature, amount));

    /// <summary>
    /// Enforces <see cref="RequireFeatureAttribute"/> and <see cref="ChargeUsageAttribute"/> on the endpoints that carry
    /// them, through whichever <see cref="ITollgate"/> is registered (the engine's, or Tollgate.Client's). <c>MapTollgate()</c>
    /// calls it; an app that talks to a Tollgate server through Tollgate.Client calls it itself. Place it after
    /// authentication, so the caller's claims are known. Calling it twice gates once.
    /// </summary>
    public static IApplicationBuilder UseTollgateGates(this IApplicationBuilder app) => app.UseRefusalSpikes().UseMiddleware<GateMiddleware>();

    /// <summary>Registers the default <see cref="ITollgateCustomerResolver"/> (the <c>NameIdentifier</c> claim, or
    /// <paramref name="configure"/>'s organization claim) unless one is registered. <c>AddTollgate()</c> calls it.</summary>
    public static IServiceCollection AddTollgateGates(this IServiceCollection services, Action<TollgateGateOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<TollgateGateOptions>();
        if (configure is not null)
        {
            services.Configure(configure);
        }

        Microsoft.Extensions.DependencyInjection.Extensions.ServiceCollectionDescriptorExtensions.TryAddSingleton<ITollgateCustomerResolver, ClaimsCustomerResolver>(services);
        return services;
    }
}
