namespace Tollgate.Core.Ledger;

/// <summary>
/// One customer's ledger state inside a write transaction (or a read view): the loaded rows, mutated in memory
/// by <see cref="LedgerRules"/>, with every change tracked so the store can persist exactly what moved.
/// </summary>
internal sealed class CustomerLedger
{
    private readonly Dictionary<string, LotRecord> _lots = new(StringComparer.Ordinal);
    private readonly HashSet<string> _insertedLots = new(StringComparer.Ordinal);
    private readonly HashSet<string> _updatedLots = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HoldRecord> _holds = new(StringComparer.Ordinal);
    private readonly HashSet<string> _insertedHolds = new(StringComparer.Ordinal);
    private readonly HashSet<string> _updatedHolds = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _debts = new(StringComparer.Ordinal);
    private readonly HashSet<string> _updatedDebts = new(StringComparer.Ordinal);
    private readonly Dictionary<string, OperationRecord> _operations = new(StringComparer.Ordinal);
    private readonly List<OperationRecord> _newOperations = [];
    private readonly List<EntryRecord> _entries = [];
    private readonly Dictionary<string, long> _counters = new(StringComparer.Ordinal);
    private readonly HashSet<string> _updatedCounters = new(StringComparer.Ordinal);

    // While set, every change records how to undo itself (see BeginUndo).
    private List<Action>? _undo;

    public CustomerLedger(CustomerLedgerData data)
    {
        CustomerId = data.CustomerId;
        Exists = data.Exists;
        Seq = data.Seq;
        foreach (var lot in data.Lots)
        {
            _lots[lot.LotId] = lot;
        }

        foreach (var hold in data.Holds)
        {
            _holds[hold.HoldId] = hold;
        }

        foreach (var (feature, amount) in data.Debts)
        {
            _debts[feature] = amount;
        }

        foreach (var operation in data.Operations)
        {
            _operations[operation.OperationKey] = operation;
        }

        foreach (var (feature, level) in data.Counters)
        {
            _counters[feature] = level;
        }
    }

    public string CustomerId { get; }

    /// <summary>Whether the customer has a row (see <see cref="CustomerLedgerData.Exists"/>).</summary>
    public bool Exists { get; }

    /// <summary>Last sequence number used for this customer's entries (a lot carries its grant entry's number).</summary>
    public long Seq { get; private set; }

    public IReadOnlyList<EntryRecord> NewEntries => _entries;

    public IEnumerable<LotRecord> Lots => _lots.Values;

    public IEnumerable<HoldRecord> Holds => _holds.Values;

    public IEnumerable<HoldRecord> ActiveHolds => _holds.Values.Where(h => h.Status == HoldStatus.Active);

    public IEnumerable<string> FeaturesWithDebt => _debts.Where(d => d.Value != 0).Select(d => d.Key);

    public long NextSeq()
    {
        if (_undo is not null)
        {
            Record(() => Seq--);
        }

        return ++Seq;
    }

    public LotRecord Lot(string lotId) =>
        _lots.TryGetValue(lotId, out var lot) ? lot : throw new InvalidOperationException($"Lot {lotId} of {CustomerId} is not loaded.");

    public void AddLot(LotRecord lot)
    {
        _lots.Add(lot.LotId, lot);
        _insertedLots.Add(lot.LotId);
        if (_undo is not null)
        {
            RecordAdded(_lots, _insertedLots, lot.LotId);
        }
    }

    public void UpdateLot(LotRecord lot)
    {
        if (lot.Remaining < 0 || lot.Held < 0 || lot.Clawed > lot.Amount || lot.Expired > lot.Amount)
        {
            throw new InvalidOperationException($"Lot {lot.LotId} would break its bounds: {lot}.");
        }

        if (_undo is not null)
        {
            RecordReplaced(_lots, _updatedLots, lot.LotId);
        }

        _lots[lot.LotId] = lot;
        if (!_insertedLots.Contains(lot.LotId))
        {
            _updatedLots.Add(lot.LotId);
        }
    }

    public HoldRecord? Hold(string holdId) => _holds.GetValueOrDefault(holdId);

