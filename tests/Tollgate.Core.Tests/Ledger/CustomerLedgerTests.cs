using Tollgate.Core.Ledger;

namespace Tollgate.Core.Tests.Ledger;

/// <summary>
/// The rules of a customer's state inside a write transaction (<see cref="CustomerLedger"/>): the bounds no change may
/// break, what a refused request's changes leave behind once taken back (the engine carries a refused request in a batch
/// and undoes what it wrote), which changes make a write, and what the cache is handed after the commit. The ledger's
/// own tests reach most of this only through whole batches; the `ledger-customer` mutation slice found what they
/// missed (docs/testing.md). Each test names its rule.
/// </summary>
public sealed class CustomerLedgerTests
{
    private const string Customer = "cus_state";
    private static readonly DateTimeOffset At = new(2026, 12, 3, 8, 0, 0, TimeSpan.Zero);

    private static LotRecord Lot(string id, long amount = 10, long remaining = 10, long held = 0, string feature = "credits") =>
        new(Customer, id, feature, amount, remaining, held, 0, 0, LotSource.Payment, "pay_" + id, null, 20, 1, At);

    private static HoldRecord Hold(string id, long amount = 2, HoldStatus status = HoldStatus.Active) =>
        new(Customer, id, "credits", amount, status, [new HoldAllocation("lot_loaded", "credits", amount, 0)], null, 0, At, At.AddHours(1), null, 0, null);

    private static OperationRecord Operation(string key) => new(Customer, key, "consume", "f", "{}", At);

    private static EntryRecord Entry(long seq) => new(Customer, seq, $"ent_{seq}", "credits", EntryType.Consume, -1, 9, At, [], null, null, null);

    /// <summary>A customer as a write loads it: one lot partly held, one active hold, a debt, a counter, an operation.</summary>
    private static CustomerLedger Loaded() => new(new CustomerLedgerData(Customer, 5,
        [Lot("lot_loaded", remaining: 8, held: 2), Lot("lot_other", feature: "minutes")],
        [Hold("hold_loaded")],
        new Dictionary<string, long> { ["credits"] = 3 },
        [Operation("op_loaded")],
        new Dictionary<string, long> { ["seats"] = 2 }));

    private static LedgerChanges Changes(CustomerLedger ledger)
    {
        var builder = new LedgerChangesBuilder();
        ledger.CollectChanges(builder);
        return builder.Build();
    }

    public static TheoryData<string> Bounds => ["remaining below 0", "held below 0", "clawed past the amount", "expired past the amount"];

    [Theory]
    [MemberData(nameof(Bounds))]
    public void Rule_ALotNeverLeavesItsBounds_EachBoundOnItsOwn_AndARefusedUpdateChangesNothing(string bound)
    {
        var ledger = Loaded();
        var lot = ledger.Lot("lot_loaded");
        var broken = bound switch
        {
            "remaining below 0" => lot with { Remaining = -1 },
            "held below 0" => lot with { Held = -1 },
            "clawed past the amount" => lot with { Clawed = lot.Amount + 1 },
            _ => lot with { Expired = lot.Amount + 1 },
        };

        var error = Assert.Throws<InvalidOperationException>(() => ledger.UpdateLot(broken));

        Assert.Contains("lot_loaded would break its bounds", error.Message, StringComparison.Ordinal);
        Assert.Equal(lot, ledger.Lot("lot_loaded"));
        Assert.False(ledger.HasChanges);
    }

    [Fact]
    public void Rule_ALotAtItsBoundsIsFine_NothingLeftAndEverythingClawedOrExpired()
    {
        var ledger = Loaded();
        var lot = ledger.Lot("lot_loaded");

        ledger.UpdateLot(lot with { Remaining = 0, Held = 0, Clawed = lot.Amount });
        ledger.UpdateLot(lot with { Remaining = 0, Held = 0, Expired = lot.Amount });

        Assert.Equal((0L, lot.Amount), (ledger.Lot("lot_loaded").Remaining, ledger.Lot("lot_loaded").Expired));
    }

    [Fact]
    public void Rule_DebtsAndCountsNeverGoBelowZero_ButMayReachIt()
    {
        var ledger = Loaded();

        var debt = Assert.Throws<InvalidOperationException>(() => ledger.SetDebt("credits", -1));
        var count = Assert.Throws<InvalidOperationException>(() => ledger.SetCounter("seats", -1));
        ledger.SetDebt("credits", 0);
        ledger.SetCounter("seats", 0);

        Assert.Contains("Debt of cus_state/credits would be negative", debt.Message, StringComparison.Ordinal);
        Assert.Contains("Count of cus_state/seats would be negative", count.Message, StringComparison.Ordinal);
        Assert.Equal((0L, 0L), (ledger.Debt("credits"), ledger.Counter("seats")));
    }

