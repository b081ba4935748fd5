namespace Tollgate.Server.Tests.Docs;

/// <summary>The repository the tests were built from: its root and its Markdown files (build output and installed
/// packages left out).</summary>
internal static class RepositoryFiles
{
    private static readonly string[] Skipped = ["node_modules", "bin", "obj", "artifacts", ".git", ".next", "dist", "TestResults"];

    public static string Root { get; } = FindRoot();

    public static IEnumerable<string> Markdown() => Walk(Root).Where(f => f.EndsWith(".md", StringComparison.OrdinalIgnoreCase));

    public static string Read(string relative) => File.ReadAllText(Path.Combine(Root, relative));

    private static IEnumerable<string> Walk(string directory)
    {
        foreach (var file in Directory.EnumerateFiles(directory))
        {
            yield return file;
        }

        foreach (var sub in Directory.EnumerateDirectories(directory))
        {
            if (!Skipped.Contains(Path.GetFileName(sub), StringComparer.Ordinal))
            {
                foreach (var file in Walk(sub))
                {
                    yield return file;
                }
            }
        }
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Tollgate.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No Tollgate.slnx above {AppContext.BaseDirectory}.");
    }
}
