using Dtx.Harness.Faults;
using Dtx.Harness.Checking;
using System.Text.Json;
using Dtx.Harness.Engine;
using Dtx.Harness.Implementations;
using Dtx.Harness.Reporting;
using Dtx.Harness.Scenarios;
using Dtx.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Dtx.Tests.Scenarios;

/// <summary>
/// A short crash-after-commit against both implementations, one after the other as <c>--impl all</c> runs them, on
/// servers the harness did not start (external mode), through to the run folder.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class CrashAfterCommitEndToEndTests(ServersFixture servers, ITestOutputHelper output)
{
    [Fact]
    public async Task Both_implementations_survive_repeated_crashes_after_commit_and_the_run_folder_says_so()
    {
        var reports = Path.Combine(Path.GetTempPath(), "dtx-e2e-" + Guid.NewGuid().ToString("N")[..8]);
        var scenario = ScenarioCatalog.Find("crash-after-commit");
        scenario = scenario with
        {
            Faults = [scenario.Faults[0] with { At = [TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(7)] }],
            DrainDeadline = TimeSpan.FromSeconds(45),
        };
        // Three crashes, each with a second's restart delay and a start-up, leave a 10 s load up for a third of its
        // time: 21.6 % created on a busy CI machine, under the 25 % a pass needs. 14 s keeps the crashes and the margin.
        var options = new RunOptions(ImplementationCatalog.References, Seed: 7, Rate: 25, Duration: TimeSpan.FromSeconds(14),
            reports, servers.Postgres.AdminConnectionString, servers.RabbitMq.AmqpUri, KeepDatabases: false);
        var said = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var runner = new ScenarioRunner(options, line =>
        {
            said.Enqueue(line);
            output.WriteLine(line);
        });

        var result = await runner.RunAsync(scenario, default);
        await RunFolder.WriteAsync(runner.RunDirectory!, result, default);

        Assert.Equal(["local-table", "half-message"], result.Runs.Select(r => r.Implementation));
        // The load said how it went every 5 s: requests, answers and the backlog.
        foreach (var name in result.Runs.Select(r => r.Implementation))
            Assert.Contains(said, line => System.Text.RegularExpressions.Regex.IsMatch(line,
                $@"^\[{name}\] load (5|10)s of 14s: \d+ requested, \d+ ok, \d+ failed, \d+ indeterminate, [\d.]+ ok/s"));
        foreach (var run in result.Runs)
        {
            Assert.True(run.Verdict == Verdict.Pass, run.Implementation + ": " + string.Join("; ", run.Invariants.Where(i => !i.Ok).Select(i => $"{i.Name}: {i.Violations} {string.Join(",", i.Examples)}")) + string.Join("; ", run.Reasons));
            Assert.Equal(8, run.Invariants.Count);
            Assert.True(run.Faults.Count(f => f.Kind == FaultKind.Crash && f.Step == "initiator.after-commit" && f.EndSeconds is not null) >= 3);
            Assert.True(run.Counts.Indeterminate >= 1, "each crash leaves its client without an answer");
            // Crashes 3 s apart, restarts of about 2 s: each successor serves a while before it is killed again.
            var crashes = run.Faults.Where(f => f.Outcome == FaultOutcome.Injected).OrderBy(f => f.AtSeconds).ToList();
            foreach (var (before, next) in crashes.Zip(crashes.Skip(1)))
                Assert.True(next.AtSeconds >= before.EndSeconds!.Value + Nemesis.MinServedBetweenDeaths.TotalSeconds - 0.05,
                    $"{run.Implementation}: killed at {next.AtSeconds:0.00}s, back only at {before.EndSeconds:0.00}s");
            Assert.True(run.Counts.OrdersCreated > 0 && run.Counts.OrdersRejected > 0);
        }
        // Each crash after the local commit leaves a half message only check-back can resolve.
        var halfMessage = result.Runs[1].Counts;
        Assert.True(halfMessage.CheckBacksSent > 0 && halfMessage.CheckBacksAnswered > 0, $"check-backs sent {halfMessage.CheckBacksSent}, answered {halfMessage.CheckBacksAnswered}");
        Assert.Null(result.Runs[0].Counts.CheckBacksSent);

        // The cost per order counts the dead initiators' work too (their counters outlive the SIGKILL): every order
        // decided had its message and its reply published (local-table), and its order request, prepare, commit or
        // check-back, and the reply's prepare and commit served (half-message). Counted in memory, the three killed
        // initiators' work would be lost and these fall to about 1.3 and 4.3. A message counts when its confirm
        // arrives, so a publish whose confirm was on its way when the SIGKILL landed is delivered but never counted:
        // a few per kill (the relay publishes its pass concurrently), 1.98 in a CI run of 225 orders.
        var (localCost, halfCost) = (result.Runs[0].Cost!, result.Runs[1].Cost!);
        Assert.True(localCost.MessagesPublished >= 1.9, $"local-table: {localCost}");
        Assert.True(halfCost.HttpRoundTrips >= 4.99, $"half-message: {halfCost}");
        Assert.True(localCost.BusinessDbRowsWritten > 3 && localCost.BrokerStoreRowsWritten is null && localCost.DatabaseNotMeasured is null, $"local-table: {localCost}");
        Assert.True(halfCost.BusinessDbRowsWritten > 3 && halfCost.BrokerStoreRowsWritten > 1, $"half-message: {halfCost}");
        Assert.True(Directory.GetFiles(Path.Combine(runner.RunDirectory!, "logs", "counters"), "local-table-initiator-*.counters").Length >= 4);

        using var json = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(runner.RunDirectory!, "result.json")));
        var first = json.RootElement.GetProperty("runs")[0];
        Assert.Equal("local-table", first.GetProperty("implementation").GetString());
        Assert.Equal("pass", first.GetProperty("verdict").GetString());
        Assert.True(first.GetProperty("timeToConsistency").GetProperty("p99Ms").GetDouble() > 0);
        Assert.True(File.Exists(Path.Combine(runner.RunDirectory!, "junit.xml")));
        Assert.True(File.Exists(Path.Combine(runner.RunDirectory!, "index.html")));
        Assert.True(File.Exists(Path.Combine(runner.RunDirectory!, "logs", "local-table-initiator.log")));
        Assert.True(File.Exists(Path.Combine(runner.RunDirectory!, "logs", "half-message-txbroker.log")));
        // JSON Lines: every line of the history is one whole object, an invoke or a completion.
        var history = await File.ReadAllLinesAsync(Path.Combine(runner.RunDirectory!, "logs", "local-table-history.jsonl"));
        Assert.True(history.Length > result.Runs[0].Counts.Requested, $"{history.Length} lines for {result.Runs[0].Counts.Requested} requests");
        Assert.All(history, line => Assert.True(JsonDocument.Parse(line).RootElement.TryGetProperty("type", out _), line));
        Assert.True(json.RootElement.GetProperty("runs")[1].GetProperty("counts").GetProperty("checkBacksAnswered").GetInt64() > 0);

        // External mode: the servers are still there and this run's databases are gone.
        await using var admin = Dtx.Shared.Sql.Database.Open(servers.Postgres.AdminConnectionString, "test");
        await using var command = admin.CreateCommand("SELECT count(*) FROM pg_database WHERE datname LIKE 'dtx\\_%'");
        Assert.Equal(0L, await command.ExecuteScalarAsync());
        Directory.Delete(reports, recursive: true);
    }
}
