using System.Text;
using System.Text.Json;
using Tollgate.Core.Common;
using Tollgate.Core.Ledger;
using Tollgate.Core.Payments;
using Tollgate.Core.Subscriptions;
using Tollgate.Testing;

namespace Tollgate.Storage.Tests.Payments;

/// <summary>
/// Rules of the webhook pipeline over a real database, the same for every provider: a delivery that is not for an
/// enabled provider, not signed or not readable changes nothing (a readable-but-wrong one is kept as rejected, once);
/// one that is, is stored once and applied in the same transaction, and a duplicate changes nothing; when applying fails,
/// nothing of the attempt is kept and the event is stored as failed, retried with backoff until given up; a transient
/// database failure runs the transaction again; an operator's replay applies a stored event again, changing nothing
/// twice. These are the rules of the one-transaction path, which every delivery takes here (a paid pack's first delivery
/// takes a ledger batch in the server: BatchedPackDeliveryRules). The provider here is a stand-in under Creem's id (the catalog maps products for it): a body counts as signed
/// when its <c>signature</c> header says <c>ok</c>, and is the small JSON <see cref="Body"/> writes. Each test names its
/// rule. Run on SQLite and PostgreSQL.
/// </summary>
public abstract class WebhookProcessorRules : ApplierTestBase
{
    private readonly ListLogger<WebhookProcessor> _log = new();
    private LostAcknowledgementStore? _ledger;
    private WebhookProcessor? _processor;

    protected override bool InTransactions => true;

    protected override ILedgerStore LedgerStore(ILedgerStore database) => _ledger = new LostAcknowledgementStore(database);

    protected static readonly Dictionary<string, string> Signed = new() { ["signature"] = "ok" };

    protected WebhookProcessor Processor => _processor ??= NewProcessor(new ProviderRegistry([new StandInProvider()], Creem));

    private WebhookProcessor NewProcessor(ProviderRegistry registry) => NewProcessor(registry, Db.Database.Webhooks);

    // The one-transaction path for every delivery: a pack's first delivery takes a ledger batch otherwise, whose rules
    // are BatchedPackDeliveryRules'.
    protected WebhookProcessor NewProcessor(ProviderRegistry registry, IWebhookInbox inbox) =>
        new(registry, inbox, Applier, Gate, new MarkedTransientTransactions(Db.Database.Transactions), Clock, _log, batchPackDeliveries: false);

    /// <summary>Makes the ledger's next write fail with <paramref name="failure"/> (after its commit, within the flow).</summary>
    protected void FailNextLedgerWrite(Exception failure) => _ledger!.NextFailure = failure;

    /// <summary>A provider under Creem's id (or another) that reads the JSON <see cref="Body"/> writes.</summary>
    protected static IPaymentProvider StandIn(string id = Creem) => new StandInProvider(id);

    /// <summary>The body of a delivery: a paid pack order, a refund of it, or an event type Tollgate ignores.</summary>
    protected static byte[] Body(string eventId, string type = "order.paid", string? customer = null, string order = "ord_1") =>
        JsonSerializer.SerializeToUtf8Bytes(new { id = eventId, type, customer, order });

    protected Task<(WebhookReceipt Receipt, WebhookEvent? Event)> Receive(byte[] body, IReadOnlyDictionary<string, string>? headers = null,
        string provider = Creem) => Processor.ReceiveAsync(provider, headers ?? Signed, body);

    protected Task<WebhookEvent?> Stored(string eventId) => Db.Database.Webhooks.GetAsync(Creem, eventId, CancellationToken.None);

    [Fact]
    public async Task Rule_ADeliveryForNoEnabledProvider_OrNotSigned_IsRefused_AndNothingIsStored()
    {
        var c = NewCustomer();
        Assert.Equal((WebhookReceipt.UnknownProvider, (WebhookEvent?)null), await Receive(Body("evt_1", customer: c), provider: "paypal"));
        Assert.Equal((WebhookReceipt.BadSignature, (WebhookEvent?)null), await Receive(Body("evt_1", customer: c), new Dictionary<string, string>()));
        Assert.Equal((WebhookReceipt.BadSignature, (WebhookEvent?)null),
            await Receive(Body("evt_1", customer: c), new Dictionary<string, string> { ["signature"] = "forged" }));

        Assert.Null(await Stored("evt_1"));
        Assert.Empty(await Db.Database.Webhooks.ListAsync(null, 10, CancellationToken.None));
        Assert.Equal(0, await Credits(c));
    }

