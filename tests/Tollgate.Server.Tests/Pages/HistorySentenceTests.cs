using System.Text.RegularExpressions;
using Tollgate.Core.Ledger;
using Tollgate.Core.Payments;
using Tollgate.Core.Subscriptions;
using Tollgate.Server.Pages.Shared;

namespace Tollgate.Server.Tests.Pages;

/// <summary>Every kind of ledger entry is told in the portal's History as a sentence, in English and Chinese, made from
/// the entry's kind, its lots' sources and its draws; the stored note (keys, plan ids, provider order ids) never shows.</summary>
public sealed partial class HistorySentenceTests
{
    private static readonly DateTimeOffset At = new(2026, 12, 1, 10, 0, 0, TimeSpan.Zero);
    private static readonly Core.Catalog.ProductCatalog Catalog =
        Core.Catalog.CatalogLoader.LoadDemo(Tollgate.Providers.ProviderPlugins.CatalogMappings(Tollgate.Providers.ProviderPlugins.BuiltIn));

    private static readonly LotRecord ProLot = Lot("lot_pro", "ai_messages", LotSource.SubscriptionPeriod, "allowance:sub_1:2026-12");
    private static readonly LotRecord FreeLot = Lot("lot_free", "ai_messages", LotSource.PlanAllowance, "allowance:default");
    private static readonly LotRecord PackLot = Lot("lot_pack", "credits", LotSource.Payment, "pay:sandbox:sbx_ord_123");
    private static readonly LotRecord AdminLot = Lot("lot_admin", "credits", LotSource.Admin, "grant:k1");
    private static readonly LotRecord PromoLot = Lot("lot_promo", "credits", LotSource.Promo, "promo:x");
    private static readonly LotRecord CarryLot = Lot("lot_carry", "credits", LotSource.Rollover, "allowance:sub_1:2026-11");

    private static readonly Subscription Pro = new("sub_1", "cus_1", "pro", "sandbox", "sbx_sub_1", null, SubscriptionStatus.Active,
        At, At.AddMonths(1), false, null, null, null, At, At);

    private static readonly Payment PackPayment = new("pay_1", "cus_1", "sandbox", PaymentKind.Pack, "popular_pack", PaymentStatus.Completed,
        1900, "USD", null, null, "sbx_ord_123", null, null, "pay:sandbox:sbx_ord_123", 500, 0, 0, null, "{}", At, At);

