using Tollgate.Core.Subscriptions;

namespace Tollgate.Core.Tests.Subscriptions;

/// <summary>
/// The rules of <see cref="Subscription.GrantsAccess"/> and <see cref="Subscription.IsTerminal"/>: whether a
/// subscription gives its plan at an instant. Access is what the customer paid for, so each boundary is pinned to the
/// tick on both sides (fail closed at the boundary). Found by mutation testing (<c>stryker/run subscriptions-rules</c>,
/// docs/testing.md).
/// </summary>
public sealed class AccessRulesTests
{
    private static readonly DateTimeOffset Start = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset End = new(2025, 2, 1, 0, 0, 0, TimeSpan.Zero);

    private static Subscription In(SubscriptionStatus status, DateTimeOffset? end = null, bool cancelAtPeriodEnd = false, DateTimeOffset? accessEndsAt = null) =>
        new("sub_1", "cus_1", "pro", "sandbox", "ps_1", null, status, Start, end ?? End, cancelAtPeriodEnd, null, null, null, Start, Start, accessEndsAt);

    [Theory]
    [InlineData(SubscriptionStatus.Active)]
    [InlineData(SubscriptionStatus.Trialing)]
    public void Rule_ActiveAndTrialing_GiveAccess_AlsoPastThePeriodEnd_UntilTheProviderSaysOtherwise(SubscriptionStatus status)
    {
        Assert.True(In(status).GrantsAccess(Start, pastDueKeepsAccess: false));
        // A renewal that has not arrived yet does not end access on its own (the provider moves it to past_due or canceled).
        Assert.True(In(status).GrantsAccess(End.AddDays(3), pastDueKeepsAccess: false));
    }

    [Theory]
    [InlineData(SubscriptionStatus.Active)]
    [InlineData(SubscriptionStatus.Trialing)]
    public void Rule_ACancellationAtPeriodEnd_KeepsAccessUntilOneTickBeforeTheEnd_AndNotAtIt(SubscriptionStatus status)
    {
        var canceling = In(status, cancelAtPeriodEnd: true);

        Assert.True(canceling.GrantsAccess(End.AddTicks(-1), pastDueKeepsAccess: true));
        Assert.False(canceling.GrantsAccess(End, pastDueKeepsAccess: true));
    }

    [Fact]
    public void Rule_ACancellationAtPeriodEnd_WithoutAKnownPeriodEnd_KeepsAccess()
    {
        var lifetime = new Subscription("sub_1", "cus_1", "pro", "sandbox", null, null, SubscriptionStatus.Active, null, null, true, null, null, null, Start, Start);

        Assert.True(lifetime.GrantsAccess(End.AddYears(5), pastDueKeepsAccess: false));
    }

    [Theory]
    [InlineData(SubscriptionStatus.Active)]
    [InlineData(SubscriptionStatus.Trialing)]
    [InlineData(SubscriptionStatus.PastDue)]
    public void Rule_AccessEndsAt_EndsAccessAtThatTick_WhateverTheStatus(SubscriptionStatus status)
    {
        var until = Start.AddDays(10);
        var subscription = In(status, accessEndsAt: until);

        Assert.True(subscription.GrantsAccess(until.AddTicks(-1), pastDueKeepsAccess: false));
        Assert.False(subscription.GrantsAccess(until, pastDueKeepsAccess: true));
    }

    [Fact]
    public void Rule_PastDue_GivesAccessOnlyWhenConfigured_AndOnlyUntilOneTickBeforeThePeriodEnd()
    {
        var pastDue = In(SubscriptionStatus.PastDue);

        Assert.False(pastDue.GrantsAccess(Start, pastDueKeepsAccess: false));
        Assert.True(pastDue.GrantsAccess(End.AddTicks(-1), pastDueKeepsAccess: true));
        Assert.False(pastDue.GrantsAccess(End, pastDueKeepsAccess: true));
    }

    [Fact]
    public void Rule_PastDueWithoutAKnownPeriodEnd_GivesAccessWhenConfigured()
    {
        var pastDue = new Subscription("sub_1", "cus_1", "pro", "sandbox", "ps_1", null, SubscriptionStatus.PastDue, null, null, false, null, null, null, Start, Start);

        Assert.True(pastDue.GrantsAccess(End.AddYears(1), pastDueKeepsAccess: true));
        Assert.False(pastDue.GrantsAccess(End.AddYears(1), pastDueKeepsAccess: false));
    }

    [Fact]
    public void Rule_PastDueInTheProvidersGracePeriod_GivesAccessEvenWhenNotConfigured_UntilAccessEndsAt()
    {
        // The provider grants it (App Store billing grace): AccessEndsAt says until when, past the period end too.
        var grace = In(SubscriptionStatus.PastDue, accessEndsAt: End.AddDays(6));

        Assert.True(grace.GrantsAccess(End.AddDays(5), pastDueKeepsAccess: false));
        Assert.False(grace.GrantsAccess(End.AddDays(6), pastDueKeepsAccess: false));
    }

    [Theory]
    [InlineData(SubscriptionStatus.Incomplete)]
    [InlineData(SubscriptionStatus.Paused)]
    [InlineData(SubscriptionStatus.Canceled)]
    [InlineData(SubscriptionStatus.Expired)]
    public void Rule_IncompletePausedCanceledAndExpired_GiveNoAccess_EvenInsideThePeriod(SubscriptionStatus status)
    {
        Assert.False(In(status).GrantsAccess(Start.AddDays(1), pastDueKeepsAccess: true));
        Assert.False(In(status, accessEndsAt: End).GrantsAccess(Start.AddDays(1), pastDueKeepsAccess: true));
    }

    [Theory]
    [InlineData(SubscriptionStatus.Incomplete, false)]
    [InlineData(SubscriptionStatus.Trialing, false)]
    [InlineData(SubscriptionStatus.Active, false)]
    [InlineData(SubscriptionStatus.PastDue, false)]
    [InlineData(SubscriptionStatus.Paused, false)]
    [InlineData(SubscriptionStatus.Canceled, true)]
    [InlineData(SubscriptionStatus.Expired, true)]
    public void Rule_OnlyCanceledAndExpired_AreTerminal(SubscriptionStatus status, bool terminal)
    {
        Assert.Equal(terminal, In(status).IsTerminal);
    }
}
