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
            var json = Path.Combine(directory, "result.json");
            Engine.ScenarioResult result;
            try
            {
                result = ResultJson.Deserialize(await File.ReadAllTextAsync(json, ct));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Text.Json.JsonException or ArgumentException or NotSupportedException)
            {
                return Program.BadInput($"{directory}: no readable result.json of a scenario run ({e.Message})");
            }
            await RunFolder.WriteAsync(directory, result, ct);
            Console.WriteLine($"report: {Path.Combine(directory, "index.html")}");
            return 0;
        });
        return command;
    }
}
