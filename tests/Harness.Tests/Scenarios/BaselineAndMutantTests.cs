using System.Text.RegularExpressions;
using Dtx.Harness.Checking;
using Dtx.Harness.Engine;
using Dtx.Harness.Faults;
using Dtx.Harness.Implementations;
using Dtx.Harness.Load;
using Dtx.Harness.Scenarios;
using Dtx.Shared.Mutants;
using Dtx.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Dtx.Tests.Scenarios;

/// <summary>
/// The checker seen to fail end to end: the naive baseline loses orders a crash interrupts, and a reference with one
/// safeguard switched off is caught by the scenario meant for it — while the same scenarios pass the references.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class BaselineAndMutantTests(ServersFixture servers, ITestOutputHelper output)
{
    [Fact]
    public async Task The_baseline_alone_fails_crash_after_commit_naming_orders_whose_stock_went_and_that_never_arrived()
    {
        var reports = Path.Combine(Path.GetTempPath(), "dtx-dw-" + Guid.NewGuid().ToString("N")[..8]);
        // A bound no run with crashes can meet, every request answered ok: its line in the reasons shows the runner
        // judges the scenario's thresholds.
        var scenario = ShortCrashAfterCommit() with { Thresholds = new Thresholds(MinOkPerSecond: 25) };
        var options = new RunOptions([new DualWriteImplementation()], Seed: 5, Rate: null, Duration: null,
            reports, servers.Postgres.AdminConnectionString, servers.RabbitMq.AmqpUri, KeepDatabases: true);
        var said = new List<string>();
        var runner = new ScenarioRunner(options, line =>
        {
            said.Add(line);
            output.WriteLine(line);
        });

        var result = await runner.RunAsync(scenario, default);

        // Alone, the baseline is judged like any implementation: the scenario's expectation is for a comparison.
        var run = Assert.Single(result.Runs);
        Assert.Equal(Verdict.Fail, run.Verdict);
        Assert.False(result.Passed);
        Assert.Equal(2, run.Faults.Count(f => f.Outcome == FaultOutcome.Injected));
        Assert.Contains(run.Reasons, r => r.StartsWith("threshold crossed: ", StringComparison.Ordinal) && r.EndsWith(" below the 25 ok/s the scenario needs", StringComparison.Ordinal));
        Assert.Equal(25, result.Settings.Thresholds?.MinOkPerSecond);
        var lost = run.Invariants.Single(i => i.Name == Checker.NoLostOrder);
        Assert.False(lost.Ok);
        Assert.NotEmpty(lost.Examples);

        // The examples are real: each order's stock was deducted at the initiator, and the participant never saw it.
        var prefix = said.Select(l => Regex.Match(l, @"databases (dtx_\w+_dual_write)_\*")).First(m => m.Success).Groups[1].Value;
        try
        {
            await using var inventory = Dtx.Shared.Sql.Database.Open(Db(prefix + "_inventory"), "test");
            await using var orders = Dtx.Shared.Sql.Database.Open(Db(prefix + "_orders"), "test");
            foreach (var orderId in lost.Examples)
            {
                await using var deducted = inventory.CreateCommand("SELECT status FROM inventory_orders WHERE order_id = @id");
                deducted.Parameters.AddWithValue("id", orderId);
                Assert.Equal("pending", await deducted.ExecuteScalarAsync());
                await using var arrived = orders.CreateCommand("SELECT count(*) FROM orders WHERE order_id = @id");
                arrived.Parameters.AddWithValue("id", orderId);
                Assert.Equal(0L, await arrived.ExecuteScalarAsync());
            }
        }
        finally
        {
            foreach (var db in new[] { "_inventory", "_orders" }) await servers.Postgres.DropDatabaseAsync(prefix + db);
            var queues = Dtx.Shared.Messaging.QueueNames.For($"dtx.{prefix["dtx_".Length..^"_dual_write".Length]}.dual-write");
            await BrokerQueues.DeleteAsync(servers.RabbitMq.AmqpUri, default, queues.Orders, queues.Replies);
            Directory.Delete(reports, recursive: true);
        }
    }

    [Fact]
    public async Task Beside_a_reference_the_baseline_fails_as_expected_and_the_scenario_passes()
    {
        var reports = Path.Combine(Path.GetTempPath(), "dtx-dw-" + Guid.NewGuid().ToString("N")[..8]);
        var scenario = ShortCrashAfterCommit();
        var options = new RunOptions([new LocalTableImplementation(), new DualWriteImplementation()], Seed: 5, Rate: null, Duration: null,
            reports, servers.Postgres.AdminConnectionString, servers.RabbitMq.AmqpUri, KeepDatabases: false);

        var result = await new ScenarioRunner(options, output.WriteLine).RunAsync(scenario, default);

        Assert.Equal(Verdict.Pass, result.Runs[0].Verdict);
        var baseline = result.Runs[1];
        Assert.Equal(Verdict.FailedAsExpected, baseline.Verdict);
        Assert.Equal([Checker.NoLostOrder], baseline.Expected);
        Assert.Contains(baseline.Reasons, r => r.StartsWith("as expected: no-lost-order violated", StringComparison.Ordinal));
        Assert.True(result.Passed);
        Directory.Delete(reports, recursive: true);
    }

    [Theory]
    // The participant crashes after its commit and before its ack: without the inbox the redelivery applies again.
    [InlineData(MutantCatalog.NoInboxDedupe, "participant.after-commit", Checker.ExactlyOnceEffect)]
    // Out-of-stock orders are committed at txbroker instead of rolled back: the participant creates orders nobody paid for.
    [InlineData(MutantCatalog.RollbackSentAsCommit, null, Checker.NoPhantomOrder)]
    public async Task A_mutant_is_caught_by_the_invariant_its_safeguard_protects(string mutant, string? crashStep, string invariant)
    {
        var reports = Path.Combine(Path.GetTempPath(), "dtx-mut-" + Guid.NewGuid().ToString("N")[..8]);
        var faults = crashStep is null ? "[]" : $"[{{ kind: crash, step: {crashStep}, at: [1s, 3s, 5s] }}]";
        // Little stock: a share of orders gets a definite 409, which is where a rollback happens at all.
        var scenario = ScenarioFile.Parse($$"""
            name: mutant-smoke
            load: { rate: 25, duration: 8s }
            business: { skus: 4, stockPerSku: 60, maxQty: 3 }
            faults: {{faults}}
            """, "mutant-smoke.yaml");
        var implementation = ImplementationCatalog.Find(MutantCatalog.Find(mutant)!.Implementation)!;
        var options = new RunOptions([implementation], Seed: 5, Rate: null, Duration: null,
            reports, servers.Postgres.AdminConnectionString, servers.RabbitMq.AmqpUri, KeepDatabases: false, Mutant: mutant);
        var runner = new ScenarioRunner(options, output.WriteLine);

        var result = await runner.RunAsync(scenario, default);

        var run = Assert.Single(result.Runs);
        Assert.Equal(mutant, run.Mutant);
        Assert.Equal(Verdict.Fail, run.Verdict);
        var violated = run.Invariants.Single(i => i.Name == invariant);
        Assert.False(violated.Ok, $"{invariant} held: {string.Join("; ", run.Reasons)}");
        Assert.NotEmpty(violated.Examples);
        // The example's trace tells the story from the protocol's own tables: the message published by the relay or
        // the half message at txbroker, and for a missing inbox the second application itself.
        var traced = violated.Examples.First(id => run.Traces!.Any(t => t.OrderId == id));
        var trace = Assert.Single(run.Traces!, t => t.OrderId == traced);
        Assert.Contains(trace.Events, e => e.AtSeconds is not null && e.Source is "initiator's relay" or "txbroker");
        if (mutant == MutantCatalog.NoInboxDedupe) Assert.Contains(trace.Events, e => e.What.StartsWith("applied the order again", StringComparison.Ordinal));
        else Assert.Contains(trace.Events, e => e.Source == "txbroker" && e.What.Contains("committed by producer", StringComparison.Ordinal));
        // The services said they ran as the mutant: the evidence the mutants command requires.
        var logs = run.Logs.Where(l => l.EndsWith(".log", StringComparison.Ordinal)).Select(l => File.ReadAllText(Path.Combine(runner.RunDirectory!, l)));
        Assert.Contains(logs, text => text.Contains($"MUTANT {mutant}:", StringComparison.Ordinal));
        Directory.Delete(reports, recursive: true);
    }

    /// <summary>crash-after-commit in ten seconds: two crashes, far enough apart for the load to make progress between them.</summary>
    private static Scenario ShortCrashAfterCommit()
    {
        var scenario = ScenarioCatalog.Find("crash-after-commit");
        return scenario with
        {
            Load = scenario.Load with { Phases = [new LoadPhase.Inject(25, TimeSpan.FromSeconds(10))] },
            Faults = [scenario.Faults[0] with { At = [TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(6)] }],
        };
    }

    private string Db(string name) =>
        new Npgsql.NpgsqlConnectionStringBuilder(servers.Postgres.AdminConnectionString) { Database = name }.ConnectionString;
}

