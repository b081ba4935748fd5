using System.Globalization;
using System.Text.RegularExpressions;
using Tollgate.Core.Common;
using Tollgate.Core.Ledger;
using Tollgate.Core.Payments;
using Tollgate.Core.Subscriptions;
using Tollgate.Core.Usage;

namespace Tollgate.Storage.Tests.Payments;

/// <summary>
/// Rules of a paid pack's first delivery on its batched path (<see cref="WebhookProcessor"/>): its grant carries its
/// payment, inbox row and events into a ledger batch (<see cref="PackDelivery"/>). It writes what the one-transaction
/// path writes, row for row; a duplicate, a second event of one payment, a key taken meanwhile by anyone (another
/// delivery in the same batch, another server) fails only that delivery's write, which the one-transaction path then
/// answers; nothing is granted twice and the books balance. Run on SQLite and PostgreSQL, the ledger in one lane.
/// </summary>
public abstract partial class BatchedPackDeliveryRules : ApplierTestBase
{
    private GatedLedgerStore? _store;

    protected override bool InTransactions => true;

    protected override ILedgerStore LedgerStore(ILedgerStore database) => _store = new GatedLedgerStore(database);

    private WebhookProcessor? _batched;
    private WebhookProcessor? _oneTransaction;

    protected WebhookProcessor Batched => _batched ??= NewProcessor(Applier, Db.Database.Webhooks, Gate, Db.Database.Transactions, batched: true);

    private WebhookProcessor OneTransaction =>
        _oneTransaction ??= NewProcessor(Applier, Db.Database.Webhooks, Gate, Db.Database.Transactions, batched: false);

    protected WebhookProcessor NewProcessor(PaymentApplier applier, IWebhookInbox inbox, Gate gate, IDatabaseTransactions transactions, bool batched) =>
        new(new ProviderRegistry([new WebhookProcessorRules.StandInProvider()], Creem), inbox, applier, gate, transactions, Clock, null, batched);

    /// <summary>A paid pack's <c>checkout.completed</c> as a provider's own path hands it over verified.</summary>
    protected ProviderEvent PackPaid(string eventId, string customer, string order, string? providerCustomer = null, string? checkoutId = null) =>
        new(Creem, eventId, "checkout.completed", Clock.GetUtcNow(),
            [new CheckoutCompleted(new PaymentLink(checkoutId, customer, "pack", providerCustomer, null), "ch_" + order, order, null, CheckoutMode.Payment,
                true, 500, "USD")]);

    protected Task<(WebhookReceipt Receipt, WebhookEvent? Event)> Deliver(WebhookProcessor processor, ProviderEvent e) =>
        processor.ReceiveVerifiedAsync(e, $"{{\"id\":\"{e.EventId}\"}}");