    [Fact]
    public async Task Rule_ASignedBodyThatCannotBeRead_IsMalformed_KeptOnceAsRejected_WithItsTextMadeStorable()
    {
        var body = Encoding.UTF8.GetBytes("{\"id\":\"evt_1\",\"type\":\"order.paid\"\0").Concat(new byte[] { 0xff, 0xfe }).ToArray();

        Assert.Equal((WebhookReceipt.Malformed, (WebhookEvent?)null), await Receive(body));
        Assert.Equal((WebhookReceipt.Malformed, (WebhookEvent?)null), await Receive(body));

        var rejected = Assert.Single(await Db.Database.Webhooks.ListAsync(WebhookStatus.Rejected, 10, CancellationToken.None));
        var id = "rejected:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(body))[..32];
        Assert.Equal((Creem, id, "rejected", 0, (DateTimeOffset?)null), (rejected.Provider, rejected.EventId, rejected.EventType, rejected.Attempts, rejected.NextAttemptAt));
        Assert.Equal("{\"id\":\"evt_1\",\"type\":\"order.paid\"\uFFFD\uFFFD\uFFFD", rejected.Payload);
        // The reason quotes the body here, NUL included: stored with U+FFFD (PostgreSQL refused the NUL, a 500 for the delivery).
        Assert.Equal("not the JSON this provider sends: {\"id\":\"evt_1\",\"type\":\"order.paid\"\uFFFD\uFFFD\uFFFD", rejected.LastError);

        // A reason longer than a column should hold is cut at 2,000 characters.
        var longBody = Encoding.UTF8.GetBytes("x" + new string('y', 3000));
        await Receive(longBody);
        Assert.Contains(await Db.Database.Webhooks.ListAsync(WebhookStatus.Rejected, 10, CancellationToken.None), e => e.LastError!.Length == 2000);

        // A replay of a rejected event applies nothing.
        Assert.Equal(WebhookStatus.Rejected, (await Processor.ReplayAsync(Creem, id))!.Status);
    }

    [Fact]
    public async Task Rule_ADeliveryIsStoredAndAppliedInOneTransaction_Once_AndADuplicateChangesNothing()
    {
        var c = NewCustomer();
        Clock.Advance(TimeSpan.FromSeconds(7));

        var (receipt, stored) = await Receive(Body("evt_1", customer: c));

        Assert.Equal(WebhookReceipt.Accepted, receipt);
        Assert.Equal((Creem, "evt_1", "order.paid", WebhookStatus.Applied, 1), (stored!.Provider, stored.EventId, stored.EventType, stored.Status, stored.Attempts));
        Assert.Equal(((DateTimeOffset?)null, (string?)null, (DateTimeOffset?)Clock.GetUtcNow(), c, Clock.GetUtcNow()),
            (stored.NextAttemptAt, stored.LastError, stored.AppliedAt, stored.CustomerId, stored.ReceivedAt));
        Assert.Equal(stored, await Stored("evt_1"));
        Assert.Equal(100, await Credits(c));
        Assert.Equal([(3004, $"Applied creem event evt_1 (order.paid) for customer {c}")], _log.Lines);

        var (again, found) = await Receive(Body("evt_1", customer: c));
        Assert.Equal((WebhookReceipt.Duplicate, stored), (again, found));
        Assert.Equal(100, await Credits(c));
        Assert.Single(_log.Lines);
    }

    [Fact]
    public async Task Rule_ACommittedDelivery_DropsWhatTheGateCachedOfItsCustomer()
    {
        var c = NewCustomer();
        Gate.CacheEnabled = true;
        Assert.False((await Gate.CheckAsync(c, "credits", 1)).Allowed); // cached: no credits

        await Receive(Body("evt_1", customer: c));

        Assert.True((await Gate.CheckAsync(c, "credits", 100)).Allowed);
    }

    [Fact]
    public async Task Rule_AnEventForNoOne_IsKeptUnmatched_AndOneTollgateDoesNotHandle_Ignored()
    {
        var (_, unmatched) = await Receive(Body("evt_1"));
        Assert.Equal((WebhookStatus.Unmatched, "checkout ch_ord_1 names no customer Tollgate knows", (string?)null, (DateTimeOffset?)null),
            (unmatched!.Status, unmatched.LastError, unmatched.CustomerId, unmatched.AppliedAt));
        Assert.Equal([(3003, "creem event evt_1 (order.paid) names no customer Tollgate knows; kept as unmatched")], _log.Lines);

        var (_, ignored) = await Receive(Body("evt_2", type: "customer.updated"));
        Assert.Equal((WebhookStatus.Ignored, 1, (DateTimeOffset?)null), (ignored!.Status, ignored.Attempts, ignored.AppliedAt));
    }

    [Fact]
    public async Task Rule_AnEventThatMustWait_IsRetriedWithBackoff_AndAppliedOnceWhatItWaitsForArrived()
    {
        var c = NewCustomer();
        var (_, waiting) = await Receive(Body("evt_r", type: "refund", customer: c));
        Assert.Equal((WebhookStatus.Failed, 1, (DateTimeOffset?)Clock.GetUtcNow().AddSeconds(30), c),
            (waiting!.Status, waiting.Attempts, waiting.NextAttemptAt, waiting.CustomerId));
        Assert.Equal("ref_evt_r: the payment it reverses (ord_1) is not recorded yet", waiting.LastError);

        Assert.Equal(0, await Processor.RetryDueAsync()); // not due yet
        await Receive(Body("evt_1", customer: c));
        Clock.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(1, await Processor.RetryDueAsync());

        var applied = (await Stored("evt_r"))!;
        Assert.Equal((WebhookStatus.Applied, 2, (string?)null, (DateTimeOffset?)null), (applied.Status, applied.Attempts, applied.LastError, applied.NextAttemptAt));
        Assert.Equal(PaymentStatus.Refunded, (await PaymentOf("ord_1")).Status);
        Assert.Equal(0, await Credits(c));
    }

