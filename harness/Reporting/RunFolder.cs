using Dtx.Harness.Engine;

namespace Dtx.Harness.Reporting;

/// <summary>Writes a run's folder: result.json, junit.xml and index.html next to the logs the run already wrote.</summary>
public static class RunFolder
{
    public static async Task WriteAsync(string directory, ScenarioResult result, CancellationToken ct)
    {
        await File.WriteAllTextAsync(Path.Combine(directory, "result.json"), ResultJson.Serialize(result), ct);
        await File.WriteAllTextAsync(Path.Combine(directory, "junit.xml"), JUnitReport.Build(result).ToString(), ct);
        await File.WriteAllTextAsync(Path.Combine(directory, "index.html"), HtmlReport.Build(result), ct);
    }
}
