using System.Diagnostics;
using Tollgate.Core.Idempotency;
using Tollgate.Core.Ledger;
using Tollgate.Core.Usage;

namespace Tollgate.Storage.Tests.Usage;

/// <summary>
/// Rules of the gate's writes beyond their answers: an API call's response is stored with the write and replayed; a
/// write whose outcome is unknown (it committed, then the connection failed) fails its caller and drops the customer's
/// cached view, so the next answer reads the database; the keys written are the app's keys under the operation's
/// prefix; each check and usage is a span with its outcome. Run on SQLite and PostgreSQL. Each test names its rule.
/// </summary>
public abstract class GateWriteRules : GateTestBase
{
    private LostAcknowledgementStore? _store;

    protected override ILedgerStore Store(ILedgerStore database) => _store = new LostAcknowledgementStore(database);

    [Fact]
    public async Task Rule_AnApiCallsResponse_IsStoredWithTheWrite_AndTheSameCallReplaysIt_ForUsageHoldGrantAndReversal()
    {
        var c = NewCustomer();
        await GrantCredits(c, 20);

        var used = await Gate.UseAsync(c, "credits", 3, Key(), Call<UsageResult>("use", r => r.EntryId!));
        Assert.Equal(new StoredResponse("h", 200, used.EntryId!), used.Response);
        Assert.Equal(used.Response, await Db.Database.Idempotency.GetAsync("scope", "use", CancellationToken.None));
        var again = await Gate.UseAsync(c, "credits", 3, Key(), Call<UsageResult>("use", r => r.EntryId!));
        Assert.Equal(used.Response, again.Response);

        var hold = await Gate.HoldAsync(c, "credits", 2, null, Key(), Call<HoldOutcome>("hold", r => r.HoldId!));
        Assert.Equal(new StoredResponse("h", 200, hold.HoldId!), hold.Response);

        var grant = await Gate.GrantAsync(c, "credits", 5, null, "goodwill", Key(), Call<GrantOutcome>("grant", r => r.LotId!));
        Assert.Equal(new StoredResponse("h", 200, grant.LotId!), grant.Response);

        var reversed = await Gate.ReverseAsync(used.EntryId!, Call<ReverseOutcome>("reverse", r => r.Restored.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Equal(new StoredResponse("h", 200, "3"), reversed.Response);
        Assert.Equal(reversed.Response, await Db.Database.Idempotency.GetAsync("scope", "reverse", CancellationToken.None));

        // Used 3 (once), reversed; held 2; granted 5.
        var credits = (await Ledger.GetBalancesAsync(c)).For("credits");
        Assert.Equal((23L, 2L), (credits.Available, credits.Held));
    }

    [Fact]
    public async Task Rule_AWriteWhoseOutcomeIsUnknown_FailsItsCaller_AndTheNextAnswerReadsWhatWasCommitted()
    {
        var c = NewCustomer();
        Gate.CacheEnabled = true;
        await GrantCredits(c, 20);
        Assert.True((await Gate.CheckAsync(c, "credits", 20)).Allowed); // the view is cached

        // Each write commits, then its acknowledgement is lost: the caller fails; the cache must not answer from before.
        await LoseNextAcknowledgement(() => Gate.UseAsync(c, "credits", 5, Key()));
        Assert.Equal(15, (await Gate.CheckAsync(c, "credits")).Balance!.Available);

        await LoseNextAcknowledgement(() => Gate.HoldAsync(c, "credits", 5, null, Key()));
        Assert.Equal(10, (await Gate.CheckAsync(c, "credits")).Balance!.Available);

        await LoseNextAcknowledgement(() => Gate.GrantAsync(c, "credits", 7, null, "goodwill", Key()));
        Assert.Equal(17, (await Gate.CheckAsync(c, "credits")).Balance!.Available);

        var usage = await Gate.UseAsync(c, "credits", 4, Key());
        Assert.Equal(13, (await Gate.CheckAsync(c, "credits")).Balance!.Available);
        await LoseNextAcknowledgement(() => Gate.ReverseAsync(usage.EntryId!, null));
        Assert.Equal(17, (await Gate.CheckAsync(c, "credits")).Balance!.Available);

        Assert.True((await Gate.UseAsync(c, "projects", 1, Key())).Allowed);
        Assert.Equal(1, (await Gate.CheckAsync(c, "projects")).Balance!.Available);
        await LoseNextAcknowledgement(() => Gate.UseAsync(c, "projects", 1, Key()));
        Assert.False((await Gate.CheckAsync(c, "projects")).Allowed);
    }

    [Fact]
    public async Task Rule_TheKeysWritten_AreTheAppsKeyUnderTheOperationsPrefix_SoARetryAcrossAnUpgradeStillFindsTheFirstWrite()
    {
        var c = NewCustomer();
        await GrantCredits(c, 20);
        await Gate.UseAsync(c, "credits", 1, "app-key");
        await Gate.HoldAsync(c, "credits", 1, null, "app-key");
        await Gate.GrantAsync(c, "credits", 1, null, "goodwill", "app-key");

        var keys = (await Ledger.GetEntriesAsync(c, null, 10)).Entries.Select(e => (e.Type, e.OperationKey)).ToList();
        Assert.Contains((EntryType.Consume, "usage:app-key"), keys);
        Assert.Contains((EntryType.Hold, "hold:app-key"), keys);
        Assert.Contains((EntryType.Grant, "grant:app-key"), keys);
    }

    [Fact]
    public async Task Rule_AHoldLastsItsTtl_OrTheDefaultHourWhenNoneIsGiven()
    {
        var c = NewCustomer();
        await GrantCredits(c, 20);

        var given = await Gate.HoldAsync(c, "credits", 1, TimeSpan.FromMinutes(5), Key());
        var defaulted = await Gate.HoldAsync(c, "credits", 1, null, Key());

        Assert.Equal(Clock.GetUtcNow().AddMinutes(5), given.ExpiresAt);
        Assert.Equal(Clock.GetUtcNow().AddHours(1), defaulted.ExpiresAt);
    }

    [Fact]
    public async Task Rule_EachCheckAndUsage_IsASpanNamedForIt_TaggedWithItsOutcome()
    {
        var c = NewCustomer();
        var spans = new List<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == GateTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                if (activity.GetTagItem("tollgate.customer_id") as string == c)
                {
                    lock (spans)
                    {
                        spans.Add(activity);
                    }
                }
            },
        };
        ActivitySource.AddActivityListener(listener);

        await GrantCredits(c, 2);
        await Gate.CheckAsync(c, "credits", 1);
        await Gate.CheckAsync(c, "credits", 3);
        await Gate.UseAsync(c, "credits", 1, Key());
        await Gate.UseAsync(c, "credits", 5, Key());
        await Gate.UseAsync(c, "hd_export", 1, Key());
        await LoseNextAcknowledgement(() => Gate.UseAsync(c, "credits", 1, Key()));

        List<(string, object?, object?)> seen;
        lock (spans)
        {
            seen = spans.Select(s => (s.OperationName, s.GetTagItem("tollgate.feature"), s.GetTagItem("tollgate.outcome"))).ToList();
        }

        Assert.Equal(
        [
            ("gate.check", "credits", "allowed"),
            ("gate.check", "credits", "insufficient_balance"),
            ("gate.usage", "credits", "charged"),
            ("gate.usage", "credits", "insufficient_balance"),
            ("gate.usage", "hd_export", "invalid_request"),
            ("gate.usage", "credits", "error"),
        ], seen);
    }

    private static IdempotentCall<T> Call<T>(string key, Func<T, string> body) => new("scope", key, "h", r => new StoredResponse("", 200, body(r)));

    private Task LoseNextAcknowledgement(Func<Task> write) => _store!.LoseNextAcknowledgement(write);
}

public sealed class SqliteGateWriteRules : GateWriteRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresGateWriteRules : GateWriteRules
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
