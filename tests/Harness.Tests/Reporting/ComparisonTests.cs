using Dtx.Harness.Checking;
using Dtx.Harness.Engine;
using Dtx.Harness.Reporting;
using Dtx.Tests.Support;
using Xunit;

namespace Dtx.Tests.Reporting;

/// <summary><c>report RUN --against BASELINE</c>: the figures of two runs side by side, each change called better or worse only beyond the noise.</summary>
public sealed class ComparisonTests
{
    /// <summary>Last night's run, and tonight's: half-message's p99 doubled, local-table's ok/s rose 5 %, and the seed changed.</summary>
    private static (ScenarioResult Before, ScenarioResult Now) TwoNights()
    {
        var before = SampleRuns.Result();
        var now = before with
        {
            Seed = 7,
            Runs = [.. before.Runs.Select(r => r.Implementation switch
            {
                "half-message" => r with { Latency = r.Latency with { P99Ms = 140 }, Verdict = Verdict.Fail },
                "local-table" => r with { Throughput = r.Throughput with { OkPerSecond = 18.4 } },
                _ => r,
            })],
        };
        return (before, now);
    }

    [Fact]
    public void Each_figure_is_side_by_side_and_only_a_change_beyond_the_noise_is_better_or_worse()
    {
        var (before, now) = TwoNights();
        var comparison = Comparison.Of("tonight", now, "last-night", before);

        Assert.Equal(["seed: 42 → 7"], comparison.Differences);
        Assert.Contains(("half-message", (Verdict?)Verdict.Pass, (Verdict?)Verdict.Fail), comparison.Verdicts);
        var p99 = comparison.Figures.Single(f => f.Implementation == "half-message" && f.Figure == "latency p99");
        Assert.Equal((70.0, 140.0, Trend.Worse), (p99.Baseline!.Value, p99.Current!.Value, p99.Trend));
        Assert.Equal("+100%", Comparison.Change(p99));
        // 17.5 → 18.4 ok/s is 5 %: within the noise, not called better.
        Assert.Equal(Trend.Same, comparison.Figures.Single(f => f.Implementation == "local-table" && f.Figure == "ok/s").Trend);
        Assert.Single(comparison.Figures, f => f.Trend != Trend.Same);
        // Only half-message checks back: local-table has no figure for it in either run.
        Assert.Null(comparison.Figures.Single(f => f.Implementation == "local-table" && f.Figure == "check-backs sent").Current);
    }

    [Fact]
    public void Faster_is_better_for_latency_and_more_is_better_for_ok_answers()
    {
        var (before, now) = TwoNights();
        var reversed = Comparison.Of("last-night", before, "tonight", now);
        Assert.Equal(Trend.Better, reversed.Figures.Single(f => f.Implementation == "half-message" && f.Figure == "latency p99").Trend);
        var fewer = before with { Runs = [.. before.Runs.Select(r => r with { Throughput = r.Throughput with { OkPerSecond = 10 } })] };
        Assert.All(Comparison.Of("fewer", fewer, "before", before).Figures.Where(f => f.Figure == "ok/s"), f => Assert.Equal(Trend.Worse, f.Trend));
    }

    [Fact]
    public void A_run_that_ended_in_error_has_no_figures_to_compare()
    {
        var before = SampleRuns.Result();
        var now = before with { Runs = [.. before.Runs.Select(r => r.Implementation == "local-table" ? r with { Verdict = Verdict.Error, Error = "servers gone" } : r)] };
        var comparison = Comparison.Of("now", now, "before", before);
        Assert.All(comparison.Figures.Where(f => f.Implementation == "local-table"), f => Assert.Null(f.Current));
        Assert.All(comparison.Figures.Where(f => f.Implementation == "local-table"), f => Assert.Equal(Trend.Same, f.Trend));
        // Its verdict is still shown, and counted first: a run that stopped passing is the news, whatever the figures.
        Assert.Contains(("local-table", (Verdict?)Verdict.Pass, (Verdict?)Verdict.Error), comparison.Verdicts);
        Assert.Equal(["local-table"], comparison.VerdictsWorse);
        Assert.StartsWith("1 verdict(s) worse; 0 figure(s) worse", comparison.Headline);
    }

