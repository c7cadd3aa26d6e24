using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Dtx.Harness.Checking;
using Dtx.Harness.Engine;
using Dtx.Harness.Faults;

namespace Dtx.Harness.Reporting;

/// <summary>
/// index.html of a run, one self-contained file (ECharts inlined, the data in the page) that opens offline and can be
/// attached to a CI build as it is. Top to bottom: the verdict, the comparison at a glance (which implementation did
/// better here and at what cost), then per implementation its charts on one shared time axis with the fault windows
/// shaded, its invariants with examples, its counts and its faults.
/// </summary>
public static class HtmlReport
{
    public const string EChartsVersion = "6.1.0";

    private static readonly Lazy<string> ECharts = new(() =>
    {
        using var stream = typeof(HtmlReport).Assembly.GetManifestResourceStream("echarts.min.js")
            ?? throw new InvalidOperationException("echarts.min.js is not embedded in the harness (see harness/Reporting/vendor/README.md)");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });

    /// <summary>ECharts as a script element, for a page that must open offline.</summary>
    internal static string EChartsScript => $"<script>/* Apache ECharts {EChartsVersion}, Apache License 2.0 */\n{ECharts.Value}\n</script>\n";

    public static string Build(ScenarioResult result)
    {
        var html = new StringBuilder();
        var verdict = result.Passed ? "pass" : "FAIL";
        html.Append($$"""
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>{{E(result.Scenario)}} — {{verdict}}</title>
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <style>
            body { font: 14px/1.4 system-ui, sans-serif; margin: 1rem 1.5rem; color: #222; max-width: 78rem; }
            h1 { margin: 0 0 .2rem; font-size: 1.5rem; padding: .3rem .6rem; border-radius: 4px; }
            h2 { margin: 1.6rem 0 .4rem; padding: .2rem .5rem; border-radius: 4px; }
            .lead { margin: .2rem 0 .6rem; color: #444; }
            table { border-collapse: collapse; margin: .4rem 0 1rem; }
            th, td { border: 1px solid #ccc; padding: .2rem .55rem; text-align: left; vertical-align: top; }
            th { background: #f3f3f3; font-weight: 600; }
            td.num { text-align: right; font-variant-numeric: tabular-nums; }
            .best { font-weight: 700; color: #14612f; }
            .pass { background: #dff3e4; } .fail, .error { background: #fbdada; } .not-applicable, .expected, .failed-as-expected { background: #fff3d6; }
            .summary { font-size: 1.05rem; margin: .3rem 0 .6rem; }
            .charts { display: flex; flex-wrap: wrap; gap: .5rem; }
            .chart { width: 48rem; height: 17rem; } .chart.small { width: 28rem; } .chart.third { width: 25.3rem; height: 15rem; }
            .meta { color: #555; font-size: 12px; }
            code { font-size: 12px; }
            table.trace caption { text-align: left; font-weight: 600; } details.traces { margin: .2rem 0 1rem; }
            </style></head><body>
            <h1 class="{{(result.Passed ? "pass" : "fail")}}">{{E(result.Scenario)}}: {{verdict}}</h1>
            <p class="lead">{{E(result.Description)}}</p>
            """);
        AppendGlance(html, result);
        html.Append($"""
            <p class="meta">Started {result.StartedAt:u}, took {result.DurationSeconds:0.0} s, seed {result.Seed}, {E(result.Infrastructure)};
            load {E(LoadText(result.Settings))}{(result.Settings.Thresholds is { } thresholds ? "; thresholds: " + E(thresholds.Describe()) : "")}. Replay: <code>{E(result.Replay)}</code></p>
            """);
        for (var i = 0; i < result.Runs.Count; i++) AppendRun(html, result.Runs[i], i);
        html.Append("<p>Machine-readable: <a href=\"result.json\">result.json</a>, <a href=\"junit.xml\">junit.xml</a>.</p>\n");
        AppendCharts(html, result);
        html.Append("</body></html>\n");
        return html.ToString();
    }

    // ------------------------------------------------------------------ at a glance

