using Tollgate.Core.Catalog;
using Tollgate.Core.Events;
using Tollgate.Core.Ledger;
using Tollgate.Core.Payments;
using Tollgate.Core.Subscriptions;
using Tollgate.Core.Usage;
using Tollgate.Testing;

namespace Tollgate.Storage.Tests.Payments;

/// <summary>The payment applier over a real database (a fresh one per test) with the ledger engine, the subscription
/// service and a small catalog on a manual clock: verified, normalized provider events applied without the webhook
/// inbox and the HTTP server around it, so each rule runs in milliseconds. The events the applier emits are recorded
/// in order (<see cref="Emitted"/>); in the server they go into the webhook's transaction.</summary>
public abstract class ApplierTestBase : IAsyncLifetime
{
    /// <summary>Monthly <c>pro</c> and <c>team</c> plans (<c>team</c> with a 14-day trial; and <c>basic</c>, without credits) and a <c>lifetime</c> plan, a pack that expires after 30 days and a
    /// once-per-customer starter pack; every product is mapped at Creem (<c>prod_…</c>).</summary>
    protected const string CatalogYaml = """
        features:
          credits: { type: credits, name: Credits }
          ai_messages: { type: metered }
          hd_export: { type: boolean }
        plans:
          free:
            default: true
            features:
              ai_messages: { limit: 3, reset: month }
          pro:
            interval: month
            price: { amount: 1900, currency: USD }
            providers: { creem: { product: prod_pro } }
            features:
              ai_messages: { limit: 100, reset: month }
              credits: { grant: 10, reset: month }
          team:
            interval: month
            trial_days: 14
            price: { amount: 4900, currency: USD }
            providers: { creem: { product: prod_team } }
            features:
              ai_messages: { limit: 500, reset: month }
              credits: { grant: 40, reset: month }
          basic:
            interval: month
            price: { amount: 900, currency: USD }
            features:
              ai_messages: { limit: 50, reset: month }
          lifetime:
            interval: once
            price: { amount: 9900, currency: USD }
            providers: { creem: { product: prod_lifetime } }
            features:
              hd_export: true
        packs:
          pack:
            credits: 100
            expires_after_days: 30
            price: { amount: 500, currency: USD }
            providers: { creem: { product: prod_pack } }
          starter:
            credits: 50
            once_per_customer: true
            price: { amount: 100, currency: USD }
            providers: { creem: { product: prod_starter } }
        """;

    protected const string Creem = "creem";

    private int _events;

    protected abstract DatabaseProvider Provider { get; }

    /// <summary>PostgreSQL with one pooled connection (<see cref="TestDatabase.CreateAsync"/>): for the rules run again to
    /// show that nothing in them asks for a second connection while it holds one.</summary>
    protected virtual bool OnePooledConnection => false;

    protected ManualTimeProvider Clock { get; } = new();

    protected TestDatabase Db { get; private set; } = null!;

    protected LedgerEngine Ledger { get; private set; } = null!;

    protected PaymentApplier Applier { get; private set; } = null!;

    protected SubscriptionService Subscriptions { get; private set; } = null!;

    /// <summary>The gate the subscription service writes allowances through (and a webhook's commit invalidates).</summary>
    protected Gate Gate { get; private set; } = null!;

    /// <summary>Whether the applier runs inside database transactions (a webhook's): its events then go to the database's outbox.</summary>
    protected virtual bool InTransactions => false;

    /// <summary>The ledger store the engine writes through (the database's, unless a test puts a fault in front of it).</summary>
    protected virtual ILedgerStore LedgerStore(ILedgerStore database) => database;

    /// <summary>The subscription store the service writes (the database's, unless a test puts something in front of it).</summary>
    protected virtual ISubscriptionStore SubscriptionStore(ISubscriptionStore database) => database;

    /// <summary>The payment store the applier writes (the database's, unless a test puts a fault in front of it).</summary>
    protected virtual IPaymentStore PaymentStore(IPaymentStore database) => database;

    protected IPaymentStore Payments => Db.Database.Payments;

    protected ProductCatalog Catalog { get; } = CatalogLoader.Parse(CatalogYaml, "catalog.yaml",
        [new CatalogMapping("sandbox", null), new CatalogMapping(Creem, "product")]);

    /// <summary>What the applier (and the subscription service under it) emitted, in order.</summary>
    protected RecordingOutbox Emitted { get; } = new();

