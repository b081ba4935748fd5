using Tollgate;
using Tollgate.AspNetCore;
using Tollgate.Sample.Web;

var builder = WebApplication.CreateBuilder(args);

// The whole engine in this app: demo catalog, SQLite (tollgate.db), Sandbox payments, unless configuration says otherwise.
builder.Services.AddTollgate(builder.Configuration.GetSection("Tollgate"));
// The sample has no sign-in: the caller names themself with X-User-Id (a real app keeps the default, the user's claim).
builder.Services.AddSingleton<ITollgateCustomerResolver, HeaderCustomerResolver>();

var app = builder.Build();

// Needs the plan feature hd_export (Pro, Team, Lifetime): otherwise 403 not_entitled, naming those plans.
app.MapGet("/export", (HttpContext http) => Results.Ok(new { export = "hd", customer = http.Request.Headers[HeaderCustomerResolver.Header].ToString() }))
    .RequireFeature("hd_export");

// Costs one ai_messages, charged only when the handler succeeds: "fail": true answers 500 and charges nothing.
app.MapPost("/ai/messages", async (HttpContext http, ITollgate tollgate, MessageRequest message) =>
{
    if (message.Fail)
    {
        return Results.Problem("The model failed.", statusCode: 500);
    }

    var customer = http.Request.Headers[HeaderCustomerResolver.Header].ToString();
    var balances = await tollgate.GetBalancesAsync(customer, http.RequestAborted);
    return Results.Ok(new { reply = $"echo: {message.Text}", ai_messages_left_before_this_one = balances.Value?.For("ai_messages")?.Available });
}).ChargeUsage("ai_messages", amount: 1);

// /v1 (secret keys from Tollgate__ApiKeys__0), /webhooks/* and the pages: pricing, checkout, portal, admin.
app.MapTollgate();

app.Run();

/// <summary>The sample's entry point, public so its test can host it (WebApplicationFactory).</summary>
public partial class Program;