    /// <summary>One row per figure, one column per implementation that ran; the better figure of the references in bold.</summary>
    private static void AppendGlance(StringBuilder html, ScenarioResult result)
    {
        var runs = result.Runs.Where(r => r.Verdict is not (Verdict.NotApplicable or Verdict.Error)).ToList();
        if (runs.Count == 0) return;
        var references = runs.Where(r => Implementations.ImplementationCatalog.Find(r.Implementation) is { IsBaseline: false }).ToList();
        if (Summary(references) is { } summary) html.Append($"<p class=\"summary\">{summary}</p>\n");

        html.Append("<table id=\"glance\"><tr><th>at a glance</th>");
        foreach (var run in runs) html.Append($"<th class=\"{Words.Of(run.Verdict)}\">{E(run.Implementation)}: {E(Words.Of(run.Verdict))}</th>");
        html.Append("</tr>\n");
        Row(html, runs, references, "ok answers per second", r => r.Throughput.OkPerSecond, "0.#", higherIsBetter: true);
        // A run with nothing measured has zeros there, which must not read as the best figure.
        Row(html, runs, references, "latency p50 / p99 (ms)", r => r.Counts.Ok > 0 ? r.Latency.P99Ms : null, "0", higherIsBetter: false,
            r => r.Counts.Ok > 0 ? $"{r.Latency.P50Ms:0} / {r.Latency.P99Ms:0}" : "—");
        Row(html, runs, references, "time to consistency p50 / p99 (ms)", r => r.TimeToConsistency.Orders > 0 ? r.TimeToConsistency.P99Ms : null, "0", higherIsBetter: false,
            r => r.TimeToConsistency.Orders > 0 ? $"{r.TimeToConsistency.P50Ms:0} / {r.TimeToConsistency.P99Ms:0}" : "—");
        Row(html, runs, references, "back to pace after the faults (s, slowest)", Recovery, "0.0", higherIsBetter: false, r => Recovery(r) switch
        {
            null => "—",
            double.PositiveInfinity => "never",
            var s => s.Value.ToString("0.0", CultureInfo.InvariantCulture),
        });
        Row(html, runs, references, "orders created / requested", r => r.Counts.Requested == 0 ? 0 : (double)r.Counts.OrdersCreated / r.Counts.Requested, "0.00", higherIsBetter: true,
            r => $"{r.Counts.OrdersCreated} / {r.Counts.Requested}");
        Row(html, runs, references, "indeterminate answers", r => r.Counts.Indeterminate, "0", higherIsBetter: false);
        Row(html, runs, references, "republished / duplicates absorbed", r => r.Counts.Republished + r.Counts.DuplicatesDelivered, "0", higherIsBetter: false,
            r => $"{r.Counts.Republished} / {r.Counts.DuplicatesDelivered}");
        Row(html, runs, references, "check-backs sent", r => r.Counts.CheckBacksSent, "0", higherIsBetter: false);
        Row(html, runs, references, "messages parked", r => r.Counts.ParkedMessages, "0", higherIsBetter: false);
        // The cost of an order in the protocol's own work, retries and redeliveries the faults caused included.
        Row(html, runs, references, "messages per order (published / consumed)", r => r.Cost?.MessagesPublished, "0.00", higherIsBetter: false,
            r => r.Cost is { } c ? $"{c.MessagesPublished:0.00} / {c.MessagesConsumed:0.00}" : "—");
        Row(html, runs, references, "HTTP round trips per order", r => r.Cost?.HttpRoundTrips, "0.00", higherIsBetter: false);
        Row(html, runs, references, "database rows written per order (business + broker store)", r => r.Cost?.RowsWritten, "0.0",
            higherIsBetter: false, r => r.Cost switch
            {
                { BusinessDbRowsWritten: { } b, BrokerStoreRowsWritten: { } s } => $"{b:0.0} + {s:0.0}",
                { BusinessDbRowsWritten: { } b } => $"{b:0.0}",
                _ => "—",
            });
        Row(html, runs, references, "drain (s)", r => r.Drain.Converged ? r.Drain.Seconds : double.MaxValue, "0.0", higherIsBetter: false,
            r => r.Drain.Converged ? r.Drain.Seconds.ToString("0.0", CultureInfo.InvariantCulture) : "not converged");
        html.Append("</table>\n");
    }

