namespace Tollgate.Core.Payments.Sandbox;

/// <summary>A hosted checkout of the built-in Sandbox provider: what a real provider would keep on its side.</summary>
public sealed record SandboxCheckout(
    string SessionId,
    string CheckoutId,
    string CustomerId,
    string Product,
    CheckoutMode Mode,
    long Amount,
    string Currency,
    string? CustomerEmail,
    IReadOnlyDictionary<string, string> Metadata,
    string SuccessUrl,
    string? CancelUrl,
    string Status,
    string? OrderId,
    DateTimeOffset CreatedAt);

/// <summary>A subscription on the Sandbox provider's side; it renews by itself when its period ends.</summary>
public sealed record SandboxSubscription(
    string SubscriptionId,
    string CustomerId,
    string Product,
    string Status,
    DateTimeOffset PeriodStart,
    DateTimeOffset PeriodEnd,
    bool CancelAtPeriodEnd,
    string? PendingProduct,
    IReadOnlyDictionary<string, string> Metadata,
    DateTimeOffset CreatedAt);

/// <summary>Storage port of the Sandbox provider.</summary>
public interface ISandboxStore
{
    /// <summary>Stores a new Sandbox checkout.</summary>
    Task InsertCheckoutAsync(SandboxCheckout checkout, CancellationToken cancellationToken);

    /// <summary>A Sandbox checkout by session id, or null.</summary>
    Task<SandboxCheckout?> GetCheckoutAsync(string sessionId, CancellationToken cancellationToken);

    /// <summary>Moves a checkout from open to <paramref name="status"/>; false when it was no longer open.</summary>
    Task<bool> TryCloseCheckoutAsync(string sessionId, string status, string? orderId, CancellationToken cancellationToken);

    /// <summary>Stores a Sandbox subscription, new or changed.</summary>
    Task SaveSubscriptionAsync(SandboxSubscription subscription, CancellationToken cancellationToken);

    /// <summary>A Sandbox subscription by id, or null.</summary>
    Task<SandboxSubscription?> GetSubscriptionAsync(string subscriptionId, CancellationToken cancellationToken);

    /// <summary>Active subscriptions whose period ended at or before <paramref name="now"/>.</summary>
    Task<IReadOnlyList<SandboxSubscription>> DueAsync(DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>The customer's Sandbox subscriptions.</summary>
    Task<IReadOnlyList<SandboxSubscription>> ListByCustomerAsync(string customerId, CancellationToken cancellationToken);

    /// <summary>Saves the test card a customer paid with, for off-session charges (auto top-up).</summary>
    Task SaveCardAsync(string customerId, string card, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>The customer's saved test card, or null.</summary>
    Task<string?> GetCardAsync(string customerId, CancellationToken cancellationToken);
}
