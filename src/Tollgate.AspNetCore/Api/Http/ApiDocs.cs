using System.Text.Json.Nodes;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;
using Tollgate.Core.Catalog;
using Tollgate.Core.Common;
using Tollgate.Core.Ledger;
using Tollgate.Core.Payments;
using Tollgate.Core.Subscriptions;
using Tollgate.Core.Usage;

namespace Tollgate.Server.Api.Http;

/// <summary>Endpoint metadata: the problem codes an endpoint may answer with under one status.</summary>
internal sealed record ProblemCodes(int Status, IReadOnlyList<string> Codes);

/// <summary>Endpoint metadata: the call needs an <c>Idempotency-Key</c> header.</summary>
internal sealed class IdempotencyKeyMetadata
{
    public static readonly IdempotencyKeyMetadata Instance = new();
}

/// <summary>
/// Makes <c>/openapi/v1.json</c> say exactly what the API does, so that clients generated from it (the TypeScript
/// client's types are) are right: every refusal with its status and codes, the Idempotency-Key header, the bearer key,
/// which body fields are required, and the closed sets of string values.
/// </summary>
internal static class ApiDocs
{
    private const string ProblemSchema = "Problem";
    private const string ProblemJson = "application/problem+json";

    /// <summary>Declares that the endpoint may refuse with <paramref name="status"/> and one of <paramref name="codes"/>.</summary>
    public static TBuilder Refuses<TBuilder>(this TBuilder builder, int status, params string[] codes)
        where TBuilder : IEndpointConventionBuilder => builder.WithMetadata(new ProblemCodes(status, codes));

    /// <summary>A JSON body (<see cref="RequestBody"/> reads it): what it holds, and the refusals of a body.</summary>
    public static RouteHandlerBuilder JsonBody<TBody>(this RouteHandlerBuilder builder)
        where TBody : notnull =>
        builder.Accepts<TBody>("application/json")
            .Refuses(400, "invalid_request")
            .Refuses(413, "payload_too_large")
            .Refuses(415, "unsupported_media_type");

    /// <summary>An (idem) call of API.md §4: the <see cref="IdempotencyFilter"/> and the header it requires, documented.</summary>
    public static RouteHandlerBuilder Idempotent(this RouteHandlerBuilder builder) =>
        builder.AddEndpointFilter<IdempotencyFilter>()
            .WithMetadata(IdempotencyKeyMetadata.Instance)
            .Refuses(400, "invalid_request")
            // The filter reads the body to compare it with the key's first request, even on calls that take none.
            .Refuses(413, "payload_too_large")
            .Refuses(422, "idempotency_key_reused");

    /// <summary>Fields a request body must carry. The body records are all-nullable so that a missing field is
    /// reported by name (<see cref="Validate"/>); this is the list those checks enforce.</summary>
    private static readonly Dictionary<string, string[]> RequiredBodyFields = new(StringComparer.Ordinal)
    {
        [nameof(CustomerBody)] = [],
        [nameof(CheckBody)] = ["customer_id", "feature"],
        [nameof(UsageBody)] = ["customer_id", "feature", "amount"],
        [nameof(HoldBody)] = ["customer_id", "feature", "amount"],
        [nameof(SettleBody)] = [],
        [nameof(GrantBody)] = ["feature", "amount", "reason"],
        [nameof(AppleTransactionBody)] = ["customer_id", "signed_transaction"],
        [nameof(CheckoutBody)] = ["customer_id", "product"],
        [nameof(EnsureBody)] = ["customer_id", "capability", "product"],
        [nameof(CancelBody)] = [],
        [nameof(ChangeBody)] = ["plan"],
    };

    /// <summary>String fields whose values form a closed set, from the enums they are written from where there is one.</summary>
    private static readonly Dictionary<(string Schema, string Property), string[]> Enums = new()
    {
        // The reasons a check can answer with (the hold and key refusals come only from writes).
        [(nameof(CheckView), "reason")] = [.. new[] { TollgateRefusal.NotEntitled, TollgateRefusal.InsufficientBalance, TollgateRefusal.QuotaExceeded,
            TollgateRefusal.LimitReached, TollgateRefusal.ConcurrencyLimit, TollgateRefusal.Unavailable }.Select(r => r.Code)],
        [(nameof(CheckoutView), "status")] = Names<CheckoutStatus>(),
        [(nameof(HoldView), "status")] = Names<HoldStatus>(),
        [(nameof(BalanceView), "type")] = Names<FeatureType>(),
        [(nameof(LotView), "source")] = Names<LotSource>(),
        [(nameof(EntryView), "type")] = Names<EntryType>(),
        [(nameof(SubscriptionView), "status")] = Names<SubscriptionStatus>(),
        [(nameof(PlanView), "interval")] = Names<BillingInterval>(),
        [(nameof(FeatureSettingView), "reset")] = Names<ResetInterval>(),
        [(nameof(ChangeBody), "policy")] = ["immediate", "next_cycle"],
        [(nameof(AppleTransactionView), "status")] = ["applied", "duplicate", "pending"],
        [(nameof(UsageStats), "bucket")] = ["day", "month"],
    };

