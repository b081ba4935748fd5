using System.Text.Json;

namespace Tollgate.Providers.Apple;

/// <summary>A verified, decoded piece of Apple-signed data, or why it was refused.</summary>
internal sealed record AppleVerified<T>(T? Value, AppleVerificationFailure Failure, string? Detail) where T : class
{
    public static AppleVerified<T> Refused(AppleVerificationFailure failure, string? detail) => new(null, failure, detail);
}

/// <summary>A notification and the signed transaction and renewal info inside it, each verified.</summary>
internal sealed record AppleVerifiedNotification(AppleNotification Notification, AppleTransaction? Transaction, AppleRenewalInfo? Renewal);

/// <summary>
/// The JWS check (<see cref="AppleJwsVerifier"/>) plus what Apple's library checks after it: the data is for this app
/// (<c>bundleId</c>) and from this server's environment. A notification's signed transaction and renewal info are
/// verified the same way, each on its own chain; one failing refuses the whole notification.
/// </summary>
internal sealed class AppleVerifier(AppleJwsVerifier jws, AppleOptions options)
{
    private string Environment => options.Environment == AppleEnvironment.Sandbox ? "Sandbox" : "Production";

    public AppleVerified<AppleTransaction> VerifyTransaction(string? compact)
    {
        var signed = jws.Verify(compact);
        if (!signed.Verified)
        {
            return AppleVerified<AppleTransaction>.Refused(signed.Failure, signed.Detail);
        }

        if (Read(AppleTransaction.Read, signed.Payload) is not { } transaction)
        {
            return AppleVerified<AppleTransaction>.Refused(AppleVerificationFailure.Malformed, "the signed transaction lacks fields every transaction has");
        }

        return CheckApp(transaction.BundleId, transaction.Environment) is { } refusal
            ? AppleVerified<AppleTransaction>.Refused(refusal.Failure, refusal.Detail)
            : new AppleVerified<AppleTransaction>(transaction, AppleVerificationFailure.None, null);
    }

    public AppleVerified<AppleVerifiedNotification> VerifyNotification(string? compact)
    {
        var signed = jws.Verify(compact);
        if (!signed.Verified)
        {
            return AppleVerified<AppleVerifiedNotification>.Refused(signed.Failure, signed.Detail);
        }

        if (Read(AppleNotification.Read, signed.Payload) is not { } notification)
        {
            return AppleVerified<AppleVerifiedNotification>.Refused(AppleVerificationFailure.Malformed, "the notification lacks its type, UUID or signedDate");
        }

        if (CheckApp(notification.BundleId, notification.Environment) is { } refusal)
        {
            return AppleVerified<AppleVerifiedNotification>.Refused(refusal.Failure, refusal.Detail);
        }

        AppleTransaction? transaction = null;
        if (notification.SignedTransactionInfo is { } signedTransaction)
        {
            var inner = VerifyTransaction(signedTransaction);
            if (inner.Value is null)
            {
                return AppleVerified<AppleVerifiedNotification>.Refused(inner.Failure, "signedTransactionInfo: " + inner.Detail);
            }

            transaction = inner.Value;
        }

        AppleRenewalInfo? renewal = null;
        if (notification.SignedRenewalInfo is { } signedRenewal)
        {
            var inner = jws.Verify(signedRenewal);
            if (!inner.Verified)
            {
                return AppleVerified<AppleVerifiedNotification>.Refused(inner.Failure, "signedRenewalInfo: " + inner.Detail);
            }

            renewal = Read(AppleRenewalInfo.Read, inner.Payload);
            if (renewal is null)
            {
                return AppleVerified<AppleVerifiedNotification>.Refused(AppleVerificationFailure.Malformed, "signedRenewalInfo lacks fields every renewal info has");
            }

            // A renewal info names no bundle id; Apple's library checks its environment only.
            if (renewal.Environment != Environment)
            {
                return AppleVerified<AppleVerifiedNotification>.Refused(AppleVerificationFailure.WrongEnvironment,
                    $"signedRenewalInfo is from {renewal.Environment}; this server accepts {Environment}");
            }
        }

        return new AppleVerified<AppleVerifiedNotification>(new AppleVerifiedNotification(notification, transaction, renewal), AppleVerificationFailure.None, null);
    }

    private (AppleVerificationFailure Failure, string Detail)? CheckApp(string? bundleId, string? environment)
    {
        if (!string.Equals(bundleId, options.BundleId, StringComparison.Ordinal))
        {
            return (AppleVerificationFailure.WrongBundleId, $"signed for bundle '{bundleId ?? "(none)"}', not '{options.BundleId}'");
        }

        return string.Equals(environment, Environment, StringComparison.Ordinal)
            ? null
            : (AppleVerificationFailure.WrongEnvironment, $"signed in {environment ?? "(no environment)"}; this server accepts {Environment}");
    }

    private static T? Read<T>(Func<JsonElement, T> read, JsonElement payload) where T : class
    {
        try
        {
            return read(payload);
        }
        // Stryker disable once Block : equivalent, the method's default is null too
        catch (FormatException)
        {
            return null;
        }
    }
}
