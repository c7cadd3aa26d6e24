using Dtx.Harness.Checking;
using Xunit;

namespace Dtx.Tests.Reporting;

/// <summary>The per-second series the report draws, and the recovery figure it compares implementations by.</summary>
public sealed class TimelineTests
{
    [Fact]
    public void Each_answer_counts_in_the_second_it_came_with_its_latency_from_its_invoke()
    {
        var ops = new List<Op>
        {
            new(0, 0, OpType.Invoke, "a", "s", 1, "c", 0.2, default),
            new(1, 0, OpType.Ok, "a", "s", 1, "c", 0.3, default),        // 100 ms, second 0
            new(2, 1, OpType.Invoke, "b", "s", 1, "c", 0.9, default),
            new(3, 1, OpType.Info, "b", "s", 1, "c", 2.4, default),      // 1500 ms, second 2
            new(4, 2, OpType.Invoke, "c", "s", 1, "c", 2.5, default),
            new(5, 2, OpType.Fail, "c", "s", 1, "c", 2.51, default),     // second 2
            new(6, 3, OpType.Invoke, "d", "s", 1, "c", 2.6, default),    // never answered: no second to count in
        };

        var timeline = Timeline.Of(new History(ops), [5, 30, 30_000, 90_000]);

        Assert.Equal([0, 1, 2], timeline.Seconds.Select(s => s.Second));
        Assert.Equal(new SecondStats(0, 1, 0, 0, 100, 100), timeline.Seconds[0]);
        Assert.Equal(new SecondStats(1, 0, 0, 0, 0, 0), timeline.Seconds[1]); // a gap is a zero, not a missing second
        Assert.Equal((0, 1, 1), (timeline.Seconds[2].Ok, timeline.Seconds[2].Failed, timeline.Seconds[2].Indeterminate));
        Assert.Equal(1500, timeline.Seconds[2].P99Ms, precision: 0);
        Assert.Equal(4, timeline.TimeToConsistency.Sum(b => b.Orders));
        Assert.Equal(1, timeline.TimeToConsistency.Single(b => b.UpToMs == 10).Orders);
        Assert.Equal(1, timeline.TimeToConsistency.Single(b => b.UpToMs is null).Orders);
    }

    [Fact]
    public void Recovery_is_the_time_from_a_faults_end_until_the_pace_is_back()
    {
        var quick = SampleRuns.Run("local-table", Verdict.Pass, backAfter: 1).Timeline!;
        var slow = SampleRuns.Run("half-message", Verdict.Pass, backAfter: 3).Timeline!;

        // Half pace for backAfter seconds after the crash window ends at 7 s, full pace after that.
        Assert.Equal(1, quick.RecoverySeconds(faultEnd: 7));
        Assert.Equal(3, slow.RecoverySeconds(faultEnd: 7));
        Assert.Equal(0.5, quick.RecoverySeconds(faultEnd: 7.5)); // from the fault's end to the first whole second at pace
        Assert.Equal(double.PositiveInfinity, slow.RecoverySeconds(faultEnd: 15.5)); // no whole second at pace after it
        Assert.Null(new Timeline([new SecondStats(0, 5, 0, 0, 1, 1), new SecondStats(1, 5, 0, 0, 1, 1)], []).RecoverySeconds(1)); // no pace to compare with
    }

    [Fact]
    public void Latency_percentiles_are_nearest_rank_up_to_p99_9()
    {
        // 1..1000 ms shuffled: the rank of p99.9 is 999 exactly, which floating-point arithmetic could round up to 1000.
        var ms = Enumerable.Range(1, 1000).Select(i => (double)(i * 7919 % 1000 + 1)).ToList();

        var latency = Dtx.Harness.Engine.Latency.Of(ms);

        Assert.Equal(new Dtx.Harness.Engine.Latency(500, 900, 990, 1000, 999), latency);
        Assert.Equal(Dtx.Harness.Engine.Latency.None, Dtx.Harness.Engine.Latency.Of([]));
        Assert.Equal(7, Dtx.Harness.Engine.Latency.Of([7]).P999Ms);
    }
}
