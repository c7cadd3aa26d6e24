using Dtx.Harness.Engine;
using Dtx.Harness.Load;
using Dtx.Harness.Scenarios;
using Xunit;

namespace Dtx.Tests.Scenarios;

public sealed class ScenarioFileTests
{
    [Fact]
    public void Every_shipped_scenario_is_valid()
    {
        Assert.NotEmpty(ScenarioCatalog.Names());
        foreach (var name in ScenarioCatalog.Names()) Assert.Equal(name, ScenarioCatalog.Find(name).Name);
    }

    [Fact]
    public void Every_fault_shape_reads_into_its_own_plan()
    {
        var scenario = ScenarioFile.Parse("""
            name: shapes
            faults:
              - { kind: crash, step: initiator.after-commit, at: [3s], restartAfter: 2s }
              - { kind: delay, step: initiator.before-commit, action: delay(3s)@every(4), at: [1s], duration: 8s }
              - { kind: crash, target: txbroker, at: [2s] }
              - { kind: crash, target: rabbitmq, at: [2s], restartAfter: 3s }
              - { kind: pause, target: participant, at: [2s], duration: 4s }
              - { kind: hang, links: [initiator-postgres], at: [2s], duration: 4s }
            """, "f.yaml");

        Assert.Collection(scenario.Faults,
            f => Assert.Equal(TimeSpan.FromSeconds(2), Assert.IsType<Dtx.Harness.Faults.StepFault>(f).RestartAfter),
            f => Assert.Equal(TimeSpan.FromSeconds(8), Assert.IsType<Dtx.Harness.Faults.StepFault>(f).ArmedFor),
            f => Assert.Equal("txbroker", Assert.IsType<Dtx.Harness.Faults.ServiceCrash>(f).Service),
            f => Assert.Equal(TimeSpan.FromSeconds(3), Assert.IsType<Dtx.Harness.Faults.ServerCrash>(f).Downtime),
            f => Assert.Equal(TimeSpan.FromSeconds(4), Assert.IsType<Dtx.Harness.Faults.ServicePause>(f).Duration),
            f => Assert.Equal(Dtx.Harness.Faults.FaultKind.Hang, Assert.IsType<Dtx.Harness.Faults.LinkFault>(f).Kind));
    }

    [Fact]
    public void A_load_reads_as_phases_in_sequence_and_a_constant_rate_as_one_inject_phase()
    {
        var scenario = ScenarioFile.Parse("""
            name: shapes
            load:
              phases:
                - { inject: 20, during: 5s }
                - { ramping-inject: 60, during: 10s }
                - { keep-constant: 8, during: 5s }
                - { ramping-constant: 2, during: 4s }
              requestTimeout: 3s
            faults:
              - { kind: pause, target: participant, at: [22s], duration: 1s }
            """, "f.yaml");

        Assert.Equal([new LoadPhase.Inject(20, S(5)), new LoadPhase.RampingInject(60, S(10)), new LoadPhase.KeepConstant(8, S(5)), new LoadPhase.RampingConstant(2, S(4))],
            scenario.Load.Phases);
        Assert.Equal(S(24), scenario.Load.Duration);
        Assert.Equal(S(3), scenario.Load.RequestTimeout);
        Assert.Null(scenario.Load.ConstantRate);
        Assert.True(scenario.Load.HasClosedPhase);
        Assert.Equal(100 + 400, scenario.Load.ScheduledRequests); // 20/s × 5 s, then 20 → 60/s over 10 s
        Assert.Equal("inject 20/s for 5s; then ramping-inject 20 → 60/s for 10s; then keep-constant 8 clients for 5s; then ramping-constant 8 → 2 clients for 4s",
            scenario.Load.Describe());

        var constant = ScenarioFile.Parse("name: c\nload: { rate: 30, duration: 10s }", "c.yaml").Load;
        Assert.Equal([new LoadPhase.Inject(30, S(10))], constant.Phases);
        Assert.Equal(30, constant.ConstantRate);
    }

    private static TimeSpan S(double seconds) => TimeSpan.FromSeconds(seconds);

