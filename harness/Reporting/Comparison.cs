using System.Globalization;
using System.Net;
using System.Text;
using Dtx.Harness.Checking;
using Dtx.Harness.Engine;
using Dtx.Harness.Faults;
using Spectre.Console;

namespace Dtx.Harness.Reporting;

/// <summary>Which way a figure improves.</summary>
public enum Better { Lower, Higher }

/// <summary>What a figure's change means, beyond the noise.</summary>
public enum Trend { Same, Better, Worse }

/// <summary>
/// One figure of one implementation in the baseline run and in this run; null where a run lacks it. With
/// <paramref name="MissingIsWorse"/>, a figure missing from one of two runs that both ran means that run did worse (a
/// drain that did not converge, no request answered ok); otherwise it means the figure does not apply.
/// </summary>
public sealed record ComparedFigure(string Implementation, string Figure, string Unit, double? Baseline, double? Current, Better Better, bool MissingIsWorse = false)
{
    /// <summary>A change smaller than this share of the baseline is within a run's noise on a shared machine, and is not called better or worse.</summary>
    public const double Noise = 0.10;

    /// <summary>The change as a share of the baseline, or null when either figure is missing or the baseline is zero.</summary>
    public double? Relative => Baseline is { } b && b != 0 && Current is { } c ? (c - b) / Math.Abs(b) : null;

    /// <summary>Worse or better beyond the noise; from or to zero counts as beyond it.</summary>
    public Trend Trend
    {
        get
        {
            if (Baseline is null != Current is null && MissingIsWorse) return Current is null ? Trend.Worse : Trend.Better;
            if (Baseline is not { } b || Current is not { } c || b == c) return Trend.Same;
            if (Relative is { } r && Math.Abs(r) < Noise) return Trend.Same;
            return c > b == (Better == Better.Higher) ? Trend.Better : Trend.Worse;
        }
    }
}

