using Tollgate.Core.Ledger;

namespace Tollgate.Core.Tests.Ledger;

/// <summary>
/// Rules of the ledger's smaller parts, beside the engine and the rules: the burn orders' tie-breaks, what a balance
/// lists and in which order, the shapes the stores and the API read (results, stored JSON, the customers a write
/// touches), and a reversal's key. The `ledger` mutation slice found each untested (docs/testing.md). Each test names
/// its rule.
/// </summary>
public sealed class LedgerShapesTests
{
    private const string Customer = "cus_shapes";
    private static readonly DateTimeOffset At = new(2026, 12, 3, 8, 0, 0, TimeSpan.Zero);

    private static LotRecord Lot(string id, long seq = 1, DateTimeOffset? expiresAt = null, int priority = 20,
        string feature = "credits", long remaining = 10) =>
        new(Customer, id, feature, 10, remaining, 0, 0, 10 - remaining, LotSource.Payment, null, expiresAt, priority, seq, At);

    public static TheoryData<BurnOrder> Orders => [BurnOrder.ExpiringFirst, BurnOrder.PriorityFirst];

    [Theory]
    [MemberData(nameof(Orders))]
    public void Rule_ABurnOrderComparesTwoLots_ANullOnEitherSideIsAnError(BurnOrder order)
    {
        var comparer = BurnOrderComparers.For(order);

        Assert.Throws<ArgumentNullException>(() => { comparer.Compare(null, Lot("lot_a")); });
        Assert.Throws<ArgumentNullException>(() => { comparer.Compare(Lot("lot_a"), null); });
    }

    [Theory]
    [MemberData(nameof(Orders))]
    public void Rule_LotsAlikeInExpiryPriorityAndAge_AreBurnedInLotIdOrder(BurnOrder order)
    {
        // Two lots of one entry (the same seq): nothing but their ids tells them apart.
        var comparer = BurnOrderComparers.For(order);
        var lots = new List<LotRecord> { Lot("lot_c", seq: 3), Lot("lot_b", seq: 4), Lot("lot_a", seq: 4) };

        lots.Sort(comparer);

        Assert.Equal(["lot_c", "lot_a", "lot_b"], lots.Select(l => l.LotId));
        Assert.True(comparer.Compare(Lot("lot_a", seq: 4), Lot("lot_b", seq: 4)) < 0);
        Assert.True(comparer.Compare(Lot("lot_b", seq: 4), Lot("lot_a", seq: 4)) > 0);
    }

    [Fact]
    public void Rule_PriorityFirst_AmongLotsOfOnePriority_BurnsTheOneExpiringFirst()
    {
        var lots = new List<LotRecord>
        {
            Lot("lot_never", seq: 1),
            Lot("lot_late", seq: 2, expiresAt: At.AddDays(30)),
            Lot("lot_soon", seq: 3, expiresAt: At.AddDays(1)),
            Lot("lot_first", seq: 4, expiresAt: At.AddDays(60), priority: 10),
        };

        lots.Sort(BurnOrderComparers.For(BurnOrder.PriorityFirst));

        Assert.Equal(["lot_first", "lot_soon", "lot_late", "lot_never"], lots.Select(l => l.LotId));
    }

    [Fact]
    public void Rule_ABalanceListsFeaturesInOrdinalOrder_AndEachFeaturesLiveLotsByExpiry_NeverExpiringLast_ThenAge()
    {
        var ledger = new CustomerLedger(new CustomerLedgerData(Customer, 9,
        [
            Lot("lot_b_never", seq: 1, feature: "b"),
            Lot("lot_b_late_new", seq: 5, expiresAt: At.AddDays(30), feature: "b"),
            Lot("lot_b_late_old", seq: 2, expiresAt: At.AddDays(30), feature: "b"),
            Lot("lot_b_soon", seq: 6, expiresAt: At.AddDays(1), feature: "b"),
            Lot("lot_b_spent", seq: 3, feature: "b", remaining: 0),
            Lot("lot_a", seq: 4, feature: "a"),
            Lot("lot_B", seq: 7, feature: "B"),
        ], [], new Dictionary<string, long>(), [], new Dictionary<string, long>()));

        var balances = CustomerBalances.From(ledger, At);

        Assert.Equal(["B", "a", "b"], balances.Features.Select(f => f.Feature));
        Assert.Equal(["lot_b_soon", "lot_b_late_old", "lot_b_late_new", "lot_b_never"], balances.For("b").Lots.Select(l => l.LotId));
        Assert.Equal(40, balances.For("b").Available);
    }

