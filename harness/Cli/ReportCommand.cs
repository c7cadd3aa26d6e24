using System.CommandLine;
using Dtx.Harness.Reporting;

namespace Dtx.Harness.Cli;

/// <summary>
/// <c>harness report RUN_FOLDER</c>: writes a run's index.html and junit.xml again from its result.json, e.g. after
/// an upgrade of the harness changed the report, or for a run folder copied from a CI artifact.
/// </summary>
public static class ReportCommand
{
    public static Command Create()
    {
        var folder = new Argument<string>("run-folder") { Description = "a run folder (it holds result.json), e.g. reports/20261202-140344-crash-after-commit" };
        var command = new Command("report", "Render a run's index.html and junit.xml again from its result.json.") { folder };
        command.SetAction(async (parse, ct) =>
        {
            var directory = parse.GetValue(folder)!;
            try
            {
                var result = ResultJson.Deserialize(await File.ReadAllTextAsync(Path.Combine(directory, "result.json"), ct));
                if (result.Runs is null || result.Runs.Any(r => r is null)) throw new System.Text.Json.JsonException("it has no runs");
                await RunFolder.WriteReportsAsync(directory, result, ct);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // A file from elsewhere (a CI artifact, an older harness) can be anything: whatever fails here is the
                // file's fault or the folder's, and gets one line.
                return Program.BadInput($"{directory}: cannot render its result.json ({e.Message})");
            }
            Console.WriteLine($"report: {Path.Combine(directory, "index.html")}");
            return 0;
        });
        return command;
    }
}
