using System.Data.Common;
using System.Globalization;
using System.Text.Json.Nodes;
using Tollgate.Core.Events;
using Tollgate.Core.Ledger;
using Tollgate.Core.Payments;
using Tollgate.Core.Subscriptions;
using Tollgate.Storage.Tests.Ledger;

namespace Tollgate.Storage.Tests.Scaling;

/// <summary>
/// customer_keys (migration 0013, docs/scaling.md): every id callers name without its customer — a hold, a ledger
/// entry, a checkout by Tollgate's or the provider's id, a payment by the provider's id — has a row saying whose it is,
/// written with what it points to; lookups by such an id go through it; a provider's payment id is recorded once, so a
/// second payment with the same provider id is refused whoever's it claims to be. Migration 0017 adds subscriptions
/// (Tollgate's and the provider's id), a provider's customer ids (the link's guard) and outbound events. On both databases.
/// </summary>
public abstract class CustomerKeyTests : LedgerTestBase
{
    [Fact]
    public async Task HoldsAndEntries_GetTheirRows_InTheirCommit_AndAreFoundThroughThem()
    {
        var customer = NewCustomer();
        await Grant(customer, "credits", 100);
        var used = await Consume(customer, "credits", 7);
        var hold = await Hold(customer, "credits", 10);
        await Ledger.SettleAsync(new SettleRequest(hold.HoldId) { Amount = 4 });

        var entries = await AllEntries(customer);
        Assert.Equal(4, entries.Count); // the grant, the usage, the hold and its settlement
        Assert.Equal(
            entries.Select(e => (e.EntryId, "entry", customer)).Append((hold.HoldId, "hold", customer)).Order().ToList(),
            (await KeysAsync(customer)).Select(k => (k.Key, k.Kind, k.CustomerId)).Order().ToList());

        Assert.Equal(customer, await Db.Database.Ledger.FindHoldOwnerAsync(hold.HoldId, CancellationToken.None));
        Assert.Equal((HoldStatus.Settled, 4L), ((await Ledger.GetHoldAsync(hold.HoldId))!.Status, (await Ledger.GetHoldAsync(hold.HoldId))!.Settled));
        Assert.Equal((customer, -7L), ((await Ledger.FindEntryAsync(used.EntryId))!.CustomerId, (await Ledger.FindEntryAsync(used.EntryId))!.Amount));
        // A key of one kind does not find the other kind's row.
        Assert.Null(await Ledger.GetHoldAsync(used.EntryId));
        Assert.Null(await Ledger.FindEntryAsync(hold.HoldId));
        Assert.Null(await Ledger.GetHoldAsync("hold_unknown"));
    }