    internal static void Configure(OpenApiOptions options)
    {
        options.AddOperationTransformer((operation, context, _) =>
        {
            var metadata = context.Description.ActionDescriptor.EndpointMetadata;
            if (metadata.OfType<IdempotencyKeyMetadata>().Any())
            {
                operation.Parameters ??= [];
                operation.Parameters.Add(new OpenApiParameter
                {
                    Name = IdempotencyFilter.Header,
                    In = ParameterLocation.Header,
                    Required = true,
                    Description = "The same key with the same body replays the first response; with another body: 422 idempotency_key_reused.",
                    Schema = new OpenApiSchema { Type = JsonSchemaType.String, MinLength = 1, MaxLength = IdempotencyFilter.MaxKeyLength },
                });
            }

            foreach (var parameter in operation.Parameters ?? [])
            {
                // Every {id} under /customers is the app's own customer id.
                if (parameter is OpenApiParameter { In: ParameterLocation.Path, Name: "id" } id
                    && context.Description.RelativePath?.StartsWith("v1/customers/", StringComparison.Ordinal) == true)
                {
                    id.Schema = CustomerIdSchema();
                }
            }

            operation.Responses ??= [];
            foreach (var group in metadata.OfType<ProblemCodes>().GroupBy(p => p.Status).OrderBy(g => g.Key))
            {
                var codes = group.SelectMany(p => p.Codes).Distinct().Order(StringComparer.Ordinal).ToList();
                operation.Responses[group.Key.ToString(System.Globalization.CultureInfo.InvariantCulture)] = new OpenApiResponse
                {
                    Description = string.Join(", ", codes),
                    Content = new Dictionary<string, OpenApiMediaType>
                    {
                        [ProblemJson] = new()
                        {
                            Schema = new OpenApiSchema
                            {
                                AllOf =
                                [
                                    new OpenApiSchemaReference(ProblemSchema, context.Document),
                                    new OpenApiSchema
                                    {
                                        Type = JsonSchemaType.Object,
                                        Required = new HashSet<string> { "code" },
                                        Properties = new Dictionary<string, IOpenApiSchema>
                                        {
                                            ["code"] = new OpenApiSchema { Type = JsonSchemaType.String, Enum = [.. codes.Select(c => (JsonNode)c)] },
                                        },
                                    },
                                ],
                            },
                        },
                    },
                };
            }

            return Task.CompletedTask;
        });

        options.AddDocumentTransformer((document, _, _) =>
        {
            document.Info.Title = "Tollgate";
            document.Info.Version = "v1";
            // The address the document was fetched from is the caller's business; generated clients take a base URL.
            document.Servers = [];
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes = new Dictionary<string, IOpenApiSecurityScheme>
            {
                ["bearer"] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.Http,
                    Scheme = "bearer",
                    Description = "A secret key: Tollgate__ApiKeys__0, or the development key printed at start-up.",
                },
            };
            document.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("bearer", document)] = [] }];

            document.Components.Schemas ??= new Dictionary<string, IOpenApiSchema>();
            foreach (var (name, schema) in document.Components.Schemas)
            {
                if (schema is OpenApiSchema concrete)
                {
                    Exact(name, concrete);
                }
            }

            document.Components.Schemas[ProblemSchema] = new OpenApiSchema
            {
                Type = JsonSchemaType.Object,
                Description = "application/problem+json (RFC 9457) with a stable code.",
                Required = new HashSet<string> { "type", "title", "status", "code" },
                Properties = new Dictionary<string, IOpenApiSchema>
                {
                    ["type"] = new OpenApiSchema { Type = JsonSchemaType.String },
                    ["title"] = new OpenApiSchema { Type = JsonSchemaType.String },
                    ["status"] = new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int32" },
                    ["detail"] = new OpenApiSchema { Type = JsonSchemaType.String },
                    ["code"] = new OpenApiSchema { Type = JsonSchemaType.String },
                },
            };
            return Task.CompletedTask;
        });
    }

    /// <summary>
    /// The API writes no nulls (<see cref="ApiJson"/>): a nullable property is one that may be absent, so it is optional
    /// and never null. Request bodies then require what <see cref="RequiredBodyFields"/> lists.
    /// </summary>
    private static void Exact(string name, OpenApiSchema schema)
    {
        if (schema.Properties is null)
        {
            return;
        }

        foreach (var (property, value) in schema.Properties.ToList())
        {
            if (value is OpenApiSchema { Type: { } type } nullable && type.HasFlag(JsonSchemaType.Null))
            {
                nullable.Type = type & ~JsonSchemaType.Null;
                schema.Required?.Remove(property);
            }
            else if (value is OpenApiSchema { OneOf: { Count: 2 } oneOf }
                     && oneOf.FirstOrDefault(s => s is OpenApiSchema { Type: JsonSchemaType.Null }) is { } nullBranch)
            {
                schema.Properties[property] = oneOf.First(s => !ReferenceEquals(s, nullBranch));
                schema.Required?.Remove(property);
            }

            if (property == "customer_id" && RequiredBodyFields.ContainsKey(name))
            {
                schema.Properties[property] = CustomerIdSchema();
            }

            if (Enums.TryGetValue((name, property), out var values) && schema.Properties[property] is OpenApiSchema text)
            {
                text.Enum = [.. values.Select(v => (JsonNode)v)];
            }
        }

        if (RequiredBodyFields.TryGetValue(name, out var required))
        {
            schema.Required = new HashSet<string>(required, StringComparer.Ordinal);
        }
    }

    private static OpenApiSchema CustomerIdSchema() => new()
    {
        Type = JsonSchemaType.String,
        MinLength = 1,
        MaxLength = CustomerIds.MaxLength,
        Pattern = "^[A-Za-z0-9_.:@-]+$",
    };

    private static string[] Names<TEnum>()
        where TEnum : struct, Enum => [.. Enum.GetValues<TEnum>().Select(SnakeCase<TEnum>.Name)];
}
