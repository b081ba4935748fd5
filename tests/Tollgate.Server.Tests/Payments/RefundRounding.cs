using Microsoft.Extensions.DependencyInjection;
using Tollgate.Core.Payments;
using Tollgate.Providers.Sandbox;
using Tollgate.Server.Tests.Support;
using Tollgate.Storage;

namespace Tollgate.Server.Tests.Payments;

/// <summary>
/// Rule: a partial refund claws back the refunded share of the pack's credits rounded UP, against the customer —
/// money first: a customer who got money back never keeps a fraction of a credit that money paid for. The share is
/// taken of the cumulative refunded total (⌈credits × refunded so far / paid⌉ minus what was already clawed), so
/// several small refunds never claw more than one rounding of their sum. Through the Sandbox's signed refund
/// webhooks, on SQLite and PostgreSQL. (The older partial-refund test divides evenly and could not see the rounding.)
/// </summary>
public abstract class RefundRounding : AppTestBase
{
    private SandboxBilling Sandbox => App.Services.GetRequiredService<SandboxBilling>();

    private IPaymentStore Payments => App.Services.GetRequiredService<IPaymentStore>();

    /// <summary>Buys the starter pack (100 credits for 500) and returns its payment.</summary>
    private async Task<(string Customer, Payment Payment)> BuyStarterPackAsync()
    {
        var c = TollgateApp.NewCustomer();
        await App.BuyInSandboxAsync(c, "starter_pack");
        var payment = (await Payments.ListPaymentsAsync(c, CancellationToken.None)).Single();
        Assert.Equal((500L, 100L), (payment.Amount, payment.Credits));
        return (c, payment);
    }

    private async Task<(long Available, Payment Payment)> RefundAsync(string customer, Payment payment, long amount)
    {
        await Sandbox.RefundAsync(customer, payment.ProviderPaymentId, amount, "USD", full: false, CancellationToken.None);
        var available = (long)(await App.BalanceAsync(customer, "credits"))["available"]!;
        return (available, (await Payments.ListPaymentsAsync(customer, CancellationToken.None)).Single());
    }

    [Fact]
    public async Task Rule_ARefundOf1Of500_ClawsBackOneWholeCredit_TheShareRoundsUpAgainstTheCustomer()
    {
        var (c, payment) = await BuyStarterPackAsync();

        var (available, after) = await RefundAsync(c, payment, 1);

        // 100 × 1/500 = 0.2 credits: rounded up, one credit goes back.
        Assert.Equal(99, available);
        Assert.Equal((PaymentStatus.Completed, 1L, 1L), (after.Status, after.RefundedAmount, after.CreditsClawed));
    }

    [Fact]
    public async Task Rule_PartialRefundsWithRemainders_ClawTheRoundedUpShareOfTheirTotal_NotEachRefundRoundedUp()
    {
        var (c, payment) = await BuyStarterPackAsync();

        var first = await RefundAsync(c, payment, 1);   // total 1 of 500: ⌈0.2⌉ = 1 clawed
        var second = await RefundAsync(c, payment, 1);  // total 2: ⌈0.4⌉ = 1, nothing more
        var third = await RefundAsync(c, payment, 7);   // total 9: ⌈1.8⌉ = 2, one more
        var rest = await RefundAsync(c, payment, 491);  // total 500: all of it

        Assert.Equal([99L, 99L, 98L, 0L], new[] { first.Available, second.Available, third.Available, rest.Available });
        Assert.Equal([1L, 1L, 2L, 100L], new[] { first.Payment.CreditsClawed, second.Payment.CreditsClawed, third.Payment.CreditsClawed, rest.Payment.CreditsClawed });
        Assert.Equal((PaymentStatus.Completed, 9L), (third.Payment.Status, third.Payment.RefundedAmount));
        Assert.Equal((PaymentStatus.Refunded, 500L), (rest.Payment.Status, rest.Payment.RefundedAmount));
    }

    [Fact]
    public async Task Rule_ARefundOfExactlyOneCreditsWorth_ClawsExactlyOne_NoRoundingUpOfAnExactShare()
    {
        var (c, payment) = await BuyStarterPackAsync();

        var (available, after) = await RefundAsync(c, payment, 5); // 100 × 5/500 = 1 exactly

        Assert.Equal((99L, 1L), (available, after.CreditsClawed));
    }

    [Fact]
    public async Task Rule_RefundsThatReachThePaidAmount_AreAFullRefund_AndClawEverything()
    {
        var (c, payment) = await BuyStarterPackAsync();
        await Json.ReadAsync(await App.UseAsync(c, "credits", 30), 200);

        var half = await RefundAsync(c, payment, 250);
        var rest = await RefundAsync(c, payment, 250);

        // Half the money: half the credits (50 of the 70 left). The rest of the money: everything else, spent ones as debt.
        Assert.Equal((20L, 50L, PaymentStatus.Completed), (half.Available, half.Payment.CreditsClawed, half.Payment.Status));
        Assert.Equal((0L, 100L, PaymentStatus.Refunded), (rest.Available, rest.Payment.CreditsClawed, rest.Payment.Status));
        Assert.Equal(30, (long)(await App.BalanceAsync(c, "credits"))["debt"]!);
    }
}

public sealed class SqliteRefundRounding : RefundRounding
{
    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresRefundRounding : RefundRounding
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;
}
