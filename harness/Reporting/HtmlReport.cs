using System.Globalization;
using System.Net;
using System.Text;
using Dtx.Harness.Engine;

namespace Dtx.Harness.Reporting;

/// <summary>
/// index.html of a run: self-contained (no script, no external file), so it opens offline and can be attached to
/// a CI build as it is. It shows the verdicts, each invariant with its examples, the faults and the counts.
/// </summary>
public static class HtmlReport
{
    public static string Build(ScenarioResult result)
    {
        var html = new StringBuilder();
        html.Append($$"""
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>{{E(result.Scenario)}} — {{(result.Passed ? "pass" : "FAIL")}}</title>
            <style>
            body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem; color: #222; max-width: 70rem; }
            table { border-collapse: collapse; margin: .5rem 0 1.5rem; }
            th, td { border: 1px solid #ccc; padding: .25rem .6rem; text-align: left; vertical-align: top; }
            th { background: #f3f3f3; }
            .pass { background: #dff3e4; } .fail, .error { background: #fbdada; } .not-applicable, .expected, .failed-as-expected { background: #fff3d6; }
            code { font-size: 12px; }
            </style></head><body>
            <h1>{{E(result.Scenario)}}: {{(result.Passed ? "pass" : "FAIL")}}</h1>
            <p>{{E(result.Description)}}</p>
            <p>Started {{result.StartedAt:u}}, took {{result.DurationSeconds:0.0}} s, seed {{result.Seed}}, {{E(result.Infrastructure)}};
            load {{result.Settings.Rate:0.#}}/s for {{result.Settings.LoadSeconds:0.#}} s.</p>
            """);
        foreach (var run in result.Runs) AppendRun(html, run);
        html.Append("<p>Machine-readable: <a href=\"result.json\">result.json</a>, <a href=\"junit.xml\">junit.xml</a>.</p></body></html>\n");
        return html.ToString();
    }

    private static void AppendRun(StringBuilder html, ImplementationRun run)
    {
        html.Append($"<h2 class=\"{Faults.Words.Of(run.Verdict)}\">{E(run.Implementation)}: {E(Faults.Words.Of(run.Verdict))}</h2>\n");
        foreach (var reason in run.Reasons ?? []) html.Append($"<p class=\"reason\">{E(reason)}</p>\n");
        if (run.Error is not null) html.Append($"<p class=\"error\">{E(run.Error)}</p>\n");
        html.Append("<table><tr><th>invariant</th><th>ok</th><th>violations</th><th>examples</th><th>meaning</th></tr>\n");
        foreach (var i in run.Invariants)
        {
            // A violation the scenario expects (its expect) is shown apart from a real one.
            var expected = !i.Ok && run.Expected?.Contains(i.Name) == true;
            html.Append($"<tr class=\"{(i.Ok ? "pass" : expected ? "expected" : "fail")}\"><td>{E(i.Name)}</td><td>{(i.Ok ? "yes" : expected ? "no, as expected" : "NO")}</td><td>{i.Violations}</td><td><code>{E(string.Join(", ", i.Examples))}</code></td><td>{E(i.Description)}</td></tr>\n");
        }
        html.Append("</table>\n");
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
            <table><tr><th>ok/s</th><th>latency p50</th><th>p90</th><th>p99</th><th>max</th><th>time to consistency p50</th><th>p99</th><th>max</th><th>drain</th></tr>
            <tr><td>{run.Throughput.OkPerSecond:0.#}</td><td>{Ms(run.Latency.P50Ms)}</td><td>{Ms(run.Latency.P90Ms)}</td><td>{Ms(run.Latency.P99Ms)}</td><td>{Ms(run.Latency.MaxMs)}</td>
            <td>{Ms(run.TimeToConsistency.P50Ms)}</td><td>{Ms(run.TimeToConsistency.P99Ms)}</td><td>{Ms(run.TimeToConsistency.MaxMs)}</td>
            <td>{(run.Drain.Converged ? "converged" : "NOT converged")} in {run.Drain.Seconds:0.0} s</td></tr></table>
            """);

        html.Append("<table><tr><th>fault</th><th>target</th><th>step</th><th>from (s)</th><th>to (s)</th><th>outcome</th><th>note</th></tr>\n");
        foreach (var f in run.Faults)
            html.Append($"<tr><td>{E(Faults.Words.Of(f.Kind))}</td><td>{E(f.Target)}</td><td>{E(f.Step ?? "")}</td><td>{f.AtSeconds:0.00}</td><td>{(f.EndSeconds is { } end ? end.ToString("0.00", CultureInfo.InvariantCulture) : "—")}</td><td>{E(Faults.Words.Of(f.Outcome))}</td><td>{E(f.Note ?? "")}</td></tr>\n");
        html.Append("</table>\n<p>Logs: ");
        html.Append(string.Join(", ", run.Logs.Select(l => $"<a href=\"{E(l)}\">{E(Path.GetFileName(l))}</a>")));
        html.Append("</p>\n");
    }

    private static string Ms(double ms) => ms.ToString("0.#", CultureInfo.InvariantCulture) + " ms";

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