    [Fact]
    public async Task ACheckoutEventsTwoLookups_FindWhatEachFindsAlone_WhetherOneCheckout_TwoOfOneCustomer_OrTwoCustomers()
    {
        var payments = Db.Database.Payments;
        var (alice, bob) = (NewCustomer(), NewCustomer());
        var now = Clock.GetUtcNow();
        Checkout Open(string id, string customer, string provider, string session) =>
            new(id, customer, "pack", provider, session, "https://pay.example/" + session, CheckoutStatus.Open, null, null,
                new Dictionary<string, string> { ["order"] = id }, null, now, now, null);
        var (a1, a2, b1) = (Open("chk_a1", alice, "creem", "cs_a1"), Open("chk_a2", alice, "creem", "cs_a2"), Open("chk_b1", bob, "creem", "cs_b1"));
        var stripeA = Open("chk_sa", alice, "stripe", "cs_x");
        foreach (var checkout in new[] { a1, a2, b1, stripeA })
        {
            await payments.InsertCheckoutAsync(checkout, CancellationToken.None);
        }

        async Task<(string?, string?)> Find(string provider, string session, string? id)
        {
            var (byProviderId, byId) = await payments.FindCheckoutsAsync(provider, session, id, CancellationToken.None);
            // Each half is what the lookup of its own finds, every column (the metadata compared by content).
            Assert.Equal(Whole(await payments.FindCheckoutByProviderIdAsync(provider, session, CancellationToken.None)), Whole(byProviderId));
            Assert.Equal(id is null ? null : Whole(await payments.GetCheckoutAsync(id, CancellationToken.None)), Whole(byId));
            return (byProviderId?.Id, byId?.Id);
        }

        static string? Whole(Checkout? c) => c is null ? null : c + string.Join(",", c.Metadata);

        Assert.Equal(("chk_a1", "chk_a1"), await Find("creem", "cs_a1", "chk_a1"));   // one checkout, named both ways
        Assert.Equal(("chk_a1", "chk_a2"), await Find("creem", "cs_a1", "chk_a2"));   // two of one customer's, either way round
        Assert.Equal(("chk_a2", "chk_a1"), await Find("creem", "cs_a2", "chk_a1"));
        Assert.Equal(("chk_a1", "chk_b1"), await Find("creem", "cs_a1", "chk_b1"));   // two customers'
        Assert.Equal(("chk_b1", "chk_a1"), await Find("creem", "cs_b1", "chk_a1"));
        Assert.Equal(("chk_a1", null), await Find("creem", "cs_a1", "chk_unknown"));
        Assert.Equal((null, "chk_a1"), await Find("creem", "cs_unknown", "chk_a1"));
        Assert.Equal(("chk_a1", null), await Find("creem", "cs_a1", null));
        Assert.Equal(((string?)null, (string?)null), await Find("creem", "cs_unknown", "chk_unknown"));
        // The provider's id is the provider's: another provider's session of the same text is not found, and neither is a
        // Tollgate id passed as a session id or the other way round.
        Assert.Equal((null, "chk_sa"), await Find("creem", "cs_x", "chk_sa"));
        Assert.Equal(("chk_sa", "chk_a1"), await Find("stripe", "cs_x", "chk_a1"));
        Assert.Equal(((string?)null, (string?)null), await Find("creem", "chk_a1", "cs_a1"));
    }

    [Fact]
    public async Task CheckoutsAndPayments_AreFoundByTheirIds_AndAProviderPaymentIdIsRecordedOnce_WhoeverClaimsIt()
    {
        var payments = Db.Database.Payments;
        var (alice, bob) = (NewCustomer(), NewCustomer());
        var now = Clock.GetUtcNow();
        var checkout = new Checkout("chk_1", alice, "pack", "stripe", "cs_1", "https://pay.example/cs_1", CheckoutStatus.Open, null, null,
            new Dictionary<string, string>(), null, now, now, null);
        await payments.InsertCheckoutAsync(checkout, CancellationToken.None);

        Assert.Equal(alice, (await payments.GetCheckoutAsync("chk_1", CancellationToken.None))!.CustomerId);
        Assert.Equal("chk_1", (await payments.FindCheckoutByProviderIdAsync("stripe", "cs_1", CancellationToken.None))!.Id);
        Assert.Null(await payments.FindCheckoutByProviderIdAsync("creem", "cs_1", CancellationToken.None));
        // The provider's session id is unique per provider: a second checkout naming it fails, and nothing of it stays.
        await Assert.ThrowsAnyAsync<DbException>(() => payments.InsertCheckoutAsync(
            checkout with { Id = "chk_2", CustomerId = bob }, CancellationToken.None));
        Assert.Null(await payments.GetCheckoutAsync("chk_2", CancellationToken.None));
        Assert.Empty(await KeysAsync(bob));

        var paid = new Payment("pay_1", alice, "stripe", PaymentKind.Pack, "pack", PaymentStatus.Completed, 500, "USD", "chk_1", "cs_1", "pi_1",
            null, null, "pay_1", 100, 0, 0, null, "{}", now, now);
        Assert.True(await payments.TryInsertPaymentAsync(paid, CancellationToken.None));
        // The same provider payment again — as a redelivery, or claimed for another customer — is refused and writes nothing.
        Assert.False(await payments.TryInsertPaymentAsync(paid with { Id = "pay_2" }, CancellationToken.None));
        Assert.False(await payments.TryInsertPaymentAsync(paid with { Id = "pay_3", CustomerId = bob }, CancellationToken.None));
        Assert.Equal(1, await CountAsync("SELECT count(*) FROM payments"));
        Assert.Empty(await KeysAsync(bob));

        Assert.Equal("pay_1", (await payments.FindPaymentAsync("stripe", ["pi_1"], CancellationToken.None))!.Id);
        // A refund naming only the checkout finds the payment too; another provider's id of the same text does not.
        Assert.Equal("pay_1", (await payments.FindPaymentAsync("stripe", ["re_unknown", "cs_1"], CancellationToken.None))!.Id);
        Assert.Null(await payments.FindPaymentAsync("creem", ["pi_1", "cs_1"], CancellationToken.None));

        Assert.Equal(
            [("chk_1", "checkout", ""), ("cs_1", "checkout_session", "stripe"), ("cs_1", "payment_checkout", "stripe"), ("pi_1", "payment", "stripe")],
            (await KeysAsync(alice)).Select(k => (k.Key, k.Kind, k.Provider)).Order().ToList());
    }

