using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Dtx.Benchmarks.Checker;
using Dtx.Harness.Checking;

// dotnet run -c Release --project benchmarks/CheckerBenchmark              BenchmarkDotNet, 100k and 1M orders
// dotnet run -c Release --project benchmarks/CheckerBenchmark -- --once N  one timed check (and the rest a run does after its drain) of N orders, with its memory
if (args is ["--once", var count])
{
    if (!int.TryParse(count, out var n) || n < 1) { Console.Error.WriteLine("error: --once takes a number of orders, e.g. --once 1000000"); return 2; }
    var (history, truth) = SyntheticRun.Build(n);
    GC.Collect();
    var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
    var watch = Stopwatch.StartNew();
    // What a scenario run does with them after its drain: the check, the counts, the progress judgement, the timeline and the traces.
    var result = Checker.Check(history, truth);
    var counts = Checker.Count(history, truth);
    var progress = Checker.ProgressOf(history, truth, [], loadSeconds: 600);
    _ = Timeline.Of(history, result.TimeToConsistencyMs);
    _ = OrderTrace.OfViolations(result, history, truth, new Dictionary<string, IReadOnlyList<string>>(), []);
    watch.Stop();
    if (counts.Acknowledged == 0 || progress.Requested == 0) { Console.Error.WriteLine($"error: the synthetic run counted nothing: {counts}, {progress}"); return 1; }
    var violated = result.Invariants.Where(i => !i.Ok).Select(i => i.Name).ToList();
    Console.WriteLine($"{n:N0} orders ({history.Ops.Count:N0} events) checked, counted, judged and charted in {watch.Elapsed.TotalSeconds:0.00} s, " +
                      $"{(GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore) / 1048576.0:N0} MiB allocated, peak working set " +
                      $"{Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0:N0} MiB; violated: {(violated.Count == 0 ? "none" : string.Join(", ", violated))}");
    return violated.Count == 0 ? 0 : 1;
}
BenchmarkRunner.Run<CheckerBenchmarks>(args: args);
return 0;

/// <summary>The whole check of a consistent run: what a scenario pays after its drain, and what a long bench pays.</summary>
[MemoryDiagnoser]
[Config(typeof(ThreeIterationsInProcess))]
public class CheckerBenchmarks
{
    private History _history = null!;
    private GroundTruth _truth = null!;

    [Params(100_000, 1_000_000)]
    public int Orders { get; set; }

    [GlobalSetup]
    public void Setup() => (_history, _truth) = SyntheticRun.Build(Orders);

    [Benchmark]
    public CheckResult Check() => Checker.Check(_history, _truth);
}

/// <summary>A million orders take seconds a check: three measured iterations in this process are plenty, and need no child build.</summary>
public sealed class ThreeIterationsInProcess : ManualConfig
{
    public ThreeIterationsInProcess() =>
        AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(1).WithIterationCount(3).WithToolchain(InProcessEmitToolchain.Instance));
}
