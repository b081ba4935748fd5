using Tollgate.Providers.Stripe;

namespace Tollgate.Providers.Tests.Stripe;

public sealed class StripeFormTests
{
    [Fact]
    public void Encode_KeepsStructuralBracketsLiteral_InInsertionOrder()
    {
        var form = new StripeForm()
            .Add("mode", "subscription")
            .Add("line_items[0][price]", "price_1QPro")
            .Add("line_items[0][quantity]", 1)
            .AddMap("subscription_data[metadata]", [new("tollgate_customer_id", "user_42")]);

        Assert.Equal(
            "mode=subscription&line_items[0][price]=price_1QPro&line_items[0][quantity]=1&subscription_data[metadata][tollgate_customer_id]=user_42",
            form.Encode());
    }

    [Fact]
    public void Encode_PercentEncodesValues()
    {
        var form = new StripeForm()
            .Add("success_url", "https://app.example.com/done?session_id={CHECKOUT_SESSION_ID}&x=1")
            .Add("customer_email", "ada+test@example.com")
            .Add("metadata[note]", "café & crème = 100%");

        Assert.Equal(
            "success_url=https%3A%2F%2Fapp.example.com%2Fdone%3Fsession_id%3D%7BCHECKOUT_SESSION_ID%7D%26x%3D1"
            + "&customer_email=ada%2Btest%40example.com"
            + "&metadata[note]=caf%C3%A9%20%26%20cr%C3%A8me%20%3D%20100%25",
            form.Encode());
    }

    [Fact]
    public void Encode_EscapesBracketsInsideMapKeys_SoAKeyCannotAddNesting()
    {
        var form = new StripeForm().AddMap("metadata", [new("a][b", "v"), new("plain key", "w")]);

        Assert.Equal("metadata[a%5D%5Bb]=v&metadata[plain%20key]=w", form.Encode());
    }

    [Fact]
    public void Encode_SkipsNullValues_AndWritesBooleansLowerCase()
    {
        var form = new StripeForm().Add("cancel_url", (string?)null).Add("cancel_at_period_end", true).Add("x", false);

        Assert.Equal("cancel_at_period_end=true&x=false", form.Encode());
    }

    [Fact]
    public void Encode_Empty_IsEmpty()
    {
        Assert.Equal("", new StripeForm().Encode());
    }

    [Fact]
    public void IdempotencyKey_IsDeterministic_AndHashedPastStripesLimit()
    {
        Assert.Equal("tg-checkout-chk_1", StripeClient.IdempotencyKey("checkout", "chk_1"));

        var longSeed = new string('x', 300);
        var key = StripeClient.IdempotencyKey("checkout", longSeed);

        Assert.True(key.Length <= 255);
        Assert.StartsWith("tg-checkout-", key, StringComparison.Ordinal);
        Assert.Equal(key, StripeClient.IdempotencyKey("checkout", longSeed));
        Assert.NotEqual(key, StripeClient.IdempotencyKey("checkout", longSeed + "y"));
    }
}
