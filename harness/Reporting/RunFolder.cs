using Dtx.Harness.Engine;

namespace Dtx.Harness.Reporting;

/// <summary>
/// Writes a run's folder — result.json, junit.xml and index.html next to the logs the run already wrote — and
/// rewrites reports/index.html, the list of every run found there with its verdict and trends.
/// </summary>
public static class RunFolder
{
    public static async Task WriteAsync(string directory, ScenarioResult result, CancellationToken ct)
    {
        await File.WriteAllTextAsync(Path.Combine(directory, "result.json"), ResultJson.Serialize(result), ct);
        await WriteReportsAsync(directory, result, ct);
        await WriteIndexAboveAsync(directory, ct);
    }

    /// <summary>
    /// The folder above a run folder is a reports folder: its list of runs (<see cref="RunIndex"/>) is written again.
    /// (Without the trim, a trailing '/' would make the run folder its own parent, and the list would overwrite the report.)
    /// </summary>
    public static async Task WriteIndexAboveAsync(string directory, CancellationToken ct)
    {
        if (Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory))) is { } reports)
            await File.WriteAllTextAsync(Path.Combine(reports, "index.html"), RunIndex.Build(reports), ct);
    }

    /// <summary>junit.xml and index.html from a result: what <c>report</c> writes again, leaving result.json and the folder above alone.</summary>
    public static async Task WriteReportsAsync(string directory, ScenarioResult result, CancellationToken ct)
    {
        await File.WriteAllTextAsync(Path.Combine(directory, "junit.xml"), JUnitReport.Build(result).ToString(), ct);
        await File.WriteAllTextAsync(Path.Combine(directory, "index.html"), HtmlReport.Build(result), ct);
    }
}
