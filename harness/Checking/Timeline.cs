namespace Dtx.Harness.Checking;

/// <summary>One second of a run as the clients saw it: answers that came in that second, and their latency.</summary>
public sealed record SecondStats(int Second, int Ok, int Failed, int Indeterminate, double P50Ms, double P99Ms);

/// <summary>Orders whose time to consistency was at most <paramref name="UpToMs"/> and above the bucket before (null: above the last bound).</summary>
public sealed record ConsistencyBucket(double? UpToMs, int Orders);

/// <summary>
/// The system at one moment of a run, sampled every two seconds through the load and the drain: what was still in doubt
/// (the backlog: outbox rows, queued messages, pending orders, half messages) and what each process used. A figure
/// the sampler could not read (a server down or paused) is null: a gap in the chart, not a zero.
/// </summary>
public sealed record HealthSample(double AtSeconds, InDoubt? Backlog, IReadOnlyList<ProcessUse> Processes);

/// <summary>
/// One process's use since the sample before: CPU in percent of one core (null on its first sample and after a restart,
/// with nothing to compare with) and its memory now (proportional set size; a server's whole process tree).
/// </summary>
public sealed record ProcessUse(string Name, double? CpuPercent, double MemoryMiB);

/// <summary>
/// A run over time, for the report's charts: per second the ok, failed and indeterminate answers with their latency,
/// the spread of time to consistency, how long the clients took to get back to their pace after each fault, and the
/// backlog and each process's CPU and memory sampled beside them.
/// </summary>
public sealed record Timeline(IReadOnlyList<SecondStats> Seconds, IReadOnlyList<ConsistencyBucket> TimeToConsistency,
    IReadOnlyList<HealthSample>? Samples = null)
{
    public static readonly Timeline Empty = new([], []);

    /// <summary>Bucket bounds for time to consistency, in ms: roughly three a decade, 10 ms to a minute.</summary>
    private static readonly double[] Bounds = [10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 60_000];

    /// <summary>
    /// Each answer counts in the second it came (<see cref="Op.AtSeconds"/>), with its latency from its own invoke. An invoke
    /// never answered has no second to count in; <see cref="History.Completions"/> counts it as indeterminate at the end.
    /// </summary>
    public static Timeline Of(History history, IReadOnlyList<double> timeToConsistencyMs)
    {
        var invoked = new Dictionary<(int Process, string OrderId), double>();
        var seconds = new SortedDictionary<int, (int Ok, int Failed, int Info, List<double> Latency)>();
        foreach (var op in history.Ops)
        {
            var key = (op.Process, op.OrderId);
            if (op.Type == OpType.Invoke)
            {
                invoked[key] = op.AtSeconds;
                continue;
            }
            var second = (int)Math.Floor(Math.Max(0, op.AtSeconds));
            var s = seconds.TryGetValue(second, out var found) ? found : (Ok: 0, Failed: 0, Info: 0, Latency: new List<double>());
            s = op.Type switch
            {
                OpType.Ok => s with { Ok = s.Ok + 1 },
                OpType.Fail => s with { Failed = s.Failed + 1 },
                _ => s with { Info = s.Info + 1 },
            };
            if (invoked.Remove(key, out var at)) s.Latency.Add(Math.Max(0, (op.AtSeconds - at) * 1000));
            seconds[second] = s;
        }
        // Seconds with no answer at all are the ones a chart must show as a gap to zero, not skip.
        var last = seconds.Count == 0 ? -1 : seconds.Keys.Max();
        var series = Enumerable.Range(0, last + 1).Select(second =>
        {
            if (!seconds.TryGetValue(second, out var s)) return new SecondStats(second, 0, 0, 0, 0, 0);
            var sorted = s.Latency.Order().ToList();
            return new SecondStats(second, s.Ok, s.Failed, s.Info,
                sorted.Count == 0 ? 0 : Math.Round(Checker.NearestRank(sorted, 50), 1), sorted.Count == 0 ? 0 : Math.Round(Checker.NearestRank(sorted, 99), 1));
        }).ToList();
        return new Timeline(series, Buckets(timeToConsistencyMs));
    }

    private static List<ConsistencyBucket> Buckets(IReadOnlyList<double> ms)
    {
        var buckets = Bounds.Select((bound, i) => new ConsistencyBucket(bound, ms.Count(m => m <= bound && (i == 0 || m > Bounds[i - 1])))).ToList();
        buckets.Add(new ConsistencyBucket(null, ms.Count(m => m > Bounds[^1])));
        return buckets;
    }

    /// <summary>
    /// Seconds from the end of a fault to the start of the first whole second after it in which the clients got at
    /// least 80 % of their pace back: ok answers per second, the median over the load's seconds (the first, a warm-up,
    /// left out), which a few seconds of fault do not move. <see cref="double.PositiveInfinity"/> when the pace never
    /// came back while answers came; null when there is no pace to compare with (fewer than three seconds).
    /// </summary>
    public double? RecoverySeconds(double faultEnd)
    {
        var seconds = Seconds.Where(s => s.Second >= 1).Select(s => (double)s.Ok).Order().ToList();
        if (seconds.Count < 3 || seconds[seconds.Count / 2] == 0) return null;
        var pace = 0.8 * seconds[seconds.Count / 2];
        var back = Seconds.FirstOrDefault(s => s.Second >= Math.Ceiling(faultEnd) && s.Ok >= pace);
        return back is null ? double.PositiveInfinity : back.Second - faultEnd;
    }
}
