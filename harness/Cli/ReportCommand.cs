using System.CommandLine;
using Dtx.Harness.Engine;
using Dtx.Harness.Reporting;
using Spectre.Console;

namespace Dtx.Harness.Cli;

/// <summary>
/// <c>harness report RUN_FOLDER</c>: writes a run's index.html and junit.xml again from its result.json, e.g. after
/// an upgrade of the harness changed the report, or for a run folder copied from a CI artifact. With
/// <c>--against BASELINE_FOLDER</c> it also compares the two runs, figure by figure (<see cref="Comparison"/>): on the
/// console and in comparison.html in the run folder.
/// </summary>
public static class ReportCommand
{
    public static Command Create()
    {
        var folder = new Argument<string>("run-folder") { Description = "a run folder (it holds result.json), e.g. reports/20261202-140344-crash-after-commit" };
        var against = new Option<string?>("--against")
        {
            Description = "another run folder to compare with, e.g. last night's run of the same scenario: each figure side by side with its change",
            HelpName = "baseline-folder",
        };
        var command = new Command("report", "Render a run's index.html and junit.xml again from its result.json; with --against, compare it with another run.") { folder, against };
        command.SetAction(async (parse, ct) =>
        {
            var directory = parse.GetValue(folder)!;
            var baselineDirectory = parse.GetValue(against);
            if (baselineDirectory is { Length: 0 }) return Program.BadInput("--against: no folder given");
            ScenarioResult result;
            ScenarioResult? baseline = null;
            try
            {
                result = await ReadAsync(directory, ct);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // A file from elsewhere (a CI artifact, an older harness) can be anything: whatever fails here is the
                // file's fault or the folder's, and gets one line.
                return Program.BadInput($"{directory}: cannot render its result.json ({e.Message})");
            }
            if (baselineDirectory is not null)
            {
                try
                {
                    baseline = await ReadAsync(baselineDirectory, ct);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    return Program.BadInput($"--against {baselineDirectory}: cannot read its result.json ({e.Message})");
                }
            }
            // Both read before anything is written: a bad baseline leaves the run folder as it was.
            Comparison? comparison = null;
            try
            {
                await RunFolder.WriteReportsAsync(directory, result, ct);
                if (baseline is not null) comparison = Comparison.Of(Name(directory), result, Name(baselineDirectory!), baseline);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                return Program.BadInput($"{directory}: cannot render its result.json ({e.Message})");
            }
            Console.WriteLine($"report: {Path.Combine(directory, "index.html")}");
            if (comparison is not null)
            {
                comparison.Print(AnsiConsole.Console);
                var page = Path.Combine(directory, "comparison.html");
                await File.WriteAllTextAsync(page, comparison.Html(), ct);
                Console.WriteLine($"comparison: {page}");
            }
            return 0;
        });
        return command;
    }

    /// <summary>A run folder's result.json, or an exception saying why it cannot be one.</summary>
    private static async Task<ScenarioResult> ReadAsync(string directory, CancellationToken ct)
    {
        var result = ResultJson.Deserialize(await File.ReadAllTextAsync(Path.Combine(directory, "result.json"), ct));
        // A bench's result.json, or one cut short, lacks what a report shows.
        if (result.Scenario is null || result.Runs is not { Count: > 0 } || result.Settings is null
            || result.Runs.Any(r => r?.Implementation is null || r.Throughput is null || r.Latency is null || r.LatencyAllRequests is null || r.TimeToConsistency is null
                                    || r.Counts is null || r.Drain is null || r.Invariants is null || r.Invariants.Any(i => i?.Name is null || i.Examples is null)
                                    || r.Faults is null || r.Faults.Any(f => f is null)))
            throw new System.Text.Json.JsonException("it has no scenario runs with their figures");
        return result;
    }

    private static string Name(string directory) => Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory)));
}