    [Fact]
    public async Task Rule_APaidPackDelivery_WritesWhatTheOneTransactionPathWrites_RowForRow()
    {
        // Both with Tollgate's checkout to complete and a provider customer to link, the two paths' tables compared with
        // each delivery's own names replaced.
        var footprints = new List<IReadOnlyList<string>>();
        foreach (var processor in new[] { Batched, OneTransaction })
        {
            var tag = "t" + Guid.NewGuid().ToString("N")[..8];
            var customer = NewCustomer();
            var checkout = new Checkout("chk_" + tag, customer, "pack", Creem, "ch_ord_" + tag, "https://pay.example/" + tag, CheckoutStatus.Open, null, null,
                new Dictionary<string, string>(), null, Clock.GetUtcNow(), Clock.GetUtcNow(), null);
            await Payments.InsertCheckoutAsync(checkout, CancellationToken.None);
            var writesBefore = _store!.Batches.Count;

            var (receipt, stored) = await Deliver(processor, PackPaid("evt_" + tag, customer, "ord_" + tag, "pcus_" + tag, checkout.Id));

            Assert.Equal((WebhookReceipt.Accepted, WebhookStatus.Applied, customer), (receipt, stored!.Status, stored.CustomerId));
            Assert.Equal(stored, await Db.Database.Webhooks.GetAsync(Creem, "evt_" + tag, CancellationToken.None));
            Assert.Equal(100, await Credits(customer));
            // The batched path wrote in a lane's batch; the other in its flow, which the lane never sees.
            Assert.Equal(processor == Batched ? 1 : 0, _store.Batches.Count - writesBefore);
            footprints.Add(await FootprintAsync(customer, tag));
        }

        Assert.NotEmpty(footprints[0]);
        Assert.Equal(footprints[1], footprints[0]);
        Assert.Contains(footprints[0], row => row.StartsWith("events|", StringComparison.Ordinal) && row.Contains("checkout.completed", StringComparison.Ordinal));
        Assert.Contains(footprints[0], row => row.StartsWith("provider_customers|", StringComparison.Ordinal));
        Assert.Contains(footprints[0], row => row.StartsWith("payment_changes|", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Rule_DuplicatesAndOtherEventsOfOnePayment_InFlightTogether_GrantOnce_AndTheBooksBalance()
    {
        // Per customer: one event delivered six times, and four more events of the same payment, all at once.
        var customers = Enumerable.Range(0, 4).Select(_ => NewCustomer()).ToList();
        var deliveries = customers.SelectMany(c => Enumerable.Repeat(PackPaid("evt_" + c, c, "ord_" + c), 6)
                .Concat(Enumerable.Range(1, 4).Select(i => PackPaid($"evt_{c}_{i}", c, "ord_" + c))))
            .OrderBy(_ => Random.Shared.Next()).ToList();

        var receipts = await Task.WhenAll(deliveries.Select(e => Task.Run(() => Deliver(Batched, e))));

        foreach (var c in customers)
        {
            var mine = receipts.Where(r => r.Event?.CustomerId == c || r.Event?.EventId.StartsWith("evt_" + c, StringComparison.Ordinal) == true).ToList();
            Assert.Equal(10, mine.Count);
            // Each event accepted once, whatever path took it; the copies are duplicates.
            Assert.Equal(5, mine.Count(r => r.Receipt == WebhookReceipt.Accepted));
            Assert.Equal(5, mine.Count(r => r.Receipt == WebhookReceipt.Duplicate));
            Assert.Equal(5, mine.Where(r => r.Receipt == WebhookReceipt.Accepted).Select(r => r.Event!.EventId).Distinct().Count());
            Assert.Equal(100, await Credits(c));
            var stored = await Db.Database.Webhooks.ListByCustomerAsync(c, 50, CancellationToken.None);
            Assert.Equal(5, stored.Count);
            Assert.All(stored, e => Assert.Equal(WebhookStatus.Applied, e.Status));
        }

        await AssertBooksAsync(customers, 100);
    }

    [Fact]
    public async Task Rule_ADeliveryOfAnEventInFlightOnTheBatchedPath_WaitsForIt_ThenIsADuplicate()
    {
        // The first delivery's batch is held before it begins; a second delivery of the same event (with a provider
        // customer to link, the key a flow would take before the batch's customer lock) arrives meanwhile.
        var c = NewCustomer();
        var release = _store!.HoldNext();
        var first = Task.Run(() => Deliver(Batched, PackPaid("evt_1", c, "ord_" + c, "pcus_" + c)));
        await _store.Held.WaitAsync(TimeSpan.FromSeconds(30));
        var second = Task.Run(() => Deliver(Batched, PackPaid("evt_1", c, "ord_" + c, "pcus_" + c)));

        // It waits for the first rather than applying the event beside it: not done while the first is held.
        bool waited;
        try
        {
            waited = await Task.WhenAny(second, Task.Delay(TimeSpan.FromSeconds(1))) != second;
        }
        finally
        {
            release();
        }

        Assert.True(waited);
        Assert.Equal(WebhookReceipt.Accepted, (await first).Receipt);
        Assert.Equal(WebhookReceipt.Duplicate, (await second).Receipt);
        Assert.Equal(100, await Credits(c));
        await AssertBooksAsync([c], 100);
    }

    [Fact]
    public async Task Rule_ABatchWithAKeyTakenMeanwhile_FailsThatDeliveryAlone_AndWritesEveryOther()
    {
        // Ten deliveries decided, then held in one batch; one's event is stored meanwhile (as by another server), one's
        // payment is recorded meanwhile.
        var customers = Enumerable.Range(0, 10).Select(_ => NewCustomer()).ToList();
        var plans = new List<PackDeliveryPlan>();
        foreach (var c in customers)
        {
            var e = PackPaid("evt_" + c, c, "ord_" + c);
            var received = new WebhookEvent(Creem, e.EventId, e.EventType, e.OccurredAt, Clock.GetUtcNow(), "{}", WebhookStatus.Received, 0, null, null, null,
                null);
            plans.Add((await Applier.PlanPackDeliveryAsync(e, "{}", received, CancellationToken.None))!);
        }

        var (storedMeanwhile, paidMeanwhile) = (customers[3], customers[7]);
        var now = Clock.GetUtcNow();
        Assert.True(await Db.Database.Webhooks.TryStoreAsync(new WebhookEvent(Creem, "evt_" + storedMeanwhile, "checkout.completed", now, now, "{}",
            WebhookStatus.Applied, 1, null, null, now, storedMeanwhile), CancellationToken.None));
        Assert.True(await Payments.TryInsertPaymentAsync(plans[7].Rows.Payment with { Id = Ids.New("pay", Clock) }, CancellationToken.None));

        // The lane is held in its first batch (one grant of another customer) while the ten queue behind it.
        var release = _store!.HoldNext();
        var first = Ledger.GrantAsync(new GrantRequest(NewCustomer(), "credits", 1, LotSource.Admin, "first"));
        await _store.Held.WaitAsync(TimeSpan.FromSeconds(30));
        List<Task<bool>> writes;
        try
        {
            writes = plans.Select(p => Applier.WritePackDeliveryAsync(p, CancellationToken.None)).ToList();
        }
        finally
        {
            release();
        }

        await first;

        for (var i = 0; i < customers.Count; i++)
        {
            if (customers[i] == storedMeanwhile || customers[i] == paidMeanwhile)
            {
                await Assert.ThrowsAnyAsync<Exception>(() => writes[i]);
                Assert.Equal(0, await Credits(customers[i]));
            }
            else
            {
                Assert.True(await writes[i]);
                Assert.Equal(100, await Credits(customers[i]));
                Assert.Equal(WebhookStatus.Applied, (await Db.Database.Webhooks.GetAsync(Creem, "evt_" + customers[i], CancellationToken.None))!.Status);
            }
        }

        // The ten went in one batch, which failed on the taken keys and ran its requests one by one.
        Assert.Contains(10, _store.Batches);
        Assert.Null(await Db.Database.Payments.FindPaymentAsync(Creem, ["ord_" + storedMeanwhile], CancellationToken.None));

        // Delivered through the processor, the two are answered by the one-transaction path: a duplicate, and a payment
        // recorded before whose credits are granted once.
        Assert.Equal(WebhookReceipt.Duplicate, (await Deliver(Batched, PackPaid("evt_" + storedMeanwhile, storedMeanwhile, "ord_" + storedMeanwhile))).Receipt);
        Assert.Equal(WebhookReceipt.Accepted, (await Deliver(Batched, PackPaid("evt_" + paidMeanwhile, paidMeanwhile, "ord_" + paidMeanwhile))).Receipt);
        Assert.Equal(0, await Credits(storedMeanwhile));
        Assert.Equal(100, await Credits(paidMeanwhile));
        await AssertBooksAsync(customers.Where(c => c != storedMeanwhile).ToList(), 100);
    }

    [Fact]
    public async Task Rule_ABatchedDeliveryWhoseAcknowledgementIsLost_IsAnsweredByTheOtherPath_AsTheDuplicateItIs()
    {
        var c = NewCustomer();
        _store!.LoseNextAcknowledgement = true;

        var (receipt, stored) = await Deliver(Batched, PackPaid("evt_1", c, "ord_" + c));

        // Committed in the batch; its caller heard a failure and took the other path, which found it stored.
        Assert.Equal((WebhookReceipt.Duplicate, WebhookStatus.Applied), (receipt, stored!.Status));
        Assert.Equal(100, await Credits(c));
        await AssertBooksAsync([c], 100);
    }

    [Fact]
    public async Task Rule_AnAttachmentIsRefusedInAFlowsTransaction_WhichWritesItsOwnRows()
    {
        var c = NewCustomer();
        var e = PackPaid("evt_1", c, "ord_1");
        var received = new WebhookEvent(Creem, e.EventId, e.EventType, e.OccurredAt, Clock.GetUtcNow(), "{}", WebhookStatus.Received, 0, null, null, null, null);
        var plan = (await Applier.PlanPackDeliveryAsync(e, "{}", received, CancellationToken.None))!;

        await using (Db.Database.Transactions.Begin())
        {
            Assert.Null(await Applier.PlanPackDeliveryAsync(e, "{}", received, CancellationToken.None));
            await Assert.ThrowsAsync<InvalidOperationException>(() => Applier.WritePackDeliveryAsync(plan, CancellationToken.None));
        }

        Assert.Equal(0, await Credits(c));
    }

    [Fact]
    public async Task Rule_OnlyAPaidPacksCompletedCheckout_IsPlanned_AndAReplayedGrantWritesNothingOfIt()
    {
        var c = NewCustomer();
        var received = new WebhookEvent(Creem, "evt_x", "x", Clock.GetUtcNow(), Clock.GetUtcNow(), "{}", WebhookStatus.Received, 0, null, null, null, null);
        Task<PackDeliveryPlan?> Plan(params PaymentFact[] facts) =>
            Applier.PlanPackDeliveryAsync(new ProviderEvent(Creem, "evt_x", "x", Clock.GetUtcNow(), facts), "{}", received, CancellationToken.None);

        Assert.Null(await Plan(Paid(For(c, "pro"), "ord_plan")));
        Assert.Null(await Plan(Paid(For(c, "nothing"), "ord_unknown")));
        Assert.Null(await Plan(Paid(For(null, "pack"), "ord_nobody")));
        Assert.Null(await Plan(new CheckoutCompleted(For(c, "pack"), "ch_unpaid", "ord_unpaid", null, CheckoutMode.Payment, false, 500, "USD")));
        Assert.Null(await Plan(Paid(For(c, "pack"), "ord_1"), Paid(For(c, "pack"), "ord_2")));
        var plan = await Plan(Paid(For(c, "starter"), "ord_starter", quantity: 2));
        Assert.Equal((c, 100L, "grant:payment:creem:ord_starter"), (plan!.Grant.CustomerId, plan.Grant.Amount, plan.Grant.IdempotencyKey));
        Assert.Null(plan.Rows.Payment.Flag);

        // Its grant's key stored already (as by an earlier write): the grant replays, and none of the rows are written.
        await Ledger.GrantAsync(plan.Grant);
        Assert.False(await Applier.WritePackDeliveryAsync(plan, CancellationToken.None));
        Assert.Null(await Db.Database.Payments.FindPaymentAsync(Creem, ["ord_starter"], CancellationToken.None));
        Assert.Null(await Db.Database.Webhooks.GetAsync(Creem, "evt_x", CancellationToken.None));
        Assert.Equal(100, await Credits(c));
    }

    /// <summary>Every payment of these customers granted its credits once, under its key, and nothing else was granted:
    /// the sum of their payment lots equals the sum of their payments' credits, each <paramref name="each"/>.</summary>
    protected async Task AssertBooksAsync(IReadOnlyList<string> customers, long each)
    {
        await using var connection = await Db.OpenConnectionAsync();
        foreach (var c in customers)
        {
            var payments = await QueryAsync(connection, "SELECT credits FROM payments WHERE customer_id = @c", c);
            var lots = await QueryAsync(connection, "SELECT amount FROM ledger_lots WHERE customer_id = @c AND source = 'payment'", c);
            var grants = await QueryAsync(connection, "SELECT operation_key FROM ledger_operations WHERE customer_id = @c AND kind = 'grant'", c);
            var guards = await QueryAsync(connection, "SELECT key FROM customer_keys WHERE customer_id = @c AND kind = 'payment'", c);
            Assert.Equal([each.ToString(CultureInfo.InvariantCulture)], payments);
            Assert.Equal([each.ToString(CultureInfo.InvariantCulture)], lots);
            Assert.Equal(["grant:payment:creem:ord_" + c], grants);
            Assert.Equal(["ord_" + c], guards);
        }
    }

    /// <summary>Every row the two paths write for a delivery, table by table, with the delivery's names (customer, tag)
    /// and the generated ids replaced, sorted.</summary>
    private async Task<IReadOnlyList<string>> FootprintAsync(string customer, string tag)
    {
        string[] tables = ["payments", "payment_changes", "customer_keys", "provider_customers", "webhook_events", "events", "ledger_lots", "ledger_entries",
            "ledger_operations", "checkouts"];
        await using var connection = await Db.OpenConnectionAsync();
        var rows = new List<string>();
        foreach (var table in tables)
        {
            // payment_changes' change id is an identity, and an operation's fingerprint hashes its request (whose reference
            // names the delivery's order): neither is the path's.
            var columns = table switch
            {
                "payment_changes" => "customer_id, day",
                "ledger_operations" => "customer_id, operation_key, kind, result, created_at",
                _ => "*",
            };
            foreach (var row in await QueryAsync(connection, $"SELECT {columns} FROM {table} WHERE customer_id = @c", customer))
            {
                var named = row.Replace(customer, "C", StringComparison.Ordinal).Replace(tag, "T", StringComparison.Ordinal);
                rows.Add(table + "|" + GeneratedId().Replace(named, "$1_*"));
            }
        }

        return [.. rows.Order(StringComparer.Ordinal)];
    }

    [GeneratedRegex("\\b([a-z]+)_[0-9a-f]{32}\\b")]
    private static partial Regex GeneratedId();

    private static async Task<List<string>> QueryAsync(System.Data.Common.DbConnection connection, string sql, string customer)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        var parameter = command.CreateParameter();
        parameter.ParameterName = "@c";
        parameter.Value = customer;
        command.Parameters.Add(parameter);
        var rows = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows.Add(string.Join("|", Enumerable.Range(0, reader.FieldCount).Select(i =>
                reader.IsDBNull(i) ? "null" : Convert.ToString(reader.GetValue(i), CultureInfo.InvariantCulture))));
        }

        return rows;
    }

    /// <summary>The ledger's store with the batches it was asked to write counted (customers per batch), a batch that can
    /// be held before it starts, and an acknowledgement that can be lost after a commit.</summary>
    private sealed class GatedLedgerStore(ILedgerStore inner) : DelegatingLedgerStore(inner)
    {
        private TaskCompletionSource? _hold;
        private readonly TaskCompletionSource _held = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>The customers of each batch the lanes began, in order (a flow's writes are not counted).</summary>
        public System.Collections.Concurrent.ConcurrentQueue<int> Batches { get; } = new();

        public bool LoseNextAcknowledgement { get; set; }

        /// <summary>Completes once the held batch has begun.</summary>
        public Task Held => _held.Task;

        /// <summary>Holds the next batch before it begins, until the returned action runs.</summary>
        public Action HoldNext()
        {
            var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _hold = hold;
            return () => hold.TrySetResult();
        }

        public override async Task<ILedgerWriteSession> BeginWriteAsync(IReadOnlyList<CustomerLoad> loads,
            IReadOnlyCollection<(string Scope, string Key)> apiKeys, CancellationToken cancellationToken)
        {
            if (!Inner.InTransaction)
            {
                Batches.Enqueue(loads.Count);
                if (Interlocked.Exchange(ref _hold, null) is { } hold)
                {
                    _held.TrySetResult();
                    await hold.Task;
                }
            }

            return new Session(this, await Inner.BeginWriteAsync(loads, apiKeys, cancellationToken));
        }

        private sealed class Session(GatedLedgerStore store, ILedgerWriteSession inner) : DelegatingWriteSession(inner)
        {
            public override async Task CommitAsync(LedgerChanges changes, CancellationToken cancellationToken)
            {
                await Inner.CommitAsync(changes, cancellationToken);
                if (store.LoseNextAcknowledgement && changes.Attachments.Count > 0)
                {
                    store.LoseNextAcknowledgement = false;
                    throw new InvalidOperationException("connection lost after the commit");
                }
            }
        }
    }
}

public sealed class SqliteBatchedPackDeliveryRules : BatchedPackDeliveryRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

/// <summary>The rules above on PostgreSQL with one pooled connection: nothing on the batched path holds a pooled
/// connection while it asks for another (the decision's reads, the lane's batch, the other path after it), which would
/// wait for the pool until its timeout and fail (see PostgresWebhookProcessorRulesOnOneConnection).</summary>
public sealed class PostgresBatchedPackDeliveryRulesOnOneConnection : BatchedPackDeliveryRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;

    protected override bool OnePooledConnection => true;
}

/// <summary>The rules above on PostgreSQL, and two servers on one database (SQLite serves one).</summary>
public sealed class PostgresBatchedPackDeliveryRules : BatchedPackDeliveryRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;

