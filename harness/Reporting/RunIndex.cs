using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Dtx.Harness.Bench;
using Dtx.Harness.Checking;
using Dtx.Harness.Engine;
using Dtx.Harness.Faults;

namespace Dtx.Harness.Reporting;

/// <summary>
/// reports/index.html: every run folder found there, newest first, with its verdicts and headline figures, and a
/// trend chart per scenario across its runs (ok answers per second and time to consistency per implementation, a
/// failed run's point in red), and one for the benches' highest sustained rates: the nightly history at a glance.
/// Self-contained like a run's report: the data in the page, ECharts inlined.
/// </summary>
public static class RunIndex
{
    /// <summary>One row of the list: a scenario run, a bench, or a folder that holds no readable result.</summary>
    private sealed record Entry(string Folder, bool HasPage, DateTimeOffset? StartedAt, ScenarioResult? Scenario, BenchResult? Bench, string? Problem);

    public static string Build(string reports)
    {
        var entries = Directory.GetDirectories(reports).Select(Read)
            // Newest first by the time the run started; folders without one (interrupted runs, folders of runs) last, by name.
            .OrderByDescending(e => e.StartedAt ?? DateTimeOffset.MinValue).ThenByDescending(e => e.Folder, StringComparer.Ordinal)
            .ToList();
        var html = new StringBuilder();
        html.Append($$"""
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>dtx-harness runs</title>
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <style>
            body { font: 14px/1.45 system-ui, sans-serif; margin: 1rem 1.5rem; color: #222; max-width: 90rem; }
            table { border-collapse: collapse; margin: .4rem 0 1rem; } th, td { border: 1px solid #ccc; padding: .2rem .55rem; text-align: left; vertical-align: top; }
            th { background: #f3f3f3; }
            .pass { background: #dff3e4; } .fail, .error { background: #fbdada; } .incomplete, .failed-as-expected, .not-applicable { background: #fff3d6; }
            .trends { display: flex; flex-wrap: wrap; gap: .5rem; } .trend { width: 29rem; height: 15rem; }
            .meta { color: #555; font-size: 12px; }
            </style></head><body><h1>Runs</h1>
            <p class="meta">{{entries.Count}} run folder(s) in this folder, newest first. Trends need two runs of a scenario.</p>
            <div class="trends" id="trends"></div>
            <table id="runs"><tr><th>run</th><th>started</th><th>verdict</th><th>per implementation</th></tr>

            """);
        foreach (var entry in entries) AppendRow(html, entry);
        html.Append("</table>\n");
        AppendTrends(html, entries);
        html.Append("</body></html>\n");
        return html.ToString();
    }

    private static Entry Read(string folder)
    {
        var name = Path.GetFileName(folder);
        var file = Path.Combine(folder, "result.json");
        var hasPage = File.Exists(Path.Combine(folder, "index.html"));
        // A folder of runs (scripts/repeat.sh writes one) has its own list and no result of its own.
        if (!File.Exists(file))
            return new Entry(name, hasPage, null, null, null, hasPage ? null : "no result.json (an interrupted run?)");
        try
        {
            var json = File.ReadAllText(file);
            using var document = JsonDocument.Parse(json);
            if (document.RootElement.TryGetProperty("kind", out var kind) && kind.ValueKind == JsonValueKind.String && kind.GetString() == "bench")
            {
                var bench = JsonSerializer.Deserialize<BenchResult>(json, ResultJson.Options) ?? throw new JsonException("empty");
                return bench.Runs is null || bench.Runs.Any(r => r is null)
                    ? new Entry(name, hasPage, bench.StartedAt == default ? null : bench.StartedAt, null, null, "result.json lacks the bench's runs")
                    : new Entry(name, hasPage, bench.StartedAt, null, bench, null);
            }
            var scenario = ResultJson.Deserialize(json);
            // A result.json cut short or written by hand may lack what a row shows: one such folder must not cost the list.
            if (scenario.Runs is null || scenario.Settings is null || scenario.Runs.Any(r => r?.Throughput is null || r.Latency is null || r.TimeToConsistency is null))
                return new Entry(name, hasPage, scenario.StartedAt == default ? null : scenario.StartedAt, null, null, "result.json lacks the runs' figures");
            return new Entry(name, hasPage, scenario.StartedAt, scenario, null, null);
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException or NotSupportedException)
        {
            return new Entry(name, hasPage, null, null, null, "unreadable result.json: " + e.Message);
        }
    }