    [Fact]
    public void Duration_stretches_a_load_of_phases_and_its_faults_must_still_fall_inside_it()
    {
        var scenario = ScenarioFile.Parse("""
            name: phased
            load:
              phases:
                - { inject: 20, during: 4s }
                - { keep-constant: 3, during: 6s }
            faults:
              - { kind: pause, target: participant, at: [8s], duration: 1s }
            thresholds: { okPerSecond: 5 }
            """, "f.yaml");
        RunOptions With(double? rate, double? seconds) =>
            new([], Seed: 1, rate, seconds is { } s ? S(s) : null, "/tmp", null, null, KeepDatabases: false);

        Assert.Null(ScenarioRunner.Problem(scenario, With(null, null)));
        Assert.Null(ScenarioRunner.Problem(scenario, With(null, 20)));
        Assert.Contains("phased with these options: the pause of participant at 8s comes after the load ends at 5s", ScenarioRunner.Problem(scenario, With(null, 5)));
        // Shrunk to a tenth, the open phase would last 40 ms.
        Assert.Contains("load.phases[0] (inject 20/s for 0.04s) lasts 40 ms; a phase lasts at least 100 ms",
            ScenarioRunner.Problem(scenario with { Faults = [] }, With(null, 0.1)));
        Assert.Contains("--rate sets a constant rate", ScenarioRunner.Problem(scenario, With(10, null)));
        // A bound on ok/s cannot be checked against what closed clients will send: it is left to the run.
        Assert.Null(ScenarioFile.CheckTimes(scenario with { Thresholds = new Thresholds(MinOkPerSecond: 500) }));
    }

    [Fact]
    public void Chaos_draws_the_same_faults_for_the_same_seed_and_others_for_another()
    {
        var scenario = ScenarioFile.Parse("name: c\nload: { duration: 25s }\nchaos: { faults: 8, from: 2s, to: 23s }", "c.yaml");
        string Schedule(int seed) => string.Join(" | ", scenario.FaultsFor(seed).Select(f => $"{f.At[0].TotalSeconds} {f.Kind} {f.Target}"));

        Assert.Equal(8, scenario.FaultsFor(1).Count);
        Assert.Equal(Schedule(1), Schedule(1));
        Assert.NotEqual(Schedule(1), Schedule(2));
        Assert.Equal([2, 5, 8, 11, 14, 17, 20, 23], scenario.FaultsFor(1).Select(f => f.At[0].TotalSeconds));
        // Over many seeds every kind comes up.
        var kinds = Enumerable.Range(0, 50).SelectMany(scenario.FaultsFor).Select(f => f.Kind).ToHashSet();
        Assert.Superset(new HashSet<Dtx.Harness.Faults.FaultKind> { Dtx.Harness.Faults.FaultKind.Crash, Dtx.Harness.Faults.FaultKind.Delay, Dtx.Harness.Faults.FaultKind.Pause,
            Dtx.Harness.Faults.FaultKind.Partition, Dtx.Harness.Faults.FaultKind.Latency, Dtx.Harness.Faults.FaultKind.Hang, Dtx.Harness.Faults.FaultKind.ResetPeer }, kinds);
    }

    [Fact]
    public void Crash_after_commit_crashes_the_initiator_at_least_three_times()
    {
        var scenario = ScenarioCatalog.Find("crash-after-commit");
        var crash = Assert.Single(scenario.Faults);
        Assert.Equal("initiator.after-commit", crash.Step);
        Assert.True(crash.At.Count >= 3);
        Assert.All(crash.At, at => Assert.True(at < scenario.Load.Duration, "every crash falls inside the load"));
    }

    [Fact]
    public void Thresholds_read_into_bounds_and_a_scenario_without_them_has_none()
    {
        var scenario = ScenarioFile.Parse("""
            name: x
            thresholds: { latencyP99: 800ms, timeToConsistencyP50: 2s, okPerSecond: 30 }
            """, "f.yaml");
        Assert.Equal(new Thresholds(LatencyP99Ms: 800, TimeToConsistencyP50Ms: 2000, MinOkPerSecond: 30), scenario.Thresholds);
        Assert.Equal("latency p99 of every request ≤ 800 ms, time to consistency p50 ≤ 2000 ms, at least 30 ok/s", scenario.Thresholds.Describe());
        Assert.Equal(Thresholds.None, ScenarioFile.Parse("name: x", "f.yaml").Thresholds);
    }