/// <summary>
/// <c>report RUN --against BASELINE_RUN</c>: the same figures of two runs side by side, per implementation, with the
/// change and whether it is better or worse — the question a regression raises first. Runs of different scenarios,
/// seeds or loads can be compared, but the comparison says how they differ before any figure.
/// </summary>
public sealed record Comparison(string CurrentFolder, string BaselineFolder, IReadOnlyList<string> Differences,
    IReadOnlyList<(string Implementation, Verdict? Baseline, Verdict? Current)> Verdicts, IReadOnlyList<ComparedFigure> Figures)
{
    public static Comparison Of(string currentFolder, ScenarioResult current, string baselineFolder, ScenarioResult baseline)
    {
        var differences = new List<string>();
        void Differ<T>(string what, T before, T now)
        {
            if (!EqualityComparer<T>.Default.Equals(before, now)) differences.Add($"{what}: {before} → {now}");
        }
        Differ("scenario", baseline.Scenario, current.Scenario);
        Differ("seed", baseline.Seed, current.Seed);
        Differ("rate", baseline.Settings.Rate, current.Settings.Rate);
        Differ("load seconds", baseline.Settings.LoadSeconds, current.Settings.LoadSeconds);
        Differ("load phases", baseline.Settings.Phases ?? "one constant rate", current.Settings.Phases ?? "one constant rate");
        Differ("infrastructure", baseline.Infrastructure, current.Infrastructure);
        Differ("mutant", MutantOf(baseline), MutantOf(current));

        var implementations = baseline.Runs.Select(r => r.Implementation).Union(current.Runs.Select(r => r.Implementation)).ToList();
        var verdicts = implementations.Select(name => (name, RunOf(baseline, name)?.Verdict, RunOf(current, name)?.Verdict)).ToList();
        var figures = implementations.SelectMany(name => FiguresOf(name, Find(baseline, name), Find(current, name))).ToList();
        return new Comparison(currentFolder, baselineFolder, differences, verdicts, figures);
    }

    private static string MutantOf(ScenarioResult result) => string.Join(", ", result.Runs.Select(r => r.Mutant).OfType<string>().Distinct()) is { Length: > 0 } m ? m : "none";

    private static ImplementationRun? RunOf(ScenarioResult result, string implementation) => result.Runs.FirstOrDefault(r => r.Implementation == implementation);

    // A run that ended in error, or was not run (not applicable), has no figures worth comparing: its zeros would read
    // as a huge improvement in latency and drain.
    private static ImplementationRun? Find(ScenarioResult result, string implementation) =>
        RunOf(result, implementation) is { Error: null, Verdict: not Verdict.NotApplicable } run ? run : null;

    /// <summary>Whether a verdict is one a run may end with (<see cref="ScenarioResult.Passed"/>): a change to or from one is a change of the run's outcome.</summary>
    private static bool Passing(Verdict? verdict) => verdict is null or Verdict.Pass or Verdict.NotApplicable or Verdict.FailedAsExpected;

    /// <summary>The implementations whose run passed in the baseline and does not in this run.</summary>
    public IReadOnlyList<string> VerdictsWorse => Verdicts.Where(v => v.Baseline is not null && Passing(v.Baseline) && !Passing(v.Current)).Select(v => v.Implementation).ToList();

    /// <summary>The figures compared, in the order the console summary shows them.</summary>
    private static IEnumerable<ComparedFigure> FiguresOf(string name, ImplementationRun? before, ImplementationRun? now)
    {
        ComparedFigure F(string figure, string unit, Better better, Func<ImplementationRun, double?> of, bool missingIsWorse = false) =>
            new(name, figure, unit, before is null ? null : of(before), now is null ? null : of(now), better, missingIsWorse && before is not null && now is not null);
        // Percentiles of runs that acknowledged nothing are absent, not zero.
        static double? Measured(double value, ImplementationRun run) => run.Counts.Ok > 0 ? value : null;
        yield return F("ok/s", "/s", Better.Higher, r => r.Throughput.OkPerSecond);
        yield return F("latency p50", "ms", Better.Lower, r => Measured(r.Latency.P50Ms, r), missingIsWorse: true);
        yield return F("latency p99", "ms", Better.Lower, r => Measured(r.Latency.P99Ms, r), missingIsWorse: true);
        yield return F("latency p99.9", "ms", Better.Lower, r => r.Latency.P999Ms > 0 ? r.Latency.P999Ms : null);
        yield return F("every request p99", "ms", Better.Lower, r => r.Counts.Requested > 0 ? r.LatencyAllRequests.P99Ms : null);
        yield return F("time to consistency p50", "ms", Better.Lower, r => r.TimeToConsistency.Orders > 0 ? r.TimeToConsistency.P50Ms : null, missingIsWorse: true);
        yield return F("time to consistency p99", "ms", Better.Lower, r => r.TimeToConsistency.Orders > 0 ? r.TimeToConsistency.P99Ms : null, missingIsWorse: true);
        yield return F("drain", "s", Better.Lower, r => r.Drain.Converged ? r.Drain.Seconds : null, missingIsWorse: true);
        yield return F("indeterminate", "", Better.Lower, r => r.Counts.Indeterminate);
        yield return F("created", "", Better.Higher, r => r.Counts.OrdersCreated);
        yield return F("republished", "", Better.Lower, r => r.Counts.Republished);
        yield return F("check-backs sent", "", Better.Lower, r => r.Counts.CheckBacksSent);
        yield return F("messages per order", "", Better.Lower, r => r.Cost?.MessagesPublished);
        yield return F("HTTP round trips per order", "", Better.Lower, r => r.Cost?.HttpRoundTrips);
        yield return F("rows written per order", "", Better.Lower, r => r.Cost?.RowsWritten);
        yield return F("invariants violated", "", Better.Lower, r => r.Invariants.Count(i => !i.Ok));
    }

    public static string Format(double? value, string unit) => value switch
    {
        null => "—", // not measured: no ok answer, no order consistent, a drain that did not converge, or not this implementation's
        { } v when unit == "ms" => v.ToString("0", CultureInfo.InvariantCulture) + " ms",
        { } v when unit == "s" => v.ToString("0.0", CultureInfo.InvariantCulture) + " s",
        { } v when unit == "/s" => v.ToString("0.#", CultureInfo.InvariantCulture) + "/s",
        { } v => v.ToString("0.##", CultureInfo.InvariantCulture),
    };

    public static string Change(ComparedFigure f) => f.Relative switch
    {
        { } r => (r >= 0 ? "+" : "") + r.ToString("0%", CultureInfo.InvariantCulture),
        null when f.Baseline is { } b && f.Current is { } c => c == b ? "=" : $"{(c > b ? "+" : "")}{c - b:0.##}",
        _ => "",
    };

    private static string Word(Trend trend) => trend == Trend.Same ? "" : Words.Of(trend);

    public void Print(IAnsiConsole console)
    {
        console.MarkupLine($"[bold]{Markup.Escape(CurrentFolder)}[/] against [bold]{Markup.Escape(BaselineFolder)}[/]");
        foreach (var difference in Differences) console.MarkupLine($"[yellow]the runs differ in {Markup.Escape(difference)}[/]");
        foreach (var name in VerdictsWorse) console.MarkupLine($"[red]{Markup.Escape(name)} passed in the baseline and does not now[/]");
        var table = new Table().AddColumns("implementation", "figure", "baseline", "this run", "change", "");
        foreach (var (name, before, now) in Verdicts)
            table.AddRow(Markup.Escape(name), "verdict", Markup.Escape(VerdictWord(before)), Markup.Escape(VerdictWord(now)), "",
                VerdictsWorse.Contains(name) ? "[red]worse[/]" : "");
        foreach (var f in Figures.Where(f => f.Baseline is not null || f.Current is not null))
        {
            var colour = f.Trend switch { Trend.Better => "green", Trend.Worse => "red", _ => "default" };
            table.AddRow(Markup.Escape(f.Implementation), Markup.Escape(f.Figure), Format(f.Baseline, f.Unit), Format(f.Current, f.Unit),
                $"[{colour}]{Markup.Escape(Change(f))}[/]", $"[{colour}]{Word(f.Trend)}[/]");
        }
        console.Write(table);
        console.MarkupLine(Headline);
    }

    /// <summary>The comparison in one line: verdicts that no longer pass first, then the figures beyond the noise.</summary>
    public string Headline =>
        $"{VerdictsWorse.Count} verdict(s) worse; {Figures.Count(f => f.Trend == Trend.Worse)} figure(s) worse and {Figures.Count(f => f.Trend == Trend.Better)} better by {ComparedFigure.Noise:0%} or more";

    private static string VerdictWord(Verdict? verdict) => verdict is { } v ? Words.Of(v) : "—";

    /// <summary>comparison.html: the same table, self-contained; every name from the runs escaped.</summary>
    public string Html()
    {
        static string E(string text) => WebUtility.HtmlEncode(text);
        var html = new StringBuilder();
        html.Append($$"""
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>{{E(CurrentFolder)}} against {{E(BaselineFolder)}}</title>
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <style>
            body { font: 14px/1.45 system-ui, sans-serif; margin: 1rem 1.5rem; color: #222; max-width: 70rem; }
            table { border-collapse: collapse; margin: .4rem 0 1rem; } th, td { border: 1px solid #ccc; padding: .2rem .55rem; text-align: left; }
            th { background: #f3f3f3; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
            .better { background: #dff3e4; } .worse { background: #fbdada; } .differ { background: #fff3d6; padding: .3rem .6rem; }
            </style></head><body>
            <h1>{{E(CurrentFolder)}} against {{E(BaselineFolder)}}</h1>
            <p>A change of less than {{ComparedFigure.Noise:0%}} of the baseline is not called better or worse: runs on a shared machine vary that much. — means not measured: no ok answer, no order consistent, a drain that did not converge, or a figure the implementation does not have.</p>

            """);
        foreach (var difference in Differences) html.Append($"<p class=\"differ\">The runs differ in {E(difference)}.</p>\n");
        html.Append($"<p id=\"headline\">{E(Headline)}</p>\n");
        html.Append("<table id=\"comparison\"><tr><th>implementation</th><th>figure</th><th>baseline</th><th>this run</th><th>change</th></tr>\n");
        foreach (var (name, before, now) in Verdicts)
            html.Append($"<tr{(VerdictsWorse.Contains(name) ? " class=\"worse\"" : "")}><td>{E(name)}</td><td>verdict</td><td>{E(VerdictWord(before))}</td><td>{E(VerdictWord(now))}</td><td></td></tr>\n");
        foreach (var f in Figures.Where(f => f.Baseline is not null || f.Current is not null))
            html.Append($"<tr class=\"{Word(f.Trend)}\"><td>{E(f.Implementation)}</td><td>{E(f.Figure)}</td><td class=\"n\">{E(Format(f.Baseline, f.Unit))}</td>" +
                        $"<td class=\"n\">{E(Format(f.Current, f.Unit))}</td><td class=\"n\">{E(Change(f))} {Word(f.Trend)}</td></tr>\n");
        html.Append("</table>\n</body></html>\n");
        return html.ToString();
    }
}