    [Fact]
    public async Task Rule_TwoServers_DeliveredTheSameEvents_AcceptEachOnce_AndGrantOnce()
    {
        await using var other = Db.OpenAnother(Clock);
        await using var otherLedger = new LedgerEngine(other.Ledger, Clock, new LedgerOptions { Lanes = 1 });
        var otherGate = new Gate(Catalog, otherLedger, other.Subscriptions, Clock);
        var otherSubscriptions = new SubscriptionService(Catalog, other.Subscriptions, otherLedger, otherGate, Clock, other.Outbox, other.Transactions,
            trials: other.Trials);
        var otherApplier = new PaymentApplier(Catalog, other.Payments, other.Subscriptions, otherSubscriptions, otherLedger, Clock, other.Outbox);
        var otherServer = NewProcessor(otherApplier, other.Webhooks, otherGate, other.Transactions, batched: true);

        var customers = Enumerable.Range(0, 8).Select(_ => NewCustomer()).ToList();
        var deliveries = customers.SelectMany(c => new[] { Batched, otherServer, Batched, otherServer }.Select(server => (server, PackPaid("evt_" + c, c, "ord_" + c))))
            .OrderBy(_ => Random.Shared.Next()).ToList();

        var receipts = await Task.WhenAll(deliveries.Select(d => Task.Run(() => Deliver(d.server, d.Item2))));

        foreach (var c in customers)
        {
            Assert.Equal(1, receipts.Count(r => r.Receipt == WebhookReceipt.Accepted && r.Event!.EventId == "evt_" + c));
            Assert.Equal(3, receipts.Count(r => r.Receipt == WebhookReceipt.Duplicate && r.Event!.EventId == "evt_" + c));
            Assert.Equal(100, await Credits(c));
        }

        await AssertBooksAsync(customers, 100);
    }
}