    public void AddHold(HoldRecord hold)
    {
        _holds.Add(hold.HoldId, hold);
        _insertedHolds.Add(hold.HoldId);
        if (_undo is not null)
        {
            RecordAdded(_holds, _insertedHolds, hold.HoldId);
        }
    }

    public void UpdateHold(HoldRecord hold)
    {
        if (_undo is not null)
        {
            RecordReplaced(_holds, _updatedHolds, hold.HoldId);
        }

        _holds[hold.HoldId] = hold;
        if (!_insertedHolds.Contains(hold.HoldId))
        {
            _updatedHolds.Add(hold.HoldId);
        }
    }

    public long Debt(string feature) => _debts.GetValueOrDefault(feature);

    public void SetDebt(string feature, long amount)
    {
        if (amount < 0)
        {
            throw new InvalidOperationException($"Debt of {CustomerId}/{feature} would be negative.");
        }

        if (_undo is not null)
        {
            RecordReplaced(_debts, _updatedDebts, feature);
        }

        _debts[feature] = amount;
        _updatedDebts.Add(feature);
    }

    public OperationRecord? Operation(string key) => _operations.GetValueOrDefault(key);

    public IReadOnlyDictionary<string, long> Counters => _counters;

    public long Counter(string feature) => _counters.GetValueOrDefault(feature);

    public void SetCounter(string feature, long level)
    {
        if (level < 0)
        {
            throw new InvalidOperationException($"Count of {CustomerId}/{feature} would be negative.");
        }

        if (_undo is not null)
        {
            RecordReplaced(_counters, _updatedCounters, feature);
        }

        _counters[feature] = level;
        _updatedCounters.Add(feature);
    }

    /// <summary>Units of a feature held by active holds (for a concurrency feature: slots in use).</summary>
    public long ActiveHoldUnits(string feature)
    {
        long sum = 0;
        foreach (var hold in _holds.Values)
        {
            if (hold.Status == HoldStatus.Active && hold.Feature == feature)
            {
                sum = checked(sum + hold.Amount);
            }
        }

        return sum;
    }

    public void AddOperation(OperationRecord operation)
    {
        _operations.Add(operation.OperationKey, operation);
        _newOperations.Add(operation);
        if (_undo is not null)
        {
            RecordOperation(operation.OperationKey);
        }
    }

    public void AddEntry(EntryRecord entry)
    {
        _entries.Add(entry);
        if (_undo is not null)
        {
            Record(() => _entries.RemoveAt(_entries.Count - 1));
        }
    }

    /// <summary>Starts recording changes so that <see cref="Undo"/> can take them back (writes a refused request
    /// carried with it are not kept).</summary>
    public void BeginUndo() => _undo = [];

    /// <summary>Takes back every change since <see cref="BeginUndo"/> and stops recording.</summary>
    public void Undo()
    {
        var undo = _undo ?? throw new InvalidOperationException("Nothing is being recorded.");
        _undo = null;
        for (var i = undo.Count - 1; i >= 0; i--)
        {
            undo[i]();
        }
    }

    /// <summary>Keeps the changes since <see cref="BeginUndo"/> and stops recording.</summary>
    public void EndUndo() => _undo = null;

    private void Record(Action undo) => _undo!.Add(undo);

    private void RecordOperation(string key) =>
        Record(() =>
        {
            _operations.Remove(key);
            _newOperations.RemoveAt(_newOperations.Count - 1);
        });

    private void RecordAdded<T>(Dictionary<string, T> values, HashSet<string> inserted, string id) =>
        Record(() =>
        {
            values.Remove(id);
            inserted.Remove(id);
        });

    // The value before the change (or its absence) and whether it was already marked as changed.
    private void RecordReplaced<T>(Dictionary<string, T> values, HashSet<string> changed, string id)
    {
        var had = values.TryGetValue(id, out var before);
        var marked = changed.Contains(id);
        Record(() =>
        {
            if (had)
            {
                values[id] = before!;
            }
            else
            {
                values.Remove(id);
            }

            if (!marked)
            {
                changed.Remove(id);
            }
        });
    }

