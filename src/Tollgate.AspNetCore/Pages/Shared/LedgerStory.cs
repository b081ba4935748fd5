using Tollgate.Core.Catalog;
using Tollgate.Core.Ledger;
using Tollgate.Core.Payments;
using Tollgate.Core.Subscriptions;

namespace Tollgate.Server.Pages.Shared;

/// <summary>
/// A ledger entry told as a sentence its customer understands ("11 credits for 11 AI messages over your allowance",
/// "Bought the Popular pack"), in the page's language. The sentence is made from what the entry is (its type), what
/// its lots came from (their source: a plan's allowance, a pack's payment, support, a promotion) and what it drew —
/// never from the stored note, which holds keys and provider ids ("plan pro", "allowance:default", "sbx_ord_…")
/// written for operators and in English. The admin page shows that note beside the sentence.
/// </summary>
internal sealed class LedgerStory
{
    private readonly ProductCatalog _catalog;
    private readonly Texts _t;
    private readonly Dictionary<string, LotRecord> _lots;
    private readonly Dictionary<string, string> _planOfScope;
    private readonly Dictionary<string, Payment> _paymentOfRef;
    private readonly IReadOnlyList<EntryRecord> _page;

    /// <param name="lots">The customer's lots (all of them: a debit may draw on a depleted or expired lot).</param>
    /// <param name="page">The entries shown together: a spill's two entries (the feature's and the credits') are paired here.</param>
    public LedgerStory(IEnumerable<LotRecord> lots, ProductCatalog catalog, IEnumerable<Subscription> subscriptions,
        IEnumerable<Payment> payments, Texts t, IReadOnlyList<EntryRecord> page)
    {
        _catalog = catalog;
        _t = t;
        _page = page;
        _lots = lots.GroupBy(l => l.LotId, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        _planOfScope = subscriptions.GroupBy(s => s.Id, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First().PlanId, StringComparer.Ordinal);
        _paymentOfRef = payments.Where(p => p.LedgerRef is not null).GroupBy(p => p.LedgerRef!, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.OrderBy(p => p.CreatedAt).First(), StringComparer.Ordinal);
    }

    /// <summary>What each lot came from, for the "from your Pro allowance" lines of the debits.</summary>
    public IReadOnlyDictionary<string, string> Origins =>
        _origins ??= _lots.Values.ToDictionary(l => l.LotId, l => _t.F("draw.from", Origin(l)), StringComparer.Ordinal);

    private Dictionary<string, string>? _origins;

    /// <summary>The payment behind a purchase's grant (its receipt), if the entry is one.</summary>
    public Payment? PaymentOf(EntryRecord entry) =>
        entry.Type == EntryType.Grant && FirstLot(entry) is { Source: LotSource.Payment, SourceRef: { } r } && _paymentOfRef.TryGetValue(r, out var p)
            ? p
            : null;

    /// <summary>The entry as one sentence.</summary>
    public string Sentence(EntryRecord entry)
    {
        var lot = FirstLot(entry);
        var feature = FeatureName(entry.Feature);
        var counter = Counter(entry.Feature);
        return entry.Type switch
        {
            EntryType.Grant => Grant(entry, lot),
            EntryType.Consume when SpilledFor(entry) is { } primary =>
                _t.F("story.spill", N(-entry.Amount), feature, N(primary.UsedUnits + primary.Amount), FeatureName(primary.Feature), Counter(primary.Feature), counter),
            EntryType.Consume when entry.Units is { } units && units > -entry.Amount =>
                _t.F("story.consume_over", N(units), feature, counter, N(units + entry.Amount)),
            EntryType.Consume => _t.F("story.consume", N(entry.UsedUnits), feature, counter),
            EntryType.Hold => _t.F("story.hold", N(entry.Units ?? -entry.Amount), feature, counter),
            EntryType.Settle => _t.F("story.settle", N(entry.Settled ?? 0), feature, counter),
            EntryType.Release => _t["story.release"],
            EntryType.Expire when entry.HoldId is not null => _t["story.hold_expired"],
            EntryType.Expire when lot is not null => _t.F("story.expire", N(-entry.Amount), feature, counter, Origin(lot)),
            EntryType.Expire => _t.F("story.expire_other", N(-entry.Amount), feature, counter),
            EntryType.Clawback when lot is not null => _t.F("story.clawback", N(-entry.Amount), feature, counter, Origin(lot)),
            EntryType.Clawback or EntryType.Debt => _t.F(entry.Type == EntryType.Debt ? "story.debt" : "story.clawback_other", N(-entry.Amount), feature, counter),
            EntryType.Adjust => _t.F(entry.Amount < 0 ? "story.adjust_down" : "story.adjust_up", N(Math.Abs(entry.Amount)), feature, counter),
            EntryType.Count => _t.F(entry.Amount >= 0 ? "story.count_up" : "story.count_down", feature, N(entry.BalanceAfter)),
            EntryType.Reverse => _t.F("story.reverse", N(entry.UsedUnits), feature, counter),
            _ => _t["entry." + Core.Common.SnakeCase<EntryType>.Name(entry.Type)],
        };
    }

    private string Grant(EntryRecord entry, LotRecord? lot)
    {
        var amount = N(entry.Amount);
        var feature = FeatureName(entry.Feature);
        var counter = Counter(entry.Feature);
        if (lot is null)
        {
            return _t.F("story.grant_other", amount, feature, counter);
        }

        // An upgrade tops the window's allowance up to the new plan's ("plan change basic → pro").
        if (lot.Source is LotSource.SubscriptionPeriod or LotSource.PlanAllowance && entry.Reference is { } r
            && r.StartsWith("plan change ", StringComparison.Ordinal) && r.Split(' ') is [_, _, var from, _, var to])
        {
            return _t.F("story.upgrade", amount, feature, counter, PlanName(from), PlanName(to));
        }

        if (lot.Source == LotSource.Payment && entry.Reference?.StartsWith("refund of ", StringComparison.Ordinal) == true)
        {
            return _t.F("story.refund_reversed", amount, feature, counter, PackName(lot));
        }

        return lot.Source switch
        {
            LotSource.SubscriptionPeriod or LotSource.PlanAllowance => _t.F("story.allowance", amount, feature, counter, PlanName(PlanIdOf(lot))),
            LotSource.Payment when PaymentOf(entry) is { } payment => _t.F("story.bought", amount, feature, counter, PackName(lot), _t.Date(payment.CreatedAt)),
            LotSource.Payment => _t.F("story.bought_undated", amount, feature, counter, PackName(lot)),
            LotSource.Admin => _t.F("story.admin", amount, feature, counter),
            LotSource.Promo => _t.F("story.promo", amount, feature, counter),
            LotSource.Rollover => _t.F("story.rollover", amount, feature, counter),
            _ => _t.F("story.grant_other", amount, feature, counter),
        };
    }

    /// <summary>"your Pro allowance", "the Popular pack", "a grant by support".</summary>
    public string Origin(LotRecord lot) => lot.Source switch
    {
        LotSource.SubscriptionPeriod or LotSource.PlanAllowance => _t.F("origin.allowance", PlanName(PlanIdOf(lot))),
        LotSource.Payment => _t.F("origin.pack", PackName(lot)),
        LotSource.Admin => _t["origin.admin"],
        LotSource.Promo => _t["origin.promo"],
        LotSource.Rollover => _t["origin.rollover"],
        _ => _t["origin.other"],
    };

    /// <summary>The credits entry of a spill: a consume on another feature under the same operation, at the same time.</summary>
    private EntryRecord? SpilledFor(EntryRecord entry) =>
        entry is { OperationKey: { } key, Units: null }
            ? _page.FirstOrDefault(e => e.Type == EntryType.Consume && e.OperationKey == key && e.Feature != entry.Feature && e.Units is not null && e.At == entry.At)
            : null;

    private LotRecord? FirstLot(EntryRecord entry) =>
        entry.Lots.Count > 0 && _lots.TryGetValue(entry.Lots[0].LotId, out var lot) ? lot : null;

    // An allowance's source is "allowance:{scope}[:{period}]", its scope the subscription's id or "default".
    private string? PlanIdOf(LotRecord lot)
    {
        var scope = lot.SourceRef?.Split(':') is [_, var s, ..] ? s : "default";
        return _planOfScope.TryGetValue(scope, out var planId) ? planId : _catalog.DefaultPlan?.Id;
    }

    private string PlanName(string? planId) =>
        planId is not null && _catalog.PlansById.GetValueOrDefault(planId) is { } plan ? PlanName(plan) : _t["story.a_plan"];

    private string PlanName(Plan plan) => _t.Name(plan.Name);

    private string PackName(LotRecord lot) =>
        lot.SourceRef is { } r && _paymentOfRef.TryGetValue(r, out var p) && _catalog.PacksById.GetValueOrDefault(p.Product) is { } pack
            ? _t.Name(pack.Name)
            : _t["story.a_pack"];

    private string FeatureName(string featureId) => Catalogs.FeatureName(_catalog, featureId, _t);

    private string Counter(string featureId) => _catalog.Feature(featureId) is { } f ? _t.Counter(f.Name) : "";

    private string N(long value) => _t.Number(value);
}
