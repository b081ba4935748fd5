namespace Tollgate.Core.Subscriptions;

/// <summary>When a plan change takes effect: a rule of subscriptions, which providers carry out.</summary>
public enum PlanChangePolicy
{
    /// <summary>The new plan applies now: new allowances now, the prorated difference charged now.</summary>
    Immediate,

    /// <summary>The new plan applies at the next renewal.</summary>
    NextCycle,
}
