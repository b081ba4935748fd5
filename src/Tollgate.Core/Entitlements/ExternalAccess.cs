namespace Tollgate.Core.Entitlements;

/// <summary>
/// What an outside system knows of a customer's access (the seeds' <c>ExternalAccessProvider</c>, e.g. a legacy
/// membership table). Its answer can only add <c>feature:*</c> capabilities; anything else it claims is ignored.
/// </summary>
public interface IExternalAccessSource
{
    /// <summary>What the outside source says the customer may use. Errors and timeouts are the caller's to treat as <see cref="ExternalAccess.Unknown"/>.</summary>
    Task<ExternalAccess> GetAsync(string customerId, CancellationToken cancellationToken);
}

/// <summary>An external source's answer. When <see cref="Known"/> is false the source is unsure and the answer is
/// ignored, like an error or a timeout: the refusal stands.</summary>
public sealed record ExternalAccess(bool Known, IReadOnlyCollection<string> Capabilities)
{
    /// <summary>The source does not know the customer: nothing is added.</summary>
    public static ExternalAccess Unknown { get; } = new(false, []);

    /// <summary>The customer is known and has these capabilities.</summary>
    public static ExternalAccess Of(params string[] capabilities) => new(true, capabilities);
}