    /// <summary>The state as it is now, as a read would load it after this transaction: live lots, active holds,
    /// debts, counters, and the operations loaded or written.</summary>
    public CustomerLedgerData Snapshot() =>
        new(CustomerId, Seq,
            _lots.Values.Where(l => l.Remaining > 0 || l.Held > 0).ToList(),
            _holds.Values.Where(h => h.Status == HoldStatus.Active).ToList(),
            new Dictionary<string, long>(_debts, StringComparer.Ordinal),
            [.. _operations.Values],
            new Dictionary<string, long>(_counters, StringComparer.Ordinal))
        {
            Exists = Exists || HasChanges,
        };

    /// <summary>Keys of the operations this state knows of (loaded or written).</summary>
    public IEnumerable<string> OperationKeys => _operations.Keys;

    /// <summary>Spendable units of a feature. Only meaningful after catch-up, when no loaded lot is past its expiry.</summary>
    public long Available(string feature)
    {
        long sum = 0;
        foreach (var lot in _lots.Values)
        {
            if (lot.Feature == feature &&
                // Stryker disable once Equality : a lot with nothing remaining adds 0
                lot.Remaining > 0)
            {
                sum = checked(sum + lot.Remaining);
            }
        }

        return sum;
    }

    /// <summary>Units of a feature reserved by active holds and still owned by the customer (not revoked).</summary>
    public long Held(string feature)
    {
        long sum = 0;
        foreach (var hold in _holds.Values)
        {
            if (hold.Status != HoldStatus.Active)
            {
                continue;
            }

            foreach (var allocation in hold.Allocations)
            {
                if (allocation.Feature == feature)
                {
                    sum = checked(sum + allocation.Amount - allocation.Revoked);
                }
            }
        }

        return sum;
    }

    /// <summary>The balance entries add up to: available minus debt.</summary>
    public long Balance(string feature) => checked(Available(feature) - Debt(feature));

    public bool HasChanges =>
        _insertedLots.Count > 0 || _updatedLots.Count > 0 || _insertedHolds.Count > 0
        || _updatedHolds.Count > 0 || _updatedDebts.Count > 0 || _newOperations.Count > 0 || _entries.Count > 0
        || _updatedCounters.Count > 0;

    public void CollectChanges(LedgerChangesBuilder builder)
    {
        // Stryker disable once Statement,Block : without changes every list below is empty; the check only saves the work
        if (!HasChanges)
        {
            return;
        }

        builder.InsertedLots.AddRange(_insertedLots.Select(id => _lots[id]));
        builder.UpdatedLots.AddRange(_updatedLots.Select(id => _lots[id]));
        builder.InsertedHolds.AddRange(_insertedHolds.Select(id => _holds[id]));
        builder.UpdatedHolds.AddRange(_updatedHolds.Select(id => _holds[id]));
        builder.Entries.AddRange(_entries);
        builder.Debts.AddRange(_updatedDebts.Select(f => (CustomerId, f, _debts[f])));
        builder.Operations.AddRange(_newOperations);
        builder.Counters.AddRange(_updatedCounters.Select(f => (CustomerId, f, _counters[f])));
    }
}

internal sealed class LedgerChangesBuilder
{
    public List<LotRecord> InsertedLots { get; } = [];
    public List<LotRecord> UpdatedLots { get; } = [];
    public List<HoldRecord> InsertedHolds { get; } = [];
    public List<HoldRecord> UpdatedHolds { get; } = [];
    public List<EntryRecord> Entries { get; } = [];
    public List<(string CustomerId, string Feature, long Amount)> Debts { get; } = [];
    public List<OperationRecord> Operations { get; } = [];
    public List<(string CustomerId, string Feature, long Level)> Counters { get; } = [];
    public List<string> NewCustomers { get; } = [];
    public List<ApiResponseRecord> ApiResponses { get; } = [];
    public List<LedgerAttachment> Attachments { get; } = [];

    public LedgerChanges Build() =>
        new(InsertedLots, UpdatedLots, InsertedHolds, UpdatedHolds, Entries, Debts, Operations, Counters)
        {
            NewCustomers = NewCustomers,
            ApiResponses = ApiResponses,
            Attachments = Attachments,
        };
}