    [Theory]
    [InlineData("load: { rate: 5 }", "name is required")]
    [InlineData("name: x\nload: { rate: -1 }", "f.yaml:2: load.rate must be a positive number")]
    [InlineData("name: x\nload: { rate: notanumber }", "load.rate must be a number, not 'notanumber'")]
    [InlineData("name: x\nload:\n  rate: 5\n  rat: 5", "f.yaml:4: load.rat is not a field here; allowed: rate, duration, phases, requestTimeout, minCreatedShare")]
    [InlineData("name: x\nbusiness: { skus: 2.5 }", "business.skus must be a whole number")]
    [InlineData("name: x\nload: { minCreatedShare: 3 }", "load.minCreatedShare must be above 0 and at most 1")]
    [InlineData("name: x\nfaults: [ { kind: latency, links: [initiator-rabbitmq], at: [1s], duration: 2s, latency: 100ms, jitter: lots } ]", "faults[0].jitter: 'lots' is not a duration")]
    [InlineData("name: x\nfaults: [ { kind: partition, links: [initiator-mysql], at: [1s], duration: 2s } ]", "'initiator-mysql' is not one; allowed: checkback-initiator")]
    [InlineData("name: x\nfaults: [ { kind: partition, links: [initiator-rabbitmq], at: [1s], duration: 2s, step: initiator.after-commit } ]", "faults[0].step does not go with this partition")]
    [InlineData("name: x\nfaults: [ { kind: delay, step: initiator.after-commit, at: [1s] } ]", "faults[0].action is required for a delay at a step")]
    [InlineData("name: x\nfaults: [ { kind: delay, step: initiator.after-commit, at: [1s], action: crash } ]", "'crash' is a crash, but the fault's kind is delay")]
    [InlineData("name: x\nfaults: [ { kind: error, step: initiator.after-commit, at: [1s], restartAfter: 1s } ]", "faults[0].restartAfter goes with a crash only")]
    [InlineData("name: x\nfaults: [ { kind: crash, step: initiator.after-commit, at: [1s], duration: 1s } ]", "faults[0].duration does not go with a crash at a step")]
    [InlineData("name: x\nfaults: { kind: crash }", "faults must be a list")]
    [InlineData("name: [x, y]", "name must be a single value")]
    [InlineData("name: x\nload: [1, 2]", "load must be a mapping of fields")]
    [InlineData("name: x\nload: { rate: 5", "f.yaml:3: not valid YAML")]
    [InlineData("name: x\nload: { retries: -1 }", "load.retries must be a whole number from 0 to 20")]
    [InlineData("name: x\nbusiness: { skus: 2147483647 }", "business.skus must be a whole number from 1 to 100,000")]
    [InlineData("name: x\nchaos: { faults: 1000, from: 1s, to: 2s }", "chaos.faults (1000) between 1s and 2s would come less than 3s apart; at most 1 fit")]
    [InlineData("name: \"a\\tb\"", "name must not contain control characters")]
    [InlineData("name: x\ndescription: " + Deep, "nested more than 32 levels deep")]
    [InlineData("name: x\nload: &l { rate: 5 }\ndrain: *l", "f.yaml:3: aliases (*l) are not allowed in a scenario")]
    [InlineData("name: x\nexpect: { dual-writ: [no-lost-order] }", "expect.dual-writ is not a field here; allowed: local-table, half-message")]
    [InlineData("name: x\nexpect: { half-message: [no-lost-orders] }", "'no-lost-orders' is not one; allowed: no-lost-order")]
    [InlineData("name: x\nfaults: [ { kind: message-loss, target: inbox, at: [1s] } ]", "'inbox' is not a queue; allowed: orders, replies")]
    [InlineData("name: x\nfaults: [ { kind: poison-message, target: replies, at: [1s] } ]", "'replies' cannot be poisoned; allowed: orders")]
    [InlineData("name: x\nchaos: { faults: 3, from: 9s, to: 4s }", "chaos.to must come after chaos.from")]
    [InlineData("name: x\nchaos: { fault: 3 }", "chaos.fault is not a field here; allowed: faults, from, to")]
    [InlineData("name: x\nload: { duration: 10s }\nfaults: [ { kind: pause, target: participant, at: [12s], duration: 1s } ]", "f.yaml: the pause of participant at 12s comes after the load ends at 10s")]
    [InlineData("name: x\nload: { rate: 0.01, duration: 10s }", "less than one request")]
    [InlineData("name: x\nload: { rate: 5, phases: [ { inject: 5, during: 2s } ] }", "load.rate goes with a constant rate; with load.phases, each phase says its own")]
    [InlineData("name: x\nload: { phases: [] }", "load.phases is empty")]
    [InlineData("name: x\nload: { phases: [ { during: 2s } ] }", "load.phases[0] must name exactly one of inject, ramping-inject, keep-constant, ramping-constant (with its rate or clients), not none")]
    [InlineData("name: x\nload: { phases: [ { inject: 5, keep-constant: 3, during: 2s } ] }", "not inject and keep-constant")]
    [InlineData("name: x\nload: { phases: [ { inject: 5 } ] }", "load.phases[0].during is required")]
    [InlineData("name: x\nload: { phases: [ { inject: 0, during: 2s } ] }", "load.phases[0].inject must be a positive number")]
    [InlineData("name: x\nload: { phases: [ { ramping-inject: -3, during: 2s } ] }", "load.phases[0].ramping-inject must be zero or a positive number")]
    [InlineData("name: x\nload: { phases: [ { keep-constant: 2.5, during: 2s } ] }", "load.phases[0].keep-constant must be a whole number from 1 to 500")]
    [InlineData("name: x\nload: { phases: [ { ramping-constant: 20000, during: 2s } ] }", "load.phases[0].ramping-constant must be a whole number from 0 to 500")]
    [InlineData("name: x\nload: { phases: [ { inject: 5, during: 2s, rate: 3 } ] }", "load.phases[0].rate is not a field here; allowed: inject, ramping-inject, keep-constant, ramping-constant, during")]
    [InlineData("name: x\nload: { phases: [ { ramping-constant: 0, during: 2s } ] }", "load.phases[0] (ramping-constant 0 → 0 clients for 2s) has no client; the run would check nothing there")]
    [InlineData("name: x\nload: { phases: [ { keep-constant: 2, during: 2s }, { ramping-inject: 0.5, during: 3s } ] }", "load.phases[1] (ramping-inject 0 → 0.5/s for 3s) offers less than one request")]
    [InlineData("name: x\nload: { phases: [ { inject: 50, during: 2s }, { keep-constant: 2, during: 50ms } ] }", "load.phases[1] (keep-constant 2 clients for 0.05s) lasts 50 ms; a phase lasts at least 100 ms")]
    [InlineData("name: x\nload: { phases: [ { keep-constant: 2, during: 1000m }, { keep-constant: 3, during: 500m } ] }", "the load lasts 25 h; at most 24 h")]
    [InlineData("name: x\nload: { phases: [ { keep-constant: 4, during: 5s } ] }\nthresholds: { latencyP99: 1s }", "a latency threshold needs an open-model phase")]
    [InlineData("name: x\nload: { phases: [ { inject: 5, during: 5s }, { keep-constant: 4, during: 5s } ] }\nfaults: [ { kind: pause, target: participant, at: [10s], duration: 1s } ]", "comes after the load ends at 10s")]
    [InlineData("name: x\nload: { phases: notalist }", "load.phases must be a list")]
    [InlineData("name: x\nload: { rate: 1e9, duration: 10m }", "more than 10,000,000 requests")]
    [InlineData("name: x\nload: { minCreatedShare: 0 }", "load.minCreatedShare must be above 0")]
    [InlineData("name: x\nbusiness: { stockPerSku: 2.5 }", "business.stockPerSku must be a whole number")]
    [InlineData("name: x\nfaults: [ { kind: pause, target: participant, at: [1s], duration: 9999999999999999s } ]", "is longer than the longest duration allowed")]
    [InlineData("name: x\nfaults: [ { kind: delay, step: initiator.after-commit, at: [1s], action: delay(99999999999999s) } ]", "faults[0].action")]
    [InlineData("name: x\nload: { duration: soon }", "load.duration")]
    [InlineData("name: x\nbusiness: { refuseShare: 2 }", "business.refuseShare must be between 0 and 1")]
    [InlineData("name: x\nfaults: [ { kind: flood, step: initiator.after-commit, at: [1s] } ]", "faults[0].kind")]
    [InlineData("name: x\nfaults: [ { kind: crash, step: initiator.after-comit, at: [1s] } ]", "faults[0].step")]
    [InlineData("name: x\nfaults: [ { kind: crash, step: initiator.after-commit } ]", "faults[0].at")]
    [InlineData("name: x\nfaults: [ { kind: crash, step: initiator.after-commit, at: [1s], action: boom } ]", "faults[0].action")]
    [InlineData("name: x\nlod: { rate: 5 }", "f.yaml")]
    [InlineData("name: x\nfaults: [ { kind: crash, target: nginx, at: [1s] } ]", "'nginx' cannot be crashed; allowed: postgres, rabbitmq, initiator, participant, txbroker")]
    [InlineData("name: x\nfaults: [ { kind: crash, at: [1s] } ]", "needs a step")]
    [InlineData("name: x\nfaults: [ { kind: pause, target: participant, at: [1s] } ]", "faults[0].duration is required")]
    [InlineData("name: x\nfaults: [ { kind: pause, at: [1s], duration: 2s } ]", "faults[0] target is required")]
    [InlineData("name: x\nthresholds: { latencyP99: fast }", "thresholds.latencyP99: 'fast' is not a duration")]
    [InlineData("name: x\nthresholds: { latencyP99: 0s }", "thresholds.latencyP99: must be longer than zero")]
    [InlineData("name: x\nthresholds: { okPerSecond: -3 }", "thresholds.okPerSecond must be a positive number")]
    [InlineData("name: x\nload: { rate: 40 }\nthresholds: { okPerSecond: 50 }", "thresholds.okPerSecond (50) is more than the load offers (load.rate 40/s)")]
    [InlineData("name: x\nthresholds: { p99: 1s }", "thresholds.p99 is not a field here; allowed: latencyP50, latencyP99, timeToConsistencyP50, timeToConsistencyP99, okPerSecond")]
    public void A_bad_file_is_one_line_naming_the_field(string yaml, string expected)
    {
        var error = Assert.Throws<ScenarioException>(() => ScenarioFile.Parse(yaml, "f.yaml"));
        Assert.Contains(expected, error.Message);
        Assert.DoesNotContain('\n', error.Message);
        // In the file's words, never .NET's.
        Assert.DoesNotContain("System.", error.Message);
        Assert.DoesNotContain("Exception", error.Message);
    }

