namespace Tollgate.Core.Entitlements;

/// <summary>
/// What an outside system knows of a customer's access (the seeds' <c>ExternalAccessProvider</c>, e.g. a legacy
/// membership table). Its answer can only add <c>feature:*</c> capabilities; anything else it claims is ignored.
/// </summary>
public interface IExternalAccessSource
{
    Task<ExternalAccess> GetAsync(string customerId, CancellationToken cancellationToken);
}

/// <summary>An external source's answer. When <see cref="Known"/> is false the source is unsure and the answer is
/// ignored, like an error or a timeout: the refusal stands.</summary>
public sealed record ExternalAccess(bool Known, IReadOnlyCollection<string> Capabilities)
{
    public static ExternalAccess Unknown { get; } = new(false, []);

    public static ExternalAccess Of(params string[] capabilities) => new(true, capabilities);
}
