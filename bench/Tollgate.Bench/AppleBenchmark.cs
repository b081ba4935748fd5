using System.Security.Cryptography;
using System.Text;
using Tollgate.Core.Payments;
using Tollgate.Providers;
using Tollgate.Providers.Apple;
using Tollgate.Providers.Creem;
using Tollgate.Testing.Fakes;

namespace Tollgate.Bench;

/// <summary>One cell of the apple suite: signature checks per second by one or more callers.</summary>
internal sealed record AppleCell(string Check, int Callers, Measurement Run, long Refused);

/// <summary>
/// What verifying App Store data costs, in process (no HTTP, no database: those are the webhooks suite's). An App Store
/// Server Notification carries three JWS (the notification, its signed transaction and renewal info), each verified with
/// an X.509 chain build (custom root, no network) and an ECDSA P-256 signature; a forwarded transaction is one JWS.
/// Baseline in the same run: Creem's check of a body of the same size (one HMAC-SHA256), what every other webhook costs.
/// </summary>
internal sealed class AppleBenchmark(BenchOptions options)
{
    public async Task<List<AppleCell>> RunAsync()
    {
        using var pki = new AppleTestPki(new ApplePkiOptions());
        var store = new FakeAppStore(pki);
        var apple = PaymentProviders.CreateApple(new AppleOptions { BundleId = FakeAppStore.BundleId, AdditionalRoots = [pki.Root] }, TimeProvider.System);
        var bought = new DateTimeOffset(2026, 1, 15, 9, 0, 0, TimeSpan.Zero);
        var transaction = new AppleTransactionPayload("2000000000000001", "com.example.pro.monthly", AppleTransactionPayload.AutoRenewable, bought)
        {
            ExpiresDate = bought.AddMonths(1),
            AppAccountToken = "6f0c3a5e-3c1f-4f37-8f62-0f7f8b1d2e3a",
        };
        var notification = Encoding.UTF8.GetBytes(store.Body(store.Notification("DID_RENEW", null, bought, transaction,
            new AppleRenewalPayload("2000000000000001", "com.example.pro.monthly", bought), status: 1)));
        var signedTransaction = store.SignTransaction(transaction);

        const string secret = "whsec_bench";
        var creem = PaymentProviders.CreateCreem(new HttpClient(), new CreemOptions { ApiKey = "creem_test_bench", WebhookSecret = secret }, TimeProvider.System);
        var creemBody = new byte[notification.Length];
        notification.CopyTo(creemBody, 0);
        var creemHeaders = new Dictionary<string, string>
        {
            ["creem-signature"] = Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), creemBody)),
        };
        var noHeaders = new Dictionary<string, string>();

        var checks = new (string Name, Func<bool> Verify)[]
        {
            ($"Creem webhook, HMAC-SHA256 of {creemBody.Length:N0} bytes (baseline)", () => creem.VerifyWebhook(creemHeaders, creemBody, bought) == WebhookVerification.Valid),
            ($"App Store notification, 3 JWS ({notification.Length:N0} bytes)", () => apple.VerifyWebhook(noHeaders, notification, bought) == WebhookVerification.Valid),
            ("forwarded StoreKit 2 transaction, 1 JWS", () => apple.CheckTransaction(signedTransaction, "cus_bench").Failure == AppleVerificationFailure.None),
            // A verifier that has not seen the chain yet (a new provider each time, so its root is loaded and checked too):
            // what the first notification after a start, or after Apple rotates its signing certificate, costs.
            ("forwarded transaction, chain not yet remembered", () => PaymentProviders.CreateApple(
                new AppleOptions { BundleId = FakeAppStore.BundleId, AdditionalRoots = [pki.Root] }, TimeProvider.System)
                .CheckTransaction(signedTransaction, "cus_bench").Failure == AppleVerificationFailure.None),
        };

        var cells = new List<AppleCell>();
        foreach (var callers in options.Callers.Where(c => c <= Environment.ProcessorCount * 2).DefaultIfEmpty(1))
        {
            foreach (var (name, verify) in checks)
            {
                var refused = 0L;
                var (requests, succeeded, _, seconds, p50, p99) = await Measure.ClosedLoopAsync(callers, options.Warmup, options.Duration, (_, _) =>
                {
                    var ok = verify();
                    if (!ok)
                    {
                        Interlocked.Increment(ref refused);
                    }

                    return Task.FromResult(ok);
                });
                var run = new Measurement(name, "-", "verify", callers, requests, succeeded, seconds, p50, p99);
                cells.Add(new AppleCell(name, callers, run, refused));
                Console.Error.WriteLine(FormattableString.Invariant($"{callers} callers, {name}: {run.PerSecond:F0}/s, p50 {p50 * 1000:F0} µs, {refused} refused"));
            }
        }

        return cells;
    }

    public static string Markdown(List<AppleCell> cells)
    {
        var table = new StringBuilder();
        table.AppendLine("| callers | check | verified/s | p50 µs | p99 µs | ÷ Creem baseline |");
        table.AppendLine("|---:|---|---:|---:|---:|---:|");
        foreach (var group in cells.GroupBy(c => c.Callers))
        {
            var baseline = group.First().Run.PerSecond;
            foreach (var cell in group)
            {
                table.AppendLine(FormattableString.Invariant(
                    $"| {cell.Callers} | {cell.Check} | {cell.Run.PerSecond:F0} | {cell.Run.P50Ms * 1000:F0} | {cell.Run.P99Ms * 1000:F0} | {cell.Run.PerSecond / baseline:F3}× |"));
            }
        }

        return table.ToString();
    }
}