    private static void Row(StringBuilder html, List<ImplementationRun> runs, List<ImplementationRun> references, string label,
        Func<ImplementationRun, double?> figure, string format, bool higherIsBetter, Func<ImplementationRun, string>? text = null)
    {
        var values = references.Select(figure).OfType<double>().Distinct().ToList();
        // A best only where the references differ: bold on a tie would claim a difference that is not there.
        double? best = values.Count > 1 ? (higherIsBetter ? values.Max() : values.Min()) : null;
        html.Append($"<tr><th>{E(label)}</th>");
        foreach (var run in runs)
        {
            var shown = text?.Invoke(run) ?? figure(run)?.ToString(format, CultureInfo.InvariantCulture) ?? "—";
            var isBest = best is not null && references.Contains(run) && figure(run) == best;
            html.Append($"<td class=\"num{(isBest ? " best" : "")}\">{E(shown)}</td>");
        }
        html.Append("</tr>\n");
    }

    /// <summary>The sentence a reader wants first: who got back to pace sooner, and who reached consistency sooner.</summary>
    private static string? Summary(List<ImplementationRun> references)
    {
        if (references.Count < 2) return null;
        var parts = new List<string>();
        // Compared as shown (to a tenth of a second): "0.2 s vs 0.2 s" would claim a difference no reader can see.
        var recovered = references.Select(r => (Run: r, Seconds: Recovery(r) switch { { } s when !double.IsPositiveInfinity(s) => Math.Round(s, 1), var never => never }))
            .Where(x => x.Seconds is not null).OrderBy(x => x.Seconds).ToList();
        if (recovered.Count >= 2 && recovered[0].Seconds < recovered[^1].Seconds)
            parts.Add($"<b>{E(recovered[0].Run.Implementation)}</b> got back to pace sooner after the faults ({string.Join(" vs ",
                recovered.Select(x => double.IsPositiveInfinity(x.Seconds!.Value) ? "never" : $"{x.Seconds:0.0} s"))})");
        var consistent = references.Where(r => r.TimeToConsistency.Orders > 0).OrderBy(r => r.TimeToConsistency.P99Ms).ToList();
        if (consistent.Count >= 2 && consistent[0].TimeToConsistency.P99Ms < consistent[^1].TimeToConsistency.P99Ms)
            parts.Add($"<b>{E(consistent[0].Implementation)}</b> reached consistency sooner (p99 {string.Join(" vs ", consistent.Select(r => $"{r.TimeToConsistency.P99Ms:N0} ms"))})");
        var costs = references.Select(r => (Run: r, Extra: r.Counts.Republished + r.Counts.DuplicatesDelivered + (r.Counts.CheckBacksSent ?? 0))).OrderBy(x => x.Extra).ToList();
        parts.Add("at a cost of " + string.Join(", ", costs.Select(x => $"{x.Extra} extra deliveries and check-backs{PerOrder(x.Run.Cost)} for {E(x.Run.Implementation)}")));
        return string.Join("; ", parts) + ".";
    }

    /// <summary>An order's cost in a few words: ", 2.0 messages, 1.0 round trips and 11.0 rows written per order".</summary>
    private static string PerOrder(RunCost? cost) => cost is null ? ""
        : $", {cost.MessagesPublished:0.0} messages, {cost.HttpRoundTrips:0.0} round trips{(cost.RowsWritten is { } rows ? $" and {rows:0.0} rows written" : "")} per order";

    /// <summary>
    /// The slowest return to pace over the run's injected faults that ended: infinity when the pace never came back
    /// after one of them (the worst figure, never left out), null when there is nothing to measure.
    /// </summary>
    private static double? Recovery(ImplementationRun run)
    {
        if (run.Timeline is not { } timeline) return null;
        var each = run.Faults.Where(f => f.Outcome == FaultOutcome.Injected && f.EndSeconds is not null)
            .Select(f => timeline.RecoverySeconds(f.EndSeconds!.Value)).OfType<double>().ToList();
        return each.Count == 0 ? null : each.Max();
    }

    // ------------------------------------------------------------------ per implementation

    /// <summary>What happened to each order a violation names: the client's requests and answers, the rows, the log lines.</summary>
    private static void AppendTraces(StringBuilder html, ImplementationRun run)
    {
        if (run.Traces is not { Count: > 0 } traces) return;
        html.Append($"<details class=\"traces\"><summary>What happened to the {traces.Count} order(s) the violations name</summary>\n");
        foreach (var trace in traces)
        {
            html.Append($"<table class=\"trace\"><caption><code>{E(trace.OrderId)}</code></caption><tr><th>at (s)</th><th>who</th><th>what</th></tr>\n");
            foreach (var e in trace.Events)
                html.Append($"<tr><td>{(e.AtSeconds is { } at ? at.ToString("0.000", System.Globalization.CultureInfo.InvariantCulture) : "")}</td><td>{E(e.Source)}</td><td>{(e.LogLine ? $"<code>{E(e.What)}</code>" : E(e.What))}</td></tr>\n");
            html.Append("</table>\n");
        }
        html.Append("</details>\n");
    }

    private static void AppendRun(StringBuilder html, ImplementationRun run, int index)
    {
        html.Append($"<h2 class=\"{Words.Of(run.Verdict)}\">{E(run.Implementation)}: {E(Words.Of(run.Verdict))}</h2>\n");
        foreach (var reason in run.Reasons ?? []) html.Append($"<p class=\"reason\">{E(reason)}</p>\n");
        if (run.Error is not null) html.Append($"<p class=\"error\">{E(run.Error)}</p>\n");
        if (run.Timeline is { Seconds.Count: > 0 } timeline)
        {
            html.Append($"<div class=\"charts\"><div class=\"chart\" id=\"time-{index}\"></div><div class=\"chart small\" id=\"ttc-{index}\"></div>");
            if (timeline.Samples is { Count: > 0 })
                html.Append($"<div class=\"chart third\" id=\"backlog-{index}\"></div><div class=\"chart third\" id=\"cpu-{index}\"></div><div class=\"chart third\" id=\"memory-{index}\"></div>");
            html.Append("</div>\n");
        }
        html.Append("<table><tr><th>invariant</th><th>ok</th><th>violations</th><th>examples</th><th>meaning</th></tr>\n");
        foreach (var i in run.Invariants)
        {
            // A violation the scenario expects (its expect) is shown apart from a real one.
            var expected = !i.Ok && run.Expected?.Contains(i.Name) == true;
            html.Append($"<tr class=\"{(i.Ok ? "pass" : expected ? "expected" : "fail")}\"><td>{E(i.Name)}</td><td>{(i.Ok ? "yes" : expected ? "no, as expected" : "NO")}</td><td>{i.Violations}</td><td><code>{E(string.Join(", ", i.Examples))}</code></td><td>{E(i.Description)}</td></tr>\n");
        }
        html.Append("</table>\n");
        AppendTraces(html, run);
        if (run.ParkedMessages is { Count: > 0 } parked)
        {
            html.Append("<table><tr><th>parked message</th><th>order</th><th>reason</th><th>attempts</th><th>other messages applied while it was retried</th><th>longest time none was (ms)</th></tr>\n");
            foreach (var p in parked)
                html.Append($"<tr><td><code>{E(p.MessageId ?? "")}</code></td><td><code>{E(p.OrderId ?? "")}</code></td><td>{E(p.Reason)}</td><td>{p.Attempts}</td><td>{p.AppliedWhileRetried}</td><td>{p.LongestStillMs:0}</td></tr>\n");
            html.Append("</table>\n");
        }

        var c = run.Counts;
        if (c.CheckBacksSent is not null)
            html.Append($"<p>Check-backs: {c.CheckBacksSent} sent, {c.CheckBacksAnswered} answered, {c.UnexpectedCheckBacks} unexpected (after resolution); {c.Parked} message(s) parked for attention.</p>\n");
        html.Append($"""
            <table><tr><th>requested</th><th>ok</th><th>failed</th><th>indeterminate</th><th>created</th><th>rejected</th><th>duplicates delivered</th><th>republished</th></tr>
            <tr><td>{c.Requested}</td><td>{c.Ok}</td><td>{c.Failed}</td><td>{c.Indeterminate}</td><td>{c.OrdersCreated}</td><td>{c.OrdersRejected}</td><td>{c.DuplicatesDelivered}</td><td>{c.Republished}</td></tr></table>
            <table><tr><th>latency</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>
            {LatencyRow($"ok answers ({run.Throughput.OkPerSecond:0.#}/s){OpenOnly(run)}", run.Latency)}
            {LatencyRow("every request, failed and indeterminate too" + OpenOnly(run), run.LatencyAllRequests)}
            </table>
            {PhaseTable(run.Phases)}
            <table><tr><th>time to consistency p50</th><th>p99</th><th>max</th><th>drain</th></tr>
            <tr><td>{Ms(run.TimeToConsistency.P50Ms)}</td><td>{Ms(run.TimeToConsistency.P99Ms)}</td><td>{Ms(run.TimeToConsistency.MaxMs)}</td>
            <td>{(run.Drain.Converged ? "converged" : "NOT converged")} in {run.Drain.Seconds:0.0} s</td></tr></table>
            """);

        html.Append("<table><tr><th>fault</th><th>target</th><th>step</th><th>from (s)</th><th>to (s)</th><th>outcome</th><th>note</th></tr>\n");
        foreach (var f in run.Faults)
            html.Append($"<tr><td>{E(Words.Of(f.Kind))}</td><td>{E(f.Target)}</td><td>{E(f.Step ?? "")}</td><td>{f.AtSeconds:0.00}</td><td>{(f.EndSeconds is { } end ? end.ToString("0.00", CultureInfo.InvariantCulture) : "—")}</td><td>{E(Words.Of(f.Outcome))}</td><td>{E(f.Note ?? "")}</td></tr>\n");
        html.Append("</table>\n<p>Logs: ");
        // Only the run folder's own logs are links: a result.json from elsewhere could name any URL.
        html.Append(string.Join(", ", run.Logs.Select(l => IsOwnLog(l) ? $"<a href=\"{E(l)}\">{E(Path.GetFileName(l))}</a>" : E(l))));
        html.Append("</p>\n");
    }

    /// <summary>Said beside a run's latency when its load had closed phases, whose latencies are only in their own rows.</summary>
    private static string OpenOnly(ImplementationRun run) =>
        run.Phases?.Any(p => p.ClosedModel) == true ? "; latency of the open phases only" : "";

    /// <summary>"40/s for 20 s" for a constant rate (and a result.json from before phases), else the phases.</summary>
    private static string LoadText(ScenarioSettings settings) => settings.Phases ?? $"{settings.Rate:0.#}/s for {settings.LoadSeconds:0.#} s";

    /// <summary>The load's phases, each on its own (empty for a load of one open phase). A closed phase's latencies are from each send.</summary>
    private static string PhaseTable(IReadOnlyList<PhaseFigures>? phases)
    {
        if (phases is not { Count: > 0 }) return "";
        var rows = new StringBuilder("<table><tr><th>phase</th><th>from – to (s)</th><th>requested</th><th>ok</th><th>failed</th><th>indeterminate</th><th>ok/s</th><th>latency p50</th><th>p99</th><th>max</th></tr>\n");
        foreach (var p in phases)
            rows.Append($"<tr><td>{p.Index + 1}. {E(p.Shape)}{(p.ClosedModel ? " <small>(closed model: latency from each send, not in the run's)</small>" : "")}</td><td>{p.FromSeconds:0.#} – {p.ToSeconds:0.#}</td>" +
                $"<td>{p.Requested}</td><td>{p.Ok}</td><td>{p.Failed}</td><td>{p.Indeterminate}</td><td class=\"num\">{p.OkPerSecond:0.#}</td><td class=\"num\">{Ms(p.Latency.P50Ms)}</td><td class=\"num\">{Ms(p.Latency.P99Ms)}</td><td class=\"num\">{Ms(p.Latency.MaxMs)}</td></tr>\n");
        return rows.Append("</table>").ToString();
    }

    // p99.9 is "—" in a result.json written before it was recorded, rather than a 0 ms that reads as a measurement.
    private static string LatencyRow(string label, Latency latency) =>
        $"<tr><th>{E(label)}</th><td class=\"num\">{Ms(latency.P50Ms)}</td><td class=\"num\">{Ms(latency.P90Ms)}</td><td class=\"num\">{Ms(latency.P99Ms)}</td><td class=\"num\">{(latency.P999Ms == 0 && latency.MaxMs > 0 ? "—" : Ms(latency.P999Ms))}</td><td class=\"num\">{Ms(latency.MaxMs)}</td></tr>";

    // ------------------------------------------------------------------ charts

    /// <summary>
    /// The charts' data as JSON in a non-executable script element (System.Text.Json escapes '&lt;', so no name or log
    /// line can close it), ECharts inlined, and a few lines that draw every chart. The page sets
    /// <c>data-charts-drawn</c> on its body when done: the browser test waits for it.
    /// </summary>
    private static void AppendCharts(StringBuilder html, ScenarioResult result)
    {
        var runs = result.Runs.Select((run, index) => new
        {
            index,
            name = run.Implementation,
            seconds = run.Timeline?.Seconds ?? [],
            consistency = run.Timeline?.TimeToConsistency ?? [],
            samples = run.Timeline?.Samples ?? [],
            faults = run.Faults.Where(f => f.Outcome == FaultOutcome.Injected).Select(f => new
            {
                label = $"{Words.Of(f.Kind)} {f.Target}" + (f.Step is null ? "" : $" at {f.Step}"),
                from = f.AtSeconds,
                // A crash's window ends at the restart; a fault still open at the end is drawn to the end of the load.
                to = Math.Max(f.EndSeconds ?? result.Settings.LoadSeconds, f.AtSeconds + 0.2),
            }),
        }).Where(r => r.seconds.Count > 0).ToList();
        // One time axis for every chart of the page: the load, the answers that came after it, and the drain's samples.
        var xMax = Math.Ceiling(runs.Select(r => Math.Max(r.seconds.Count, r.samples.Select(s => s.AtSeconds).DefaultIfEmpty(0).Max()))
            .Append(result.Settings.LoadSeconds).Max());
        var data = JsonSerializer.Serialize(new { xMax, runs }, ResultJson.OneLine);
        html.Append($"<script type=\"application/json\" id=\"chart-data\">{data}</script>\n");
        html.Append(EChartsScript);
        html.Append("""
            <script>
            (function () {
              const data = JSON.parse(document.getElementById('chart-data').textContent);
              const shade = f => [{ name: f.label, xAxis: f.from }, { xAxis: f.to }];
              let drawn = 0;
              const draw = (id, option) => {
                const div = document.getElementById(id);
                if (!div) return;
                echarts.init(div, null, { renderer: 'canvas' }).setOption(Object.assign({ animation: false, tooltip: { trigger: 'axis' } }, option));
                drawn++;
              };
              // A chart on the page's time axis, the run's fault windows shaded on its first series.
              const timeChart = (id, run, title, yAxis, series, legendTop) => {
                series[0].markArea = { silent: true, itemStyle: { color: 'rgba(214, 39, 40, 0.13)' }, label: { fontSize: 10 }, data: run.faults.map(shade) };
                draw(id, {
                  title: { text: title, textStyle: { fontSize: 13 } },
                  legend: { top: 22, type: 'scroll' },
                  grid: { left: 50, right: Array.isArray(yAxis) ? 60 : 20, top: legendTop || 60, bottom: 30 },
                  xAxis: { type: 'value', min: 0, max: data.xMax, name: 's' },
                  yAxis, series,
                });
              };
              const line = (name, points, extra) => Object.assign({ name, type: 'line', showSymbol: false, data: points }, extra || {});
              for (const run of data.runs) {
                const at = s => s.second + 0.5;
                timeChart('time-' + run.index, run, run.name + ': answers per second, latency; faults shaded',
                  [{ type: 'value', name: 'answers/s' }, { type: 'log', name: 'ms', position: 'right', min: 1 }],
                  [
                    { name: 'ok', type: 'bar', stack: 'answers', barWidth: '60%', itemStyle: { color: '#3a9d5d' }, data: run.seconds.map(s => [at(s), s.ok]) },
                    { name: 'failed', type: 'bar', stack: 'answers', itemStyle: { color: '#d62728' }, data: run.seconds.map(s => [at(s), s.failed]) },
                    { name: 'indeterminate', type: 'bar', stack: 'answers', itemStyle: { color: '#f0a030' }, data: run.seconds.map(s => [at(s), s.indeterminate]) },
                    line('p50 ms', run.seconds.filter(s => s.p50Ms > 0).map(s => [at(s), s.p50Ms]), { yAxisIndex: 1 }),
                    line('p99 ms', run.seconds.filter(s => s.p99Ms > 0).map(s => [at(s), s.p99Ms]), { yAxisIndex: 1 }),
                  ]);
                draw('ttc-' + run.index, {
                  title: { text: 'time to consistency (orders)', textStyle: { fontSize: 13 } },
                  grid: { left: 50, right: 20, top: 40, bottom: 50 },
                  xAxis: { type: 'category', axisLabel: { rotate: 40, fontSize: 10 },
                           data: run.consistency.map(b => b.upToMs === null ? '> 60 s' : b.upToMs < 1000 ? '≤ ' + b.upToMs + ' ms' : '≤ ' + b.upToMs / 1000 + ' s') },
                  yAxis: { type: 'value' },
                  series: [{ type: 'bar', itemStyle: { color: '#4a78b5' }, data: run.consistency.map(b => b.orders) }],
                });
                if (run.samples.length === 0) continue;
                // A second the sampler could not read (a server down or paused) is a gap, not a zero.
                const backlog = [['pending orders', b => b.pendingOrders], ['queued messages', b => b.queuedMessages],
                                 ['outbox rows', b => b.outboxRows], ['half messages in doubt', b => b.otherInDoubt]]
                  .filter(([, pick], i) => i < 2 || run.samples.some(s => s.backlog && pick(s.backlog) > 0))
                  .map(([name, pick]) => line(name, run.samples.map(s => [s.atSeconds, s.backlog ? pick(s.backlog) : null])));
                timeChart('backlog-' + run.index, run, 'backlog: still in doubt', { type: 'value' }, backlog, 70);
                const names = [...new Set(run.samples.flatMap(s => s.processes.map(p => p.name)))];
                const perProcess = pick => names.map(name => line(name, run.samples.map(s => {
                  const p = s.processes.find(p => p.name === name);
                  return [s.atSeconds, p ? pick(p) : null];
                })));
                timeChart('cpu-' + run.index, run, 'CPU, % of one core', { type: 'value' }, perProcess(p => p.cpuPercent), 70);
                timeChart('memory-' + run.index, run, 'memory, MiB (PSS)', { type: 'value' }, perProcess(p => p.memoryMiB), 70);
              }
              document.body.dataset.chartsDrawn = String(drawn);
            })();
            </script>
            """);
    }

    private static bool IsOwnLog(string path) =>
        path.StartsWith("logs/", StringComparison.Ordinal) && !path.Contains("..", StringComparison.Ordinal) && !path.Contains(':') && !path.Contains('\\');

    private static string Ms(double ms) => ms.ToString("0.#", CultureInfo.InvariantCulture) + " ms";

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
