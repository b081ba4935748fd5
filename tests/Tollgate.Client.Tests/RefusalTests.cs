namespace Tollgate.Client.Tests;

/// <summary>The refusal vocabulary and the result type of Tollgate.Abstractions.</summary>
public sealed class RefusalTests
{
    [Fact]
    public void EveryKnownCode_ReadsAsItsOwnMember_AndEveryKindButOtherHasOne()
    {
        foreach (var refusal in TollgateRefusal.Known)
        {
            Assert.Same(refusal, TollgateRefusal.FromCode(refusal.Code));
            Assert.True(refusal.IsKnown);
        }

        var kinds = TollgateRefusal.Known.Select(r => r.Kind).ToList();
        Assert.Equal(kinds.Count, kinds.Distinct().Count());
        Assert.Equal(Enum.GetValues<TollgateRefusalKind>().Where(k => k != TollgateRefusalKind.Other).Order(), kinds.Order());
        Assert.Equal(TollgateRefusal.Known.Count, TollgateRefusal.Known.Select(r => r.Code).Distinct(StringComparer.Ordinal).Count());
    }

    [Theory]
    [InlineData("not_entitled", TollgateRefusalKind.NotEntitled)]
    [InlineData("insufficient_balance", TollgateRefusalKind.InsufficientBalance)]
    [InlineData("quota_exceeded", TollgateRefusalKind.QuotaExceeded)]
    [InlineData("limit_reached", TollgateRefusalKind.LimitReached)]
    [InlineData("concurrency_limit", TollgateRefusalKind.ConcurrencyLimit)]
    [InlineData("unavailable", TollgateRefusalKind.Unavailable)]
    [InlineData("idempotency_key_reused", TollgateRefusalKind.IdempotencyKeyReused)]
    [InlineData("hold_not_found", TollgateRefusalKind.HoldNotFound)]
    [InlineData("hold_not_active", TollgateRefusalKind.HoldNotActive)]
    [InlineData("invalid_request", TollgateRefusalKind.InvalidRequest)]
    [InlineData("unknown_feature", TollgateRefusalKind.UnknownFeature)]
    [InlineData("unknown_product", TollgateRefusalKind.UnknownProduct)]
    [InlineData("not_eligible", TollgateRefusalKind.NotEligible)]
    [InlineData("customer_not_found", TollgateRefusalKind.CustomerNotFound)]
    [InlineData("checkout_not_found", TollgateRefusalKind.CheckoutNotFound)]
    [InlineData("provider_error", TollgateRefusalKind.ProviderError)]
    [InlineData("subscription_not_found", TollgateRefusalKind.SubscriptionNotFound)]
    [InlineData("conflict", TollgateRefusalKind.Conflict)]
    [InlineData("entry_not_found", TollgateRefusalKind.EntryNotFound)]
    [InlineData("already_reversed", TollgateRefusalKind.AlreadyReversed)]
    [InlineData("not_reversible", TollgateRefusalKind.NotReversible)]
    [InlineData("not_supported", TollgateRefusalKind.NotSupported)]
    public void TheApisCode_MapsToItsKind(string code, TollgateRefusalKind kind)
    {
        var refusal = TollgateRefusal.FromCode(code);

        Assert.Equal(kind, refusal.Kind);
        Assert.Equal(code, refusal.Code);
        Assert.Equal(code, refusal.ToString());
    }

    [Fact]
    public void AnUnknownCode_IsOther_CarryingTheRawCode_AndEqualByCode()
    {
        var refusal = TollgateRefusal.FromCode("seat_reassignment_pending");

        Assert.Equal(TollgateRefusalKind.Other, refusal.Kind);
        Assert.False(refusal.IsKnown);
        Assert.Equal("seat_reassignment_pending", refusal.Code);
        Assert.Equal(refusal, TollgateRefusal.FromCode("seat_reassignment_pending"));
        Assert.True(refusal == TollgateRefusal.FromCode("seat_reassignment_pending"));
        Assert.NotEqual(refusal, TollgateRefusal.QuotaExceeded);
        Assert.Throws<ArgumentException>(() => TollgateRefusal.FromCode(""));
    }

    [Fact]
    public void AResult_IsAValueOrARefusal_AndEnsureSuccessThrowsOnlyForARefusal()
    {
        var usage = new UsageRecord("credits", 7, "ent_1");
        var ok = TollgateResult<UsageRecord>.Success(usage);
        var refused = TollgateResult<UsageRecord>.Refused(TollgateRefusal.InsufficientBalance, "3 credits available, 5 needed");

        Assert.True(ok.Succeeded);
        Assert.False(ok.IsRefused);
        Assert.Same(usage, ok.EnsureSuccess());
        Assert.Equal("ok", ok.ToString());
        Assert.False(refused.Succeeded);
        Assert.True(refused.IsRefused);
        Assert.Null(refused.Value);
        var thrown = Assert.Throws<TollgateRefusalException>(() => refused.EnsureSuccess());
        Assert.Equal(TollgateRefusal.InsufficientBalance, thrown.Refusal);
        Assert.Equal("3 credits available, 5 needed", thrown.Detail);
        Assert.Contains("insufficient_balance", thrown.Message, StringComparison.Ordinal);
        Assert.Equal("insufficient_balance: 3 credits available, 5 needed", refused.ToString());
    }
}