    public static TheoryData<string, string, string> Cases => new()
    {
        // name, English, Chinese
        { "plan grant", "1,000 AI messages: your Pro allowance for this period", "AI 消息 1,000 条：您的专业版本期额度" },
        { "default grant", "50 AI messages: your Free allowance for this period", "AI 消息 50 条：您的免费版本期额度" },
        { "upgrade", "800 AI messages more: your allowance raised from Free to Pro", "AI 消息 增加 800 条：额度由免费版提升为专业版" },
        { "pack purchase", "500 Credits: you bought the Popular pack on 1 Dec 2026", "积分 500：您于2026年12月1日购买了热门积分包" },
        { "refund reversed", "500 Credits back: the refund of the Popular pack was cancelled", "积分 返还 500：热门积分包的退款已撤销" },
        { "admin grant", "20 Credits added by support", "客服为您发放了 20 积分" },
        { "promo grant", "10 Credits: a promotional gift", "积分 10：促销赠送" },
        { "rollover", "100 Credits rolled over: unused from your last period", "积分 100：上一周期未用完，结转至本期" },
        { "rollover expire", "30 Credits from your rolled-over credits expired unused", "您结转的额度中未使用的 30 积分 已过期" },
        { "consume", "3 AI messages used", "使用了 3 条 AI 消息" },
        { "consume over", "11 AI messages used, 11 of them over your allowance", "使用了 11 条 AI 消息，其中 11 条 超出额度" },
        { "spill", "11 Credits for 11 AI messages over your allowance", "超出额度的 11 条 AI 消息，扣除 11 积分" },
        { "hold", "5 Credits reserved for a task in progress", "为进行中的任务预留了 5 积分" },
        { "settle", "4 Credits charged when the task finished", "任务完成，扣除 4 积分" },
        { "release", "Reservation given back unused", "预留未使用，已退回" },
        { "hold expired", "Reservation ended unused", "预留已到期，未使用" },
        { "expire", "200 Credits from the Popular pack expired unused", "热门积分包中未使用的 200 积分 已过期" },
        { "default expire", "40 AI messages from your Free allowance expired unused", "您的免费版额度中未使用的 40 条 AI 消息 已过期" },
        { "clawback", "300 Credits taken back: the Popular pack was refunded", "追回 300 积分：热门积分包已退款" },
        { "debt", "200 Credits owed after a refund (already used)", "退款后欠 200 积分（已使用）" },
        { "adjust", "2 Credits removed by support", "客服扣除了 2 积分" },
        { "count", "Projects now at 3", "项目增至 3" },
        { "reverse", "3 AI messages given back: a use was cancelled", "退回 3 条 AI 消息：一次使用已撤销" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void EachKind_IsASentence_InBothLanguages(string name, string english, string chinese)
    {
        var (entry, page) = Entry(name);
        var en = Story(Lang.En, page).Sentence(entry);
        var zh = Story(Lang.ZhCn, page).Sentence(entry);
        Assert.Equal(english, en);
        Assert.Equal(chinese, zh);
        AssertNoRawNote(en, entry);
        AssertNoRawNote(zh, entry);
        Assert.DoesNotMatch(Latin(), zh.Replace("AI", "", StringComparison.Ordinal));
    }

    [Fact]
    public void Draws_NameTheGrantsBehindThem()
    {
        var entry = Entry("consume").Entry with { Lots = [new LotDraw("lot_pro", 2), new LotDraw("lot_pack", 1), new LotDraw("lot_carry", 4)] };
        var table = new LedgerTable([entry], Catalog, false, Story(Lang.En, [entry]));
        Assert.Equal("From your Pro allowance (2), from the Popular pack (1), from your rolled-over credits (4)", table.DrawLine(entry));
        var zh = new LedgerTable([entry], Catalog, false, Story(Lang.ZhCn, [entry]));
        Assert.Equal("来自您的专业版额度 (2), 来自热门积分包 (1), 来自您结转的额度 (4)", zh.DrawLine(entry));
    }

    [Fact]
    public void APurchase_KnowsItsPayment_ForTheReceiptLink()
    {
        var (entry, page) = Entry("pack purchase");
        Assert.Equal("pay_1", Story(Lang.En, page).PaymentOf(entry)?.Id);
        Assert.Null(Story(Lang.En, page).PaymentOf(Entry("admin grant").Entry));
    }

    private static void AssertNoRawNote(string sentence, EntryRecord entry)
    {
        Assert.DoesNotContain("allowance:", sentence, StringComparison.Ordinal);
        Assert.DoesNotContain("sbx_", sentence, StringComparison.Ordinal);
        Assert.DoesNotContain("plan ", sentence, StringComparison.Ordinal);
        Assert.DoesNotContain("[", sentence, StringComparison.Ordinal);
        Assert.DoesNotContain("_", sentence, StringComparison.Ordinal);
        if (entry.Reference is { Length: > 0 } note)
        {
            Assert.DoesNotContain(note, sentence, StringComparison.Ordinal);
        }
    }

    private static LedgerStory Story(Lang lang, IReadOnlyList<EntryRecord> page) =>
        new([ProLot, FreeLot, PackLot, AdminLot, PromoLot, CarryLot], Catalog, [Pro], [PackPayment], Texts.For(lang), page);

    private static (EntryRecord Entry, IReadOnlyList<EntryRecord> Page) Entry(string name)
    {
        EntryRecord E(string feature, EntryType type, long amount, string? reference, LotDraw[] lots, string? hold = null,
            string? key = null, long? settled = null, long? units = null, long balance = 0) =>
            new("cus_1", 1, "ent_1", feature, type, amount, balance, At, lots, reference, hold, key, settled, null, units);

        var one = (EntryRecord e) => (e, (IReadOnlyList<EntryRecord>)[e]);
        switch (name)
        {
            case "plan grant": return one(E("ai_messages", EntryType.Grant, 1000, "plan pro", [new("lot_pro", 1000)]));
            case "default grant": return one(E("ai_messages", EntryType.Grant, 50, "plan free", [new("lot_free", 50)]));
            case "upgrade": return one(E("ai_messages", EntryType.Grant, 800, "plan change free → pro", [new("lot_pro", 800)]));
            case "pack purchase": return one(E("credits", EntryType.Grant, 500, "popular_pack (sandbox sbx_ord_123)", [new("lot_pack", 500)]));
            case "refund reversed": return one(E("credits", EntryType.Grant, 500, "refund of popular_pack reversed (sandbox sbx_re_1)", [new("lot_pack", 500)]));
            case "admin grant": return one(E("credits", EntryType.Grant, 20, "goodwill ticket 42", [new("lot_admin", 20)]));
            case "promo grant": return one(E("credits", EntryType.Grant, 10, "promo:x", [new("lot_promo", 10)]));
            case "rollover": return one(E("credits", EntryType.Grant, 100, "rollover of allowance:sub_1:2026-11", [new("lot_carry", 100)]));
            case "rollover expire": return one(E("credits", EntryType.Expire, -30, "allowance:sub_1:2026-11", [new("lot_carry", 30)]));
            case "consume": return one(E("ai_messages", EntryType.Consume, -3, "msg_9", [new("lot_pro", 3)]));
            case "consume over": return one(E("ai_messages", EntryType.Consume, 0, "msg_9", [], key: "k", units: 11));
            case "spill":
                var primary = E("ai_messages", EntryType.Consume, 0, "msg_9", [], key: "k", units: 11);
                var credits = E("credits", EntryType.Consume, -11, "msg_9", [new("lot_pack", 11)], key: "k");
                return (credits, [primary, credits]);
            case "hold": return one(E("credits", EntryType.Hold, -5, "job_1", [new("lot_pack", 5)], hold: "hold_1"));
            case "settle": return one(E("credits", EntryType.Settle, 1, "job_1", [], hold: "hold_1", settled: 4));
            case "release": return one(E("credits", EntryType.Release, 5, "job_1", [], hold: "hold_1"));
            case "hold expired": return one(E("credits", EntryType.Expire, 5, "hold_ttl", [], hold: "hold_1"));
            case "expire": return one(E("credits", EntryType.Expire, -200, "pay:sandbox:sbx_ord_123", [new("lot_pack", 200)]));
            case "default expire": return one(E("ai_messages", EntryType.Expire, -40, "allowance:default", [new("lot_free", 40)]));
            case "clawback": return one(E("credits", EntryType.Clawback, -300, "refunded of popular_pack (sandbox sbx_re_1)", [new("lot_pack", 300)]));
            case "debt": return one(E("credits", EntryType.Debt, -200, "refunded of popular_pack (sandbox sbx_re_1)", []));
            case "adjust": return one(E("credits", EntryType.Adjust, -2, "double charge", [new("lot_admin", 2)]));
            case "count": return one(E("projects", EntryType.Count, 1, "project_7", [], balance: 3));
            case "reverse": return one(E("ai_messages", EntryType.Reverse, 3, "ent_0", [new("lot_pro", 3)], units: 3));
            default: throw new ArgumentException(name);
        }
    }

    private static LotRecord Lot(string id, string feature, LotSource source, string sourceRef) =>
        new("cus_1", id, feature, 1000, 500, 0, 0, 0, source, sourceRef, null, 0, 1, At);

    // Chinese sentences hold no English words (a leaked key or untranslated note would).
    [GeneratedRegex("[A-Za-z]{2,}")]
    private static partial Regex Latin();
}