    private static void AppendRow(StringBuilder html, Entry entry)
    {
        var (verdict, detail) = entry switch
        {
            { Scenario: { } s } => (s.Passed ? "pass" : "fail", string.Join("<br>", s.Runs.Select(Headline))),
            { Bench: { } b } => (b.Runs.Any(r => r.Error is not null) ? "fail" : "pass", "bench: " + string.Join(", ", b.Runs.Select(r =>
                $"{E(r.Implementation)} {(r.Error is null ? F(r.MaxSustainedOrdersPerSecond, "0.#") + " orders/s" : "error")}"))),
            { Problem: { } problem } => ("incomplete", E(problem)),
            _ => ("", "a folder of runs"),
        };
        var started = entry.StartedAt is { } at ? at.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) : "";
        var link = entry.HasPage
            ? $"<a href=\"{E(Uri.EscapeDataString(entry.Folder))}/index.html\">{E(entry.Folder)}</a>"
            : E(entry.Folder);
        html.Append($"<tr class=\"{verdict}\"><td>{link}</td><td>{started}</td><td>{verdict}</td><td>{detail}</td></tr>\n");
    }

    private static string Headline(ImplementationRun run)
    {
        var verdict = Words.Of(run.Verdict);
        if (run.Verdict is Verdict.NotApplicable or Verdict.Error) return $"<span class=\"{verdict}\">{E(run.Implementation)}: {E(verdict)}</span>";
        var ttc = run.TimeToConsistency.Orders > 0 ? $", consistent p99 {F(run.TimeToConsistency.P99Ms, "0")} ms" : "";
        return $"<span class=\"{verdict}\">{E(run.Implementation)}: {E(verdict)}</span> — {F(run.Throughput.OkPerSecond, "0.#")} ok/s, p99 {F(run.Latency.P99Ms, "0")} ms{ttc}";
    }

    /// <summary>
    /// A chart per scenario run at least twice, oldest to newest; and one for the benches. Each point is a run; a run
    /// whose verdict was not a pass for that implementation is drawn in red, so a regression shows where it began.
    /// </summary>
    private static void AppendTrends(StringBuilder html, List<Entry> entries)
    {
        // A trend compares like with like: the same scenario at the same rate, length and phases, and no mutant's run
        // (it exists to fail, and would read as a regression).
        var scenarios = entries.Where(e => e.Scenario is not null)
            .GroupBy(e => (e.Scenario!.Scenario, e.Scenario.Settings.Rate, e.Scenario.Settings.LoadSeconds, e.Scenario.Settings.Phases))
            .Where(g => g.Count(e => e.Scenario!.Runs.Any(r => r.Mutant is null && r.Verdict is not (Verdict.NotApplicable or Verdict.Error))) >= 2)
            .OrderBy(g => g.Key.Scenario, StringComparer.Ordinal)
            .Select(g => new
            {
                title = g.Key.Phases is { } phases ? $"{g.Key.Scenario} · {phases}" : $"{g.Key.Scenario} · {F(g.Key.Rate, "0.#")}/s × {F(g.Key.LoadSeconds, "0.#")} s",
                series = g.SelectMany(e => e.Scenario!.Runs.Where(r => r.Mutant is null && r.Verdict is not (Verdict.NotApplicable or Verdict.Error))
                        .Select(r => (Run: r, At: e.StartedAt!.Value)))
                    .GroupBy(x => x.Run.Implementation)
                    .Select(impl => new
                    {
                        name = impl.Key,
                        points = impl.OrderBy(x => x.At).Select(x => new
                        {
                            at = x.At.ToUnixTimeMilliseconds(),
                            okPerSecond = x.Run.Throughput.OkPerSecond,
                            consistencyP99Ms = x.Run.TimeToConsistency.Orders > 0 ? x.Run.TimeToConsistency.P99Ms : (double?)null,
                            failed = x.Run.Verdict is not (Verdict.Pass or Verdict.FailedAsExpected),
                        }),
                    }),
            }).ToList();
        var benches = entries.Where(e => e.Bench is not null).OrderBy(e => e.StartedAt).ToList();
        var bench = benches.Count < 2 ? null : benches.SelectMany(e => e.Bench!.Runs.Where(r => r.Error is null).Select(r => (Run: r, At: e.StartedAt!.Value)))
            .GroupBy(x => x.Run.Implementation)
            .Select(impl => new { name = impl.Key, points = impl.Select(x => new { at = x.At.ToUnixTimeMilliseconds(), ordersPerSecond = x.Run.MaxSustainedOrdersPerSecond }) })
            .ToList();
        html.Append($"<script type=\"application/json\" id=\"trend-data\">{JsonSerializer.Serialize(new { scenarios, bench }, ResultJson.OneLine)}</script>\n");
        html.Append(HtmlReport.EChartsScript);
        html.Append("""
            <script>
            (function () {
              const data = JSON.parse(document.getElementById('trend-data').textContent);
              const box = document.getElementById('trends');
              let drawn = 0;
              const chart = (title, yAxis, series) => {
                const div = document.createElement('div');
                div.className = 'trend';
                box.appendChild(div);
                echarts.init(div, null, { renderer: 'canvas' }).setOption({
                  animation: false, tooltip: { trigger: 'axis' },
                  title: { text: title, textStyle: { fontSize: 13 } },
                  legend: { top: 22, type: 'scroll' },
                  grid: { left: 50, right: 55, top: 60, bottom: 30 },
                  xAxis: { type: 'time' }, yAxis, series,
                });
                drawn++;
              };
              const red = { color: '#d62728' };
              for (const s of data.scenarios) {
                chart(s.title, [{ type: 'value', name: 'ok/s' }, { type: 'value', name: 'consistent p99 ms', position: 'right' }], s.series.flatMap(impl => [
                  { name: impl.name + ' ok/s', type: 'line', data: impl.points.map(p => ({ value: [p.at, p.okPerSecond], itemStyle: p.failed ? red : undefined })) },
                  { name: impl.name + ' p99 ms', type: 'line', yAxisIndex: 1, lineStyle: { type: 'dashed' },
                    data: impl.points.map(p => ({ value: [p.at, p.consistencyP99Ms], itemStyle: p.failed ? red : undefined })) },
                ]));
              }
              if (data.bench) chart('bench: highest sustained orders/s', { type: 'value' },
                data.bench.map(impl => ({ name: impl.name, type: 'line', data: impl.points.map(p => [p.at, p.ordersPerSecond]) })));
              document.body.dataset.chartsDrawn = String(drawn);
            })();
            </script>
            """);
    }

    private static string F(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
