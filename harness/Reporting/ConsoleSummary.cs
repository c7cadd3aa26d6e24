using Dtx.Harness.Checking;
using Dtx.Harness.Engine;
using Dtx.Harness.Faults;
using Spectre.Console;

namespace Dtx.Harness.Reporting;

/// <summary>The table a user reads first: invariants down, implementations across, then the figures.</summary>
public static class ConsoleSummary
{
    public static void Print(IAnsiConsole console, ScenarioResult result, string runDirectory)
    {
        var table = new Table().Title($"{Markup.Escape(result.Scenario)} (seed {result.Seed})").AddColumn("invariant");
        foreach (var run in result.Runs) table.AddColumn(Markup.Escape(run.Implementation));
        foreach (var name in Checker.InvariantNames)
        {
            table.AddRow([name, .. result.Runs.Select(run => run.Invariants.FirstOrDefault(i => i.Name == name) switch
            {
                null => "[grey]—[/]",
                { Ok: true } => "[green]ok[/]",
                var i => $"[red]{i.Violations} violation(s): {Markup.Escape(string.Join(", ", i.Examples.Take(3)))}[/]",
            })]);
        }
        table.AddEmptyRow();
        Row(table, result, "verdict", r => r.Verdict switch
        {
            Verdict.Pass => "[green]pass[/]",
            Verdict.NotApplicable => "[yellow]not applicable[/]",
            Verdict.FailedAsExpected => "[yellow]failed as expected[/]",
            var other => $"[red]{Words.Of(other)}[/]",
        });
        Row(table, result, "requested / ok / fail / info", r => $"{r.Counts.Requested} / {r.Counts.Ok} / {r.Counts.Failed} / {r.Counts.Indeterminate}");
        Row(table, result, "created / rejected", r => $"{r.Counts.OrdersCreated} / {r.Counts.OrdersRejected}");
        Row(table, result, "duplicates / republished", r => $"{r.Counts.DuplicatesDelivered} / {r.Counts.Republished}");
        if (result.Runs.Any(r => r.Counts.Retried > 0))
            Row(table, result, "re-sent / of those already placed", r => $"{r.Counts.Retried} / {r.Counts.RetriedAlreadyPlaced}");
        if (result.Runs.Any(r => r.Counts.ParkedMessages > 0))
            Row(table, result, "messages parked", r => string.Join(", ", (r.ParkedMessages ?? []).Select(p => $"{p.OrderId ?? p.MessageId} ({p.Reason})")));
        if (result.Runs.Any(r => r.Counts.CheckBacksSent is not null))
            Row(table, result, "check-backs sent / answered / unexpected, parked", r => r.Counts.CheckBacksSent is null
                ? "—"
                : $"{r.Counts.CheckBacksSent} / {r.Counts.CheckBacksAnswered} / {r.Counts.UnexpectedCheckBacks}, {r.Counts.Parked}");
        Row(table, result, "faults injected / planned", r => $"{r.Faults.Count(f => f.Outcome == FaultOutcome.Injected)} / {r.Faults.Count(f => f.Outcome != FaultOutcome.UnexpectedExit)}");
        Row(table, result, "ok/s, latency p50 / p99", r => $"{r.Throughput.OkPerSecond:0.#}/s, {r.Latency.P50Ms:0} / {r.Latency.P99Ms:0} ms");
        Row(table, result, "every request p50 / p99", r => $"{r.LatencyAllRequests.P50Ms:0} / {r.LatencyAllRequests.P99Ms:0} ms");
        Row(table, result, "time to consistency p50 / p99", r => $"{r.TimeToConsistency.P50Ms:0} / {r.TimeToConsistency.P99Ms:0} ms");
        Row(table, result, "drain", r => r.Drain.Converged ? $"{r.Drain.Seconds:0.0} s" : "[red]not converged[/]");
        console.Write(table);
        foreach (var run in result.Runs)
            foreach (var reason in run.Reasons)
                console.MarkupLine($"{(run.Verdict is Verdict.NotApplicable or Verdict.FailedAsExpected ? "[yellow]" : "[red]")}{Markup.Escape(run.Implementation)} {Words.Of(run.Verdict)}: {Markup.Escape(reason)}[/]");
        console.MarkupLine($"report: {Markup.Escape(Path.Combine(runDirectory, "index.html"))}");
    }

    private static void Row(Table table, ScenarioResult result, string label, Func<ImplementationRun, string> cell) =>
        table.AddRow([label, .. result.Runs.Select(r => r.Error is null ? cell(r) : "[red]error[/]")]);
}