    // Flow brackets nested deeper than any scenario needs, each level a few bytes: a small file that would overflow
    // the YAML loader's stack (a crash no catch can stop) if it were loaded.
    private const string Deep = "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]";

    [Fact]
    public void A_name_too_long_for_a_heading_is_refused()
    {
        var error = Assert.Throws<ScenarioException>(() => ScenarioFile.Parse($"name: {new string('n', 101)}", "f.yaml"));
        Assert.Contains("name is 101 characters long; at most 100", error.Message);
    }

    [Fact]
    public void A_device_an_empty_file_or_a_huge_file_is_refused_before_it_is_read()
    {
        var empty = Path.GetTempFileName();
        var huge = Path.GetTempFileName();
        try
        {
            File.WriteAllText(huge, "name: x\n" + new string('#', ScenarioFile.MaxFileBytes));
            // /dev/zero would never end and fill the memory; a named pipe would wait forever for a writer.
            Assert.Contains("is empty or not a regular file", Assert.Throws<ScenarioException>(() => ScenarioFile.Load("/dev/zero")).Message);
            Assert.Contains("is empty or not a regular file", Assert.Throws<ScenarioException>(() => ScenarioFile.Load(empty)).Message);
            Assert.Contains("a scenario file may have at most 1,048,576", Assert.Throws<ScenarioException>(() => ScenarioFile.Load(huge)).Message);
        }
        finally
        {
            File.Delete(empty);
            File.Delete(huge);
        }
    }

    [Theory]
    [InlineData("crash-after-commit", "crash-after-commit")]
    [InlineData("<script>alert(1)</script>", "script-alert-1---script")]
    [InlineData("../../../etc/x", "etc-x")]
    [InlineData("///", "scenario")]
    public void A_run_folder_takes_a_safe_form_of_the_name(string name, string folder) =>
        Assert.Equal(folder, Dtx.Harness.Engine.ScenarioRunner.Slug(name));
}