    [Fact]
    public async Task Rule_WhenApplyingFails_NothingOfTheAttemptIsKept_AndTheEventIsStoredFailed_ThenRetried()
    {
        var c = NewCustomer();
        _ledger!.NextFailure = new InvalidOperationException("the grant failed");

        var (receipt, failed) = await Receive(Body("evt_1", customer: c));

        Assert.Equal(WebhookReceipt.Accepted, receipt);
        Assert.Equal((WebhookStatus.Failed, 1, "the grant failed", (DateTimeOffset?)Clock.GetUtcNow().AddSeconds(30)),
            (failed!.Status, failed.Attempts, failed.LastError, failed.NextAttemptAt));
        Assert.Equal(failed, await Stored("evt_1"));
        // Its grant committed in the ledger's part of the transaction, and went with it: no payment, no credits.
        Assert.Null(await Payments.FindPaymentAsync(Creem, ["ord_1"], CancellationToken.None));
        Assert.Equal(0, await Credits(c));
        var line = Assert.Single(_log.Lines);
        Assert.Equal(3002, line.Id);
        Assert.StartsWith("Applying creem event evt_1 (order.paid) failed on attempt 1; retrying at ", line.Message);

        // A duplicate delivery while it waits changes nothing; the retry applies it.
        Assert.Equal(WebhookReceipt.Duplicate, (await Receive(Body("evt_1", customer: c))).Receipt);
        Clock.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(1, await Processor.RetryDueAsync());
        Assert.Equal((WebhookStatus.Applied, 2), ((await Stored("evt_1"))!.Status, (await Stored("evt_1"))!.Attempts));
        Assert.Equal(100, await Credits(c));
    }

    [Fact]
    public async Task Rule_AnInboxThatStoresAtOnce_ReportsNoDeferredDuplicate_SoAFailingFirstAttemptIsStoredFailed()
    {
        var c = NewCustomer();
        var processor = new WebhookProcessor(new ProviderRegistry([new StandInProvider()], Creem), new PlainInbox(Db.Database.Webhooks), Applier, Gate,
            Db.Database.Transactions, Clock, _log, batchPackDeliveries: false);
        _ledger!.NextFailure = new InvalidOperationException("the grant failed");

        var (receipt, failed) = await processor.ReceiveAsync(Creem, Signed, Body("evt_1", customer: c));

        Assert.Equal((WebhookReceipt.Accepted, WebhookStatus.Failed), (receipt, failed!.Status));
        Assert.Equal(WebhookStatus.Failed, (await Stored("evt_1"))!.Status);
        Assert.False(((IWebhookInbox)new PlainInbox(Db.Database.Webhooks)).IsDuplicate(new InvalidOperationException("any")));
    }

    [Fact]
    public async Task Rule_AFailingEvent_BacksOffDoublingFrom30Seconds_CappedAtSixHours_AndIsGivenUpAfter12Attempts()
    {
        var c = NewCustomer();
        var delays = new List<TimeSpan?>();
        _ledger!.NextFailure = new InvalidOperationException("down");
        var (_, failed) = await Receive(Body("evt_1", customer: c));
        delays.Add(failed!.NextAttemptAt - Clock.GetUtcNow());
        while ((await Stored("evt_1"))!.NextAttemptAt is { } next)
        {
            Clock.Set(next);
            _ledger.NextFailure = new InvalidOperationException("down");
            Assert.Equal(1, await Processor.RetryDueAsync());
            var stored = (await Stored("evt_1"))!;
            delays.Add(stored.NextAttemptAt - Clock.GetUtcNow());
        }

        var minutes = delays.Select(d => d?.TotalMinutes).ToList();
        Assert.Equal([0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256, 360, null], minutes);
        var given = (await Stored("evt_1"))!;
        Assert.Equal((WebhookStatus.Failed, WebhookProcessor.MaxAttempts), (given.Status, given.Attempts));
        Assert.Equal(0, await Processor.RetryDueAsync());

        // Only an operator's replay applies it now.
        _ledger.NextFailure = null;
        Assert.Equal(WebhookStatus.Applied, (await Processor.ReplayAsync(Creem, "evt_1"))!.Status);
        Assert.Equal(100, await Credits(c));
    }

