using Dtx.Harness.Checking;
using Dtx.Harness.Engine;
using Dtx.Harness.Faults;

namespace Dtx.Tests.Reporting;

/// <summary>
/// A hand-made scenario result for the report's tests: 16 s of answers at 20 a second for two references and the
/// baseline, a crash window in the middle during which the answers stop and then come back, sooner for one of them.
/// </summary>
internal static class SampleRuns
{
    public static ScenarioResult Result(string name = "crash-after-commit") => new(
        name, "The initiator is killed after its commit.", 42, 70, new DateTimeOffset(2026, 12, 2, 12, 0, 0, TimeSpan.Zero),
        "postgres=embedded, rabbitmq=embedded, toxiproxy=embedded",
        new ScenarioSettings(20, 16, 60, 8, 300, 40, 0.1),
        [Run("local-table", Verdict.Pass, backAfter: 1), Run("half-message", Verdict.Pass, backAfter: 3), Run("dual-write", Verdict.FailedAsExpected, backAfter: 1)],
        "./run.sh scenario crash-after-commit --seed 42");

    /// <summary>A run whose answers stop while the initiator is down (5 s to 7 s) and are back to pace <paramref name="backAfter"/> seconds later.</summary>
    public static ImplementationRun Run(string implementation, Verdict verdict, int backAfter)
    {
        var ops = new List<Op>();
        var process = 0;
        for (var tick = 0; tick < 16 * 20; tick++)
        {
            var at = tick / 20.0;
            var down = at is >= 5 and < 7;
            var slow = at >= 7 && at < 7 + backAfter;
            if (slow && tick % 2 == 0) continue; // half pace while it comes back
            var orderId = $"ord-{tick:D6}";
            ops.Add(new Op(ops.Count, process, OpType.Invoke, orderId, "sku-01", 1, "cust-001", at, default));
            var type = down ? OpType.Fail : tick % 25 == 0 ? OpType.Info : OpType.Ok;
            var latency = down ? 0.001 : 0.005 + tick % 7 * 0.01;
            ops.Add(new Op(ops.Count, process++, type, orderId, "sku-01", 1, "cust-001", at + latency, default));
        }
        var timeToConsistency = Enumerable.Range(0, 280).Select(i => 5.0 + i * i % 1700).Order().ToList();
        var invariants = Checker.InvariantNames.Select(n => new InvariantResult(n, verdict == Verdict.Pass || n != "no-lost-order",
            verdict == Verdict.Pass || n != "no-lost-order" ? 0 : 2, verdict == Verdict.Pass || n != "no-lost-order" ? [] : ["ord-000121", "<b>ord</b>"], "what it means")).ToList();
        return new ImplementationRun(implementation, verdict, [], invariants,
            [new FaultRecord(FaultKind.Crash, "initiator", "initiator.after-commit", 5, 7)],
            new RunCounts(320, 280, 40, 12, 270, 10, 3, implementation == "local-table" ? 4 : 0,
                CheckBacksSent: implementation == "half-message" ? 6 : null),
            new Throughput(17.5, 20), new Latency(12, 40, 70, 90, 85), new Latency(10, 40, 70, 90, 88),
            new TimeToConsistency(300, 1600, 1700, 280), new Drain(true, 0.2, new InDoubt(0, 0, 0, 0)), ["logs/x.log"],
            Expected: verdict == Verdict.FailedAsExpected ? ["no-lost-order"] : [],
            Timeline: Timeline.Of(new History(ops), timeToConsistency) with { Samples = Samples(implementation) },
            // The baseline's lost orders, traced; the second one's id and log line are hostile markup.
            Traces: verdict == Verdict.Pass ? null :
            [
                new OrderTrace("ord-000121", [new TraceEvent(6.05, "client", "requests 1 × sku-01 for cust-001 (client 121)"), new TraceEvent(6.1, "client", "answered ok"),
                    new TraceEvent(null, "participant", "has no row of this order")]),
                new OrderTrace("<b>ord</b>", [new TraceEvent(null, "initiator", "<i>publish of <b>ord</b> failed</i>", LogLine: true)]),
            ]);
    }

    /// <summary>
    /// A sample a second through the load and a 4 s drain: the backlog grows while the initiator is down (5 s to 7 s),
    /// the initiator is missing from the processes then, and its CPU has no figure on its first sample after the restart.
    /// </summary>
    public static List<HealthSample> Samples(string implementation) => [.. Enumerable.Range(0, 20).Select(second =>
    {
        var down = second is 5 or 6;
        var backlog = new InDoubt(implementation == "local-table" ? 2 + second % 3 : 0, 1 + second % 2, down ? 30 : 4,
            implementation == "half-message" ? 3 : 0);
        List<ProcessUse> processes =
        [
            new("participant", second == 0 ? null : 20 + second % 5, 80),
            new("postgres", second == 0 ? null : 35 + second % 7, 140 + second),
            new("rabbitmq", second == 0 ? null : 15, 110),
            new("harness", second == 0 ? null : 30, 95),
        ];
        if (!down) processes.Insert(0, new ProcessUse("initiator", second is 0 or 7 ? null : 25 + second % 4, 85));
        // The sampler missed the database in one second: a gap in the backlog chart.
        return new HealthSample(second + 0.02, second == 11 ? null : backlog, processes);
    })];

    /// <summary>A bench's result with the figures the list of runs shows: each implementation's highest sustained rate.</summary>
    public static Dtx.Harness.Bench.BenchResult Bench(DateTimeOffset startedAt, double ordersPerSecond) => new(
        "bench", "2 cores", startedAt, 600, new Dtx.Harness.Bench.BenchSettings(10, 30, 1000, 20, 400, 64, 42, "embedded"),
        new Dtx.Harness.Bench.CeilingFigures(1000, 2000, 900, 64, 30),
        [
            new Dtx.Harness.Bench.BenchRun("local-table", ordersPerSecond, 0.1, 0.2, null, [], null, null, null),
            new Dtx.Harness.Bench.BenchRun("half-message", ordersPerSecond - 40, 0.1, 0.2, 0.3, [], null, null, null),
        ],
        "./run.sh bench");
}
