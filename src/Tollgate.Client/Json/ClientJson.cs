using System.Collections.Frozen;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Tollgate.Client.Json;

// Request bodies, as API.md spells them (snake_case by the context's naming policy; nulls left out).

internal sealed record CheckBody(string CustomerId, string Feature, long Amount);

internal sealed record UsageBody(string CustomerId, string Feature, long Amount);

internal sealed record HoldBody(string CustomerId, string Feature, long Amount, long? TtlSeconds);

internal sealed record SettleBody(long? Amount);

internal sealed record GrantBody(string Feature, long Amount, string Reason, DateTimeOffset? ExpiresAt);

internal sealed record CheckoutBody(string CustomerId, string Product, string? Provider, Uri? SuccessUrl, Uri? CancelUrl,
    IReadOnlyDictionary<string, string>? Metadata);

internal sealed record EnsureBody(string CustomerId, string Capability, string Product, Uri? SuccessUrl);

internal sealed record CustomerBody(string? Email, string? Name, IReadOnlyDictionary<string, string>? Metadata, string? BillingCustomerId);

/// <summary>A PUT that bills the customer on itself again: <c>billing_customer_id</c> sent as null, which the body
/// above leaves out (left out, the server keeps the billing customer as it is).</summary>
internal sealed record LeaveBillingCustomerBody(string? Email, string? Name, IReadOnlyDictionary<string, string>? Metadata)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public string? BillingCustomerId => null;
}

// Answers whose JSON names the public types cannot carry (a member may not be named as its type).

internal sealed record CapabilitiesBody(string CustomerId, IReadOnlyList<string> Capabilities);

internal sealed record BalancesBody(string CustomerId, IReadOnlyList<Balance> Balances);

internal sealed record TrialBody(string Plan);

internal sealed record MembersBody(string CustomerId, IReadOnlyList<Member> Members, string? Next = null);

/// <summary>application/problem+json (RFC 9457) with Tollgate's stable <c>code</c>; every field optional, so that a
/// body that is not one reads as such instead of failing.</summary>
internal sealed record ProblemBody(string? Type = null, string? Title = null, int? Status = null, string? Detail = null, string? Code = null);

/// <summary>
/// Source-generated JSON for every body the client writes and reads (trimming and AOT need no reflection). Answers are
/// read strictly where it matters: a field the public type requires must be present and not null, or the answer is
/// unexpected (fields a newer server adds are ignored).
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    NumberHandling = JsonNumberHandling.Strict,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true,
    Converters =
    [
        typeof(RefusalConverter),
        typeof(SnakeCaseEnumConverter<HoldState>),
        typeof(SnakeCaseEnumConverter<CheckoutState>),
        typeof(SnakeCaseEnumConverter<FeatureKind>),
    ])]
[JsonSerializable(typeof(CheckBody))]
[JsonSerializable(typeof(UsageBody))]
[JsonSerializable(typeof(HoldBody))]
[JsonSerializable(typeof(SettleBody))]
[JsonSerializable(typeof(GrantBody))]
[JsonSerializable(typeof(CheckoutBody))]
[JsonSerializable(typeof(EnsureBody))]
[JsonSerializable(typeof(CustomerBody))]
[JsonSerializable(typeof(LeaveBillingCustomerBody))]
[JsonSerializable(typeof(TrialBody))]
[JsonSerializable(typeof(PlanSubscription))]
[JsonSerializable(typeof(FeatureCheck))]
[JsonSerializable(typeof(UsageRecord))]
[JsonSerializable(typeof(UsageReversal))]
[JsonSerializable(typeof(Hold))]
[JsonSerializable(typeof(HoldSettlement))]
[JsonSerializable(typeof(HoldRelease))]
[JsonSerializable(typeof(Grant))]
[JsonSerializable(typeof(CapabilitiesBody))]
[JsonSerializable(typeof(BalancesBody))]
[JsonSerializable(typeof(MembersBody))]
[JsonSerializable(typeof(CheckoutSession))]
[JsonSerializable(typeof(AccessResult))]
[JsonSerializable(typeof(PortalLink))]
[JsonSerializable(typeof(CustomerAccount))]
[JsonSerializable(typeof(Products))]
[JsonSerializable(typeof(ProblemBody))]
internal sealed partial class ClientJson : JsonSerializerContext;

/// <summary>A refusal code on the wire (a check's <c>reason</c>); codes this version does not know stay as they are.</summary>
internal sealed class RefusalConverter : JsonConverter<TollgateRefusal>
{
    public override TollgateRefusal? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var code = reader.GetString();
        return string.IsNullOrEmpty(code) ? throw new JsonException("A refusal code must be a non-empty string.") : TollgateRefusal.FromCode(code);
    }

    public override void Write(Utf8JsonWriter writer, TollgateRefusal value, JsonSerializerOptions options) => writer.WriteStringValue(value.Code);
}

/// <summary>An enum as the API spells it (<c>snake_case</c>). A value this version does not know reads as the enum's
/// zero member (<c>Unknown</c>): a newer server's new status must not make its answers unreadable.</summary>
internal sealed class SnakeCaseEnumConverter<TEnum> : JsonConverter<TEnum>
    where TEnum : struct, Enum
{
    private static readonly FrozenDictionary<string, TEnum> ByName =
        Enum.GetValues<TEnum>().ToFrozenDictionary(v => JsonNamingPolicy.SnakeCaseLower.ConvertName(v.ToString()), StringComparer.Ordinal);

    private static readonly FrozenDictionary<TEnum, string> ByValue = ByName.ToFrozenDictionary(p => p.Value, p => p.Key);

    public override TEnum Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.String && ByName.TryGetValue(reader.GetString()!, out var value)
            ? value
            : reader.TokenType == JsonTokenType.String ? default : throw new JsonException($"Expected a string for {typeof(TEnum).Name}.");

    public override void Write(Utf8JsonWriter writer, TEnum value, JsonSerializerOptions options) =>
        writer.WriteStringValue(ByValue.TryGetValue(value, out var name) ? name : JsonNamingPolicy.SnakeCaseLower.ConvertName(value.ToString()));
}