    public static TheoryData<Type> ResultTypes =>
        [.. typeof(LedgerResult).Assembly.GetTypes().Where(t => t.IsSubclassOf(typeof(LedgerResult)) && !t.IsAbstract && t.IsPublic)];

    [Theory]
    [MemberData(nameof(ResultTypes))]
    public void Rule_AResultWhoseIdsAreNotSet_HoldsEmptyStrings_NeverNull(Type type)
    {
        // A refusal sets only what it names; the API and the stored JSON read every id that is not optional as a string
        // all the same.
        var result = Activator.CreateInstance(type)!;
        var nullability = new System.Reflection.NullabilityInfoContext();
        var strings = type.GetProperties()
            .Where(p => p.PropertyType == typeof(string) && nullability.Create(p).ReadState == System.Reflection.NullabilityState.NotNull)
            .ToList();

        Assert.All(strings, p => Assert.Equal("", p.GetValue(result)));
    }

    [Fact]
    public void Rule_EveryResultWithAnId_IsCovered_ByTheEmptyStringRule()
    {
        // The theory above finds its types by reflection: it must find the results that carry ids.
        var names = ResultTypes.Select(t => t.Data.Name).ToHashSet();

        Assert.Superset(new HashSet<string> { "GrantResult", "ConsumeResult", "HoldResult", "SettleResult", "CountResult", "ReverseResult" }, names);
    }

    [Fact]
    public void Rule_AllocationsAreStoredAsAJsonList_FromAnyList_AndNullJsonReadsAsNone()
    {
        HoldAllocation[] array = [new("lot_a", "credits", 3, 1)];

        var json = LedgerJson.SerializeAllocations(array);

        Assert.Equal(LedgerJson.SerializeAllocations(array.ToList()), json);
        Assert.Equal(array, LedgerJson.DeserializeAllocations(json));
        Assert.Empty(LedgerJson.DeserializeAllocations("null"));
    }

    [Fact]
    public void Rule_AStoredResultThatIsJsonNull_IsAnError_NotAnEmptyResult()
    {
        var error = Assert.Throws<InvalidOperationException>(() => LedgerJson.DeserializeResult<ConsumeResult>("null"));

        Assert.Equal("A stored ledger result is empty.", error.Message);
    }

    [Fact]
    public void Rule_AReversesUsedUnits_AreTheUnitsItGaveBack_ZeroWhenNotRecorded()
    {
        var reverse = new EntryRecord(Customer, 2, "ent_2", "credits", EntryType.Reverse, 5, 5, At, [], null, null, "reverse:ent_1");

        Assert.Equal(0, reverse.UsedUnits);
        Assert.Equal(-5, (reverse with { Units = -5 }).UsedUnits);
    }

    [Fact]
    public void Rule_TheCustomersAWriteTouches_AreThoseOfItsEntries_AndThoseOfItsOperations()
    {
        var entry = new EntryRecord("cus_a", 1, "ent_1", "credits", EntryType.Consume, -1, 9, At, [], null, null, "k");
        var changes = new LedgerChanges([], [], [], [], [entry], [], [
            new OperationRecord("cus_a", "k", "consume", "f", "{}", At),
            new OperationRecord("cus_b", "k2", "retire", "f", "{}", At), // a write that left no entry (a retirement of nothing)
        ], []);

        Assert.Equal(["cus_a", "cus_b"], changes.Customers);
    }

    [Fact]
    public void Rule_AReversalIsKeyedByTheEntryItReverses_InANamespaceOfItsOwn()
    {
        // A caller's key that happens to equal an entry id is another operation than that entry's reversal.
        Assert.Equal("reverse:ent_1", new ReverseRequest(Customer, "ent_1", []).OperationKey);
    }
}
