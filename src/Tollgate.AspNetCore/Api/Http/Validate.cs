using Tollgate.Core.Common;

namespace Tollgate.Server.Api.Http;

/// <summary>Field checks with messages that name the field.</summary>
internal static class Validate
{
    public static ApiResult? CustomerId(string? id, string field = "customer_id") =>
        id is null ? Problems.InvalidRequest($"{field} is required.")
        : CustomerIds.IsValid(id) ? null
        : Problems.InvalidRequest($"{field} must be 1–{CustomerIds.MaxLength} characters of A-Za-z0-9_.:@-.");

    public static ApiResult? Required(object? value, string field) => value is null ? Problems.InvalidRequest($"{field} is required.") : null;

    public static ApiResult? Positive(long? value, string field) =>
        value is null ? Problems.InvalidRequest($"{field} is required.")
        : value <= 0 ? Problems.InvalidRequest($"{field} must be a positive whole number.")
        : null;

    public static ApiResult? Text(string? value, string field, int max, bool required = false) =>
        value is null ? (required ? Problems.InvalidRequest($"{field} is required.") : null)
        : value.Trim().Length == 0 || value.Length > max ? Problems.InvalidRequest($"{field} must be 1–{max} characters.")
        : null;

    public static ApiResult? Metadata(Dictionary<string, string>? metadata)
    {
        if (metadata is null)
        {
            return null;
        }

        if (metadata.Count > 50)
        {
            return Problems.InvalidRequest("metadata may hold at most 50 keys.");
        }

        foreach (var (key, value) in metadata)
        {
            if (key.Length is 0 or > 40)
            {
                return Problems.InvalidRequest("metadata keys must be 1–40 characters.");
            }

            if (value is null || value.Length > 500)
            {
                return Problems.InvalidRequest($"metadata.{key} must be a string of at most 500 characters.");
            }
        }

        return null;
    }

    public static ApiResult? First(params ApiResult?[] checks) => checks.FirstOrDefault(c => c is not null);
}
