using System.Text.Json.Nodes;
using Tollgate.Core.Catalog;
using Tollgate.Core.Common;
using Tollgate.Core.Events;
using Tollgate.Core.Payments;
using Tollgate.Storage;

namespace Tollgate.Server.Events;

/// <summary>
/// Charges the auto top-ups ledger writes made due (API.md §6.3): claims each, charges the pack off-session through its
/// provider under an idempotency key made from the charge id, and records the outcome with its event in one
/// transaction — <c>auto_topup.succeeded</c>, or <c>auto_topup.failed</c> with auto top-up turned off for the customer
/// when the provider refuses for good (a decline, authentication required, no saved payment method). It grants nothing:
/// the credits arrive from the provider's signed webhook like any purchase. A claim that is never reported (a server
/// killed between charging and recording) comes back when its lease ends and is charged again under the same key, which
/// the provider answers with the first payment.
/// </summary>
internal sealed class AutoTopupCharger(TollgateDatabase database, ProductCatalog catalog, ProviderRegistry providers, TimeProvider time,
    ILogger<AutoTopupCharger> logger)
{
    /// <summary>How long a claim holds: well past a provider call's timeouts and retries.</summary>
    public static readonly TimeSpan Lease = TimeSpan.FromMinutes(2);

    /// <summary>Transient failures (the provider unreachable, 5xx, 429) are retried this many times, backing off.</summary>
    public const int MaxAttempts = 8;

    /// <summary>The failure code of a due charge that was not made because auto top-up was turned off meanwhile.</summary>
    public const string TurnedOff = "auto_topup_off";

    /// <summary>Claims and charges what is due now; returns how many charges were handled.</summary>
    public async Task<int> RunOnceAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var claimed = await database.AutoTopups.ClaimAsync(now, now + Lease, 16, cancellationToken);
        foreach (var work in claimed)
        {
            await ChargeAsync(work, cancellationToken);
        }

        return claimed.Count;
    }

    private async Task ChargeAsync(ClaimedTopup work, CancellationToken cancellationToken)
    {
        var charge = work.Charge;
        if (await database.AutoTopups.GetAsync(charge.CustomerId, cancellationToken) is not { Enabled: true })
        {
            // Turned off (by the customer in the portal, or deleted by the app) after the crossing wrote this charge,
            // typically while it waited to retry an unreachable provider: the customer withdrew consent, so it is not
            // made. A previous try whose answer was lost may have reached the provider; such a payment still grants its
            // credits from the provider's signed webhook, so no one pays without credits either way.
            await RecordAsync(work, OffSessionChargeResult.Refused(TurnedOff, "Auto top-up was turned off before this charge was made."),
                charge.Attempts, disable: false);
            return;
        }

        var attempts = charge.Attempts + 1;
        OffSessionChargeResult result;
        try
        {
            result = await CallProviderAsync(charge, cancellationToken);
        }
        catch (ProviderException ex) when (ex.Transient && attempts < MaxAttempts)
        {
            var wait = TimeSpan.FromSeconds(Math.Min(3600, 5 * Math.Pow(4, attempts - 1)));
            var at = time.GetUtcNow();
            await database.AutoTopups.CompleteAsync(charge.CustomerId, charge.ChargeId, work.Claim, TopupChargeStatus.Due, null, ex.Message, attempts, at + wait, at,
                CancellationToken.None);
            logger.LogWarning(ex, "Auto top-up {Charge} for {Customer}: {Provider} unavailable; trying again in {Wait}", charge.ChargeId, charge.CustomerId,
                charge.Provider, wait);
            return;
        }
        catch (ProviderException ex)
        {
            result = OffSessionChargeResult.Refused(ex.Transient ? "provider_unavailable" : "provider_error", ex.Message);
        }

        await RecordAsync(work, result, attempts, disable: true);
    }

    private async Task<OffSessionChargeResult> CallProviderAsync(TopupCharge charge, CancellationToken cancellationToken)
    {
        if (providers.Find(charge.Provider) is not IOffSessionCharges charger)
        {
            return OffSessionChargeResult.Refused("not_supported", $"Provider '{charge.Provider}' cannot charge off-session (or is no longer enabled).");
        }

        if (catalog.PacksById.GetValueOrDefault(charge.Pack) is not { } pack
            || pack.Providers.For(charge.Provider) is not { } productRef)
        {
            return OffSessionChargeResult.Refused("not_supported", $"Pack '{charge.Pack}' is not in the catalog for {charge.Provider}.");
        }

        var providerCustomer = await database.Payments.FindProviderCustomerAsync(charge.Provider, charge.CustomerId, cancellationToken);
        return await charger.ChargeOffSessionAsync(new OffSessionChargeRequest(charge.ChargeId, charge.CustomerId, providerCustomer, pack.Id, productRef),
            cancellationToken);
    }

    /// <summary>The outcome, the customer's auto top-up turned off after a refusal (when <paramref name="disable"/>), and the
    /// event: one transaction.</summary>
    private async Task RecordAsync(ClaimedTopup work, OffSessionChargeResult result, int attempts, bool disable)
    {
        var charge = work.Charge;
        var now = Instants.Now(time);
        await using var transaction = database.Transactions.Begin();
        var status = result.Succeeded ? TopupChargeStatus.Succeeded : TopupChargeStatus.Failed;
        var error = result.Succeeded ? null : $"{result.FailureCode}: {result.FailureMessage}";
        if (!await database.AutoTopups.CompleteAsync(charge.CustomerId, charge.ChargeId, work.Claim, status, result.ProviderPaymentId, error, attempts, null, now,
                CancellationToken.None))
        {
            logger.LogWarning("Auto top-up {Charge} was recorded after its claim ended; the other worker's outcome stands", charge.ChargeId);
            return;
        }

        var data = new JsonObject
        {
            ["charge_id"] = charge.ChargeId,
            ["feature"] = charge.Feature,
            ["pack"] = charge.Pack,
            ["provider"] = charge.Provider,
            ["month"] = charge.Month,
            ["ordinal"] = charge.Ordinal,
        };
        if (result.Succeeded)
        {
            data["payment_id"] = result.ProviderPaymentId;
        }
        else
        {
            data["code"] = result.FailureCode;
            data["reason"] = result.FailureMessage;
            if (disable)
            {
                await database.AutoTopups.SetEnabledAsync(charge.CustomerId, false, error, now, CancellationToken.None);
            }
        }

        database.Outbox.Add(OutboundEvent.Create(result.Succeeded ? EventTypes.AutoTopupSucceeded : EventTypes.AutoTopupFailed, charge.CustomerId, data, time));
        await transaction.CommitAsync(CancellationToken.None);
        if (!result.Succeeded && !disable)
        {
            logger.LogInformation("Auto top-up {Charge} for {Customer} was not made: auto top-up was turned off before it", charge.ChargeId,
                charge.CustomerId);
        }
        else if (!result.Succeeded)
        {
            logger.LogWarning("Auto top-up {Charge} for {Customer} refused by {Provider} ({Code}); auto top-up is now off for the customer",
                charge.ChargeId, charge.CustomerId, charge.Provider, result.FailureCode);
        }
    }
}

/// <summary>Runs <see cref="AutoTopupCharger"/>: at once when a ledger write here made a charge due, else every few seconds
/// (for other servers' charges and retries).</summary>
internal sealed class AutoTopupWorker(TollgateDatabase database, AutoTopupCharger charger, ILogger<AutoTopupWorker> logger) : BackgroundService
{
    // Wall-clock polling for other servers' charges and for retries; this server's own triggers wake the loop at once.
    private static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                while (await charger.RunOnceAsync(stoppingToken) > 0)
                {
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogWarning(ex, "Auto top-up charging failed; retrying in {Interval}", PollInterval);
            }

            try
            {
                await database.TopupSignal.WaitAsync(PollInterval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