/// <summary>The mutant catalogue is complete: every mutant has scenarios meant to catch it, and they can.</summary>
public sealed class MutantCatalogueTests
{
    [Fact]
    public void Every_mutant_has_a_catalogue_scenario_whose_faults_apply_to_its_implementation()
    {
        Assert.True(MutantCatalog.All.Count >= 10);
        Assert.Equal(MutantCatalog.All.Count, MutantCatalog.All.Select(m => m.Name).Distinct().Count());
        Assert.Contains(MutantCatalog.All, m => m.Implementation == "local-table");
        Assert.Contains(MutantCatalog.All, m => m.Implementation == "half-message");
        foreach (var mutant in MutantCatalog.All)
        {
            var implementation = ImplementationCatalog.Find(mutant.Implementation);
            Assert.NotNull(implementation);
            var plan = MutantRunner.Plans.GetValueOrDefault(mutant.Name);
            Assert.True(plan is { Scenarios.Count: > 0, Invariants.Count: > 0 }, $"{mutant.Name} has no scenario meant to catch it");
            Assert.All(plan!.Invariants, i => Assert.Contains(i, Checker.InvariantNames));
            foreach (var name in plan.Scenarios)
            {
                var scenario = ScenarioCatalog.Find(name);
                Assert.True(scenario.Faults.Count == 0 || scenario.FaultsFor(42).Any(f => Nemesis.WhyNotApplicable(f, implementation!, true, true, proxied: true) is null),
                    $"{name} has no fault that applies to {mutant.Implementation}");
            }
        }
        Assert.All(MutantRunner.Plans.Keys, name => Assert.NotNull(MutantCatalog.Find(name)));
    }

    [Fact]
    public void Every_mutant_is_honoured_by_a_process_of_its_implementation_and_no_other()
    {
        // A mutant no process lists would never log MUTANT, and the mutants command would call every run of it untested.
        foreach (var implementation in ImplementationCatalog.All)
        {
            var honoured = implementation.Services
                .SelectMany(service => ImplementationCatalog.Role(implementation.Name, service)!.Mutants)
                .ToHashSet();
            Assert.Equal(MutantCatalog.Of(implementation.Name).Select(m => m.Name).Order(), honoured.Order());
        }
    }
}
