namespace Tollgate.Core.Catalog;

/// <summary>A catalog that cannot be used, with where and what: <c>catalog.yaml: plans.pro.features.video_jobs: limit
/// must be a whole number ≥ 0 (line 31)</c>.</summary>
public sealed class CatalogException(string file, string path, string problem, int? line = null)
    : Exception($"{file}: {(path.Length == 0 ? "" : path + ": ")}{problem}{(line is { } l ? $" (line {l})" : "")}")
{
    /// <summary>The catalog file (or <c>demo catalog</c>) the problem is in.</summary>
    public string File { get; } = file;

    /// <summary>Where in the file: a dotted path such as <c>plans.pro.features.api_calls</c>; empty for the file as a whole.</summary>
    public string Path { get; } = path;

    /// <summary>What is wrong, for the operator, without the file and path.</summary>
    public string Problem { get; } = problem;
}
