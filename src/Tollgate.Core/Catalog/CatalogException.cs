namespace Tollgate.Core.Catalog;

/// <summary>A catalog that cannot be used, with where and what: <c>catalog.yaml: plans.pro.features.video_jobs: limit
/// must be a whole number ≥ 0 (line 31)</c>.</summary>
public sealed class CatalogException(string file, string path, string problem, int? line = null)
    : Exception($"{file}: {(path.Length == 0 ? "" : path + ": ")}{problem}{(line is { } l ? $" (line {l})" : "")}")
{
    public string File { get; } = file;

    public string Path { get; } = path;

    public string Problem { get; } = problem;
}
