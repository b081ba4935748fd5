using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Tollgate.Client;

/// <summary>Registers <see cref="TollgateClient"/> as the app's <see cref="ITollgate"/>.</summary>
public static class TollgateClientServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="ITollgate"/> as a <see cref="TollgateClient"/> for the server at <paramref name="baseUrl"/>,
    /// calling it with <paramref name="secretKey"/>; the other options keep their defaults.
    /// </summary>
    /// <param name="services">The app's services.</param>
    /// <param name="baseUrl">The Tollgate server, e.g. <c>http://localhost:5080</c>.</param>
    /// <param name="secretKey">A secret key the server accepts.</param>
    /// <returns>The typed client's builder, to add handlers or configure the primary handler.</returns>
    /// <exception cref="ArgumentException"><paramref name="baseUrl"/> is not an absolute URL.</exception>
    public static IHttpClientBuilder AddTollgateClient(this IServiceCollection services, string baseUrl, string secretKey)
    {
        ArgumentNullException.ThrowIfNull(baseUrl);
        if (!Uri.TryCreate(baseUrl, UriKind.Absolute, out var address))
        {
            throw new ArgumentException($"'{baseUrl}' is not an absolute URL; give the Tollgate server's, e.g. http://localhost:5080.", nameof(baseUrl));
        }

        return services.AddTollgateClient(options =>
        {
            options.BaseAddress = address;
            options.SecretKey = secretKey;
        });
    }

    /// <summary>
    /// Registers <see cref="ITollgate"/> as a <see cref="TollgateClient"/> configured by <paramref name="configure"/>
    /// (bind it from configuration there, if you like). The options are validated when the host starts
    /// (<c>ValidateOnStart</c>) and on first use, with one message per problem.
    /// </summary>
    /// <param name="services">The app's services.</param>
    /// <param name="configure">Sets <see cref="TollgateClientOptions.BaseAddress"/>, <see cref="TollgateClientOptions.SecretKey"/>
    /// and any other option.</param>
    /// <returns>The typed client's builder, to add handlers or configure the primary handler.</returns>
    public static IHttpClientBuilder AddTollgateClient(this IServiceCollection services, Action<TollgateClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<TollgateClientOptions>().Configure(configure).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TollgateClientOptions>, TollgateClientOptionsValidator>());
        // Attempts time out on their own clock (TollgateClientOptions.AttemptTimeout and Deadline); HttpClient's 100 s
        // default would only cut a long deadline short.
        return services.AddHttpClient<ITollgate, TollgateClient>(http => http.Timeout = Timeout.InfiniteTimeSpan);
    }
}
