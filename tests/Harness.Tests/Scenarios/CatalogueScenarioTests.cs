using Dtx.Harness.Checking;
using Dtx.Harness.Engine;
using Dtx.Harness.Faults;
using Dtx.Harness.Implementations;
using Dtx.Harness.Load;
using Dtx.Harness.Scenarios;
using Dtx.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Dtx.Tests.Scenarios;

/// <summary>
/// A short smoke of each catalogue scenario that crashes, slows or hangs a step, a service or a link: the run must
/// pass, every planned fault must be injected (or not applicable), and the run must show evidence that the fault did
/// something — a pass alone proves nothing. The full-length runs are <c>scenario --all</c>'s.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class CatalogueScenarioTests(ServersFixture servers, ITestOutputHelper output)
{
    private static readonly TimeSpan Load = TimeSpan.FromSeconds(12);
    private static readonly TimeSpan MinCrashSpacing = TimeSpan.FromSeconds(4);
    private const double SmokeFloorScale = 0.6;
    private const int Seed = 3;

    [Theory]
    [InlineData("crash-before-commit")]
    [InlineData("crash-after-prepare")]
    [InlineData("crash-broker-after-persist")]
    [InlineData("crash-after-publish")]
    [InlineData("crash-participant-after-commit")]
    [InlineData("crash-after-reply")]
    [InlineData("crash-before-check-answer")]
    [InlineData("crash-txbroker")]
    [InlineData("crash-participant-relay")]
    [InlineData("slow-local-transaction")]
    [InlineData("business-reject")]
    [InlineData("client-retry")]
    [InlineData("message-loss")]
    [InlineData("poison-message")]
    [InlineData("chaos-mix")]
    [InlineData("hang-broker")]
    [InlineData("hang-database")]
    public async Task The_scenario_passes_with_its_faults_injected_and_evidence_that_they_bit(string name)
    {
        var reports = Path.Combine(Path.GetTempPath(), "dtx-cat-" + Guid.NewGuid().ToString("N")[..8]);
        var scenario = Shortened(ScenarioCatalog.Find(name));
        var options = new RunOptions(ImplementationCatalog.References, Seed: Seed, Rate: null, Duration: null,
            reports, servers.Postgres.AdminConnectionString, servers.RabbitMq.AmqpUri, KeepDatabases: false);

        var result = await new ScenarioRunner(options, output.WriteLine).RunAsync(scenario, default);

        foreach (var run in result.Runs)
        {
            // Skipped exactly where no fault applies: a regression that skips a run it should make fails here.
            var inapplicable = scenario.Faults.All(f => Nemesis.WhyNotApplicable(f, ImplementationCatalog.Find(run.Implementation)!, false, false, proxied: true) is not null);
            Assert.Equal(inapplicable, run.Verdict == Verdict.NotApplicable);
            output.WriteLine($"{run.Implementation}: {run.Verdict}; {run.Counts}; faults: {string.Join(" | ", run.Faults.Select(f => $"{f.Kind} {f.Target} {f.Step} {f.Outcome} {f.Note}"))}");
            var expected = scenario.ExpectedViolations(run.Implementation).Count > 0 ? Verdict.FailedAsExpected : Verdict.Pass;
            Assert.True(run.Verdict == expected || run.Verdict == Verdict.NotApplicable, $"{run.Implementation} {run.Verdict}: {string.Join("; ", run.Reasons)}");
            Assert.All(run.Faults, f => Assert.True(f.Outcome is FaultOutcome.Injected or FaultOutcome.NotApplicable, $"{f.Kind} {f.Target} {f.Step}: {f.Outcome} {f.Note}"));
        }
        var applied = result.Runs.Where(r => r.Verdict is Verdict.Pass or Verdict.FailedAsExpected).ToList();
        Assert.NotEmpty(applied);
        foreach (var run in applied)
        {
            var implementation = ImplementationCatalog.Find(run.Implementation)!;
            var planned = scenario.Faults
                .Where(f => Nemesis.WhyNotApplicable(f, implementation, postgresEmbedded: false, rabbitEmbedded: false, proxied: true) is null)
                .Sum(f => f.At.Count * (f is LinkFault link ? link.Links.Count(Links.NamesFor(implementation).Contains) : 1));
            Assert.Equal(planned, run.Faults.Count(f => f.Outcome == FaultOutcome.Injected));
            AssertEvidence(name, run);
        }
        Directory.Delete(reports, recursive: true);
    }

    [Fact]
    public async Task A_crash_at_a_step_no_order_reaches_fails_the_run_and_names_the_fault()
    {
        // Without a crash or a slow commit nothing makes txbroker check back, so no request reaches the step.
        var reports = Path.Combine(Path.GetTempPath(), "dtx-cat-" + Guid.NewGuid().ToString("N")[..8]);
        var scenario = ScenarioFile.Parse("""
            name: never-fires
            load: { rate: 10, duration: 4s }
            faults:
              - { kind: crash, step: checkback.before-answer, at: [1s] }
            """, "never-fires.yaml");
        var options = new RunOptions([new HalfMessageImplementation()], Seed: 3, Rate: null, Duration: null,
            reports, servers.Postgres.AdminConnectionString, servers.RabbitMq.AmqpUri, KeepDatabases: false);

        var result = await new ScenarioRunner(options, output.WriteLine).RunAsync(scenario, default);

        var run = Assert.Single(result.Runs);
        Assert.Equal(Verdict.Fail, run.Verdict);
        Assert.True(run.Invariants.All(i => i.Ok), "nothing was violated: the run fails because it proved nothing");
        Assert.Equal(FaultOutcome.NotTriggered, Assert.Single(run.Faults).Outcome);
        Assert.Contains(run.Reasons, r => r.StartsWith("crash of initiator at checkback.before-answer at ", StringComparison.Ordinal) && r.Contains("was not triggered"));
        Assert.False(result.Passed);
        Directory.Delete(reports, recursive: true);
    }

    /// <summary>What each fault must have done, beyond the verdict.</summary>
    private static void AssertEvidence(string scenario, ImplementationRun run)
    {
        var c = run.Counts;
        var halfMessage = run.Implementation == "half-message";
        var why = $"{scenario} / {run.Implementation}: {c}, latency all {run.LatencyAllRequests}, consistency {run.TimeToConsistency}";
        switch (scenario)
        {
            case "crash-before-commit":
                // Each crash cut a client off mid-request; HalfMessage's prepared halves were fenced and rolled back.
                Assert.True(c.Indeterminate >= 1, why);
                if (halfMessage) Assert.True(c.FencedByCheckBack >= 1, why);
                break;
            case "crash-after-prepare":
                // A half with no local transaction behind it: only check-back's fence resolves it.
                Assert.True(c.FencedByCheckBack >= 1 && c.CheckBacksAnswered >= 1, why);
                break;
            case "crash-broker-after-persist":
                // The same, for whichever producer's prepare the crash caught: an order's (fenced at the initiator)
                // or a reply's (fenced at the participant).
                Assert.True(c.FencedByCheckBack + c.RepliesFencedByCheckBack >= 1 && c.CheckBacksAnswered >= 1, why);
                break;
            case "crash-after-publish":
                // HalfMessage: the dispatch was never marked, so txbroker published it again after the lease.
                // LocalTable: the relay runs in the initiator, which went down with it: clients were cut off
                // (indeterminate) or refused while it restarted (at 30/s and 5 ms a request, often none is in
                // flight at the crash). The order row itself is usually finished by the participant's reply before
                // its lease ends, so a republish shows only sometimes.
                Assert.True(halfMessage ? c.Republished >= 1 : c.Republished + c.Indeterminate + c.Failed >= 1, why);
                break;
            case "crash-participant-relay":
                // The confirmed reply was never marked sent, so it went out again after the lease.
                Assert.True(c.Republished >= 1, why);
                break;
            case "crash-participant-after-commit":
                // The unacked delivery came back and the inbox absorbed it.
                Assert.True(c.DuplicatesDelivered >= 1, why);
                break;
            case "crash-after-reply":
                Assert.True(c.OrdersRejected >= 1, why);
                break;
            case "crash-before-check-answer":
                // Checks were sent that the dying producer never answered. LocalTable has only the slow commits.
                if (halfMessage) Assert.True(c.CheckBacksSent > c.CheckBacksAnswered && c.CheckBacksAnswered >= 1, why);
                else Assert.True(run.LatencyAllRequests.MaxMs >= 3000, why);
                break;
            case "crash-txbroker":
                Assert.True(c.Indeterminate + c.Failed >= 1, why);
                break;
            case "slow-local-transaction":
                // Requests took longer than the injected 3 s; HalfMessage's check-backs came during slow transactions,
                // and those before the transaction began fenced it.
                Assert.True(run.Latency.MaxMs >= 3000, why);
                if (halfMessage) Assert.True(c.FencedByCheckBack >= 1 && c.CheckBacksAnswered > c.FencedByCheckBack, why);
                break;
            case "business-reject":
                // Definite failures (409) that failed-absent checked, and refusals that were compensated.
                Assert.True(c.Failed >= 10 && c.OrdersRejected >= 1, why);
                Assert.True(run.Invariants.Single(i => i.Name == "failed-absent").Ok, why);
                break;
            case "client-retry":
                // Indeterminate requests were sent again, and a re-send of one that had committed was answered
                // "already placed" (idempotent) rather than deducted twice (exactly-once-effect holds).
                Assert.True(c.Retried >= 1 && c.RetriedAlreadyPlaced >= 1, why);
                break;
            case "message-loss":
                // Confirmed orders were purged: LocalTable republished them; HalfMessage lost them, and its verdict says so.
                var purged = run.Faults.Single(f => f.Kind == FaultKind.MessageLoss);
                Assert.Matches("^[1-9][0-9]* confirmed message", purged.Note);
                if (halfMessage) Assert.Contains(run.Invariants, i => i.Name == "no-lost-order" && !i.Ok && i.Examples.Count > 0);
                else Assert.True(c.Republished >= 1, why);
                break;
            case "poison-message":
                // Each poison message was tried the bounded number of times and parked, naming its order; the orders
                // around it were not held back.
                Assert.Equal(2, c.ParkedMessages);
                Assert.All(run.ParkedMessages!, p => Assert.True(p.OrderId!.StartsWith("poison-", StringComparison.Ordinal) && p.Attempts == Dtx.Shared.Messaging.AmqpConnection.PoisonAttempts, $"{p}"));
                // Not held back: the participant applied other messages between each poison message's first try and its
                // parking (about 3 s of back-offs, some 90 orders at 30/s), and never stood still for as long as the
                // longest back-off (1,600 ms): a poison message that held its queue, or its only consumer slot, would
                // leave a gap that long. (An earlier bound on the slowest order's time to consistency failed on a busy
                // machine while nothing was held back: it measured the machine, not the queue.)
                Assert.All(run.ParkedMessages!, p => Assert.True(p.AppliedWhileRetried >= 10 && p.LongestStillMs < 1500, $"{p}"));
                break;
            case "chaos-mix":
                // Every drawn fault was injected or did not apply (asserted above for all); at least one bit each run.
                Assert.Contains(run.Faults, f => f.Outcome == FaultOutcome.Injected);
                break;
            case "hang-broker":
                // Nothing reached the participant while the links were silent.
                Assert.True(run.TimeToConsistency.MaxMs >= 2000, why);
                break;
            case "hang-database":
                // Requests waited on the silent link until they timed out, or were answered late.
                Assert.True(c.Indeterminate >= 1 || run.LatencyAllRequests.MaxMs >= 2000, why);
                break;
            default:
                throw new ArgumentException($"no evidence rule for {scenario}");
        }
    }

    /// <summary>
    /// The scenario compressed into <see cref="Load"/>: fault times scaled with the load (chaos drawn for the seed first,
    /// four faults instead of six) and stock with the demand, so that stock runs out at the same point of the run.
    /// </summary>
    private static Scenario Shortened(Scenario scenario)
    {
        if (scenario.Chaos is { } chaos)
            scenario = scenario with { Faults = (scenario with { Chaos = chaos with { Count = 4 } }).FaultsFor(Seed), Chaos = null };
        var factor = Load / scenario.Load.Duration;
        IReadOnlyList<TimeSpan> Scale(FaultPlan fault)
        {
            var scaled = fault.At.Select(t => t * factor).ToList();
            if (fault.Kind != FaultKind.Crash) return scaled;
            // A crashed service keeps its restart time (2–3 s on a busy 2-core machine) while the gaps shrink: three
            // crashes 3 s apart left it up for half a second between them, and half-message's client-retry smoke
            // created 12.5 % of its orders. A crash too close to the one before is left out of the smoke.
            var kept = new List<TimeSpan>();
            foreach (var t in scaled)
                if (kept.Count == 0 || t - kept[^1] >= MinCrashSpacing) kept.Add(t);
            return kept;
        }
        // A fault keeps its length (a 6 s hang stays 6 s) while the load shrinks, so a larger share of a short run is
        // spent under the fault: the progress floor shrinks to 60 % of the file's (25 % becomes 15 %). Under the full
        // floor, half-message's smoke runs failed "too little progress" on a busy machine (21.6 %, 21.9 %): too close
        // to the 18.75 % that the load's ratio alone (12 s of 16 s) would leave.
        var rate = scenario.Load.ConstantRate ?? throw new InvalidOperationException($"{scenario.Name}: the smoke shortens a constant-rate load");
        var load = scenario.Load with
        {
            Phases = [new LoadPhase.Inject(Math.Min(rate, 30), Load)], MinCreatedShare = scenario.Load.MinCreatedShare * SmokeFloorScale,
        };
        var demand = (double)load.ScheduledRequests / scenario.Load.ScheduledRequests;
        return scenario with
        {
            Load = load,
            Business = scenario.Business with { StockPerSku = Math.Max(1, (long)Math.Round(scenario.Business.StockPerSku * demand)) },
            Faults = scenario.Faults.Select(f => f with { At = Scale(f) }).ToList(),
        };
    }
}