    [Fact]
    public async Task RacingInsertsOfOneProviderPayment_RecordItOnce()
    {
        var payments = Db.Database.Payments;
        var now = Clock.GetUtcNow();
        var customers = Enumerable.Range(0, 8).Select(_ => NewCustomer()).ToList();
        var results = await Task.WhenAll(customers.Select((c, i) => Task.Run(() => payments.TryInsertPaymentAsync(
            new Payment($"pay_{i}", c, "creem", PaymentKind.Pack, "pack", PaymentStatus.Completed, 500, "USD", null, null, "ord_race",
                null, null, $"pay_{i}", 100, 0, 0, null, "{}", now, now), CancellationToken.None))));

        Assert.Single(results, r => r);
        Assert.Equal(1, await CountAsync("SELECT count(*) FROM payments"));
        Assert.Equal(1, await CountAsync("SELECT count(*) FROM customer_keys WHERE kind = 'payment'"));
        var owner = (await payments.FindPaymentAsync("creem", ["ord_race"], CancellationToken.None))!.CustomerId;
        Assert.Equal(owner, customers[Array.IndexOf(results, true)]);
    }

    [Fact]
    public async Task Subscriptions_AreFoundThroughTheirKeys_TheProvidersIdTakenWhenItArrives_AndHeldByOneCustomer()
    {
        var store = Db.Database.Subscriptions;
        var (alice, bob) = (NewCustomer(), NewCustomer());
        var now = Clock.GetUtcNow();
        var subscription = new Subscription("sub_1", alice, "pro", "apple", null, null, SubscriptionStatus.Active, null, null, false, null, null, null, now, now);

        Assert.True(await store.SaveAsync(subscription, CancellationToken.None));
        Assert.Equal(alice, (await store.GetAsync("sub_1", CancellationToken.None))!.CustomerId);
        Assert.Equal([("sub_1", "subscription", "")], (await KeysAsync(alice)).Select(k => (k.Key, k.Kind, k.Provider)).ToList());

        // The provider's id arrives after the row was created: the save that carries it takes its key; later saves keep it.
        var linked = subscription with { ProviderSubscriptionId = "orig_1" };
        Assert.True(await store.SaveAsync(linked, CancellationToken.None));
        Assert.True(await store.SaveAsync(linked with { Status = SubscriptionStatus.PastDue }, CancellationToken.None));
        var found = (await store.FindByProviderIdAsync("apple", "orig_1", CancellationToken.None))!;
        Assert.Equal(("sub_1", alice, SubscriptionStatus.PastDue), (found.Id, found.CustomerId, found.Status));
        Assert.Null(await store.FindByProviderIdAsync("creem", "orig_1", CancellationToken.None));
        Assert.Null(await store.GetAsync("orig_1", CancellationToken.None)); // a key of one kind does not find another's row

        // Another customer's subscription naming that provider id is refused and writes nothing; so is a second row of
        // the same customer (the unique index within the customer).
        await Assert.ThrowsAnyAsync<DbException>(() => store.SaveAsync(linked with { Id = "sub_2", CustomerId = bob }, CancellationToken.None));
        await Assert.ThrowsAnyAsync<DbException>(() => store.SaveAsync(linked with { Id = "sub_3" }, CancellationToken.None));
        Assert.Null(await store.GetAsync("sub_2", CancellationToken.None));
        Assert.Null(await store.GetAsync("sub_3", CancellationToken.None));
        Assert.Empty(await KeysAsync(bob));
        Assert.Equal([("orig_1", "provider_subscription", "apple"), ("sub_1", "subscription", "")],
            (await KeysAsync(alice)).Select(k => (k.Key, k.Kind, k.Provider)).Order().ToList());
        Assert.Equal(1, await CountAsync("SELECT count(*) FROM subscriptions"));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task RacingFirstSavesOfOneProviderSubscription_RecordItOnce(bool manyCustomers)
    {
        // Eight flows that each found no row for one provider subscription insert it under ids of their own, for
        // eight customers (the key decides) or for one (the unique index within the customer decides): one row.
        var store = Db.Database.Subscriptions;
        var now = Clock.GetUtcNow();
        var one = NewCustomer();
        var customers = Enumerable.Range(0, 8).Select(_ => manyCustomers ? NewCustomer() : one).ToList();
        var saved = await Task.WhenAll(customers.Select((c, i) => Task.Run(async () =>
        {
            try
            {
                return await store.SaveAsync(new Subscription($"sub_{i}", c, "pro", "creem", "sub_race", null, SubscriptionStatus.Active, now, now.AddMonths(1),
                    false, null, null, now, now, now), CancellationToken.None);
            }
            catch (DbException)
            {
                return false;
            }
        })));

        Assert.Single(saved, s => s);
        Assert.Equal(1, await CountAsync("SELECT count(*) FROM subscriptions"));
        Assert.Equal(1, await CountAsync("SELECT count(*) FROM customer_keys WHERE kind = 'provider_subscription'"));
        // The losers' own subscription keys went with their transactions.
        Assert.Equal(1, await CountAsync("SELECT count(*) FROM customer_keys WHERE kind = 'subscription'"));
        var winner = Array.IndexOf(saved, true);
        var found = (await store.FindByProviderIdAsync("creem", "sub_race", CancellationToken.None))!;
        Assert.Equal(($"sub_{winner}", customers[winner]), (found.Id, found.CustomerId));
    }

    [Fact]
    public async Task AProviderCustomerBelongsToTheFirstCustomerLinked_AndRacingLinksRecordOne()
    {
        var payments = Db.Database.Payments;
        var (alice, bob) = (NewCustomer(), NewCustomer());
        var now = Clock.GetUtcNow();

        await payments.LinkProviderCustomerAsync("creem", "cust_1", alice, now, CancellationToken.None);
        await payments.LinkProviderCustomerAsync("creem", "cust_1", alice, now, CancellationToken.None);
        await payments.LinkProviderCustomerAsync("creem", "cust_1", bob, now, CancellationToken.None);
        Assert.Equal(alice, await payments.FindCustomerByProviderIdAsync("creem", "cust_1", CancellationToken.None));
        Assert.Null(await payments.FindCustomerByProviderIdAsync("stripe", "cust_1", CancellationToken.None));
        Assert.Equal("cust_1", await payments.FindProviderCustomerAsync("creem", alice, CancellationToken.None));
        Assert.Null(await payments.FindProviderCustomerAsync("creem", bob, CancellationToken.None));
        Assert.Empty(await KeysAsync(bob));

        var customers = Enumerable.Range(0, 8).Select(_ => NewCustomer()).ToList();
        await Task.WhenAll(customers.Select(c => Task.Run(() => payments.LinkProviderCustomerAsync("creem", "cust_race", c, now, CancellationToken.None))));

        var owner = await payments.FindCustomerByProviderIdAsync("creem", "cust_race", CancellationToken.None);
        Assert.Contains(owner, customers);
        Assert.Equal(1, await CountAsync("SELECT count(*) FROM provider_customers WHERE provider_customer_id = 'cust_race'"));
        Assert.Equal(1, await CountAsync("SELECT count(*) FROM customer_keys WHERE kind = 'provider_customer' AND key = 'cust_race'"));
        foreach (var c in customers)
        {
            Assert.Equal(c == owner ? "cust_race" : null, await payments.FindProviderCustomerAsync("creem", c, CancellationToken.None));
        }
    }

    [Fact]
    public async Task Events_GetTheirRowsWithThem_AndAreFoundThroughThem()
    {
        var customer = NewCustomer();
        var written = OutboundEvent.Create(EventTypes.SubscriptionCreated, customer, new JsonObject { ["id"] = "sub_1" }, Clock);
        await using (var transaction = Db.Database.Transactions.Begin())
        {
            Db.Database.Outbox.Add(written);
            await transaction.CommitAsync(CancellationToken.None);
        }

        Assert.Equal([(written.EventId, "event", "")], (await KeysAsync(customer)).Select(k => (k.Key, k.Kind, k.Provider)).ToList());
        var stored = (await Db.Database.Endpoints.GetEventAsync(written.EventId, CancellationToken.None))!;
        Assert.Equal((customer, 1L, EventTypes.SubscriptionCreated), (stored.CustomerId, stored.Sequence, stored.Type));
        Assert.Null(await Db.Database.Endpoints.GetEventAsync("evt_unknown", CancellationToken.None));
        Assert.True(await Db.Database.Endpoints.RedeliverAsync(written.EventId, Clock.GetUtcNow(), CancellationToken.None));

        // Pruned by age (retention), the event takes its key with it.
        Assert.Equal(1, await Db.Database.Endpoints.PruneAsync(Clock.GetUtcNow().AddSeconds(1), 10, CancellationToken.None));
        Assert.Empty(await KeysAsync(customer));
        Assert.Null(await Db.Database.Endpoints.GetEventAsync(written.EventId, CancellationToken.None));
    }

    /// <summary>A transaction's events, several customers' mixed, are written as it commits (on PostgreSQL, in a flow, one
    /// statement per kind for all of them): each customer's take its next numbers in the order they were added, each
    /// gets its key, and each goes to every enabled endpoint that takes its type.</summary>
    [Fact]
    public async Task EventsOfOneTransaction_TakeEachCustomersNextNumbersInOrder_GetTheirKeys_AndFanOutByType()
    {
        var (alice, bob) = (NewCustomer(), NewCustomer());
        var now = Clock.GetUtcNow();
        await Db.Database.Endpoints.CreateAsync(new WebhookEndpoint("we_all", "https://app.example/all", null, null, EndpointStatus.Enabled, null,
            "whsec_all", null, null, now, now), CancellationToken.None);
        await Db.Database.Endpoints.CreateAsync(new WebhookEndpoint("we_created", "https://app.example/created", [EventTypes.SubscriptionCreated], null,
            EndpointStatus.Enabled, null, "whsec_created", null, null, now, now), CancellationToken.None);
        await Db.Database.Endpoints.CreateAsync(new WebhookEndpoint("we_off", "https://app.example/off", null, null, EndpointStatus.Disabled, "off",
            "whsec_off", null, null, now, now), CancellationToken.None);
        OutboundEvent Event(string type, string customer) => OutboundEvent.Create(type, customer, new JsonObject(), Clock);

        // Alice has an event already: her numbers go on from it.
        var earlier = Event(EventTypes.SubscriptionCreated, alice);
        await WriteEventsAsync(earlier);
        OutboundEvent[] events =
        [
            Event(EventTypes.SubscriptionUpdated, bob), Event(EventTypes.SubscriptionCreated, alice), Event(EventTypes.SubscriptionUpdated, alice),
            Event(EventTypes.SubscriptionCreated, bob), Event(EventTypes.CreditsGranted, alice),
        ];
        await WriteEventsAsync(events);

        var stored = new List<StoredEvent>();
        foreach (var e in events.Prepend(earlier))
        {
            stored.Add((await Db.Database.Endpoints.GetEventAsync(e.EventId, CancellationToken.None))!);
        }

        Assert.Equal(
            [(alice, 1L), (bob, 1L), (alice, 2L), (alice, 3L), (bob, 2L), (alice, 4L)],
            stored.Select(e => (e.CustomerId, e.Sequence)).ToList());
        Assert.Equal(events.Prepend(earlier).Select(e => e.Type), stored.Select(e => e.Type));
        // The body sent carries the same number.
        Assert.All(stored, e => Assert.Equal(e.Sequence, JsonNode.Parse(e.Payload)!["sequence"]!.GetValue<long>()));
        Assert.Equal(
            events.Prepend(earlier).Select(e => (e.EventId, "event", "", e.CustomerId)).Order().ToList(),
            (await KeysAsync(alice)).Concat(await KeysAsync(bob)).Order().ToList());

        var deliveries = await RowsAsync("SELECT endpoint_id, event_id FROM event_deliveries");
        Assert.Equal(
            events.Prepend(earlier).Select(e => ("we_all", e.EventId))
                .Concat(events.Prepend(earlier).Where(e => e.Type == EventTypes.SubscriptionCreated).Select(e => ("we_created", e.EventId)))
                .Order().ToList(),
            deliveries.Order().ToList());
    }

    /// <summary>The race: 16 transactions at once, each writing two events of one customer and one of another (added in
    /// mixed order), number every customer's events without a gap or a repeat, each transaction's pair consecutive and
    /// in order, every event fanned out once.</summary>
    [Fact]
    public async Task ConcurrentTransactions_NumberEachCustomersEvents_WithoutGapsOrRepeats()
    {
        var (alice, bob) = (NewCustomer(), NewCustomer());
        var now = Clock.GetUtcNow();
        await Db.Database.Endpoints.CreateAsync(new WebhookEndpoint("we_all", "https://app.example/all", null, null, EndpointStatus.Enabled, null,
            "whsec_all", null, null, now, now), CancellationToken.None);
        OutboundEvent Event(string type, string customer) => OutboundEvent.Create(type, customer, new JsonObject(), Clock);
        var transactions = Enumerable.Range(0, 16).Select(i => i % 2 == 0
            ? new[] { Event(EventTypes.SubscriptionCreated, alice), Event(EventTypes.SubscriptionUpdated, bob), Event(EventTypes.CreditsGranted, alice) }
            : [Event(EventTypes.SubscriptionUpdated, bob), Event(EventTypes.SubscriptionCreated, alice), Event(EventTypes.CreditsGranted, alice)]).ToList();

        await Task.WhenAll(transactions.Select(events => Task.Run(() => WriteEventsAsync(events))));

        var numbers = new Dictionary<string, long>();
        foreach (var e in transactions.SelectMany(t => t))
        {
            numbers[e.EventId] = (await Db.Database.Endpoints.GetEventAsync(e.EventId, CancellationToken.None))!.Sequence;
        }

        Assert.Equal(Enumerable.Range(1, 32).Select(n => (long)n),
            transactions.SelectMany(t => t).Where(e => e.CustomerId == alice).Select(e => numbers[e.EventId]).Order());
        Assert.Equal(Enumerable.Range(1, 16).Select(n => (long)n),
            transactions.SelectMany(t => t).Where(e => e.CustomerId == bob).Select(e => numbers[e.EventId]).Order());
        Assert.All(transactions, t =>
        {
            var pair = t.Where(e => e.CustomerId == alice).Select(e => numbers[e.EventId]).ToList();
            Assert.Equal(pair[0] + 1, pair[1]);
        });
        Assert.Equal(48, (await RowsAsync("SELECT endpoint_id, event_id FROM event_deliveries")).Distinct().Count());
    }

    private async Task WriteEventsAsync(params OutboundEvent[] events)
    {
        await using var transaction = Db.Database.Transactions.Begin();
        foreach (var e in events)
        {
            Db.Database.Outbox.Add(e);
        }

        await transaction.CommitAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Migration0017_GivesTheRowsWrittenBeforeIt_TheirKeys()
    {
        // Rows as a server before 0017 left them — without keys — then the migration's backfill statements: every
        // lookup finds them again.
        var customer = NewCustomer();
        var now = Clock.GetUtcNow();
        await Db.Database.Subscriptions.SaveAsync(new Subscription("sub_old", customer, "pro", "creem", "psub_old", "cust_old", SubscriptionStatus.Active,
            null, null, false, null, null, null, now, now), CancellationToken.None);
        await Db.Database.Payments.LinkProviderCustomerAsync("creem", "cust_old", customer, now, CancellationToken.None);
        var written = OutboundEvent.Create(EventTypes.SubscriptionCreated, customer, new JsonObject(), Clock);
        await using (var transaction = Db.Database.Transactions.Begin())
        {
            Db.Database.Outbox.Add(written);
            await transaction.CommitAsync(CancellationToken.None);
        }

        await ExecuteAsync("DELETE FROM customer_keys");
        Assert.Null(await Db.Database.Subscriptions.GetAsync("sub_old", CancellationToken.None));

        using var stream = typeof(TollgateDatabase).Assembly.GetManifestResourceStream($"Tollgate.Migrations.{Provider}/0017_distributable_rest.sql")!;
        var script = string.Join('\n', new StreamReader(stream).ReadToEnd().Split('\n').Where(line => !line.TrimStart().StartsWith("--", StringComparison.Ordinal)));
        var backfill = script.Split(';').Select(x => x.Trim()).Where(x => x.StartsWith("INSERT INTO customer_keys", StringComparison.Ordinal)).ToList();
        Assert.Equal(4, backfill.Count);
        foreach (var statement in backfill)
        {
            await ExecuteAsync(statement);
        }

        Assert.Equal(customer, (await Db.Database.Subscriptions.GetAsync("sub_old", CancellationToken.None))!.CustomerId);
        Assert.Equal("sub_old", (await Db.Database.Subscriptions.FindByProviderIdAsync("creem", "psub_old", CancellationToken.None))!.Id);
        Assert.Equal(customer, await Db.Database.Payments.FindCustomerByProviderIdAsync("creem", "cust_old", CancellationToken.None));
        Assert.Equal(customer, (await Db.Database.Endpoints.GetEventAsync(written.EventId, CancellationToken.None))!.CustomerId);
        Assert.Equal(4, (await KeysAsync(customer)).Count);
    }

    private async Task<List<(string Key, string Kind, string Provider, string CustomerId)>> KeysAsync(string customer)
    {
        await using var connection = await OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT key, kind, provider, customer_id FROM customer_keys WHERE customer_id = '{customer}'";
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<(string, string, string, string)>();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3)));
        }

        return rows;
    }

    private async Task<List<(string, string)>> RowsAsync(string sql)
    {
        await using var connection = await OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<(string, string)>();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetString(0), reader.GetString(1)));
        }

        return rows;
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = await OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    private async Task<long> CountAsync(string sql)
    {
        await using var connection = await OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }

    private Task<DbConnection> OpenAsync() => Db.OpenConnectionAsync();
}

public sealed class SqliteCustomerKeyTests : CustomerKeyTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresCustomerKeyTests : CustomerKeyTests
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