    [Fact]
    public void Rule_ALotThatIsNotLoaded_IsAnErrorNamingIt()
    {
        var error = Assert.Throws<InvalidOperationException>(() => Loaded().Lot("lot_missing"));

        Assert.Contains("lot_missing of cus_state is not loaded", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rule_UndoTakesBackEveryKindOfChangeSinceItBegan_InReverse_AndKeepsWhatCameBefore()
    {
        var ledger = Loaded();
        // Before recording: a change the batch keeps (an earlier request of the same batch).
        ledger.UpdateLot(ledger.Lot("lot_loaded") with { Remaining = 7 });
        var kept = Changes(ledger);
        var before = ledger.Snapshot();

        ledger.BeginUndo();
        // The first change recorded is one only the last undo step takes back: every step must run.
        ledger.SetCounter("seats", 3);
        var seq = ledger.NextSeq();
        ledger.AddLot(Lot("lot_new"));
        ledger.UpdateLot(ledger.Lot("lot_loaded") with { Remaining = 1 });
        ledger.UpdateLot(ledger.Lot("lot_other") with { Remaining = 4 });
        ledger.AddHold(Hold("hold_new"));
        ledger.UpdateHold(ledger.Hold("hold_loaded")! with { Status = HoldStatus.Settled, Settled = 2 });
        ledger.SetDebt("credits", 9);
        ledger.SetDebt("minutes", 4);
        ledger.SetCounter("projects", 1);
        ledger.AddOperation(Operation("op_new"));
        ledger.AddEntry(Entry(seq));
        ledger.Undo();

        Assert.Equal(5, ledger.Seq);
        Assert.Equal(Json(before), Json(ledger.Snapshot()));
        Assert.Null(ledger.Hold("hold_new"));
        Assert.Null(ledger.Operation("op_new"));
        Assert.Equal(["op_loaded"], ledger.OperationKeys);
        Assert.Empty(ledger.NewEntries);
        Assert.Equal(Describe(kept), Describe(Changes(ledger)));
        Assert.Equal("updated lots lot_loaded:7", Describe(kept));
    }

    [Fact]
    public void Rule_EndUndoKeepsTheChanges_AndUndoWithoutRecordingIsAnError()
    {
        var ledger = Loaded();
        ledger.BeginUndo();
        ledger.SetDebt("credits", 9);
        ledger.EndUndo();

        var error = Assert.Throws<InvalidOperationException>(ledger.Undo);

        Assert.Equal(9, ledger.Debt("credits"));
        Assert.Equal("Nothing is being recorded.", error.Message);
    }

    public static TheoryData<string> ChangeKinds =>
        ["lot added", "lot updated", "hold added", "hold updated", "debt", "operation", "entry", "counter"];

    [Theory]
    [MemberData(nameof(ChangeKinds))]
    public void Rule_AnyOneKindOfChangeOnItsOwn_IsAWrite_AndIsCollected(string kind)
    {
        var ledger = Loaded();
        Assert.False(ledger.HasChanges);

        switch (kind)
        {
            case "lot added": ledger.AddLot(Lot("lot_new")); break;
            case "lot updated": ledger.UpdateLot(ledger.Lot("lot_loaded") with { Remaining = 1 }); break;
            case "hold added": ledger.AddHold(Hold("hold_new")); break;
            case "hold updated": ledger.UpdateHold(ledger.Hold("hold_loaded")! with { Settled = 1 }); break;
            case "debt": ledger.SetDebt("credits", 4); break;
            case "operation": ledger.AddOperation(Operation("op_new")); break;
            case "entry": ledger.AddEntry(Entry(ledger.NextSeq())); break;
            default: ledger.SetCounter("seats", 3); break;
        }

        var changes = Changes(ledger);
        Assert.True(ledger.HasChanges, kind);
        Assert.Equal(1, changes.InsertedLots.Count + changes.UpdatedLots.Count + changes.InsertedHolds.Count + changes.UpdatedHolds.Count
            + changes.Debts.Count + changes.Operations.Count + changes.Entries.Count + changes.Counters.Count);
        Assert.True(ledger.Snapshot().Exists);
    }

    [Fact]
    public void Rule_ASnapshotHoldsTheLiveLotsAndTheActiveHoldsOnly()
    {
        var ledger = new CustomerLedger(new CustomerLedgerData(Customer, 1,
            [Lot("lot_some"), Lot("lot_held", remaining: 0, held: 3), Lot("lot_spent", remaining: 0)],
            [Hold("hold_active"), Hold("hold_settled", status: HoldStatus.Settled), Hold("hold_released", status: HoldStatus.Released)],
            new Dictionary<string, long>(), [], new Dictionary<string, long>()) { Exists = false });

        var snapshot = ledger.Snapshot();

        Assert.Equal(["lot_held", "lot_some"], snapshot.Lots.Select(l => l.LotId).Order(StringComparer.Ordinal));
        Assert.Equal(["hold_active"], snapshot.Holds.Select(h => h.HoldId));
        Assert.False(snapshot.Exists); // nothing written: a customer without a row stays without one
        Assert.Equal(10, ledger.Available("credits"));
    }

    /// <summary>Every change a write would persist, as text.</summary>
    private static string Describe(LedgerChanges c) => string.Join("; ", new[]
    {
        ("inserted lots", c.InsertedLots.Select(l => $"{l.LotId}:{l.Remaining}")),
        ("updated lots", c.UpdatedLots.Select(l => $"{l.LotId}:{l.Remaining}")),
        ("inserted holds", c.InsertedHolds.Select(h => h.HoldId)),
        ("updated holds", c.UpdatedHolds.Select(h => $"{h.HoldId}:{h.Status}")),
        ("entries", c.Entries.Select(e => e.EntryId)),
        ("debts", c.Debts.Select(d => $"{d.Feature}:{d.Amount}")),
        ("operations", c.Operations.Select(o => o.OperationKey)),
        ("counters", c.Counters.Select(k => $"{k.Feature}:{k.Level}")),
    }.Where(p => p.Item2.Any()).Select(p => $"{p.Item1} {string.Join(",", p.Item2)}"));

    private static string Json(object value) => System.Text.Json.JsonSerializer.Serialize(value, value.GetType());
}