    [Fact]
    public void A_drain_that_no_longer_converges_is_worse_and_a_run_not_run_has_no_figures()
    {
        var before = SampleRuns.Result();
        var now = before with
        {
            Runs = [.. before.Runs.Select(r => r.Implementation switch
            {
                "local-table" => r with { Drain = r.Drain with { Converged = false, Seconds = 60 } },
                "half-message" => r with { Verdict = Verdict.NotApplicable },
                _ => r,
            })],
        };
        var comparison = Comparison.Of("now", now, "before", before);
        var drain = comparison.Figures.Single(f => f.Implementation == "local-table" && f.Figure == "drain");
        Assert.Equal((0.2, (double?)null, Trend.Worse), (drain.Baseline!.Value, drain.Current, drain.Trend));
        // Not applicable: it was not run, and its zeros are no improvement.
        Assert.All(comparison.Figures.Where(f => f.Implementation == "half-message"), f => Assert.Equal(Trend.Same, f.Trend));
        Assert.Empty(comparison.VerdictsWorse);
        // Where a figure does not apply (check-backs of local-table), missing is not worse.
        Assert.Equal(Trend.Same, comparison.Figures.Single(f => f.Implementation == "local-table" && f.Figure == "check-backs sent").Trend);
    }

    [Fact]
    public async Task The_report_command_prints_the_comparison_and_writes_it_beside_the_run_with_names_escaped()
    {
        var root = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "dtx-against-" + Guid.NewGuid().ToString("N")[..8])).FullName;
        var (before, now) = TwoNights();
        var tonight = await WriteAsync(root, "tonight", now with { Scenario = "<script>alert(1)</script>" });
        var lastNight = await WriteAsync(root, "last-night", before);

        var outcome = await HarnessCli.RunAsync(TimeSpan.FromSeconds(60), "report", tonight, "--against", lastNight);

        Assert.True(outcome.ExitCode == 0, outcome.Stderr);
        Assert.Contains("the runs differ in scenario: crash-after-commit → <script>alert(1)</script>", outcome.Stdout);
        Assert.Contains("latency p99", outcome.Stdout);
        Assert.Contains("+100%", outcome.Stdout);
        Assert.Contains("1 verdict(s) worse; 1 figure(s) worse and 0 better", outcome.Stdout);
        Assert.Contains("half-message passed in the baseline and does not now", outcome.Stdout);
        var page = await File.ReadAllTextAsync(Path.Combine(tonight, "comparison.html"));
        Assert.DoesNotContain("<script>alert(1)", page);
        Assert.Contains("&lt;script&gt;alert(1)&lt;/script&gt;", page);
        Assert.Contains("<tr class=\"worse\"><td>half-message</td><td>latency p99</td>", page);

        // A baseline that is no run (a missing folder, a result with no runs, one with a hole in its invariants) is one line
        // and exit 2, and the run folder is left as it was.
        var empty = Directory.CreateDirectory(Path.Combine(root, "empty")).FullName;
        await File.WriteAllTextAsync(Path.Combine(empty, "result.json"), """{ "scenario": "x", "settings": {}, "runs": [] }""");
        var holed = await WriteAsync(root, "holed", before);
        await File.WriteAllTextAsync(Path.Combine(holed, "result.json"), (await File.ReadAllTextAsync(Path.Combine(holed, "result.json"))).Replace("\"invariants\": [", "\"invariants\": [null, "));
        File.Delete(Path.Combine(tonight, "comparison.html"));
        foreach (var bad in new[] { Path.Combine(root, "no-such-run"), empty, holed })
        {
            var refused = await HarnessCli.RunAsync(TimeSpan.FromSeconds(60), "report", tonight, "--against", bad);
            Assert.Equal(2, refused.ExitCode);
            Assert.Contains($"--against {bad}: cannot read its result.json", refused.Stderr);
            Assert.Single(refused.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.False(File.Exists(Path.Combine(tonight, "comparison.html")));
        }
        Directory.Delete(root, recursive: true);
    }

    private static async Task<string> WriteAsync(string root, string name, ScenarioResult result)
    {
        var folder = Directory.CreateDirectory(Path.Combine(root, name)).FullName;
        await File.WriteAllTextAsync(Path.Combine(folder, "result.json"), ResultJson.Serialize(result));
        return folder;
    }
}
