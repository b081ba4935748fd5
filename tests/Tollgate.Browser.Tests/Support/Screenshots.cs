using Microsoft.Playwright;

namespace Tollgate.Browser.Tests.Support;

/// <summary>Full-page screenshots of a page at desktop (1280×800) and phone (390×844) widths, written to
/// <c>artifacts/screenshots/</c> at the repository root as test artifacts.</summary>
public static class Screenshots
{
    public static readonly string Folder = Path.Combine(RepositoryRoot(), "artifacts", "screenshots");

    public static async Task TakeAsync(IPage page, string name)
    {
        Directory.CreateDirectory(Folder);
        var original = page.ViewportSize;
        foreach (var (suffix, width, height) in new[] { ("desktop", 1280, 800), ("phone", 390, 844) })
        {
            await page.SetViewportSizeAsync(width, height);
            await page.ScreenshotAsync(new PageScreenshotOptions
            {
                Path = Path.Combine(Folder, $"{name}-{suffix}.png"),
                FullPage = true,
                Animations = ScreenshotAnimations.Disabled,
            });
        }

        if (original is not null)
        {
            await page.SetViewportSizeAsync(original.Width, original.Height);
        }
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Tollgate.slnx")))
            {
                return dir.FullName;
            }
        }

        return AppContext.BaseDirectory;
    }
}