    [Fact]
    public async Task Rule_ATransientDatabaseFailure_RunsTheTransactionAgain_UpToFourTimes()
    {
        var c = NewCustomer();
        _ledger!.NextFailure = new TransientFault();

        var (_, applied) = await Receive(Body("evt_1", customer: c));

        Assert.Equal((WebhookStatus.Applied, 1), (applied!.Status, applied.Attempts));
        Assert.Equal(100, await Credits(c));

        // Transient every time: after four runs it is stored as failed.
        var d = NewCustomer();
        var runs = 0;
        _ledger.FailEach = () =>
        {
            runs++;
            return new TransientFault();
        };
        var (_, failed) = await Receive(Body("evt_2", customer: d, order: "ord_2"));
        _ledger.FailEach = null;
        Assert.Equal((4, WebhookStatus.Failed, 1), (runs, failed!.Status, failed.Attempts));
        Assert.Equal(0, await Credits(d));
    }

    [Fact]
    public async Task Rule_ConcurrentDeliveriesOfOneEvent_AreStoredAndAppliedOnce_TheOthersAnsweredAsDuplicates()
    {
        var c = NewCustomer();
        var body = Body("evt_1", customer: c);

        var receipts = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => Receive(body))));

        Assert.Single(receipts, r => r.Receipt == WebhookReceipt.Accepted);
        Assert.All(receipts.Where(r => r.Receipt != WebhookReceipt.Accepted), r => Assert.Equal(WebhookReceipt.Duplicate, r.Receipt));
        Assert.Equal(100, await Credits(c));
        Assert.Single(await Payments.ListPaymentsAsync(c, CancellationToken.None));
        Assert.Equal((WebhookStatus.Applied, 1), ((await Stored("evt_1"))!.Status, (await Stored("evt_1"))!.Attempts));
    }

    [Fact]
    public async Task Rule_EachDeliveryAndEachAttempt_IsASpan_TaggedWithItsReceiptOrStatus()
    {
        var c = NewCustomer();
        var spans = new List<(string, object?, object?)>();
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = source => source.Name == WebhookTelemetry.Name,
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) =>
                System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                lock (spans)
                {
                    spans.Add((activity.OperationName, activity.GetTagItem("tollgate.receipt") ?? activity.GetTagItem("tollgate.status"),
                        activity.GetTagItem("tollgate.event_id")));
                }
            },
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);
        var id = "evt_" + c;

        await Receive(Body(id, customer: c));
        await Receive(Body(id, customer: c));

        lock (spans)
        {
            Assert.Contains(("webhook.apply", (object?)"applied", (object?)id), spans);
            Assert.Contains(("webhook.receive", (object?)"accepted", (object?)null), spans);
            Assert.Contains(("webhook.receive", (object?)"duplicate", (object?)null), spans);
        }
    }

    [Fact]
    public async Task Rule_EachReceiptAndEachAttempt_IsCounted_ByProviderAndResult_AndTheSpansNameTheProviderAndEvent()
    {
        // The metrics and spans are the process's: providers of this test's own names tell its measurements from others'.
        var probe = "probe_" + Guid.NewGuid().ToString("N")[..8];
        var absent = "absent_" + Guid.NewGuid().ToString("N")[..8];
        using var meters = new MetricRecorder(WebhookTelemetry.Name, m => m.Tag("provider") is { } provider && (provider == probe || provider == absent));
        var spans = new List<(string Name, object? Provider, object? Type)>();
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = source => source.Name == WebhookTelemetry.Name,
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) =>
                System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                if (activity.GetTagItem("tollgate.provider") is string provider && provider == probe)
                {
                    lock (spans)
                    {
                        spans.Add((activity.OperationName, provider, activity.GetTagItem("tollgate.event_type")));
                    }
                }
            },
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);
        var processor = NewProcessor(new ProviderRegistry([new StandInProvider(probe)], probe));

        await processor.ReceiveAsync(probe, Signed, Body("evt_1", customer: NewCustomer()));
        await processor.ReceiveAsync(probe, Signed, Body("evt_1", customer: NewCustomer()));
        await processor.ReceiveAsync(probe, Signed, Body("evt_2", "something.else"));
        await processor.ReceiveAsync(probe, new Dictionary<string, string> { ["signature"] = "forged" }, Body("evt_3"));
        await processor.ReceiveAsync(probe, Signed, Encoding.UTF8.GetBytes("{"));
        await processor.ReceiveAsync(absent, Signed, Body("evt_4"));

        Assert.All(meters.Measurements, m => Assert.Equal(1, m.Value));
        Assert.Equal([
            ("tollgate.webhooks.applied", probe, "applied"), ("tollgate.webhooks.received", probe, "accepted"),
            ("tollgate.webhooks.received", probe, "duplicate"),
            ("tollgate.webhooks.applied", probe, "ignored"), ("tollgate.webhooks.received", probe, "accepted"),
            ("tollgate.webhooks.received", probe, "bad_signature"), ("tollgate.webhooks.received", probe, "malformed"),
            ("tollgate.webhooks.received", absent, "unknown_provider")],
            meters.Measurements.Select(m => (m.Instrument, m.Tag("provider")!, m.Tag("receipt") ?? m.Tag("status")!)));

        Assert.Contains(("tollgate.webhooks.received", "{event}",
            "Provider webhooks by provider and receipt (accepted, duplicate, bad_signature, malformed, unknown_provider)"), meters.Instruments);
        Assert.Contains(("tollgate.webhooks.applied", "{attempt}",
            "Attempts to apply a stored provider event, by provider and resulting status (applied, ignored, unmatched, failed)"), meters.Instruments);
        lock (spans)
        {
            Assert.Contains(("webhook.apply", (object?)probe, (object?)"order.paid"), spans);
            Assert.Contains(("webhook.apply", (object?)probe, (object?)"something.else"), spans);
            Assert.Equal(5, spans.Count(s => s.Name == "webhook.receive")); // one per delivery to it
        }
    }

    [Fact]
    public async Task Rule_AnAttemptIsCounted_OnceItsOutcomeIsStored_NotEachTimeItRan()
    {
        var probe = "probe_" + Guid.NewGuid().ToString("N")[..8];
        using var meters = new MetricRecorder(WebhookTelemetry.Name, m => m.Tag("provider") is { } provider && provider == probe);
        var processor = NewProcessor(new ProviderRegistry([new StandInProvider(probe)], probe), new OutcomeFailsOnce(Db.Database.Webhooks));

        // Run twice (a transient failure once the applier was done, rolled back), stored once.
        var (_, applied) = await processor.ReceiveAsync(probe, Signed, Body("evt_1", customer: NewCustomer()));
        // Failing for good: nothing of the attempt kept, the event stored as failed on its own, counted so.
        _ledger!.NextFailure = new InvalidOperationException("the grant failed");
        var (_, failed) = await processor.ReceiveAsync(probe, Signed, Body("evt_2", customer: NewCustomer(), order: "ord_2"));

        Assert.Equal((WebhookStatus.Applied, WebhookStatus.Failed), (applied!.Status, failed!.Status));
        Assert.Equal([("tollgate.webhooks.applied", "applied", 1L), ("tollgate.webhooks.applied", "failed", 1L)],
            meters.Measurements.Where(m => m.Instrument == "tollgate.webhooks.applied").Select(m => (m.Instrument, m.Tag("status")!, m.Value)));
    }

    [Fact]
    public async Task Rule_AnOperatorsReplay_AppliesAStoredEventAgain_ChangingNothingTwice()
    {
        var c = NewCustomer();
        await Receive(Body("evt_1", customer: c));

        var replayed = await Processor.ReplayAsync(Creem, "evt_1");

        Assert.Equal((WebhookStatus.Applied, 2), (replayed!.Status, replayed.Attempts));
        Assert.Equal(100, await Credits(c));
        Assert.Null(await Processor.ReplayAsync(Creem, "evt_unknown"));
        Assert.Single(_log.Lines); // one "applied" line: the replay of an applied event is not another
    }

    [Fact]
    public async Task Rule_AStoredEventOfAProviderNoLongerEnabled_FailsSayingSo_AndIsNotRetried()
    {
        var c = NewCustomer();
        await Receive(Body("evt_1", customer: c));
        var other = NewProcessor(new ProviderRegistry([new StandInProvider("stripe")], "stripe"));

        var orphan = await other.ReplayAsync(Creem, "evt_1");

        Assert.Equal((WebhookStatus.Failed, "provider creem is not enabled", (DateTimeOffset?)null), (orphan!.Status, orphan.LastError, orphan.NextAttemptAt));
        Assert.Equal(orphan, await Stored("evt_1"));
    }

    [Fact]
    public async Task Rule_AnEventTheProvidersOwnApiVerified_GoesThroughTheSameInbox_ForAnEnabledProviderOnly()
    {
        var c = NewCustomer();
        var verified = new StandInProvider().ParseWebhook(Body("evt_1", customer: c));

        Assert.Equal((WebhookReceipt.UnknownProvider, (WebhookEvent?)null),
            await NewProcessor(new ProviderRegistry([new StandInProvider("stripe")], "stripe")).ReceiveVerifiedAsync(verified, "{}"));
        Assert.Equal(WebhookReceipt.Accepted, (await Processor.ReceiveVerifiedAsync(verified, Encoding.UTF8.GetString(Body("evt_1", customer: c)))).Receipt);
        Assert.Equal(WebhookReceipt.Duplicate, (await Processor.ReceiveVerifiedAsync(verified, "{}")).Receipt);
        Assert.Equal(100, await Credits(c));
    }

    private sealed class TransientFault() : Exception("a transient database failure");

    /// <summary>The database's transactions, with <see cref="TransientFault"/> counted as transient too.</summary>
    private sealed class MarkedTransientTransactions(IDatabaseTransactions inner) : IDatabaseTransactions
    {
        public IDatabaseTransaction Begin() => inner.Begin();

        public bool IsTransient(Exception exception) => exception is TransientFault || inner.IsTransient(exception);
    }

    /// <summary>The database's inbox, every member passed on; a test overrides what it needs.</summary>
    protected class DelegatingInbox(IWebhookInbox inner) : IWebhookInbox
    {
        protected IWebhookInbox Inner => inner;

        public virtual Task<bool> TryBeginAsync(WebhookEvent received, CancellationToken cancellationToken) => inner.TryBeginAsync(received, cancellationToken);

        public virtual Task StoreOutcomeAsync(WebhookEvent outcome, CancellationToken cancellationToken) => inner.StoreOutcomeAsync(outcome, cancellationToken);

        public bool IsDuplicate(Exception exception) => inner.IsDuplicate(exception);

        public bool IsStoredMeanwhile(Exception exception) => inner.IsStoredMeanwhile(exception);

        public Task<bool> TryStoreAsync(WebhookEvent webhookEvent, CancellationToken cancellationToken) => inner.TryStoreAsync(webhookEvent, cancellationToken);

        public Task<WebhookEvent?> GetAsync(string provider, string eventId, CancellationToken cancellationToken) =>
            inner.GetAsync(provider, eventId, cancellationToken);

        public Task UpdateAsync(WebhookEvent webhookEvent, CancellationToken cancellationToken) => inner.UpdateAsync(webhookEvent, cancellationToken);

        public Task<IReadOnlyList<WebhookEvent>> ClaimDueAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int limit, CancellationToken cancellationToken) =>
            inner.ClaimDueAsync(now, leaseUntil, limit, cancellationToken);

        public Task<IReadOnlyList<WebhookEvent>> ListAsync(WebhookStatus? status, int limit, CancellationToken cancellationToken) =>
            inner.ListAsync(status, limit, cancellationToken);

        public Task<int> CountAsync(WebhookStatus status, int cap, CancellationToken cancellationToken) => inner.CountAsync(status, cap, cancellationToken);

        public Task<IReadOnlyList<WebhookEvent>> ListByCustomerAsync(string customerId, int limit, CancellationToken cancellationToken) =>
            inner.ListByCustomerAsync(customerId, limit, cancellationToken);

        public Task<InboxBacklog> BacklogAsync(CancellationToken cancellationToken) => inner.BacklogAsync(cancellationToken);
    }

    /// <summary>The database's inbox, failing the first outcome stored with a transient fault: after the applier's end.</summary>
    private sealed class OutcomeFailsOnce(IWebhookInbox inner) : DelegatingInbox(inner)
    {
        private int _failed;

        public override Task StoreOutcomeAsync(WebhookEvent outcome, CancellationToken cancellationToken) =>
            Interlocked.Exchange(ref _failed, 1) == 0 ? throw new TransientFault() : Inner.StoreOutcomeAsync(outcome, cancellationToken);
    }

    /// <summary>The database's inbox less its deferred-insert duplicate test: an inbox that stores at once, which keeps the
    /// interface's default (no exception is a deferred duplicate).</summary>
    private sealed class PlainInbox(IWebhookInbox inner) : IWebhookInbox
    {
        public Task<bool> TryStoreAsync(WebhookEvent webhookEvent, CancellationToken cancellationToken) => inner.TryStoreAsync(webhookEvent, cancellationToken);

        public Task<WebhookEvent?> GetAsync(string provider, string eventId, CancellationToken cancellationToken) =>
            inner.GetAsync(provider, eventId, cancellationToken);

        public Task UpdateAsync(WebhookEvent webhookEvent, CancellationToken cancellationToken) => inner.UpdateAsync(webhookEvent, cancellationToken);

        public Task<IReadOnlyList<WebhookEvent>> ClaimDueAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int limit, CancellationToken cancellationToken) =>
            inner.ClaimDueAsync(now, leaseUntil, limit, cancellationToken);

        public Task<IReadOnlyList<WebhookEvent>> ListAsync(WebhookStatus? status, int limit, CancellationToken cancellationToken) =>
            inner.ListAsync(status, limit, cancellationToken);

        public Task<int> CountAsync(WebhookStatus status, int cap, CancellationToken cancellationToken) => inner.CountAsync(status, cap, cancellationToken);

        public Task<IReadOnlyList<WebhookEvent>> ListByCustomerAsync(string customerId, int limit, CancellationToken cancellationToken) =>
            inner.ListByCustomerAsync(customerId, limit, cancellationToken);

        public Task<InboxBacklog> BacklogAsync(CancellationToken cancellationToken) => inner.BacklogAsync(cancellationToken);
    }

    /// <summary>A provider under Creem's id (or another) that reads the JSON <see cref="Body"/> writes.</summary>
    internal sealed class StandInProvider(string id = Creem) : IPaymentProvider
    {
        public string Id => id;

        public Task<ProviderPrice> GetPriceAsync(string providerProductRef, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<ProviderCheckout> CreateCheckoutAsync(CheckoutRequest request, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task CancelSubscriptionAsync(string providerSubscriptionId, bool atPeriodEnd, CancellationToken cancellationToken) =>
            throw new NotSupportedException();

        public Task ResumeSubscriptionAsync(string providerSubscriptionId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task ChangeSubscriptionAsync(string providerSubscriptionId, string newProviderProductRef, PlanChangePolicy policy,
            CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<string?> GetCustomerPortalUrlAsync(string providerCustomerId, string returnUrl, CancellationToken cancellationToken) =>
            throw new NotSupportedException();

        public WebhookVerification VerifyWebhook(IReadOnlyDictionary<string, string> headers, ReadOnlySpan<byte> body, DateTimeOffset now) =>
            headers.TryGetValue("signature", out var signature)
                ? signature == "ok" ? WebhookVerification.Valid : WebhookVerification.InvalidSignature
                : WebhookVerification.MissingSignature;

        public ProviderEvent ParseWebhook(ReadOnlySpan<byte> body)
        {
            var bytes = body.ToArray();
            try
            {
                using var json = JsonDocument.Parse(bytes);
                var root = json.RootElement;
                var eventId = root.GetProperty("id").GetString()!;
                var type = root.GetProperty("type").GetString()!;
                var customer = root.GetProperty("customer").GetString();
                var order = root.GetProperty("order").GetString()!;
                var link = new PaymentLink(null, customer, "pack", null, null);
                PaymentFact[] facts = type switch
                {
                    "order.paid" => [new CheckoutCompleted(link, "ch_" + order, order, null, CheckoutMode.Payment, true, 500, "USD")],
                    "refund" => [new RefundIssued(link, "ref_" + eventId, [order], 500, "USD", true)],
                    _ => [],
                };
                return new ProviderEvent(Id, eventId, type, DateTimeOffset.UnixEpoch, facts);
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                // The body in the reason, as some providers' parsers quote it: a long body makes a long reason.
                throw new FormatException("not the JSON this provider sends: " + Encoding.UTF8.GetString(bytes), ex);
            }
        }
    }
}

public sealed class SqliteWebhookProcessorRules : WebhookProcessorRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

/// <summary>The rules above again on PostgreSQL with one pooled connection: a delivery's flow holds it from the inbox's
/// check to the commit, so anything in the pipeline that asked for a second one (a read beside the flow) would wait for
/// the pool until its timeout and fail (see PostgresGateViewRulesOnOneConnection).</summary>
public sealed class PostgresWebhookProcessorRulesOnOneConnection : WebhookProcessorRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;

    protected override bool OnePooledConnection => true;
}

/// <summary>The rules above on PostgreSQL, and how a flow there writes the inbox (migration 0026): the first attempt of
/// a delivery checks, with the flow's first statement, that the event is not stored, and inserts its row once, with its
/// outcome, at the commit. (SQLite stores the row at once and updates it: its transaction holds the database's write lock
/// from its first write, so a delivery between another's check and its insert cannot happen there.)</summary>
public sealed class PostgresWebhookProcessorRules : WebhookProcessorRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;

    [Fact]
    public async Task Rule_AFirstAttempt_ChecksThatItsEventIsNotStored_ThenWritesItsInboxRowOnce_WithItsOutcome()
    {
        var c = NewCustomer();
        var schema = "Search Path=" + new Npgsql.NpgsqlConnectionStringBuilder(Db.Options.ConnectionString).SearchPath;
        var statements = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = source => source.Name == "Npgsql",
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) =>
                System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                if (activity.GetTagItem("db.query.text") is string text && activity.GetTagItem("db.npgsql.data_source") is string source
                    && source.Contains(schema, StringComparison.OrdinalIgnoreCase))
                {
                    foreach (var statement in text.Split(";\n"))
                    {
                        statements.Enqueue(statement.Trim());
                    }
                }
            },
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);

        var (receipt, stored) = await Receive(Body("evt_1", customer: c));
        var (again, _) = await Receive(Body("evt_1", customer: c));
        var inbox = statements.Where(s => s.StartsWith("CALL tollgate_webhook_absent", StringComparison.Ordinal) || s.Contains("webhook_events", StringComparison.Ordinal))
            .Select(s => s.Split(' ')[0] + " " + s.Split(' ')[1]).ToList();

        Assert.Equal((WebhookReceipt.Accepted, WebhookStatus.Applied, WebhookReceipt.Duplicate), (receipt, stored!.Status, again));
        Assert.Equal(stored, await Stored("evt_1"));
        // The first delivery: the check, then one insert; no update. The duplicate: the check, which finds the event,
        // then the stored event read for its answer.
        Assert.Equal(["CALL tollgate_webhook_absent(@p,", "INSERT INTO", "CALL tollgate_webhook_absent(@p,", "SELECT provider,"], inbox);
        Assert.Equal(100, await Credits(c));
    }

    [Fact]
    public async Task Rule_ADeliveryWhoseCheckPassed_BeforeAnotherOfItsEventCommitted_IsADuplicate_AndNothingOfItIsKept()
    {
        var c = NewCustomer();
        var body = Body("evt_1", customer: c);
        var probe = "probe_" + Guid.NewGuid().ToString("N")[..8];
        using var meters = new MetricRecorder(WebhookTelemetry.Name, m => m.Tag("provider") is { } provider && provider == probe);
        var first = NewProcessor(new ProviderRegistry([StandIn(probe)], probe), Db.Database.Webhooks);
        (WebhookReceipt Receipt, WebhookEvent? Event) firstAnswer = default;
        // The late delivery's check runs (nothing is stored yet); then the other delivery of its event is received and
        // committed whole; then the late one applies and comes to its insert.
        var late = NewProcessor(new ProviderRegistry([StandIn(probe)], probe), new AfterTheCheck(Db.Database.Webhooks, async () =>
            firstAnswer = await first.ReceiveAsync(probe, Signed, body)));

        var (receipt, found) = await late.ReceiveAsync(probe, Signed, body);

        Assert.Equal((WebhookReceipt.Accepted, WebhookStatus.Applied), (firstAnswer.Receipt, firstAnswer.Event!.Status));
        Assert.Equal((WebhookReceipt.Duplicate, firstAnswer.Event), (receipt, found));
        Assert.Equal(firstAnswer.Event, await Db.Database.Webhooks.GetAsync(probe, "evt_1", CancellationToken.None));
        // The late attempt ran the applier to its end, and was rolled back: not counted.
        Assert.Equal([("tollgate.webhooks.applied", "applied"), ("tollgate.webhooks.received", "accepted"), ("tollgate.webhooks.received", "duplicate")],
            meters.Measurements.Select(m => (m.Instrument, m.Tag("status") ?? m.Tag("receipt")!)));
        Assert.Equal(100, await Credits(c));
        Assert.Single(await Payments.ListPaymentsAsync(c, CancellationToken.None));
        Assert.Single(await Db.Database.Webhooks.ListAsync(null, 10, CancellationToken.None));
    }

    [Fact]
    public async Task Rule_ADeliveryThatSucceeded_AfterAnotherOfItsEventFailedForGoodAndStoredIt_AppliesItNow_AsItsRetry()
    {
        var c = NewCustomer();
        var body = Body("evt_1", customer: c);
        var probe = "probe_" + Guid.NewGuid().ToString("N")[..8];
        using var meters = new MetricRecorder(WebhookTelemetry.Name, m => m.Tag("provider") is { } provider && provider == probe);
        var first = NewProcessor(new ProviderRegistry([StandIn(probe)], probe), Db.Database.Webhooks);
        (WebhookReceipt Receipt, WebhookEvent? Event) firstAnswer = default;
        // The late delivery's check runs; then the other delivery of its event fails for good (its grant) and stores the
        // event as failed; then the late one applies, succeeds, and loses the inbox's key to the failed row.
        var late = NewProcessor(new ProviderRegistry([StandIn(probe)], probe), new AfterTheCheck(Db.Database.Webhooks, async () =>
        {
            FailNextLedgerWrite(new InvalidOperationException("the grant failed"));
            firstAnswer = await first.ReceiveAsync(probe, Signed, body);
        }));

        var (receipt, stored) = await late.ReceiveAsync(probe, Signed, body);

        Assert.Equal((WebhookReceipt.Accepted, WebhookStatus.Failed, 1), (firstAnswer.Receipt, firstAnswer.Event!.Status, firstAnswer.Event.Attempts));
        Assert.Equal((WebhookReceipt.Accepted, WebhookStatus.Applied, 2, (DateTimeOffset?)null), (receipt, stored!.Status, stored.Attempts, stored.NextAttemptAt));
        Assert.Equal(stored, await Db.Database.Webhooks.GetAsync(probe, "evt_1", CancellationToken.None));
        Assert.Equal(100, await Credits(c));
        Assert.Single(await Payments.ListPaymentsAsync(c, CancellationToken.None));
        Assert.Equal([("tollgate.webhooks.applied", "failed"), ("tollgate.webhooks.received", "accepted"), ("tollgate.webhooks.applied", "applied"),
                ("tollgate.webhooks.received", "accepted")],
            meters.Measurements.Select(m => (m.Instrument, m.Tag("status") ?? m.Tag("receipt")!)));
    }

    /// <summary>The database's inbox, running <paramref name="afterCheck"/> once a first attempt's check has reached the
    /// database (a read in the flow sends it), before the attempt goes on.</summary>
    private sealed class AfterTheCheck(IWebhookInbox inner, Func<Task> afterCheck) : DelegatingInbox(inner)
    {
        public override async Task<bool> TryBeginAsync(WebhookEvent received, CancellationToken cancellationToken)
        {
            var absent = await Inner.TryBeginAsync(received, cancellationToken);
            Assert.Null(await Inner.GetAsync(received.Provider, received.EventId, cancellationToken));
            // Outside this flow's transaction, which is ambient (an AsyncLocal) here: as another request would run.
            Task other;
            using (ExecutionContext.SuppressFlow())
            {
                other = Task.Run(afterCheck);
            }

            await other;
            return absent;
        }
    }
}
