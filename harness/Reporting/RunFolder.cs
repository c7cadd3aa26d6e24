using System.Net;
using System.Text;
using Dtx.Harness.Engine;

namespace Dtx.Harness.Reporting;

/// <summary>
/// Writes a run's folder — result.json, junit.xml and index.html next to the logs the run already wrote — and
/// rewrites reports/index.html, the list of every run found there with its verdict.
/// </summary>
public static class RunFolder
{
    public static async Task WriteAsync(string directory, ScenarioResult result, CancellationToken ct)
    {
        await File.WriteAllTextAsync(Path.Combine(directory, "result.json"), ResultJson.Serialize(result), ct);
        await WriteReportsAsync(directory, result, ct);
        // The folder above a run folder is a reports folder: its list of runs is written again. (Without the trim, a
        // trailing '/' would make the run folder its own parent, and the list would overwrite the report.)
        if (Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory))) is { } reports)
            await File.WriteAllTextAsync(Path.Combine(reports, "index.html"), BuildIndex(reports), ct);
    }

    /// <summary>junit.xml and index.html from a result: what <c>report</c> writes again, leaving result.json and the folder above alone.</summary>
    public static async Task WriteReportsAsync(string directory, ScenarioResult result, CancellationToken ct)
    {
        await File.WriteAllTextAsync(Path.Combine(directory, "junit.xml"), JUnitReport.Build(result).ToString(), ct);
        await File.WriteAllTextAsync(Path.Combine(directory, "index.html"), HtmlReport.Build(result), ct);
    }

    /// <summary>Newest first; a folder whose result.json is missing or unreadable (an interrupted run) is listed as such.</summary>
    public static string BuildIndex(string reports)
    {
        var rows = new StringBuilder();
        foreach (var run in Directory.GetDirectories(reports).OrderDescending())
        {
            var name = Path.GetFileName(run);
            string verdict, detail;
            try
            {
                var result = ResultJson.Deserialize(File.ReadAllText(Path.Combine(run, "result.json")));
                verdict = result.Passed ? "pass" : "fail";
                detail = string.Join(", ", result.Runs.Select(r => $"{r.Implementation}: {r.Verdict}"));
            }
            catch (Exception e) when (e is IOException or System.Text.Json.JsonException or UnauthorizedAccessException)
            {
                verdict = "incomplete";
                detail = "no readable result.json";
            }
            rows.Append($"<tr class=\"{verdict}\"><td><a href=\"{WebUtility.HtmlEncode(name)}/index.html\">{WebUtility.HtmlEncode(name)}</a></td><td>{verdict}</td><td>{WebUtility.HtmlEncode(detail)}</td></tr>\n");
        }
        return $$"""
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>dtx-harness runs</title>
            <style>
            body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem; color: #222; }
            table { border-collapse: collapse; } th, td { border: 1px solid #ccc; padding: .25rem .6rem; text-align: left; }
            .pass { background: #dff3e4; } .fail { background: #fbdada; } .incomplete { background: #fff3d6; }
            </style></head><body><h1>Runs</h1>
            <table><tr><th>run</th><th>verdict</th><th>implementations</th></tr>
            {{rows}}</table></body></html>
            """;
    }
}
