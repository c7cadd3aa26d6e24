using Dtx.Harness.Checking;
using Dtx.Harness.Engine;
using Dtx.Harness.Implementations;
using Dtx.Harness.Load;
using Dtx.Harness.Scenarios;
using Dtx.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Dtx.Tests.Scenarios;

/// <summary>
/// A load of every shape in sequence against local-table, on real servers: each phase's figures come out on their
/// own, the open phases send what their schedule says, the closed one's clients never have more than one order in
/// flight each, and its latencies stay out of the run's.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class LoadShapeEndToEndTests(ServersFixture servers, ITestOutputHelper output)
{
    [Fact]
    public async Task Each_phase_sends_as_its_shape_says_and_is_reported_on_its_own()
    {
        var reports = Path.Combine(Path.GetTempPath(), "dtx-shapes-" + Guid.NewGuid().ToString("N")[..8]);
        var scenario = ScenarioFile.Parse("""
            name: shapes
            description: every load shape in sequence
            load:
              phases:
                - { inject: 20, during: 3s }
                - { ramping-inject: 60, during: 3s }
                - { keep-constant: 3, during: 3s }
                - { ramping-constant: 6, during: 3s }
            business: { skus: 8, stockPerSku: 100000 }
            drain: { deadline: 30s }
            """, "shapes.yaml");
        var options = new RunOptions([ImplementationCatalog.Find("local-table")!], Seed: 11, Rate: null, Duration: null,
            reports, servers.Postgres.AdminConnectionString, servers.RabbitMq.AmqpUri, KeepDatabases: false);
        var said = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var runner = new ScenarioRunner(options, line =>
        {
            said.Enqueue(line);
            output.WriteLine(line);
        });

        var result = await runner.RunAsync(scenario, default);
        await Dtx.Harness.Reporting.RunFolder.WriteAsync(runner.RunDirectory!, result, default);
        try
        {
            var run = Assert.Single(result.Runs);
            Assert.True(run.Verdict == Verdict.Pass, string.Join("; ", run.Reasons));
            Assert.Equal("inject 20/s for 3s; then ramping-inject 20 → 60/s for 3s; then keep-constant 3 clients for 3s; then ramping-constant 3 → 6 clients for 3s",
                result.Settings.Load);
            var phases = run.Phases!;
            Assert.Equal(["inject", "ramping-inject", "keep-constant", "ramping-constant"], phases.Select(p => p.Kind));
            Assert.Equal([0.0, 3, 6, 9], phases.Select(p => p.FromSeconds));
            // The open phases send exactly their schedule: 20/s × 3 s, then the area under 20 → 60/s over 3 s.
            Assert.Equal(60, phases[0].Requested);
            Assert.Equal(120, phases[1].Requested);
            Assert.False(phases[0].ClosedModel || phases[1].ClosedModel);
            Assert.True(phases[2].ClosedModel && phases[3].ClosedModel);
            Assert.True(phases[2].Ok > 0 && phases[3].Ok > 0, "the closed phases' clients sent orders and had answers");
            // Every request is in one phase, and the run's latency counts the open phases' requests only.
            Assert.Equal(run.Counts.Requested, phases.Sum(p => p.Requested));
            Assert.Equal(phases.Sum(p => p.Ok), run.Counts.Ok);
            Assert.Equal(Math.Max(phases[0].LatencyAllRequests.MaxMs, phases[1].LatencyAllRequests.MaxMs), run.LatencyAllRequests.MaxMs);
            Assert.Equal(run.Counts.Requested, run.Counts.OrdersCreated + run.Counts.OrdersRejected);
            var history = await File.ReadAllLinesAsync(Path.Combine(runner.RunDirectory!, "logs", "local-table-history.jsonl"));
            Assert.Equal(2 * run.Counts.Requested, history.Length);
            // A closed client sends its next order only when its last one answered: among the requests sent inside a
            // closed phase, never more in flight at once than it has clients (3, then at most 6). An open phase at
            // 20 → 60/s with answers of a few ms would break neither bound; sending without waiting would.
            var requests = Requests(history);
            Assert.InRange(MostInFlight(requests, 6.1, 8.9), 1, 3);
            Assert.InRange(MostInFlight(requests, 9.1, 11.9), 1, 6);
            // Each phase said its figures on the console.
            Assert.Contains(said, line => line.StartsWith("[local-table] phase 3 (keep-constant 3 clients for 3s): ", StringComparison.Ordinal)
                && line.EndsWith("(closed model: from each send, kept out of the run's latency)", StringComparison.Ordinal));
            Assert.Contains(said, line => line.StartsWith("[local-table] load: inject 20/s for 3s; then ramping-inject", StringComparison.Ordinal));
            // And the report has a row per phase, the phases in its heading, and result.json the figures.
            var html = await File.ReadAllTextAsync(Path.Combine(runner.RunDirectory!, "index.html"));
            Assert.Contains("<td>4. ramping-constant 3 → 6 clients for 3s <small>(closed model", html);
            Assert.Contains("load inject 20/s for 3s; then ramping-inject 20 → 60/s for 3s;", html);
            var json = await File.ReadAllTextAsync(Path.Combine(runner.RunDirectory!, "result.json"));
            Assert.Contains("\"closedModel\": true", json);
        }
        finally
        {
            Directory.Delete(reports, recursive: true);
        }
    }

    /// <summary>Each request's invoke and completion times, paired by client and order as the checker pairs them.</summary>
    private static List<(double Invoked, double Completed)> Requests(IEnumerable<string> history)
    {
        var invoked = new Dictionary<(int, string), double>();
        var requests = new List<(double, double)>();
        foreach (var line in history)
        {
            using var op = System.Text.Json.JsonDocument.Parse(line);
            var root = op.RootElement;
            var key = (root.GetProperty("process").GetInt32(), root.GetProperty("orderId").GetString()!);
            var at = root.GetProperty("atSeconds").GetDouble();
            if (root.GetProperty("type").GetString() == "invoke") invoked[key] = at;
            else if (invoked.Remove(key, out var start)) requests.Add((start, at));
        }
        return requests;
    }

    /// <summary>The most requests in flight at once among those sent between <paramref name="from"/> and <paramref name="to"/> seconds.</summary>
    private static int MostInFlight(List<(double Invoked, double Completed)> requests, double from, double to)
    {
        var events = requests.Where(r => r.Invoked >= from && r.Invoked <= to)
            .SelectMany(r => new[] { (At: r.Invoked, Change: 1), (At: r.Completed, Change: -1) })
            .OrderBy(e => e.At).ThenBy(e => e.Change) // an answer and the next send at the same instant: the answer first
            .ToList();
        int now = 0, most = 0;
        foreach (var (_, change) in events) most = Math.Max(most, now += change);
        return most;
    }
}