    public async ValueTask InitializeAsync()
    {
        Clock.Set(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero));
        Db = await TestDatabase.CreateAsync(Provider, Clock, onePooledConnection: OnePooledConnection);
        Ledger = new LedgerEngine(LedgerStore(Db.Database.Ledger), Clock, new LedgerOptions { Lanes = 1 });
        Gate = new Gate(Catalog, Ledger, Db.Database.Subscriptions, Clock);
        // In a webhook's transaction (WebhookProcessorRules) the events go into the database's outbox, as in the server.
        IEventOutbox outbox = InTransactions ? Db.Database.Outbox : Emitted;
        Subscriptions = new SubscriptionService(Catalog, SubscriptionStore(Db.Database.Subscriptions), Ledger, Gate, Clock, outbox, Db.Database.Transactions,
            trials: Db.Database.Trials);
        Applier = new PaymentApplier(Catalog, PaymentStore(Db.Database.Payments), Db.Database.Subscriptions, Subscriptions, Ledger, Clock, outbox);
    }

    public async ValueTask DisposeAsync()
    {
        await Ledger.DisposeAsync();
        await Db.DisposeAsync();
        GC.SuppressFinalize(this);
    }

    protected static string NewCustomer() => "cus_" + Guid.NewGuid().ToString("N")[..12];

    /// <summary>A Creem event with a fresh id at the clock's instant.</summary>
    protected ProviderEvent Event(params PaymentFact[] facts) => EventAt(Clock.GetUtcNow(), facts);

    protected ProviderEvent EventAt(DateTimeOffset at, params PaymentFact[] facts) =>
        new(Creem, $"evt_{Interlocked.Increment(ref _events)}", "test.event", at, facts);

    protected Task<ApplyOutcome> Apply(params PaymentFact[] facts) => Applier.ApplyAsync(Event(facts), "{}", CancellationToken.None);

    protected Task<ApplyOutcome> ApplyAt(DateTimeOffset at, params PaymentFact[] facts) =>
        Applier.ApplyAsync(EventAt(at, facts), "{}", CancellationToken.None);

    /// <summary>Who a fact is about: Tollgate's customer id in the metadata, and the product, both optional.</summary>
    protected static PaymentLink For(string? customer, string? product = null, string? providerCustomer = null, string? productRef = null,
        string? checkoutId = null) => new(checkoutId, customer, product, providerCustomer, productRef);

    /// <summary>A paid one-time checkout (a pack or a lifetime plan) with the provider order id <paramref name="order"/>.</summary>
    protected static CheckoutCompleted Paid(PaymentLink link, string order, long amount = 500, int quantity = 1, string? checkout = null) =>
        new(link, checkout ?? "ch_" + order, order, null, CheckoutMode.Payment, true, amount, "USD", quantity);

    protected async Task<long> Credits(string customer) => (await Ledger.GetBalancesAsync(customer)).For("credits").Available;

    protected async Task<long> Debt(string customer) => (await Ledger.GetBalancesAsync(customer)).For("credits").Debt;

    protected async Task<Payment> PaymentOf(string id) => (await Payments.FindPaymentAsync(Creem, [id], CancellationToken.None))!;

    protected async Task<Subscription> SubscriptionOf(string providerSubscriptionId) =>
        (await Db.Database.Subscriptions.FindByProviderIdAsync(Creem, providerSubscriptionId, CancellationToken.None))!;

    /// <summary>A snapshot of Creem subscription <paramref name="id"/> in its period from <paramref name="start"/>, a month long.</summary>
    protected static SubscriptionSnapshot Snapshot(PaymentLink link, string id, DateTimeOffset start,
        ProviderSubscriptionStatus status = ProviderSubscriptionStatus.Active) =>
        new(link, id, status, start, start.AddMonths(1), false, null);

    /// <summary>The types of the events emitted since the last call, less <c>capabilities.changed</c>: the subscription
    /// service's own report of a save, tested with the service.</summary>
    protected IReadOnlyList<string> Drain() => Emitted.Drain().Select(e => e.Type).Where(t => t != EventTypes.CapabilitiesChanged).ToList();

    /// <summary>Records what would be written to the outbox of the flow's transaction.</summary>
    protected sealed class RecordingOutbox : IEventOutbox
    {
        private readonly List<OutboundEvent> _events = [];

        /// <summary>Whether the caller is inside a flow's transaction: always, as in a webhook's, unless a test asks the
        /// database (a change asked through the API opens a transaction of its own).</summary>
        public Func<bool> InTransactionProbe { get; set; } = () => true;

        public bool InTransaction => InTransactionProbe();

        public void Add(OutboundEvent outboundEvent)
        {
            // As the database's outbox: an event is never written apart from its change.
            if (!InTransaction)
            {
                throw new InvalidOperationException($"Event {outboundEvent.Type} was added outside a database transaction.");
            }

            lock (_events)
            {
                _events.Add(outboundEvent);
            }
        }

        public IReadOnlyList<OutboundEvent> Drain()
        {
            lock (_events)
            {
                var drained = _events.ToList();
                _events.Clear();
                return drained;
            }
        }
    }
}
