using System.Globalization;
using System.Net;
using System.Text;
using Spectre.Console;

namespace Dtx.Harness.Bench;

/// <summary>A bench's figures as a table on the console and as a self-contained index.html: ceilings first, then each implementation as ratios to them.</summary>
public static class BenchReport
{
    /// <summary>The rows of the comparison, label and a cell per implementation: one list for the console and the page.</summary>
    private static IEnumerable<(string Label, Func<BenchRun, string> Cell)> Rows(BenchResult result) =>
    [
        .. OpenModelRows,
        // A closed model's latencies are from each send and hide stalls: its rows come after the open model's, apart.
        .. result.Runs.SelectMany(r => r.ClosedModel ?? []).Select(c => c.Clients).Distinct().Order()
            .Select(clients => ($"closed model, {clients} clients: ok/s, producer p50 / p99 (from each send), end-to-end p99",
                (Func<BenchRun, string>)(r => r.ClosedModel?.FirstOrDefault(c => c.Clients == clients)?.Figures is { } f
                    ? $"{F(f.OrdersPerSecond, "0.#")}/s, {F(f.ProducerP50Ms, "0")} / {F(f.ProducerP99Ms, "0")} ms, {F(f.EndToEndP99Ms, "0")} ms" : "—"))),
    ];

    private static readonly (string Label, Func<BenchRun, string> Cell)[] OpenModelRows =
    [
        ("highest sustained orders/s", r => r.Error is null ? F(r.MaxSustainedOrdersPerSecond, "0.#") : "error: " + r.Error),
        ("orders/s ÷ raw-SQL local transactions/s", r => Pct(r.RatioToRawSql)),
        ("orders/s ÷ confirmed publishes/s", r => Pct(r.RatioToPublishConfirmed)),
        ("orders/s ÷ txbroker prepare + commit/s", r => r.RatioToTxBrokerPrepareCommit is { } ratio ? Pct(ratio) : "—"),
        ("held over the longer measurement", r => r.Error is not null ? "—" : (r.NotSustainedWhenMeasured is { } why ? "no: " + why : "yes") + (r.ReachedMaxRate ? " (the --max-rate cap)" : "")),
        ("at that rate: ok/s, producer p99, end-to-end p99", r => r.AtMaxRate is { } m ? $"{F(m.OrdersPerSecond, "0.#")}/s, {F(m.ProducerP99Ms, "0")} ms, {F(m.EndToEndP99Ms, "0")} ms" : "—"),
        ("at half: ok/s, producer p50 / p99", r => r.AtHalfRate is { } h ? $"{F(h.OrdersPerSecond, "0.#")}/s, {F(h.ProducerP50Ms, "0")} / {F(h.ProducerP99Ms, "0")} ms" : "—"),
        ("at half: end-to-end p50 / p99", r => r.AtHalfRate is { } h ? $"{F(h.EndToEndP50Ms, "0")} / {F(h.EndToEndP99Ms, "0")} ms" : "—"),
        ("idle: business-db transactions/s (taken off the cost)", r => r.CostPerOrder is { } c ? F(c.IdleBusinessDbTransactionsPerSecond, "0.#") : "—"),
        ("per order: business-db statements / transactions / rows written", r => r.CostPerOrder is { } c ? $"{F(c.BusinessDbStatements, "0.##")} / {F(c.BusinessDbTransactions, "0.##")} / {F(c.BusinessDbRowsWritten, "0.##")}" : "—"),
        ("per order: txbroker-store statements / transactions / rows written", r => r.CostPerOrder is { BrokerStoreTransactions: not null } c ? $"{F(c.BrokerStoreStatements, "0.##")} / {F(c.BrokerStoreTransactions, "0.##")} / {F(c.BrokerStoreRowsWritten, "0.##")}" : "—"),
        ("per order: messages published / consumed", r => r.CostPerOrder is { } c ? $"{F(c.Messages, "0.##")} / {F(c.MessagesConsumed, "0.##")}" : "—"),
        ("per order: HTTP round trips", r => r.CostPerOrder is { } c ? F(c.HttpRoundTrips, "0.##") : "—"),
        ("CPU s per 1,000 orders (each process)", r => r.CostPerOrder is { } c ? string.Join(", ", c.CpuSecondsPer1000Orders.Select(p => $"{p.Key} {F(p.Value, "0.##")}")) : "—"),
        ("memory MiB (services: peak since start; servers: at the end)", r => r.CostPerOrder is { } c ? string.Join(", ", c.PeakMemoryMiB.Select(p => $"{p.Key} {F(p.Value, "0")}")) : "—"),
    ];

    public static void Print(IAnsiConsole console, BenchResult result)
    {
        console.MarkupLine($"[bold]ceilings[/] ({Markup.Escape(result.Machine)}): raw-SQL local transaction {F(result.Ceilings.RawSqlTransactionsPerSecond, "N0")}/s " +
                           $"(pgbench {F(result.Ceilings.PgbenchTransactionsPerSecond, "N0")}/s), " +
                           $"confirmed publish {F(result.Ceilings.PublishConfirmedPerSecond, "N0")}/s, " +
                           $"txbroker prepare + commit {F(result.Ceilings.TxBrokerPrepareCommitPerSecond, "N0")}/s ({result.Ceilings.Concurrency} at a time)");
        var table = new Table().Title("bench").AddColumn("");
        foreach (var run in result.Runs) table.AddColumn(Markup.Escape(run.Implementation));
        foreach (var (label, cell) in Rows(result)) table.AddRow([Markup.Escape(label), .. result.Runs.Select(r => Markup.Escape(cell(r)))]);
        console.Write(table);
    }

    public static string Html(BenchResult result)
    {
        var html = new StringBuilder();
        html.Append($$"""
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>bench — {{E(result.StartedAt.ToString("u", CultureInfo.InvariantCulture))}}</title>
            <style>
            body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem; color: #222; max-width: 80rem; }
            table { border-collapse: collapse; margin: .5rem 0 1.5rem; }
            th, td { border: 1px solid #ccc; padding: .25rem .6rem; text-align: left; vertical-align: top; }
            th { background: #f3f3f3; }
            .no { background: #fbdada; }
            </style></head><body>
            <h1>bench</h1>
            <p>{{E(result.Machine)}}; started {{E(result.StartedAt.ToString("u", CultureInfo.InvariantCulture))}}, took {{F(result.DurationSeconds, "0")}} s; {{E(result.Settings.Infrastructure)}}, every link direct.
            Replay: <code>{{E(result.Replay)}}</code></p>
            <h2>Ceilings, measured in this run on the same servers</h2>
            <table><tr><th>the initiator's local transaction as raw SQL</th><td>{{F(result.Ceilings.RawSqlTransactionsPerSecond, "N0")}} transactions/s</td></tr>
            <tr><th>the same transaction through pgbench (C, prepared statements)</th><td>{{F(result.Ceilings.PgbenchTransactionsPerSecond, "N0")}} transactions/s</td></tr>
            <tr><th>RabbitMQ publish with confirms</th><td>{{F(result.Ceilings.PublishConfirmedPerSecond, "N0")}} messages/s</td></tr>
            <tr><th>txbroker's store alone: prepare + commit</th><td>{{F(result.Ceilings.TxBrokerPrepareCommitPerSecond, "N0")}} half messages/s</td></tr>
            <tr><th>at a time</th><td>{{result.Ceilings.Concurrency}}, for {{F(result.Ceilings.Seconds, "0")}} s each</td></tr></table>
            <h2>Implementations</h2>
            <table><tr><th></th>
            """);
        foreach (var run in result.Runs) html.Append($"<th>{E(run.Implementation)}</th>");
        html.Append("</tr>\n");
        foreach (var (label, cell) in Rows(result))
        {
            html.Append($"<tr><th>{E(label)}</th>");
            foreach (var run in result.Runs) html.Append($"<td>{E(cell(run))}</td>");
            html.Append("</tr>\n");
        }
        html.Append("</table>\n<h2>The search, step by step</h2>\n");
        foreach (var run in result.Runs)
        {
            html.Append($"<h3>{E(run.Implementation)}</h3>\n<table><tr><th>offered /s</th><th>ok /s</th><th>producer p99</th><th>end-to-end p99</th><th>sustained</th></tr>\n");
            foreach (var step in run.Search)
                html.Append($"<tr{(step.Sustained ? "" : " class=\"no\"")}><td>{F(step.Rate, "0.#")}{(step.Attempt > 1 ? " (again)" : "")}</td><td>{F(step.OkPerSecond, "0.#")}</td><td>{F(step.ProducerP99Ms, "0")} ms</td><td>{F(step.EndToEndP99Ms, "0")} ms</td><td>{E(step.Why)}</td></tr>\n");
            html.Append("</table>\n");
        }
        html.Append("<p>Machine-readable: <a href=\"result.json\">result.json</a>.</p></body></html>\n");
        return html.ToString();
    }

    private static string F(double? value, string format) => value?.ToString(format, CultureInfo.InvariantCulture) ?? "—";

    private static string Pct(double ratio) => (ratio * 100).ToString("0.#", CultureInfo.InvariantCulture) + " %";

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
